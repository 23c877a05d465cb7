"""Both drills' live paths end to end: real pollers, waits, runner and analysis.

Failover: against a loopback stand-in for the edge's management interface.

A tiny HTTP server on 127.0.0.1 answers Kamailio's ``dispatcher.list`` (the reply shape of
tests/fixtures/kamailio); the fake fault backend flips the target's flags after a delay, as
the edge would. VIP: a faked pair whose ``ip -o -4 addr`` output moves the VIP after a delay.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_drill_analysis import cluster

from clusterctl.drills import failover, live, vip
from clusterctl.drills.run import SteadyStateBroken, run_once
from clusterctl.drills.thresholds import thresholds_for
from clusterctl.edge import client_for


class Edge:
    def __init__(self):
        self.flags = {"sip:10.77.0.21:5060": "AP", "sip:10.77.0.22:5060": "AP"}
        edge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                targets = [
                    {"DEST": {"URI": uri, "FLAGS": flags, "PRIORITY": 10 - i}}
                    for i, (uri, flags) in enumerate(edge.flags.items())
                ]
                body = json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": request["id"],
                        "result": {"RECORDS": [{"SET": {"ID": 1, "TARGETS": targets}}]},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def later(self, seconds, uri, flags):
        timer = threading.Timer(seconds, self.flags.__setitem__, (uri, flags))
        timer.start()


class Backend:
    """Faults that the loopback edge "detects" 0.6 s later and forgets 0.3 s after restore."""

    def __init__(self, edge):
        self.edge = edge
        self.done = []

    def inject(self, host, kind):
        self.done.append("inject")
        self.edge.later(0.6, "sip:10.77.0.21:5060", "IP")
        return time.time()

    def restore(self, host, kind):
        self.done.append("restore")
        self.edge.later(0.3, "sip:10.77.0.21:5060", "AP")
        return time.time()


@pytest.fixture
def edge():
    server = Edge()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_failover_drill_live_path_on_loopback(edge, monkeypatch):
    monkeypatch.setattr(failover, "WINDOW_AFTER_DETECTION_S", 0.2)
    monkeypatch.setattr(failover.FailoverDrill, "baseline_s", 0.3)
    c = cluster()
    backend = Backend(edge)
    client = client_for("kamailio", "127.0.0.1", edge.port, timeout=1.0)
    probes = live.Probes(c, backend, client.dispatcher_sets, poll_interval=0.05)
    drill = failover.FailoverDrill(c, "fs1a", "kill", probes, thresholds_for(c.settings))
    result = run_once(drill)
    checks = {ch.name: ch for ch in result.checks}
    assert backend.done == ["inject", "restore"]
    assert result.verdict == "pass", [(ch.name, ch.measured) for ch in result.checks]
    # Flags flip 0.6 s after the fault; 20 Hz polling sees it within one interval (+ jitter).
    assert 0.6 <= checks["detection (idle)"].measured <= 1.0
    assert 0.3 <= checks["re-inclusion"].measured <= 0.7
    assert checks["state flaps"].measured == 0
    assert result.facts["mechanism"] == "probing"
    assert len({s.t for s in result.obs.dest}) >= 20  # polled at ~20 Hz for over a second
    assert result.obs.errors == []


class VipPair:
    """Two edge nodes as ``ip -o -4 addr`` sees them; the fault moves the VIP after a delay."""

    def __init__(self):
        self.owners = {"edge1"}
        self.done = []

    def run(self, host, argv):
        assert argv == ["ip", "-o", "-4", "addr", "show"]
        vip = " inet 10.77.0.10/24 scope global secondary eth0" if host in self.owners else ""
        return f"2: eth0    inet 10.77.0.{11 if host == 'edge1' else 12}/24 brd x\n2: eth0{vip}\n"

    def _set(self, owners):
        self.owners = owners

    def inject(self, host, kind):
        self.done.append(("inject", host))
        threading.Timer(0.1, self._set, (set(),)).start()
        threading.Timer(0.5, self._set, ({"edge2"},)).start()
        return time.time()

    def restore(self, host, kind):
        self.done.append(("restore", host))
        return time.time()


def test_vip_drill_live_path_with_a_faked_pair(monkeypatch):
    monkeypatch.setattr(vip, "WATCH_AFTER_TAKEOVER_S", 0.3)
    monkeypatch.setattr(vip.VipDrill, "baseline_s", 0.2)
    c = cluster()
    pair = VipPair()
    probes = live.Probes(c, pair, lambda: [], poll_interval=0.05)
    asked = []

    def registrations_on(host, aors):
        asked.append((host, aors))
        return 20

    drill = vip.VipDrill(
        c, "kill", probes, thresholds_for(c.settings, vip_fault="kill"), registrations_on
    )
    result = run_once(drill)
    checks = {ch.name: ch for ch in result.checks}
    assert pair.done == [("inject", "edge1"), ("restore", "edge1")]
    assert result.verdict == "pass", [(ch.name, ch.measured) for ch in result.checks]
    assert 0.5 <= checks["VIP takeover"].measured <= 0.8
    assert checks["split brain (two owners)"].measured == 0
    assert result.obs.registrations == {"before": 20, "after": 20}
    # Without traffic there are no test users: every contact is counted, on each holder.
    assert ("edge1", ()) in asked and ("edge2", ()) in asked
    assert "all contacts" in checks["registrations lost"].note
    assert "pre-fault calls torn down with BYE" not in checks  # no traffic in this run
    assert result.facts["new_owner"] == "edge2"


class RegisteringTraffic:
    """Traffic that registered two test users and places no calls."""

    host = "probe1"
    registered = ("clusterctl-drill@a.test", "clusterctl-drill@b.test")

    def start(self):
        pass

    def stop(self):
        return []

    def answers(self, target):
        return True


def test_vip_drill_counts_its_own_test_users_and_finds_one_missing(monkeypatch):
    # The new holder serves one of the two users the old holder served: one lost. Contacts
    # that expire meanwhile (the lab's contract users) are not asked about at all.
    monkeypatch.setattr(vip, "WATCH_AFTER_TAKEOVER_S", 0.3)
    monkeypatch.setattr(vip, "BYE_GRACE_S", 0.0)
    monkeypatch.setattr(vip.VipDrill, "baseline_s", 0.2)
    c = cluster()
    pair = VipPair()
    probes = live.Probes(c, pair, lambda: [], RegisteringTraffic(), poll_interval=0.05)
    asked = []

    def registrations_on(host, aors):
        asked.append((host, aors))
        return {"edge1": 2, "edge2": 1}[host] if aors else 500

    drill = vip.VipDrill(
        c, "kill", probes, thresholds_for(c.settings, vip_fault="kill"), registrations_on
    )
    result = run_once(drill)
    checks = {ch.name: ch for ch in result.checks}
    assert checks["registrations lost"].measured == 1
    assert not checks["registrations lost"].passed
    assert "the drill's 2 test users: before 2, after 1" in checks["registrations lost"].note
    assert ("edge2", RegisteringTraffic.registered) in asked


def test_vip_drill_refuses_two_owners_before_touching_anything():
    c = cluster()
    pair = VipPair()
    pair.owners = {"edge1", "edge2"}
    probes = live.Probes(c, pair, lambda: [], poll_interval=0.05)
    drill = vip.VipDrill(c, "kill", probes, thresholds_for(c.settings), lambda host, aors: 20)
    with pytest.raises(SteadyStateBroken, match="held by 2 nodes"):
        run_once(drill)
    assert pair.done == []
