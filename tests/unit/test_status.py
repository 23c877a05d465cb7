"""``clusterctl status`` on recorded Kamailio replies and faked VIP probes."""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from pathlib import Path

from click.testing import CliRunner
from rich.console import Console
from test_drill_analysis import cluster

from clusterctl import faults, nodes, status
from clusterctl.cli import main
from clusterctl.db.health import Galera, NodeHealth, Replication
from clusterctl.edge import HttpReply, client_for
from clusterctl.errors import ClusterctlError
from clusterctl.model import Cluster, Host

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HOLDS = "2: eth0    inet 10.77.0.10/24 scope global secondary eth0\\  valid_lft forever\n"


def recorded(method_files):
    """A transport answering each JSON-RPC method with its recorded Kamailio reply."""

    def post(endpoint, body, headers, timeout):
        request = json.loads(body)
        name = method_files.get(request["method"])
        if name is None or endpoint.host == "10.77.0.12":
            raise ConnectionRefusedError
        if isinstance(name, int):  # a bare result (no recorded file for it)
            return HttpReply(
                200, json.dumps({"jsonrpc": "2.0", "result": name, "id": request["id"]}).encode()
            )
        reply = json.loads((FIXTURES / "kamailio" / name).read_text())
        reply["id"] = request["id"]
        return HttpReply(200, json.dumps(reply).encode())

    return post


FILES = {
    "core.version": "core_version.json",
    "dispatcher.list": "dispatcher_list_15097_recovered.json",
    "stats.get_statistics": "6.0.1-dmq/stats_usrloc.json",
}


def test_gather_shows_owner_sets_registrations_and_problems():
    c = cluster()
    post = recorded(FILES)
    got = status.gather(
        c,
        lambda address: client_for("kamailio", address, post=post),
        lambda host: HOLDS if host == "edge1" else "",
    )
    assert got.vip_owners == ["edge1"]
    assert [e.error is None for e in got.edges] == [True, False]
    assert "connection refused" in got.edges[1].error
    assert [d.raw_state for s in got.sets for d in s.destinations] == ["AP", "IP", "IP"]
    assert got.registrations == 2000
    assert any("is IP" in p for p in got.problems)
    doc = json.loads(status.to_json(got))
    assert doc["vip_owners"] == ["edge1"] and doc["sets"]
    console = Console(record=True, width=160)
    status.print_status(console, got)
    text = console.export_text()
    assert "VIP 10.77.0.10: edge1" in text and "registrations" in text


def test_two_owners_and_an_unreadable_node_are_problems():
    c = cluster()
    post = recorded(FILES)

    def ask(host):
        if host == "edge2":
            raise OSError("ssh: timed out")
        return HOLDS

    got = status.gather(c, lambda address: client_for("kamailio", address, post=post), ask)
    assert any("cannot read its addresses" in p for p in got.problems)
    assert got.edges[1].holds_vip is None

    got = status.gather(
        c, lambda address: client_for("kamailio", address, post=post), lambda host: HOLDS
    )
    assert any("held by 2 nodes" in p for p in got.problems)


def test_shard_and_tenants_are_named_for_a_set_of_the_shards_hosts():
    c = cluster()
    reply = {
        "jsonrpc": "2.0",
        "result": {
            "RECORDS": [
                {
                    "SET": {
                        "ID": 1,
                        "TARGETS": [
                            {"DEST": {"URI": "sip:10.77.0.21:5060", "FLAGS": "AP", "PRIORITY": 10}},
                            {"DEST": {"URI": "sip:10.77.0.22:5060", "FLAGS": "AP", "PRIORITY": 5}},
                        ],
                    }
                }
            ]
        },
    }

    def post(endpoint, body, headers, timeout):
        request = json.loads(body)
        if request["method"] != "dispatcher.list":
            return recorded(FILES)(endpoint, body, headers, timeout)
        doc = dict(reply)
        doc["id"] = request["id"]
        return HttpReply(200, json.dumps(doc).encode())

    got = status.gather(
        c, lambda a: client_for("kamailio", a, post=post), lambda h: HOLDS if h == "edge1" else ""
    )
    assert [(s.shard, s.tenants) for s in got.sets] == [("shard1", ["acme"])]
    assert not any("is AP" in p for p in got.problems)


def _fake_cli(monkeypatch, db=None):
    """status CLI against recorded edge replies, edge1 holding the VIP, ``db`` as health."""

    class Backend:
        def run(self, host, argv):
            return HOLDS if host == "edge1" else ""

    monkeypatch.setattr(faults, "drill_backend", lambda cluster: Backend())
    post = recorded(FILES)
    monkeypatch.setattr(
        nodes, "client_for", lambda engine, address, **kw: client_for(engine, address, post=post)
    )
    monkeypatch.setattr(status, "database_health", lambda cluster: db or [])
    return str(FIXTURES / "drills" / "inventory-lab")


def test_status_cli_json(monkeypatch):
    lab = _fake_cli(monkeypatch)
    result = CliRunner().invoke(main, ["status", "-i", lab, "--format", "json"])
    doc = json.loads(result.output)
    assert doc["vip_owners"] == ["edge1"]
    # The shape scripts read is unchanged by the exit codes.
    assert sorted(doc) == ["cluster", "database", "edges", "engine", "feature_servers",
                           "problems", "registrations", "sets", "vip", "vip_owners"]
    assert doc["feature_servers"] is None  # the lab's stand-ins have no event socket
    # The recorded set has no usable destination: calls to its shard fail.
    assert result.exit_code == status.DOWN


def _edge(host, holds=True, error=None):
    return status.EdgeNode(host, "10.0.0.1", holds, None if error else "5.8", error)


def _set(*selectable):
    dests = [status.Dest(f"sip:10.0.0.{i}", f"fs{i}", "x", "AP" if ok else "IP", ok)
             for i, ok in enumerate(selectable)]
    return status.SetState(1, "shard1", ["acme"], dests)


def _db(healthy):
    return status.DbNode("db1", "10.0.0.31", healthy, "ok" if healthy else "unreachable", {})


def _status(edges, sets=(), database=None, problems=()):
    owners = [e.host for e in edges if e.holds_vip]
    return status.ClusterStatus("c", "kamailio", "10.0.0.10", owners, list(edges), list(sets),
                                10, database, list(problems))


def test_verdict_healthy_degraded_and_down():
    healthy = [_edge("edge1"), _edge("edge2", holds=False)]
    assert status.verdict(_status(healthy, [_set(True, True)], [_db(True)])) == status.HEALTHY
    # Degraded: the backup edge is down, one destination and one database node are out.
    backup_down = [_edge("edge1"), _edge("edge2", holds=False, error="refused")]
    assert status.verdict(_status(backup_down, problems=["edge2: refused"])) == status.DEGRADED
    assert status.verdict(
        _status(healthy, [_set(True, False)], [_db(True), _db(False)], ["set 1: ..."])
    ) == status.DEGRADED
    # Down: split brain, nobody holding the VIP, the holder's engine dead, a shard with no
    # usable server, no healthy database node.
    assert status.verdict(_status([_edge("edge1"), _edge("edge2")], problems=["x"])) == 2
    assert status.verdict(_status([_edge("edge1", holds=False)], problems=["x"])) == 2
    assert status.verdict(_status([_edge("edge1", error="refused")], problems=["x"])) == 2
    assert status.verdict(_status(healthy, [_set(False, False)], problems=["x"])) == 2
    assert status.verdict(_status(healthy, [], [_db(False), _db(False)], ["x"])) == 2
    assert (status.HEALTHY, status.DEGRADED, status.DOWN) == (0, 1, 2)


def test_status_cli_exits_0_when_healthy_and_1_when_degraded(monkeypatch):
    lab = _fake_cli(monkeypatch)

    def healthy(*args, **kwargs):
        return _status([_edge("edge1"), _edge("edge2", holds=False)], [_set(True)])

    monkeypatch.setattr(status, "gather", healthy)
    assert CliRunner().invoke(main, ["status", "-i", lab]).exit_code == status.HEALTHY
    assert CliRunner().invoke(main, ["status", "-i", lab, "--once"]).exit_code == 0

    def degraded(*args, **kwargs):
        return _status([_edge("edge1"), _edge("edge2", holds=False, error="refused")],
                       [_set(True)], problems=["edge2: refused"])

    monkeypatch.setattr(status, "gather", degraded)
    result = CliRunner().invoke(main, ["status", "-i", lab, "--format", "json"])
    assert result.exit_code == status.DEGRADED
    assert json.loads(result.output)["problems"] == ["edge2: refused"]


def test_status_watch_keeps_going_and_ctrl_c_exits_with_the_last_health(monkeypatch):
    lab = _fake_cli(monkeypatch)
    readings = iter([
        _status([_edge("edge1"), _edge("edge2", holds=False)]),
        _status([_edge("edge1"), _edge("edge2")], problems=["split"]),
        _status([_edge("edge1"), _edge("edge2", holds=False)], problems=["edge2 slow"]),
    ])
    monkeypatch.setattr(status, "gather", lambda *a, **k: next(readings))
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr("time.sleep", sleep)
    result = CliRunner().invoke(main, ["status", "-i", lab, "--watch", "--format", "json"])
    lines = result.output.splitlines()
    # One compact document per reading, through a split brain: the watch does not stop.
    assert [json.loads(line)["vip_owners"] for line in lines] == [
        ["edge1"], ["edge1", "edge2"], ["edge1"]
    ]
    assert sleeps == [2.0, 2.0, 2.0]
    assert result.exit_code == status.DEGRADED


def test_status_help_documents_the_exit_codes():
    text = CliRunner().invoke(main, ["status", "--help"]).output
    assert "0  healthy" in text and "1  degraded" in text and "2  down or split brain" in text
    assert "--once" in text and "--watch" in text


def test_database_section_names_each_node_and_unhealthy_ones_are_problems():

    def db_health(c):
        return [
            status._db_node(
                "db1",
                NodeHealth(
                    "10.77.0.31",
                    True,
                    read_only=False,
                    replication=(Replication("10.77.0.32", True, True, 0, ""),),
                ),
            ),
            status._db_node("db2", NodeHealth("10.77.0.32", False, error="2003 Can't connect")),
            status._db_node(
                "db3", NodeHealth("10.77.0.33", True, galera=Galera("Primary", "Joined", 3, False))
            ),
        ]

    got = status.gather(
        cluster(),
        lambda address: client_for("kamailio", address, post=recorded(FILES)),
        lambda host: HOLDS if host == "edge1" else "",
        db_health,
    )
    assert got.registrations == 2000
    assert [(n.host, n.healthy) for n in got.database] == [
        ("db1", True),
        ("db2", False),
        ("db3", False),
    ]
    assert got.database[0].summary == "replication 1/1 channels running, 0 s behind"
    assert "database db2: unreachable: 2003 Can't connect" in got.problems
    assert "database db3: galera Primary Joined, size 3" in got.problems
    console = Console(record=True, width=160)
    status.print_status(console, got)
    assert "database db2 10.77.0.32" in console.export_text()
    assert json.loads(status.to_json(got))["database"][0]["detail"]["address"] == "10.77.0.31"


def test_database_health_without_a_monitor_password_says_so():
    base = cluster()
    db = Host("db1", IPv4Address("10.77.0.31"), frozenset({"databases"}), None, {})
    c = Cluster(base.settings, {**base.hosts, "db1": db}, {**base.groups, "databases": ("db1",)})
    (node,) = status.database_health(c)
    assert (node.host, node.healthy, node.summary) == ("db1", False, "no db_monitor_password")


def test_database_health_asks_each_node_as_the_monitor_user(monkeypatch):

    base = cluster()
    db = Host("db1", IPv4Address("10.77.0.31"), frozenset({"databases"}), None, {})
    settings = base.settings.model_copy(update={"db_monitor_password": "pw"})
    c = Cluster(settings, {**base.hosts, "db1": db}, {**base.groups, "databases": ("db1",)})
    seen = []

    def check(addresses, user, password):
        seen.append((list(addresses), user, password))
        return [NodeHealth("10.77.0.31", True, read_only=True)]

    monkeypatch.setattr(status, "check_cluster", check)
    (node,) = status.database_health(c)
    assert seen == [(["10.77.0.31"], "monitor", "pw")]
    assert not node.healthy and node.summary.endswith("read-only")


def test_a_failed_registration_count_keeps_the_dispatcher_sets():
    files = {k: v for k, v in FILES.items() if k != "stats.get_statistics"}
    got = status.gather(
        cluster(),
        lambda address: client_for("kamailio", address, post=recorded(files)),
        lambda host: HOLDS if host == "edge1" else "",
    )
    assert got.registrations is None and got.sets
    assert any(p.startswith("registrations: kamailio management") for p in got.problems)


def test_status_of_an_invalid_inventory_exits_2_not_degraded(edit_yaml):
    inv = edit_yaml("group_vars/all/tenants.yml", lambda d: d["tenants"][0].update(shard="nope"))
    result = CliRunner().invoke(main, ["status", "-i", str(inv)])
    assert result.exit_code == status.DOWN
    assert "shard 'nope' does not exist" in result.output
    assert "Traceback" not in result.output


def test_feature_servers_show_calls_paused_and_unreadable_ones():
    c = cluster()
    post = recorded(FILES)

    def read(host):
        if host == "fs1b":
            raise ClusterctlError("event socket 10.77.0.22:8021: connection refused")
        return 12, False

    got = status.gather(c, lambda address: client_for("kamailio", address, post=post),
                        lambda host: HOLDS if host == "edge1" else "", fs_read=read)
    assert [(f.host, f.shard, f.calls, f.paused) for f in got.feature_servers] == [
        ("fs1a", "shard1", 12, False), ("fs1b", "shard1", None, None)]
    assert "fs1b: event socket 10.77.0.22:8021: connection refused" in got.problems
    console = Console(record=True, width=160)
    status.print_status(console, got)
    text = console.export_text()
    assert "feature server fs1a (shard1)" in text and "up 12 calls" in text
    assert json.loads(status.to_json(got))["feature_servers"][0]["calls"] == 12


def test_freeswitch_reader_only_where_freeswitch_runs(tmp_path):
    from clusterctl.inventory import load_cluster  # noqa: PLC0415
    from clusterctl.lab.inventory import write_inventory  # noqa: PLC0415
    from clusterctl.lab.topology import load_topology, profile_path  # noqa: PLC0415

    assert status.freeswitch_reader(cluster()) is not None  # production: FreeSWITCH
    for kind, expected in (("standin", False), ("freeswitch", True)):
        out = tmp_path / kind
        write_inventory(load_topology(profile_path("default")), out, key_path=tmp_path / "k",
                        known_hosts=tmp_path / "kh", lab_name="clusterctl-lab",
                        package_dir=tmp_path, feature_servers=kind)
        assert (status.freeswitch_reader(load_cluster(str(out))) is not None) is expected
