"""Drain/undrain logic against fake edges and a fake feature server (no network)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_drill_analysis import cluster

from clusterctl.cli import main
from clusterctl.edge.base import (
    Destination,
    DestinationState,
    DispatcherSet,
    EdgeClient,
    EdgeManagementError,
)
from clusterctl.errors import BadInput, ClusterctlError
from clusterctl.freeswitch import drain as fs_drain
from clusterctl.freeswitch.drain import Drainer, target_of
from clusterctl.validate import check_inventory

FS1A, FS1B = "sip:10.77.0.21:5060", "sip:10.77.0.22:5060"


class FakeEdge(EdgeClient):
    """A dispatcher with one set; records every state change."""

    engine = "fake"

    def __init__(self, name, log, states=None, down=False, fail_set=False):
        super().__init__(rpc=None)
        self.name, self.log, self.down, self.fail_set = name, log, down, fail_set
        self.states = states or {FS1A: DestinationState.ACTIVE, FS1B: DestinationState.ACTIVE}

    def _check(self, method):
        if self.down:
            raise EdgeManagementError(f"kamailio at {self.name}: {method}: connection refused")

    def dispatcher_sets(self):
        self._check("dispatcher.list")
        dests = tuple(
            Destination(uri, state, state.value, state is DestinationState.ACTIVE)
            for uri, state in self.states.items()
        )
        return [DispatcherSet(1, dests)]

    def set_destination_state(self, set_id, uri, state):
        self._check("dispatcher.set_state")
        if self.fail_set:
            raise EdgeManagementError(f"{self.name}: dispatcher.set_state: State Update Failed")
        assert set_id == 1
        self.states[uri] = state
        self.log.append((self.name, uri, state.value))

    def version(self): return "6.0.1"
    def reload_dispatcher(self): ...
    def registrations(self): return []
    def registration(self, aor): return None
    def registration_count(self): return 0
    def set_nat_keepalives(self, on): ...
    def statistics(self, group_or_names): return {}


class FakeServer:
    def __init__(self, log, counts, fail_pause=False):
        self.log, self.counts, self.fail_pause = log, list(counts), fail_pause

    def calls_count(self):
        self.log.append(("fs", "count"))
        return self.counts.pop(0) if len(self.counts) > 1 else self.counts[0]

    def pause_inbound(self):
        if self.fail_pause:
            raise ClusterctlError("event socket 10.77.0.21:8021: connect: connection refused")
        self.log.append(("fs", "pause"))

    def resume_inbound(self):
        self.log.append(("fs", "resume"))


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.now += seconds


def drainer(log, counts=(0,), edges=None, **server):
    c = cluster()
    clock = Clock()
    edges = edges or {"edge1": FakeEdge("edge1", log), "edge2": FakeEdge("edge2", log)}
    fs = FakeServer(log, counts, **server)
    return Drainer(c, edges, fs, clock=clock, sleep=clock.sleep), edges, clock


def test_target_is_found_by_shard_position_and_peer():
    t = target_of(cluster(), "fs1b")
    assert (t.shard, t.set_id, t.uri, t.peer, t.peer_uri) == ("shard1", 1, FS1B, "fs1a", FS1A)
    with pytest.raises(BadInput, match="edge1 is not a feature server"):
        target_of(cluster(), "edge1")


def test_drain_sets_both_edges_inactive_before_pausing_then_waits_for_zero_calls():
    log = []
    d, edges, _ = drainer(log, counts=(3, 2, 0))
    report = d.drain("fs1a", deadline_s=60, poll_s=2)
    assert log[:3] == [("edge1", FS1A, "inactive"), ("edge2", FS1A, "inactive"), ("fs", "pause")]
    assert [e for e in log if e == ("fs", "count")] == [("fs", "count")] * 3
    assert report.drained and report.calls_at_start == 3 and report.calls_left == 0
    assert report.edges == ["edge1", "edge2"] and report.waited_s == pytest.approx(4.0)
    assert all(e.states[FS1B] is DestinationState.ACTIVE for e in edges.values())


def test_deadline_reached_with_calls_left_is_reported_not_raised():
    log = []
    d, _, _ = drainer(log, counts=(5,))
    report = d.drain("fs1a", deadline_s=5, poll_s=2)
    assert not report.drained and report.calls_left == 5
    assert report.waited_s == pytest.approx(5.0)


def test_the_last_available_server_of_a_shard_is_refused_without_force():
    log = []
    states = {FS1A: DestinationState.ACTIVE, FS1B: DestinationState.INACTIVE}
    edges = {"edge1": FakeEdge("edge1", log), "edge2": FakeEdge("edge2", log, dict(states))}
    d, _, _ = drainer(log, edges=edges)
    refused = r"last available server of shard shard1 .*edge2: fs1b is inactive"
    with pytest.raises(ClusterctlError, match=refused):
        d.drain("fs1a")
    assert log == [], "nothing may change when the drain is refused"
    report = d.drain("fs1a", force=True)
    assert report.forced and report.drained and "peer: edge2: fs1b is inactive" in report.notes
    assert ("fs", "pause") in log


def test_an_unreachable_edge_refuses_the_drain_too():
    log = []
    edges = {"edge1": FakeEdge("edge1", log), "edge2": FakeEdge("edge2", log, down=True)}
    d, _, _ = drainer(log, edges=edges)
    with pytest.raises(ClusterctlError, match="edge2: cannot read its dispatcher"):
        d.drain("fs1a")
    assert log == []


def test_a_failing_edge_names_what_was_already_done():
    log = []
    edges = {"edge1": FakeEdge("edge1", log), "edge2": FakeEdge("edge2", log, fail_set=True)}
    d, _, _ = drainer(log, edges=edges)
    with pytest.raises(ClusterctlError, match=r"inactive on edge2 failed .*done so far: edge1"):
        d.drain("fs1a")
    assert ("fs", "pause") not in log


def test_a_failing_pause_names_the_edges_already_changed():
    log = []
    d, _, _ = drainer(log, fail_pause=True)
    failed = r"pause inbound failed .*edges already changed: edge1, edge2"
    with pytest.raises(ClusterctlError, match=failed):
        d.drain("fs1a")


def test_undrain_resumes_the_server_before_any_edge_routes_to_it():
    log = []
    d, _, _ = drainer(log)
    d.drain("fs1a")
    log.clear()
    report = d.undrain("fs1a")
    assert log == [("fs", "resume"), ("edge1", FS1A, "active"), ("edge2", FS1A, "active")]
    assert report.edges == ["edge1", "edge2"]


# --- the CLI: `clusterctl drain` / `undrain` --------------------------------------------------

LAB = str(Path(__file__).resolve().parents[1] / "fixtures" / "drills" / "inventory-lab")


def test_for_host_reaches_every_edge_node_and_the_servers_event_socket():
    c = check_inventory(LAB)
    d = fs_drain.for_host(c, "fs1a", "unit-test-placeholder")
    assert sorted(d.edges) == ["edge1", "edge2"]
    assert d.server.host == str(c.hosts["fs1a"].address)
    with pytest.raises(BadInput, match="edge1 is not a feature server"):
        fs_drain.for_host(c, "edge1", "unit-test-placeholder")


def test_cli_drain_prints_each_step_and_exits_by_whether_it_drained(monkeypatch):
    log, made = [], []

    def fake_for_host(cluster, host, password):
        assert password == "unit-test-placeholder"  # read from the inventory
        d, _, _ = drainer(log, counts=made.pop(0))
        return d

    monkeypatch.setattr(fs_drain, "for_host", fake_for_host)
    made[:] = [(2, 0), (4,)]
    done = CliRunner().invoke(main, ["drain", "fs1a", "-i", LAB, "--deadline", "10"])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        "fs1a: inactive on edge1, edge2",
        "fs1a: pause inbound",
        "fs1a: 2 call(s) at the start, 0 left after 1.0 s",
        "fs1a: drained",
    ]
    late = CliRunner().invoke(main, ["drain", "fs1a", "-i", LAB, "--deadline", "3"])
    assert late.exit_code == 1
    assert "4 call(s) at the start, 4 left after 3.0 s" in late.output
    assert "NOT drained" in late.output and "clusterctl undrain fs1a" in late.output


def test_cli_undrain_reports_the_edges(monkeypatch):
    log = []
    monkeypatch.setattr(fs_drain, "for_host", lambda c, h, p: drainer(log)[0])
    done = CliRunner().invoke(main, ["undrain", "fs1a", "-i", LAB])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == ["fs1a: active on edge1, edge2", "fs1a: resume inbound"]


def test_cli_drain_bad_input_is_one_line_with_exit_code_2(tmp_path):
    done = CliRunner().invoke(main, ["drain", "edge1", "-i", LAB])
    assert done.exit_code == 2
    assert done.output.strip().splitlines() == [
        "error: edge1 is not a feature server (feature_servers: fs1a, fs1b)"
    ]
    inv = tmp_path / "inv"
    shutil.copytree(LAB, inv)
    secrets = inv / "group_vars/all/database.yml"
    secrets.write_text(secrets.read_text().replace(
        "fs_esl_password: unit-test-placeholder", 'fs_esl_password: "{{ vault_fs_esl_password }}"'
    ))
    done = CliRunner().invoke(main, ["drain", "fs1a", "-i", str(inv)])
    assert done.exit_code == 2
    assert "fs_esl_password cannot be read from the inventory" in done.output
    assert "Traceback" not in done.output
