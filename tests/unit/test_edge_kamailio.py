"""Kamailio client against replies recorded from Kamailio 5.6.3 (tests/fixtures/kamailio)."""

from __future__ import annotations

import pytest
from test_edge_support import FakePost, fixture

from clusterctl.edge import DestinationState, EdgeManagementError, client_for
from clusterctl.edge.kamailio import KamailioClient

ACT, INACT, PROB = DestinationState.ACTIVE, DestinationState.INACTIVE, DestinationState.PROBING
D15097, D15098, D15099 = "sip:127.0.0.1:15097", "sip:127.0.0.1:15098", "sip:127.0.0.1:15099"


def kam(fake: FakePost, **kw: object) -> KamailioClient:
    client = client_for("kamailio", "127.0.0.1", 15080, post=fake, **kw)  # type: ignore[arg-type]
    assert isinstance(client, KamailioClient)
    return client


def listing(name: str) -> dict[str, tuple[int, DestinationState, str, bool, bool, bool]]:
    fake = FakePost().queue("dispatcher.list", fixture("kamailio", name))
    return {
        d.uri: (s.id, d.state, d.raw_state, d.selectable, d.suspect, d.probing)
        for s in kam(fake).dispatcher_sets()
        for d in s.destinations
    }


def test_version() -> None:
    fake = FakePost().queue("core.version", fixture("kamailio", "core_version.json"))
    assert kam(fake).version() == "5.6.3"


def test_startup_destinations_are_active_unprobed() -> None:
    assert listing("dispatcher_list_startup.json") == {
        D15097: (2, ACT, "AX", True, False, False),
        D15099: (1, ACT, "AX", True, False, False),
        D15098: (1, ACT, "AX", True, False, False),
    }


def test_first_failed_ping_is_trying_still_selectable() -> None:
    got = listing("dispatcher_list_first_failed_ping.json")
    assert set(got.values()) == {(2, ACT, "TP", True, True, True), (1, ACT, "TP", True, True, True)}
    assert len(got) == 3


def test_dead_destinations_are_inactive_probing() -> None:
    got = listing("dispatcher_list_dead_dests_probing.json")
    assert got[D15099] == (1, INACT, "IP", False, False, True)
    assert got[D15097] == (2, INACT, "IP", False, False, True)
    # full and short modes carry the same state in 5.6.3
    assert listing("dispatcher_list_full.json") == got
    assert listing("dispatcher_list_short.json") == got


def test_probing_recovery() -> None:
    got = listing("dispatcher_list_15097_recovered.json")
    assert got[D15097] == (2, ACT, "AP", True, False, True)
    assert got[D15099] == (1, INACT, "IP", False, False, True)


def test_states_after_set_state() -> None:
    assert listing("dispatcher_list_after_set_ix.json")[D15097] == (
        2,
        INACT,
        "IX",
        False,
        False,
        False,
    )
    assert listing("dispatcher_list_after_set_ap.json")[D15097] == (2, ACT, "AP", True, False, True)
    after_dx = listing("dispatcher_list_after_set_dx.json")
    assert after_dx[D15098] == (1, INACT, "DX", False, False, False)
    assert after_dx[D15099] == (1, INACT, "IP", False, False, True)


def test_reload_resets_states() -> None:
    fake = FakePost().queue("dispatcher.reload", fixture("kamailio", "dispatcher_reload.json"))
    kam(fake).reload_dispatcher()
    assert fake.sent[0].request == {"jsonrpc": "2.0", "method": "dispatcher.reload", "id": 1}
    assert {v[2] for v in listing("dispatcher_list_after_reload.json").values()} == {"AX"}


@pytest.mark.parametrize(("state", "letters"), [(ACT, "ap"), (INACT, "dx"), (PROB, "ip")])
def test_set_state_request(state: DestinationState, letters: str) -> None:
    fake = FakePost().queue(
        "dispatcher.set_state", fixture("kamailio", "dispatcher_set_state_dx.json")
    )
    kam(fake).set_destination_state(1, D15098, state)
    assert fake.sent[0].request["params"] == [letters, 1, D15098]


def test_set_state_of_unknown_destination_fails_in_one_line() -> None:
    fake = FakePost().queue(
        "dispatcher.set_state",
        fixture("kamailio", "dispatcher_set_state_unknown_dest.json"),
        status=500,
    )
    with pytest.raises(EdgeManagementError) as err:
        kam(fake).set_destination_state(2, "sip:127.0.0.1:15111", PROB)
    assert err.value.message == (
        "kamailio management at 127.0.0.1:15080/RPC: dispatcher.set_state: "
        "JSON-RPC error 500: State Update Failed"
    )
    assert err.value.rpc_code == 500
    assert err.value.exit_code == 1


def test_method_not_found() -> None:
    fake = FakePost().queue(
        "dispatcher.list", fixture("kamailio", "error_method_not_found.json"), status=500
    )
    with pytest.raises(EdgeManagementError, match=r"dispatcher\.list: JSON-RPC error 500: Method"):
        kam(fake).dispatcher_sets()


def test_no_destination_sets_is_an_empty_list() -> None:
    reply = b'{"jsonrpc":"2.0","error":{"code":500,"message":"No Destination Sets"},"id":1}'
    fake = FakePost().queue("dispatcher.list", reply, status=500)
    assert kam(fake).dispatcher_sets() == []


def test_ul_dump_contacts() -> None:
    fake = FakePost().queue("ul.dump", fixture("kamailio", "ul_dump.json"))
    client = kam(fake)
    regs = {r.aor: r for r in client.registrations()}
    assert sorted(regs) == ["1000", "1001"]
    assert {r.table for r in regs.values()} == {"location"}
    assert [(c.uri, c.expires, c.call_id, c.user_agent) for c in regs["1001"].contacts] == [
        ("sip:1001@127.0.0.1:15071", 3600, "reg-test-2@127.0.0.1", "python-test-a"),
        ("sip:1001@127.0.0.1:15072", 3600, "reg-test-3@127.0.0.1", "python-test-b"),
    ]
    assert regs["1000"].contacts[0].uri == "sip:1000@127.0.0.1:15070"


def test_ul_dump_empty() -> None:
    fake = FakePost().queue("ul.dump", fixture("kamailio", "ul_dump_empty.json"))
    assert kam(fake).registrations() == []


def test_statistics_group() -> None:
    fake = FakePost().queue(
        "stats.get_statistics", fixture("kamailio", "stats_get_statistics_usrloc.json")
    )
    assert kam(fake).statistics("usrloc:") == {
        "usrloc:location_contacts": 3,
        "usrloc:location_expires": 0,
        "usrloc:location_users": 2,
        "usrloc:registered_users": 2,
    }
    assert fake.sent[0].request["params"] == ["usrloc:"]


def test_statistics_names_skip_unknown() -> None:
    fake = FakePost().queue(
        "stats.get_statistics", fixture("kamailio", "stats_get_statistics_names.json")
    )
    names = ["registered_users", "rcv_requests", "unknown_stat_name"]
    assert kam(fake).statistics(names) == {
        "usrloc:registered_users": 2,
        "core:rcv_requests": 151,
    }
    assert fake.sent[0].request["params"] == names


def test_statistics_all_and_multi_group() -> None:
    fake = FakePost().queue(
        "stats.get_statistics", fixture("kamailio", "stats_get_statistics_all.json")
    )
    fake.queue("stats.get_statistics", fixture("kamailio", "stats_get_statistics_multi_group.json"))
    client = kam(fake)
    every = client.statistics("all")
    assert len(every) > 50
    assert every["usrloc:registered_users"] == 2
    assert all(isinstance(v, int) for v in every.values())
    multi = client.statistics(["usrloc:", "tmx:"])
    assert {k.split(":")[0] for k in multi} == {"usrloc", "tmx"}


def test_statistics_line_that_does_not_parse() -> None:
    fake = FakePost().queue("stats.get_statistics", b'{"jsonrpc":"2.0","result":["oops"],"id":1}')
    with pytest.raises(EdgeManagementError, match="unexpected reply shape: statistics line"):
        kam(fake).statistics("all")


def test_unknown_flags_are_a_shape_error() -> None:
    reply = (
        b'{"jsonrpc":"2.0","result":{"NRSETS":1,"RECORDS":[{"SET":{"ID":1,"TARGETS":'
        b'[{"DEST":{"URI":"sip:a","FLAGS":"ZZ","PRIORITY":0}}]}}]},"id":1}'
    )
    fake = FakePost().queue("dispatcher.list", reply)
    with pytest.raises(EdgeManagementError, match="unknown destination flags 'ZZ'"):
        kam(fake).dispatcher_sets()


def test_default_endpoint_and_headers() -> None:
    fake = FakePost().queue("core.version", fixture("kamailio", "core_version.json"))
    client = client_for("kamailio", "192.0.2.10", post=fake)
    client.version()
    (sent,) = fake.sent
    assert (sent.endpoint.host, sent.endpoint.port, sent.endpoint.path) == (
        "192.0.2.10",
        5071,
        "/RPC",
    )
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.timeout == 2.0


# Kamailio 6.0.1 on the lab's edge with contacts in memory (usrloc db_mode 2, DMQ), recorded
# by hand: tests/fixtures/kamailio/6.0.1-dmq/README.md.
DMQ = "6.0.1-dmq/"


def test_lookup_of_one_aor() -> None:
    fake = FakePost().queue("ul.lookup", fixture("kamailio", DMQ + "ul_lookup.json"))
    reg = kam(fake).registration("781965@alpha.lab.clusterctl.test")
    assert reg is not None and reg.aor == "781965@alpha.lab.clusterctl.test"
    assert [(c.uri, c.expires, c.user_agent) for c in reg.contacts] == [
        ("sip:781965@172.29.10.51:5199", 92, "clusterctl-bench")
    ]
    assert fake.sent[0].request["params"] == ["location", "781965@alpha.lab.clusterctl.test"]


def test_lookup_of_an_aor_without_contacts_is_none() -> None:
    fake = FakePost().queue(
        "ul.lookup", fixture("kamailio", DMQ + "ul_lookup_not_found.json"), status=500
    )
    assert kam(fake).registration("nobody@alpha.lab.clusterctl.test") is None


def test_lookup_other_errors_are_errors() -> None:
    reply = b'{"jsonrpc":"2.0","error":{"code":500,"message":"Table not found"},"id":1}'
    fake = FakePost().queue("ul.lookup", reply, status=500)
    with pytest.raises(EdgeManagementError, match="Table not found"):
        kam(fake).registration("1000@a.example.org")


def test_registration_count_reads_the_contact_counter() -> None:
    fake = FakePost().queue("stats.get_statistics", fixture("kamailio", DMQ + "stats_usrloc.json"))
    assert kam(fake).registration_count() == 2000
    assert fake.sent[0].request["params"] == ["location_contacts"]


def test_registration_count_without_the_counter_is_an_error() -> None:
    fake = FakePost().queue("stats.get_statistics", b'{"jsonrpc":"2.0","result":[],"id":1}')
    with pytest.raises(EdgeManagementError, match="no usrloc:location_contacts counter"):
        kam(fake).registration_count()
