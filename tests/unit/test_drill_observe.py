"""The observation stream, the live pollers fed by recorded replies, and SIPp's message log."""

from __future__ import annotations

import json
import shlex
import threading
import time
from pathlib import Path

import pytest
from test_drill_analysis import cluster

from clusterctl.drills import failover, live
from clusterctl.drills.observe import (
    CallRecord,
    DispatcherPoller,
    Observations,
    VipWatcher,
    load_jsonl,
    parse_sipp_messages,
)
from clusterctl.edge import EdgeManagementError, HttpReply, client_for
from clusterctl.errors import BadInput, ClusterctlError
from clusterctl.nodes import host_of_uri

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_jsonl_round_trip(tmp_path):
    obs = load_jsonl(FIXTURES / "drills" / "failover_traffic_kill_opensips.jsonl")
    obs.dump_jsonl(tmp_path / "again.jsonl")
    again = load_jsonl(tmp_path / "again.jsonl")
    assert again.dest == obs.dest
    assert again.calls == obs.calls
    assert again.marks == obs.marks
    assert again.meta == obs.meta


def test_bad_stream_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"kind": "mark", "name": "fault", "t": 1}\n{"kind": "wat"}\n')
    with pytest.raises(BadInput, match=r"bad\.jsonl:2: .*unknown kind"):
        load_jsonl(path)


def _replaying(files):
    """A JSON-RPC transport that answers with recorded Kamailio replies, one per call."""
    replies = [json.loads((FIXTURES / "kamailio" / f).read_text()) for f in files]

    def post(endpoint, body, headers, timeout):
        request = json.loads(body)
        if not replies:
            raise ConnectionRefusedError
        reply = replies.pop(0)
        reply["id"] = request["id"]
        return HttpReply(200, json.dumps(reply).encode())

    return post


def test_dispatcher_poller_on_recorded_kamailio_replies_feeds_the_analysis():
    # Recorded from Kamailio 5.6.3: start-up (AX), first failed ping (TP, still selected),
    # threshold reached (IP), 15097 answering again (AP).
    files = [
        "dispatcher_list_startup.json",
        "dispatcher_list_first_failed_ping.json",
        "dispatcher_list_dead_dests_probing.json",
        "dispatcher_list_15097_recovered.json",
    ]
    client = client_for("kamailio", "127.0.0.1", post=_replaying(files))
    obs = Observations(marks={"fault": 9.95, "restore": 10.25})
    ticks = iter([10.0, 10.1, 10.2, 10.3, 10.4])
    lookup = host_of_uri({"127.0.0.1": "fs"})
    poller = DispatcherPoller(
        client.dispatcher_sets,
        obs,
        lambda uri: lookup(uri) if uri.endswith(":15097") else None,
        interval=0.1,
        clock=lambda: next(ticks),
    )
    for _ in range(5):
        poller.poll_once()  # the fifth: transport refuses, recorded as an error, not raised
    assert sorted({s.t for s in obs.dest}) == [10.0, 10.1, 10.2, 10.3]
    assert [s.raw_state for s in obs.dest if s.host == "fs"] == ["AX", "TP", "IP", "AP"]
    assert len(obs.errors) == 1 and "connection refused" in obs.errors[0].message
    times = failover.times_of(obs, "fs")
    assert times.excluded == 10.2  # TP does not count: Kamailio still selects it
    assert times.reincluded == 10.3


def test_poller_thread_runs_and_stops():
    obs = Observations()
    calls = []

    def fetch():
        calls.append(1)
        raise EdgeManagementError("kamailio management at x: dispatcher.list: refused")

    poller = DispatcherPoller(fetch, obs, lambda uri: None, interval=0.01)
    poller.start()
    time.sleep(0.1)
    poller.stop()
    done = len(calls)
    time.sleep(0.05)
    assert done >= 3 and len(calls) == done  # stopped means stopped
    assert len(obs.errors) == done


IP_O_ADDR = """1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever
2: eth0    inet 10.77.0.11/24 brd 10.77.0.255 scope global eth0\\       valid_lft forever
2: eth0    inet 10.77.0.10/24 scope global secondary eth0\\       valid_lft forever
"""


def _watch(watcher, until, timeout=2.0):
    watcher.start()
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        time.sleep(0.01)
    watcher.stop()


def test_vip_watcher_counts_an_unreachable_node_as_not_holding():
    def ask(host):
        if host == "edge2":
            raise OSError("ssh: connect to host edge2: timed out")
        return IP_O_ADDR

    obs = Observations()
    watcher = VipWatcher(ask, ["edge1", "edge2"], "10.77.0.10", obs, interval=0.01)
    _watch(watcher, lambda: len(obs.vip) >= 5)
    assert obs.vip and all(v.owners == ("edge1",) for v in obs.vip)
    assert [e.source for e in obs.errors] == ["vip@edge2"]  # once per outage, not per poll


def test_vip_watcher_is_not_held_up_by_a_frozen_node():
    frozen = threading.Event()

    def ask(host):
        if host == "edge1" and frozen.is_set():
            time.sleep(1.0)  # an SSH command to a paused container hangs
        return IP_O_ADDR if host == "edge1" or frozen.is_set() else ""

    obs = Observations()
    watcher = VipWatcher(ask, ["edge1", "edge2"], "10.77.0.10", obs, interval=0.01, stale_s=0.2)
    watcher.start()
    time.sleep(0.1)
    frozen.set()
    at = time.time()
    while time.time() - at < 0.6:
        time.sleep(0.01)
    watcher.stop()
    before = [v for v in obs.vip if v.t < at]
    after = [v for v in obs.vip if v.t >= at + 0.3]
    assert before and all(v.owners == ("edge1",) for v in before)
    # edge1's answers stopped: after stale_s it no longer counts, edge2 alone holds it,
    # and sampling went on at its own pace meanwhile.
    assert len(after) >= 10 and all(v.owners == ("edge2",) for v in after)


def _msg(epoch, direction, text):
    head = f"----------------------------------------------- 2026-11-26\t07:30:08.000000\t{epoch}"
    if direction == "sent":
        line = f"UDP message sent ({len(text)} bytes):"
    else:
        line = f"UDP message received [{len(text)}] bytes :"
    return f"{head}\n{line}\n\n{text}\n\n"


def _sip(first, call_id, cseq, extra=""):
    return (
        f"{first}\r\nVia: SIP/2.0/UDP 10.77.0.51:5060\r\n"
        f"From: <sip:1001@acme.example.org>;tag=1\r\nTo: <sip:1002@acme.example.org>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq}\r\n{extra}Content-Length: 0\r\n\r\n"
    )


def test_sipp_message_log_gives_per_call_outcomes():
    log = "".join(
        [
            _msg("100.000000", "sent", _sip("INVITE sip:1002@10.77.0.10 SIP/2.0", "a", "1 INVITE")),
            _msg("100.010000", "received", _sip("SIP/2.0 100 Trying", "a", "1 INVITE")),
            _msg("100.050000", "received", _sip("SIP/2.0 180 Ringing", "a", "1 INVITE")),
            _msg(
                "100.090000",
                "received",
                _sip("SIP/2.0 200 OK", "a", "1 INVITE", "X-FS-Id: fs1a\r\n"),
            ),
            _msg("101.000000", "sent", _sip("INVITE sip:1002@10.77.0.10 SIP/2.0", "b", "1 INVITE")),
            _msg(
                "101.010000", "received", _sip("SIP/2.0 407 Proxy Auth Required", "b", "1 INVITE")
            ),
            _msg("101.020000", "sent", _sip("INVITE sip:1002@10.77.0.10 SIP/2.0", "b", "2 INVITE")),
            _msg("103.100000", "received", _sip("SIP/2.0 408 Request Timeout", "b", "2 INVITE")),
            _msg("102.000000", "sent", _sip("INVITE sip:1002@10.77.0.10 SIP/2.0", "c", "1 INVITE")),
            _msg("108.000000", "sent", _sip("BYE sip:1002@10.77.0.10 SIP/2.0", "a", "2 BYE")),
            _msg("108.020000", "received", _sip("SIP/2.0 200 OK", "a", "2 BYE")),
            # d: the BYE's 200 is lost, the retransmission is answered; a stray 481 to a
            # later copy changes nothing (the transaction already ended).
            _msg("104.000000", "sent", _sip("INVITE sip:1002@10.77.0.10 SIP/2.0", "d", "1 INVITE")),
            _msg("104.050000", "received", _sip("SIP/2.0 200 OK", "d", "1 INVITE")),
            _msg("109.000000", "sent", _sip("BYE sip:1002@10.77.0.10 SIP/2.0", "d", "2 BYE")),
            _msg("109.500000", "sent", _sip("BYE sip:1002@10.77.0.10 SIP/2.0", "d", "2 BYE")),
            _msg("109.520000", "received", _sip("SIP/2.0 200 OK", "d", "2 BYE")),
            _msg("110.600000", "received", _sip("SIP/2.0 481 No Such Call", "d", "2 BYE")),
        ]
    )
    calls = {c.call_id: c for c in parse_sipp_messages(log)}
    assert calls["a"] == CallRecord(
        "a",
        100.0,
        200,
        pdd=0.05,
        answered_by="fs1a",
        tenant="acme.example.org",
        end=100.09,
        bye_at=108.0,
        bye_status=200,
        bye_end=108.02,
    )
    assert (calls["d"].bye_at, calls["d"].bye_status, calls["d"].bye_end) == (109.0, 200, 109.52)
    assert calls["b"].status == 408 and not calls["b"].ok and calls["b"].pdd is None
    assert calls["c"].status is None and not calls["c"].ok  # never answered


class ProbeHost:
    """A fault backend whose ``run`` plays a probe host with SIPp and a database node."""

    def __init__(self, trace, location_count="6"):
        self.trace = trace
        self.location_count = location_count
        self.ran = []

    def run(self, host, argv):
        self.ran.append((host, argv))
        script = argv[2] if argv[0] == "sh" else ""
        if script.startswith("TZ=UTC sipp") and " -bg" in script:
            return "Background mode - PID=[4242]\n"
        if argv[0] == "cat":
            return self.trace
        if argv[0] == "sipp" and "10.77.0.99:5060" in argv:
            raise RuntimeError("sipp exited 1: no 200 to OPTIONS")
        if argv[0] == "mysql" and argv[-1].startswith("SELECT COUNT"):
            return f"{self.location_count}\n"
        return ""


def test_sipp_traffic_stops_only_its_own_process_and_names_tenants():
    trace = "".join(
        [
            _msg("100.0", "sent", _sip("INVITE sip:1002@10.77.0.10 SIP/2.0", "a", "1 INVITE")),
            _msg("100.1", "received", _sip("SIP/2.0 200 OK", "a", "1 INVITE", "X-FS-Id: fs1a\r\n")),
        ]
    )
    host = ProbeHost(trace)
    command = live.SippCommand(
        "10.77.0.10", "/s/uac.xml", "/s/users.csv", "10.77.0.51", rate=5, max_seconds=60
    )
    traffic = live.SippTraffic(
        host, "probe1", command, {"acme.example.org": "acme"}, "/s/options.xml"
    )
    traffic.start()
    calls = traffic.stop()
    started = shlex.split(host.ran[1][1][2].split(">")[0])
    assert started[:3] == ["TZ=UTC", "sipp", "10.77.0.10:5060"]
    assert started[started.index("-m") + 1] == "300"  # bounded: 5 calls/s for 60 s
    assert started[started.index("-i") + 1] == "10.77.0.51"
    stop = next(argv[2] for _, argv in host.ran if argv[0] == "sh" and "kill" in argv[2])
    assert stop.startswith("kill -INT 4242 ") and "kill -9 4242" in stop
    assert not any("pkill" in str(argv) or "killall" in str(argv) for _, argv in host.ran)
    assert [(c.call_id, c.tenant, c.answered_by) for c in calls] == [("a", "acme", "fs1a")]
    assert traffic.answers("10.77.0.21") is True
    assert traffic.answers("10.77.0.99") is False


def test_test_users_are_created_registered_and_removed():
    host = ProbeHost("", location_count="2")
    users = live.TestUsers(host, ("db1", "db2"), ["a.example.org", "b.example.org"])
    command = live.SippCommand(
        "10.77.0.10", "/s/uac.xml", users.csv_path, "10.77.0.51", auth=users.auth
    )
    traffic = live.SippTraffic(
        host, "probe1", command, {}, "/s/options.xml", users=users, register_scenario="/s/r.xml"
    )
    traffic.start()
    traffic.stop()
    sql = [argv[-1] for h, argv in host.ran if argv[0] == "mysql"]
    assert all(h == "db1" for h, argv in host.ran if argv[0] == "mysql")
    assert sql[0].startswith("INSERT INTO subscriber")
    assert sql[0].count(f"'clusterctl-drill','a.example.org','{users.password}'") == 1
    assert sql[-1].startswith("DELETE FROM subscriber")
    assert "domain IN ('a.example.org','b.example.org')" in sql[-1]
    csv = next(argv[2] for h, argv in host.ran if h == "probe1" and "umask 077" in str(argv))
    assert "SEQUENTIAL" in csv and "clusterctl-drill;b.example.org" in csv
    assert users.password not in csv  # credentials go in -au/-ap only
    register = next(argv[2] for h, argv in host.ran if "/s/r.xml" in str(argv))
    assert "-m 2" in register and "-timeout_error" in register
    assert f"-au clusterctl-drill -ap {users.password}" in register
    assert len(users.password) == 24 and users.password != live.TestUsers(host, (), []).password
    started = next(argv[2] for _, argv in host.ran if argv[0] == "sh" and " -bg" in argv[2])
    assert f"-au clusterctl-drill -ap {users.password}" in started
    assert started.rstrip().endswith("true")  # the -bg parent's exit code is not the verdict


def test_test_users_fall_over_to_the_next_database_node_and_name_every_failure():
    class DeadDb(ProbeHost):
        def run(self, host, argv):
            if argv[0] == "mysql" and host == "db1":
                raise OSError("db1: connection reset")
            if argv[0] == "mysql":
                raise RuntimeError("mysql on db2: access denied")
            return super().run(host, argv)

    users = live.TestUsers(DeadDb(""), ("db1", "db2"), ["a.example.org"])
    with pytest.raises(ClusterctlError, match="db1: db1: connection reset; db2: mysql on db2"):
        users.create("probe1")


def test_sipp_traffic_refuses_to_run_blind_without_a_pid():
    class Silent(ProbeHost):
        def run(self, host, argv):
            return ""

    traffic = live.SippTraffic(Silent(""), "probe1", live.SippCommand("v", "s", "u"), {}, "o")
    with pytest.raises(ClusterctlError, match="did not report its PID"):
        traffic.start()


def test_wait_answers_returns_when_the_successful_probe_started():
    # deadline, loop test, first probe's start, loop test, second probe's start
    ticks = iter([100.0, 100.0, 100.0, 101.0, 101.5])

    class Traffic:
        host = "probe1"

        def __init__(self):
            self.asked = []

        def answers(self, address):
            self.asked.append(address)
            return len(self.asked) == 2

    traffic = Traffic()
    probes = live.Probes(cluster(), None, lambda: [], traffic, clock=lambda: next(ticks))
    assert probes.wait_answers("fs1a", timeout=10) == 101.5
    assert traffic.asked == ["10.77.0.21", "10.77.0.21"]


def test_sipp_373_trace_headers_without_epoch_are_read_as_utc():
    # Header lines exactly as SIPp 3.7.3 (Debian 13) wrote them on the lab probe.
    log = (
        "----------------------------------------------- 2026-11-26 08:48:49.908483\n"
        "UDP message sent (294 bytes):\n\n"
        + _sip("INVITE sip:9000@alpha.lab SIP/2.0", "x", "1 INVITE")
        + "\n\n----------------------------------------------- 2026-11-26 08:48:50.158483\n"
        "UDP message received [282] bytes :\n\n"
        + _sip("SIP/2.0 200 OK", "x", "1 INVITE", "X-FS-Id: fs2b\r\n")
    )
    (call,) = parse_sipp_messages(log)
    assert call.start == 1795682929.908483  # 2026-11-26T08:48:49.908483Z
    assert call.pdd == 0.25 and call.status == 200 and call.answered_by == "fs2b"


def test_a_late_answer_to_the_first_invite_does_not_undo_the_call():
    # Seen in the lab (vip --fault freeze, 2026-12-07): the frozen edge woke up and answered
    # its backlog, the first INVITEs, with 407 after the new holder had connected the
    # authenticated ones.
    log = "".join(
        [
            _msg("100.000000", "sent", _sip("INVITE sip:9196@10.77.0.10 SIP/2.0", "e", "1 INVITE")),
            _msg("103.500000", "sent", _sip("INVITE sip:9196@10.77.0.10 SIP/2.0", "e", "1 INVITE")),
            _msg("103.510000", "received", _sip("SIP/2.0 407 Proxy Auth", "e", "1 INVITE")),
            _msg("103.520000", "sent", _sip("INVITE sip:9196@10.77.0.10 SIP/2.0", "e", "2 INVITE")),
            _msg("103.530000", "received",
                 _sip("SIP/2.0 200 OK", "e", "2 INVITE", "X-FS-Id: fs1b\r\n")),
            _msg("105.900000", "received", _sip("SIP/2.0 407 Proxy Auth", "e", "1 INVITE")),
        ]
    )
    (call,) = parse_sipp_messages(log)
    assert (call.status, call.answered_by, call.end) == (200, "fs1b", 103.53)
