"""OpenSIPS client against replies recorded from OpenSIPS 3.6.8 (tests/fixtures/opensips)."""

from __future__ import annotations

import json

import pytest
from test_edge_support import FakePost, fixture

from clusterctl.edge import DestinationState, EdgeManagementError, client_for
from clusterctl.edge.opensips import OpenSIPSClient

ACT, INACT, PROB = DestinationState.ACTIVE, DestinationState.INACTIVE, DestinationState.PROBING


def os_client(fake: FakePost, **kw: object) -> OpenSIPSClient:
    client = client_for("opensips", "10.9.8.7", post=fake, **kw)  # type: ignore[arg-type]
    assert isinstance(client, OpenSIPSClient)
    return client


def with_which(fake: FakePost) -> FakePost:
    return fake.queue("which", fixture("opensips", "which.json"))


def states(client: OpenSIPSClient) -> dict[tuple[int, str], tuple[DestinationState, str, bool]]:
    return {
        (s.id, d.uri): (d.state, d.raw_state, d.selectable)
        for s in client.dispatcher_sets()
        for d in s.destinations
    }


def test_version_is_the_number() -> None:
    fake = FakePost().queue("version", fixture("opensips", "version.json"))
    assert os_client(fake).version() == "3.6.8"


def test_ds_list_parses_sets_in_engine_order() -> None:
    fake = with_which(FakePost()).queue("ds_list", fixture("opensips", "ds_list.json"))
    sets = os_client(fake).dispatcher_sets()
    assert [(s.id, s.partition) for s in sets] == [(2, "default"), (1, "default")]
    dest = sets[1].destinations[0]
    assert dest.uri == "sip:127.0.0.1:5099"
    assert (dest.state, dest.raw_state, dest.selectable, dest.probing) == (
        ACT,
        "Active",
        True,
        False,
    )


def test_set_inactive_then_active_round_trip() -> None:
    fake = with_which(FakePost())
    fake.queue("ds_set_state", fixture("opensips", "ds_set_state_i.json"))
    fake.queue("ds_list", fixture("opensips", "ds_list_after_set_i.json"))
    fake.queue("ds_set_state", fixture("opensips", "ds_set_state_a.json"))
    fake.queue("ds_list", fixture("opensips", "ds_list_after_set_a.json"))
    client = os_client(fake)

    client.set_destination_state(1, "sip:127.0.0.1:5099", INACT)
    assert states(client) == {
        (2, "sip:127.0.0.1:5098"): (ACT, "Active", True),
        (1, "sip:127.0.0.1:5099"): (INACT, "Inactive", False),
    }
    client.set_destination_state(1, "sip:127.0.0.1:5099", ACT)
    assert states(client)[(1, "sip:127.0.0.1:5099")] == (ACT, "Active", True)

    set_calls = [s.request for s in fake.sent if s.request["method"] == "ds_set_state"]
    assert [c["params"] for c in set_calls] == [
        {"state": "i", "group": 1, "address": "sip:127.0.0.1:5099"},
        {"state": "a", "group": 1, "address": "sip:127.0.0.1:5099"},
    ]
    # `which` is asked once per client, not once per call.
    assert fake.methods().count("which") == 1


def test_set_probing_sends_p() -> None:
    fake = with_which(FakePost()).queue("ds_set_state", fixture("opensips", "ds_set_state_i.json"))
    os_client(fake).set_destination_state(1, "sip:127.0.0.1:5090", PROB)
    assert fake.sent[-1].request["params"]["state"] == "p"


def test_dead_destinations_are_probing_and_not_selectable() -> None:
    fake = with_which(FakePost()).queue(
        "ds_list", fixture("opensips", "ds_list_dead_dests_probing.json")
    )
    sets = os_client(fake).dispatcher_sets()
    dests = [d for s in sets for d in s.destinations]
    assert len(dests) == 2
    assert all(d.state is PROB and d.probing and not d.selectable for d in dests)


def test_probing_recovery_re_includes_only_the_answering_destination() -> None:
    fake = with_which(FakePost())
    fake.queue("ds_list", fixture("opensips", "ds_list_5090_forced_probing.json"))
    fake.queue("ds_list", fixture("opensips", "ds_list_5090_after_probe_recovery.json"))
    client = os_client(fake)
    before, after = states(client), states(client)
    assert before[(1, "sip:127.0.0.1:5090")] == (PROB, "Probing", False)
    assert after[(1, "sip:127.0.0.1:5090")] == (ACT, "Active", True)
    assert after[(1, "sip:127.0.0.1:5099")] == (PROB, "Probing", False)
    assert after[(2, "sip:127.0.0.1:5098")] == (PROB, "Probing", False)


def test_ds_list_full_parses_too() -> None:
    fake = with_which(FakePost()).queue("ds_list", fixture("opensips", "ds_list_full.json"))
    assert [d.uri for s in os_client(fake).dispatcher_sets() for d in s.destinations] == [
        "sip:127.0.0.1:5098",
        "sip:127.0.0.1:5099",
    ]


def test_reload_accepts_ok() -> None:
    fake = with_which(FakePost()).queue("ds_reload", fixture("opensips", "ds_reload.json"))
    os_client(fake).reload_dispatcher()
    assert fake.methods() == ["which", "ds_reload"]


def test_ul_dump_contacts() -> None:
    fake = with_which(FakePost()).queue("ul_dump", fixture("opensips", "ul_dump.json"))
    client = os_client(fake)
    regs = client.registrations()
    assert [(r.aor, r.table) for r in regs] == [("1000", "location")]
    (contact,) = regs[0].contacts
    assert contact.uri == "sip:1000@127.0.0.1:5070"
    assert contact.expires == 3598
    assert contact.call_id == "reg-test-1@127.0.0.1"
    assert contact.user_agent == "python-test"


def test_ul_dump_permanent_and_expired_contacts() -> None:
    # Same shape as ul_dump.json; the words come from modules/usrloc/ul_mi.c (3.6 and 4.0).
    doc = json.loads(fixture("opensips", "ul_dump.json"))
    base = doc["result"]["Domains"][0]["AORs"][0]["Contacts"][0]
    doc["result"]["Domains"][0]["AORs"][0]["Contacts"] = [
        base,
        {**base, "Contact": "sip:1000@10.0.0.2", "Expires": "permanent"},
        {**base, "Contact": "sip:1000@10.0.0.3", "Expires": "expired"},
        {**base, "Contact": "sip:1000@10.0.0.4", "Expires": "deleted"},
    ]
    fake = with_which(FakePost()).queue("ul_dump", json.dumps(doc).encode())
    client = os_client(fake)
    assert [c.expires for c in client.registrations()[0].contacts] == [3598, None, 0, 0]


def test_opensips_4_names_are_used_when_which_lists_them() -> None:
    # OpenSIPS 4.0's `which` prints module:command names (mi/mi_core.c mi_which, mi/mi.c
    # register_mi_mod); this list is built from the 4.0 source, not recorded.
    which_40 = {
        "jsonrpc": "2.0",
        "result": [
            "core:version",
            "core:which",
            "statistics:get",
            "dispatcher:set_state",
            "dispatcher:list",
            "dispatcher:reload",
            "usrloc:dump",
        ],
        "id": 1,
    }
    fake = FakePost().queue("which", json.dumps(which_40).encode())
    fake.queue("dispatcher:list", fixture("opensips", "ds_list.json"))
    fake.queue("dispatcher:set_state", fixture("opensips", "ds_set_state_i.json"))
    fake.queue("usrloc:dump", fixture("opensips", "ul_dump.json"))
    fake.queue("statistics:get", b'{"jsonrpc":"2.0","result":{"usrloc:registered_users":1},"id":1}')
    client = os_client(fake)
    assert len(client.dispatcher_sets()) == 2
    client.set_destination_state(2, "sip:127.0.0.1:5098", INACT)
    assert client.registrations()[0].aor == "1000"
    assert client.statistics("usrloc:") == {"usrloc:registered_users": 1}
    assert fake.methods() == [
        "which",
        "dispatcher:list",
        "dispatcher:set_state",
        "usrloc:dump",
        "statistics:get",
    ]


def test_statistics_request_and_reply() -> None:
    # get_statistics answers an object of "module:name" -> number (statistics.c mi_get_stats).
    reply = (
        b'{"jsonrpc":"2.0","result":{"usrloc:registered_users":1,"shmem:used_size":2048},"id":1}'
    )
    fake = with_which(FakePost()).queue("get_statistics", reply)
    stats = os_client(fake).statistics(["usrloc:", "shmem:used_size"])
    assert stats == {"usrloc:registered_users": 1, "shmem:used_size": 2048}
    assert fake.sent[-1].request["params"] == {"statistics": ["usrloc:", "shmem:used_size"]}


def test_statistics_not_found_is_empty() -> None:
    reply = b'{"jsonrpc":"2.0","error":{"code":404,"message":"Statistics Not Found"},"id":1}'
    fake = with_which(FakePost()).queue("get_statistics", reply)
    assert os_client(fake).statistics("nosuch") == {}


def test_other_json_rpc_errors_are_raised() -> None:
    reply = b'{"jsonrpc":"2.0","error":{"code":500,"message":"Bad state value"},"id":1}'
    fake = with_which(FakePost()).queue("ds_set_state", reply)
    with pytest.raises(EdgeManagementError) as err:
        os_client(fake).set_destination_state(1, "sip:x", ACT)
    assert err.value.rpc_code == 500
    assert err.value.message == (
        "opensips management at 10.9.8.7:8888/mi: ds_set_state: JSON-RPC error 500: Bad state value"
    )


def test_every_request_carries_content_type_and_timeout() -> None:
    fake = FakePost().queue("version", fixture("opensips", "version.json"))
    with_which(fake).queue("ds_list", fixture("opensips", "ds_list.json"))
    client = os_client(fake, timeout=0.75)
    client.version()
    client.dispatcher_sets()
    assert len(fake.sent) == 3
    for sent in fake.sent:
        assert sent.headers["Content-Type"] == "application/json"
        assert sent.timeout == 0.75
        assert (sent.endpoint.host, sent.endpoint.port, sent.endpoint.path) == (
            "10.9.8.7",
            8888,
            "/mi",
        )
        assert sent.request["jsonrpc"] == "2.0"
    assert [s.request["id"] for s in fake.sent] == [1, 2, 3]
    assert "params" not in fake.sent[0].request


def test_unexpected_state_word_is_a_shape_error() -> None:
    doc = json.loads(fixture("opensips", "ds_list.json"))
    doc["result"]["PARTITIONS"][0]["SETS"][0]["Destinations"][0]["state"] = "Weird"
    fake = with_which(FakePost()).queue("ds_list", json.dumps(doc).encode())
    with pytest.raises(EdgeManagementError, match="unexpected reply shape: unknown destination"):
        os_client(fake).dispatcher_sets()


def test_partition_without_sets_is_empty() -> None:
    reply = b'{"jsonrpc":"2.0","result":{"PARTITIONS":[{"name":"default"}]},"id":1}'
    fake = with_which(FakePost()).queue("ds_list", reply)
    assert os_client(fake).dispatcher_sets() == []


# --- recorded from the lab's OpenSIPS 3.6.8 edge (tests/fixtures/opensips/3.6.8-lab) ---------
LAB = "opensips/3.6.8-lab"


def test_one_registration_from_memory() -> None:
    fake = with_which(FakePost()).queue("ul_show_contact", fixture(LAB, "ul_show_contact.json"))
    reg = os_client(fake).registration("7900@alpha.lab.clusterctl.test")
    assert reg is not None
    assert reg.aor == "7900@alpha.lab.clusterctl.test"
    assert [(c.uri, c.expires, c.user_agent) for c in reg.contacts] == [
        ("sip:7900@172.29.10.51:5100", 600, "clusterctl-contract")]
    assert fake.sent[-1].request["params"] == {"table_name": "location",
                                               "aor": "7900@alpha.lab.clusterctl.test"}


def test_an_unknown_aor_is_none() -> None:
    fake = with_which(FakePost()).queue("ul_show_contact",
                                        fixture(LAB, "ul_show_contact_not_found.json"))
    assert os_client(fake).registration("nobody@alpha.lab.clusterctl.test") is None


def test_registration_count_reads_the_contacts_counter() -> None:
    fake = with_which(FakePost()).queue("get_statistics",
                                        fixture(LAB, "get_statistics_contacts.json"))
    assert os_client(fake).registration_count() == 1
    assert fake.sent[-1].request["params"] == {"statistics": ["location-contacts"]}


def test_a_missing_contacts_counter_is_an_error() -> None:
    fake = with_which(FakePost()).queue("get_statistics",
                                        fixture(LAB, "get_statistics_unknown.json"))
    with pytest.raises(EdgeManagementError, match="no usrloc:location-contacts counter"):
        os_client(fake).registration_count()


@pytest.mark.parametrize(("on", "name"), [(False, "nh_enable_ping_0"), (True, "nh_enable_ping_1")])
def test_nat_keepalives_switch(on: bool, name: str) -> None:
    fake = FakePost().queue("nh_enable_ping", fixture(LAB, f"{name}.json"))
    os_client(fake).set_nat_keepalives(on)
    assert fake.sent[-1].request["params"] == {"status": int(on)}


def test_a_refused_nat_keepalive_switch_is_an_error() -> None:
    fake = FakePost().queue("nh_enable_ping", fixture(LAB, "ul_show_contact_not_found.json"))
    with pytest.raises(EdgeManagementError):
        os_client(fake).set_nat_keepalives(True)
