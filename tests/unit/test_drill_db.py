"""``drill db``: its verdicts on synthetic streams, its limits per fault and topology, the
writer's failover and what it counts as acknowledged, REGISTER streams read from SIPp's
trace, and its refusals before anything is touched."""

from __future__ import annotations

import time
from pathlib import Path

import pymysql
import pytest
from click.testing import CliRunner
from mysql_fakes import FakeServers

from clusterctl import faults
from clusterctl.cli import main
from clusterctl.drills import db
from clusterctl.drills.observe import (
    CallRecord,
    LookupSample,
    Observations,
    WriteSample,
    load_jsonl,
    parse_sipp_messages,
)
from clusterctl.drills.report.html import timeline_svg
from clusterctl.drills.run import DrillRun
from clusterctl.drills.thresholds import Limit
from clusterctl.engines import EDGE_DB_TIMEOUT_S, EDGE_LOCATION_FLUSH_S

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "drills"
LAB = str(FIXTURES / "inventory-lab")
FAULT, RESTORE = 1005.0, 1012.0
NONE_FAILED = Limit(0, "0", "computed")


def stream(*, stall: float = 0.3, register_s: float = 0.05, failed_register: bool = False,
           missing: dict | None = None, back: float | None = 4.0) -> Observations:
    """Writes every 0.05 s from 1000 to 1020 with none acknowledged for ``stall`` s after the
    fault; a REGISTER every 0.2 s (those during the fault take ``register_s``), a call a
    second, a lookup every 0.1 s."""
    obs = Observations()
    obs.mark("fault", FAULT)
    obs.mark("restore", RESTORE)
    if back is not None:
        obs.mark("db_back", RESTORE + back)
    for i in range(400):
        t = round(1000 + i * 0.05, 3)
        lost = FAULT <= t < FAULT + stall
        obs.writes.append(WriteSample(t, i + 1, not lost, "db1" if t < FAULT else "db2", 2.0,
                                      "2013 Lost connection" if lost else ""))
    for i in range(100):
        t = round(1000 + i * 0.2, 3)
        slow = FAULT <= t < RESTORE
        status = 500 if failed_register and i == 30 else 200
        obs.registers.append(CallRecord(call_id=f"r{i}", start=t, status=status,
                                        end=t + (register_s if slow else 0.01)))
    obs.calls = [CallRecord(call_id=str(i), start=1000 + i, status=200) for i in range(20)]
    obs.lookups = [LookupSample(host="fs1a", t=1000 + i * 0.1, ok=True, status=200, ms=3.0,
                                servers={}) for i in range(200)]
    obs.meta["missing_writes"] = {"db1": 0, "db2": 0} if missing is None else missing
    return obs


def by_name(checks):
    return {c.name: c for c in checks}


def test_limits_per_fault_kind_and_topology():
    stop = db.db_limits("stop", "master_master", NONE_FAILED)
    freeze = db.db_limits("freeze", "master_master", NONE_FAILED)
    galera_kill = db.db_limits("kill", "galera", NONE_FAILED)
    galera_stop = db.db_limits("stop", "galera", NONE_FAILED)
    change = db.GALERA_SUSPECT_S + db.GALERA_CHECK_PERIOD_S
    # A refusing node costs nothing but the margin; a silent one the clients' timeouts.
    assert stop.write_stall_s.value == pytest.approx(1.0)
    assert freeze.write_stall_s.value == pytest.approx(2 * db.WRITE_TIMEOUT_S + 1.0)
    assert freeze.register_s.value == pytest.approx(EDGE_DB_TIMEOUT_S * 4 / 3 + 1.0)
    # A silent node is held past the edge's next write-back of the contacts and its stall.
    assert db.fault_hold_s("netcut") > EDGE_LOCATION_FLUSH_S + freeze.register_s.value
    assert db.fault_hold_s("stop") < EDGE_LOCATION_FLUSH_S
    assert stop.register_s.value == pytest.approx(1.0)
    # Galera holds every commit, the edge's too, while its membership changes: once for a
    # node that left, twice for one that systemd restarts within the fault.
    assert galera_stop.write_stall_s.value == pytest.approx(change + 1.0)
    assert galera_kill.write_stall_s.value == pytest.approx(2 * change + 1.0)
    assert galera_kill.register_s.value == pytest.approx(2 * change + 1.0)
    assert "2 x Galera membership change" in galera_kill.write_stall_s.bound
    assert freeze.lost_writes.value == 0 and freeze.failed_registers.value == 0


def test_a_clean_run_passes_with_its_figures():
    limits = db.db_limits("freeze", "master_master", NONE_FAILED)
    checks, facts = db.analyze(stream(stall=2.1, register_s=3.2), "db1", limits)
    got = by_name(checks)
    assert got["write stall"].measured == pytest.approx(2.1, abs=0.06)
    assert got["longest REGISTER during the fault"].measured == pytest.approx(3.2)
    assert got["acknowledged writes lost"].measured == 0
    assert got["database node healthy after the restore"].measured == pytest.approx(4.0)
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]
    assert facts["written_via"] == ["db1", "db2"]
    assert facts["writes_unknown_outcome"] == 42  # the writes in the stall had a connection


def test_a_lost_write_a_failed_register_and_a_long_stall_fail_the_run():
    limits = db.db_limits("stop", "master_master", NONE_FAILED)
    checks, _ = db.analyze(
        stream(stall=1.5, failed_register=True, missing={"db1": 0, "db2": 3}), "db1", limits)
    got = by_name(checks)
    assert not got["write stall"].passed
    assert got["failed REGISTERs"].measured == 1 and "500" in got["failed REGISTERs"].note
    assert got["acknowledged writes lost"].measured == 3
    assert "db2 3 missing" in got["acknowledged writes lost"].note


def test_an_unreadable_node_or_a_node_that_never_came_back_cannot_pass(tmp_path):
    obs = stream(missing={"db1": None, "db2": 0}, back=None)
    obs.dump_jsonl(tmp_path / "obs.jsonl")  # the new kinds survive the report's round trip
    again = load_jsonl(tmp_path / "obs.jsonl")
    assert again.writes == obs.writes and again.registers == obs.registers
    checks, _ = db.analyze(again, "db1", db.db_limits("kill", "master_master", NONE_FAILED))
    got = by_name(checks)
    assert got["acknowledged writes lost"].measured is None
    assert "db1 unreadable" in got["acknowledged writes lost"].note
    assert got["database node healthy after the restore"].measured is None
    assert not got["database node healthy after the restore"].passed


def test_the_writer_moves_to_the_next_node_and_stays_there():
    servers = FakeServers()
    writer = db.AuditWriter({"db1": "10.0.0.31", "db2": "10.0.0.32"}, "pw",
                            connect=servers.connect)
    first = writer.write_once(1)
    servers.down.add("10.0.0.31")
    servers.dead.add("10.0.0.31")
    lost = writer.write_once(2)
    moved = writer.write_once(3)
    servers.down.clear()
    servers.dead.clear()
    stayed = writer.write_once(4)
    assert (first.ok, first.node) == (True, "db1")
    # Sent on db1's connection, no answer: unknown outcome, not acknowledged.
    assert (lost.ok, lost.node) == (False, "db1") and lost.error.startswith("2013")
    assert (moved.ok, moved.node) == (True, "db2")
    assert (stayed.ok, stayed.node) == (True, "db2")  # one connection, kept while it works
    assert servers.tried == ["10.0.0.31", "10.0.0.32"]  # after db1 failed a query, db2 first
    assert [args[1] for args in servers.args_on("10.0.0.32")] == [3, 4]


def test_a_hiccup_on_the_survivor_does_not_send_the_writer_back_to_a_silent_node():
    servers = FakeServers()
    writer = db.AuditWriter({"db1": "10.0.0.31", "db2": "10.0.0.32"}, "pw",
                            connect=servers.connect)
    writer.write_once(1)
    servers.down.add("10.0.0.31")
    servers.dead.add("10.0.0.31")
    writer.write_once(2)  # lost on db1
    writer.write_once(3)  # db2
    servers.opened[-1].fail_next = pymysql.err.OperationalError(2013, "Lost connection")
    assert not writer.write_once(4).ok
    again = writer.write_once(5)
    assert (again.ok, again.node) == (True, "db2")
    assert servers.tried == ["10.0.0.31", "10.0.0.32", "10.0.0.32"]


def test_the_writer_says_when_no_node_takes_a_connection():
    def connect(host, **kwargs):
        raise pymysql.err.OperationalError(2003, f"Can't connect to MySQL server on '{host}'")

    writer = db.AuditWriter({"db1": "10.0.0.31", "db2": "10.0.0.32"}, "pw", connect=connect)
    sample = writer.write_once(1)
    assert not sample.ok and sample.node is None
    assert "10.0.0.31:3306" in sample.error and "10.0.0.32:3306" in sample.error


def _msg(t: str, direction: str, first: str, call_id: str, cseq: str) -> str:
    verb = "sent (300 bytes):" if direction == "sent" else "received [300] bytes :"
    return (f"{'-' * 40} 2026-12-07\t10:00:00.000000\t{t}\nUDP message {verb}\n\n"
            f"{first}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n\r\n")


def test_a_register_stream_is_read_one_record_per_call_id():
    trace = "".join([
        _msg("100.0", "sent", "REGISTER sip:a.test SIP/2.0", "r1", "1 REGISTER"),
        _msg("100.01", "received", "SIP/2.0 401 Unauthorized", "r1", "1 REGISTER"),
        _msg("100.02", "sent", "REGISTER sip:a.test SIP/2.0", "r1", "2 REGISTER"),
        _msg("103.1", "received", "SIP/2.0 200 OK", "r1", "2 REGISTER"),
        _msg("101.0", "sent", "REGISTER sip:a.test SIP/2.0", "r2", "1 REGISTER"),
        _msg("101.01", "received", "SIP/2.0 401 Unauthorized", "r2", "1 REGISTER"),
        _msg("101.02", "sent", "REGISTER sip:a.test SIP/2.0", "r2", "2 REGISTER"),
        _msg("101.5", "received", "SIP/2.0 500 Server Internal Error", "r2", "2 REGISTER"),
    ])
    records = {r.call_id: r for r in parse_sipp_messages(trace, method="REGISTER")}
    assert records["r1"].ok and records["r1"].end - records["r1"].start == pytest.approx(3.1)
    assert records["r2"].status == 500 and not records["r2"].ok
    assert parse_sipp_messages(trace) == []  # no INVITE in it


class FakeBackend:
    def __init__(self):
        self.calls = []

    def refusal(self, host, kind):
        return None

    def describe(self, host, kind):
        return f"systemctl stop mariadb on {host}"

    def describe_restore(self, host, kind):
        return f"systemctl start mariadb on {host}"

    def run(self, host, argv):
        self.calls.append((host, argv))
        return ""


@pytest.fixture
def backend(monkeypatch):
    fake = FakeBackend()
    monkeypatch.setattr(faults, "drill_backend", lambda cluster: fake)
    return fake


def test_a_target_outside_the_databases_is_refused(backend):
    result = CliRunner().invoke(main, ["drill", "db", "-i", LAB, "--target", "edge1"])
    assert result.exit_code == 2
    assert "host edge1 is not in group databases" in result.output
    assert backend.calls == []


def test_dry_run_names_every_stream_and_the_fault(backend):
    result = CliRunner().invoke(main, ["drill", "db", "-i", LAB, "--target", "db1",
                                       "--fault", "stop", "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "[db1] would stop: systemctl stop mariadb on db1" in lines
    assert any(line.startswith("[probe1] would REGISTER") for line in lines)
    assert any("clusterctl_ops.drill_audit" in line for line in lines)
    assert backend.calls == []


def test_a_monitor_password_that_cannot_be_read_is_refused(backend, tmp_path):
    inv = tmp_path / "inv"
    src = Path(LAB)
    for path in src.rglob("*.yml"):
        (inv / path.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
        (inv / path.relative_to(src)).write_text(path.read_text().replace(
            "db_monitor_password: unit-test-placeholder",
            'db_monitor_password: "{{ vault_db_monitor_password }}"'))
    result = CliRunner().invoke(main, ["drill", "db", "-i", str(inv), "--target", "db1"])
    assert result.exit_code == 2, result.output
    assert "set db_monitor_password" in result.output and "Traceback" not in result.output
    assert backend.calls == []


def test_the_timeline_shows_which_node_took_the_writes_and_the_registers():
    obs = stream(stall=2.0, register_s=3.0)
    checks, facts = db.analyze(obs, "db1", db.db_limits("freeze", "master_master", NONE_FAILED))
    svg = timeline_svg(DrillRun(1, obs=obs, checks=checks, facts=facts))
    assert svg.index("writes via db1") < svg.index("writes failing: 2013 Lost connection")
    assert svg.index("writes failing") < svg.index("writes via db2")
    assert "REGISTERs" in svg and "REGISTER 200, 3.00 s" in svg


def test_each_run_writes_its_own_rows_from_the_first_node():
    servers = FakeServers()
    writer = db.AuditWriter({"db1": "10.0.0.31", "db2": "10.0.0.32"}, "pw",
                            connect=servers.connect)
    runs = []
    for _ in range(2):
        writer.start()
        time.sleep(0.12)
        samples = writer.stop()
        runs.append((writer.run_id, samples))
    (first_id, first), (second_id, second) = runs
    assert first_id != second_id
    assert first and second and second[0].seq == 1  # a second run really writes, from 1
    assert {s.node for s in first + second} == {"db1"}


def test_the_windows_start_when_the_fault_was_issued():
    # A stop shuts the node down before the command returns: what happened meanwhile counts.
    obs = stream(stall=0.3)
    obs.mark("fault_issued", FAULT - 1.0)
    obs.writes = [w for w in obs.writes if not FAULT - 1.0 < w.t < FAULT]
    checks, _ = db.analyze(obs, "db1", db.db_limits("stop", "master_master", NONE_FAILED))
    assert by_name(checks)["write stall"].measured == pytest.approx(1.3, abs=0.06)
