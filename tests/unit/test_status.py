"""``clusterctl status`` on recorded Kamailio replies and faked VIP probes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from rich.console import Console
from test_drill_analysis import cluster

import clusterctl.edge as edge
from clusterctl import status
from clusterctl.cli import main
from clusterctl.drills import live
from clusterctl.edge import HttpReply, client_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HOLDS = "2: eth0    inet 10.77.0.10/24 scope global secondary eth0\\  valid_lft forever\n"


def recorded(method_files):
    """A transport answering each JSON-RPC method with its recorded Kamailio reply."""

    def post(endpoint, body, headers, timeout):
        request = json.loads(body)
        name = method_files.get(request["method"])
        if name is None or endpoint.host == "10.77.0.12":
            raise ConnectionRefusedError
        reply = json.loads((FIXTURES / "kamailio" / name).read_text())
        reply["id"] = request["id"]
        return HttpReply(200, json.dumps(reply).encode())

    return post


FILES = {
    "core.version": "core_version.json",
    "dispatcher.list": "dispatcher_list_15097_recovered.json",
    "ul.dump": "ul_dump.json",
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
    assert got.registrations is not None and got.registrations >= 0
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
        if request["method"] == "dispatcher.list":
            doc = dict(reply)
        else:
            doc = json.loads((FIXTURES / "kamailio" / FILES[request["method"]]).read_text())
        doc["id"] = request["id"]
        return HttpReply(200, json.dumps(doc).encode())

    got = status.gather(
        c, lambda a: client_for("kamailio", a, post=post), lambda h: HOLDS if h == "edge1" else ""
    )
    assert [(s.shard, s.tenants) for s in got.sets] == [("shard1", ["acme"])]
    assert not any("is AP" in p for p in got.problems)


def test_status_cli_json(monkeypatch):
    class Backend:
        def run(self, host, argv):
            return HOLDS if host == "edge1" else ""

    monkeypatch.setattr(live, "faults_for", lambda cluster: Backend())
    post = recorded(FILES)
    monkeypatch.setattr(
        edge, "client_for", lambda engine, address, **kw: client_for(engine, address, post=post)
    )
    lab = str(FIXTURES / "drills" / "inventory-lab")
    result = CliRunner().invoke(main, ["status", "-i", lab, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["vip_owners"] == ["edge1"]
