"""Fault primitives: the commands each backend runs, timestamps, production refusals."""

from __future__ import annotations

import io
import itertools
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import paramiko
import pytest

from clusterctl import faults
from clusterctl.errors import BadInput, ClusterctlError
from clusterctl.faults import (
    CommandResult,
    DrillFaults,
    FaultTarget,
    LabFaults,
    ProductionFaults,
    kill_command,
    netcut_command,
    netrestore_command,
    target_from_vars,
)

TARGETS = {"fs1a": FaultTarget("fs1a", "172.29.10.21", "root", "/k"),
           "edge1": FaultTarget("edge1", "172.29.10.11", "root", "/k")}


class FakeHost:
    """Records in-host commands; answers with a fixed result."""

    def __init__(self, result: CommandResult | Exception | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.result = result or CommandResult(0, "", "")

    def __call__(self, target: FaultTarget, command: str, timeout: float) -> CommandResult:
        self.calls.append((target.address, command))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


class FakeLocal:
    def __init__(self, rc: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.rc = rc

    def __call__(self, argv: Sequence[str], timeout: float) -> CommandResult:
        self.calls.append(list(argv))
        return CommandResult(self.rc, "", "engine says no" if self.rc else "")


def clock():
    ticks = itertools.count(100.0, 0.25)
    return lambda: next(ticks)


def test_service_primitives_run_systemctl_and_record_times():
    host = FakeHost()
    lab = LabFaults(TARGETS, host, FakeLocal(), clock=clock())
    stopped = lab.stop_service("fs1a", "sipp-standin")
    started = lab.start_service("fs1a", "sipp-standin")
    assert host.calls == [("172.29.10.21", "systemctl stop sipp-standin"),
                          ("172.29.10.21", "systemctl start sipp-standin")]
    assert (stopped.issued, stopped.effective) == (100.0, 100.25)
    assert started.issued > stopped.effective
    assert lab.events == [stopped, started]


def test_bad_unit_names_and_unknown_hosts_are_refused():
    lab = LabFaults(TARGETS, FakeHost(), FakeLocal())
    with pytest.raises(BadInput, match="not a systemd unit name"):
        lab.stop_service("fs1a", "x; rm -rf /")
    with pytest.raises(BadInput, match="unknown host 'db9'"):
        lab.freeze("db9")


def test_kill_by_name_or_by_unit():
    assert kill_command(process="sipp") == (
        "pkill -9 -x sipp || { echo 'no process named sipp' >&2; exit 3; }")
    by_unit = kill_command(unit="keepalived")
    assert "systemctl show --property=MainPID --value keepalived" in by_unit
    assert 'kill -9 "$pid"' in by_unit
    with pytest.raises(BadInput):
        kill_command()
    with pytest.raises(BadInput):
        kill_command(process="a", unit="b")


@pytest.mark.parametrize("command", [netcut_command(), netcut_command(30, "10.0.0.5"),
                                     netrestore_command(), kill_command(unit="x"),
                                     kill_command(process="sipp")])
def test_in_host_scripts_are_valid_shell(command):
    assert subprocess.run(["sh", "-n", "-c", command], check=False).returncode == 0


def test_netcut_arms_the_auto_restore_before_cutting_and_keeps_ssh():
    script = netcut_command(45)
    arm = script.index("systemd-run --quiet --unit=clusterctl-fault-restore --on-active=45s")
    cut = script.index("nft -f -")
    assert arm < cut
    assert "/usr/sbin/nft delete table inet clusterctl_fault" in script[arm:cut]
    assert 'op="${SSH_CONNECTION%% *}"' in script
    assert "$fam saddr $op tcp dport 22 accept" in script
    assert "$fam daddr $op tcp sport 22 accept" in script
    assert script.count("policy drop") == 2
    assert "op=10.0.0.5" in netcut_command(30, "10.0.0.5")
    with pytest.raises(BadInput):
        netcut_command(5)
    with pytest.raises(BadInput):
        netcut_command(7200)


def test_netrestore_disarms_the_timer_and_is_idempotent():
    script = netrestore_command()
    assert "systemctl stop clusterctl-fault-restore.timer" in script
    assert "if nft list table inet clusterctl_fault" in script


def test_failed_in_host_command_is_one_line_error():
    lab = LabFaults(TARGETS, FakeHost(CommandResult(5, "", "Failed to stop x.service: "
                                                     "Unit x.service not loaded.\n")), FakeLocal())
    with pytest.raises(ClusterctlError, match=r"^stop_service on fs1a failed: Failed to stop"):
        lab.stop_service("fs1a", "x")
    unreachable = LabFaults(TARGETS, FakeHost(OSError("timed out")), FakeLocal())
    with pytest.raises(ClusterctlError, match="cannot reach it over SSH: timed out"):
        unreachable.cut_network("fs1a")


def test_lab_whole_host_faults_use_the_engine():
    local = FakeLocal()
    lab = LabFaults(TARGETS, FakeHost(), local, clock=clock())
    lab.freeze("fs1a")
    lab.thaw("fs1a")
    event = lab.restart("edge1")
    assert local.calls == [["docker", "pause", "clusterctl-lab-fs1a"],
                           ["docker", "unpause", "clusterctl-lab-fs1a"],
                           ["docker", "restart", "-t", "10", "clusterctl-lab-edge1"]]
    assert event.detail == "docker restart -t 10 clusterctl-lab-edge1"
    assert lab.refusal("freeze") is None
    with pytest.raises(ClusterctlError, match="freeze fs1a failed: engine says no"):
        LabFaults(TARGETS, FakeHost(), FakeLocal(rc=1)).freeze("fs1a")


def test_production_refuses_unconfigured_whole_host_faults():
    local = FakeLocal()
    prod = ProductionFaults(TARGETS, FakeHost(), {"freeze": None}, local)
    with pytest.raises(BadInput) as err:
        prod.freeze("fs1a")
    assert err.value.message.startswith(
        "freeze is not configured for this cluster: set fault_commands.freeze in the inventory")
    assert "\n" not in err.value.message
    assert prod.refusal("restart") is not None
    assert local.calls == []


def test_production_runs_the_configured_command_here():
    local = FakeLocal()
    prod = ProductionFaults(TARGETS, FakeHost(), {
        "freeze": "ssh hv1 virsh suspend {host}", "thaw": "ssh hv1 virsh resume {host}",
        "restart": "ipmitool -H {address}-bmc power cycle"}, local)
    prod.freeze("fs1a")
    prod.restart("edge1")
    assert local.calls == [["ssh", "hv1", "virsh", "suspend", "fs1a"],
                           ["ipmitool", "-H", "172.29.10.11-bmc", "power", "cycle"]]
    broken = ProductionFaults(TARGETS, FakeHost(), {"thaw": "virsh resume {vm}"}, local)
    with pytest.raises(BadInput, match=r"fault_commands.thaw: bad placeholder"):
        broken.thaw("fs1a")


def test_production_in_host_faults_go_over_ssh_like_the_lab():
    host = FakeHost()
    prod = ProductionFaults(TARGETS, host)
    prod.cut_network("edge1")
    prod.restore_network("edge1")
    assert [c[1].splitlines()[0] for c in host.calls] == ["set -eu", netrestore_command()]


def test_run_raises_runtime_error_on_failure():
    lab = LabFaults(TARGETS, FakeHost(CommandResult(0, "inet 1.2.3.4\n", "")), FakeLocal())
    assert lab.run("edge1", ["ip", "-o", "-4", "addr", "show"]) == "inet 1.2.3.4\n"
    failing = LabFaults(TARGETS, FakeHost(CommandResult(1, "", "nope")), FakeLocal())
    with pytest.raises(RuntimeError, match="ip addr on edge1: nope"):
        failing.run("edge1", ["ip", "addr"])


def test_target_from_inventory_vars():
    target = target_from_vars("db1", {"ansible_host": "10.1.1.5", "ansible_user": "ops",
                                      "ansible_ssh_private_key_file": "~/.ssh/k",
                                      "ansible_port": 2222})
    assert target == FaultTarget("db1", "10.1.1.5", "ops", "~/.ssh/k", 2222)
    assert target_from_vars("db1", {"ansible_host": "10.1.1.5"}).user == "root"
    with pytest.raises(BadInput, match="db1 has no ansible_host"):
        target_from_vars("db1", {})


def test_drill_kinds_map_onto_primitives():
    host, local = FakeHost(), FakeLocal()
    drills = DrillFaults(LabFaults(TARGETS, host, local, clock=clock()),
                         {"fs1a": "sipp-standin", "edge1": "keepalived"})
    assert drills.inject("fs1a", "stop") == 100.25
    drills.restore("fs1a", "stop")
    drills.inject("edge1", "kill")
    drills.inject("fs1a", "freeze")
    drills.restore("fs1a", "freeze")
    assert [c[1] for c in host.calls[:2]] == ["systemctl stop sipp-standin",
                                              "systemctl start sipp-standin"]
    assert "value keepalived" in host.calls[2][1]
    assert local.calls == [["docker", "pause", "clusterctl-lab-fs1a"],
                           ["docker", "unpause", "clusterctl-lab-fs1a"]]
    assert drills.describe("fs1a", "freeze") == "docker pause clusterctl-lab-fs1a"
    assert drills.refusal("fs1a", "netcut") is None
    assert drills.refusal("db9", "stop") == "unknown host 'db9'"
    assert drills.refusal("fs1a", "melt") == "unknown fault 'melt'"
    prod = DrillFaults(ProductionFaults(TARGETS, host, {}), {"fs1a": "freeswitch"})
    assert "fault_commands.freeze" in str(prod.refusal("fs1a", "freeze"))
    assert prod.refusal("fs1a", "kill") is None


def test_run_local_reports_missing_program_and_timeout():
    assert faults.run_local(["/nonexistent/prog"], 5).rc == 127
    assert faults.run_local(["sleep", "5"], 0.2).rc == 124
    assert faults.run_local(["sh", "-c", "echo hi"], 5).stdout == "hi\n"


def test_drill_backend_from_a_lab_inventory(tmp_path):
    from clusterctl.inventory import load_cluster  # noqa: PLC0415
    from clusterctl.lab.inventory import write_inventory  # noqa: PLC0415
    from clusterctl.lab.topology import load_topology, profile_path  # noqa: PLC0415

    out = tmp_path / "lab"
    write_inventory(load_topology(profile_path("default")), out, key_path=tmp_path / "k",
                    known_hosts=tmp_path / "kh", lab_name="clusterctl-lab")
    backend = faults.drill_backend(load_cluster(str(out)))
    assert isinstance(backend.faults, LabFaults)
    assert backend.faults.targets["fs2b"] == FaultTarget("fs2b", "172.29.10.24", "root",
                                                         str(tmp_path / "k"))
    assert backend.units["fs1a"] == "sipp-standin"
    assert backend.units["edge2"] == "opensips"  # kill -9 of the engine must move the VIP
    write_inventory(load_topology(profile_path("default")), out, key_path=tmp_path / "k",
                    known_hosts=tmp_path / "kh", lab_name="clusterctl-lab",
                    package_dir=tmp_path, feature_servers="freeswitch")
    assert faults.drill_backend(load_cluster(str(out))).units["fs1a"] == "freeswitch"
    assert backend.refusal("fs1a", "freeze") is None
    assert backend.describe("edge1", "stop-keepalived") == "systemctl stop keepalived"


def test_drill_backend_for_production_refuses_freeze_without_commands():
    from clusterctl.inventory import load_cluster  # noqa: PLC0415

    # The drills' production test inventory sets no fault_commands.
    cluster = load_cluster(str(Path(__file__).parents[1] / "fixtures/drills/inventory-prod"))
    assert cluster.settings.fault_commands is None
    backend = faults.drill_backend(cluster)
    assert isinstance(backend.faults, ProductionFaults)
    fs = cluster.members("feature_servers")[0]
    assert backend.units[fs] == "freeswitch"
    assert "set fault_commands.freeze" in str(backend.refusal(fs, "freeze"))
    assert backend.refusal(fs, "netcut") is None


class _Channel:
    def settimeout(self, timeout):
        self.timeout = timeout

    def exec_command(self, command):
        self.command = command

    def makefile(self, mode):
        return io.BytesIO(b"done\n")

    def makefile_stderr(self, mode):
        return io.BytesIO(b"")

    def recv_exit_status(self):
        return 0

    def close(self):
        pass


class _Transport:
    def __init__(self, confirms: bool) -> None:
        self.confirms = confirms

    def open_session(self, timeout):
        if not self.confirms:
            raise paramiko.SSHException("Timeout opening channel.")
        return _Channel()


def _ssh_with(monkeypatch, *confirms: bool) -> faults.SshExec:
    """An SshExec whose successive connections confirm a channel or not."""
    ssh = faults.SshExec()
    clients = iter([SimpleNamespace(get_transport=lambda c=c: _Transport(c)) for c in confirms])
    monkeypatch.setattr(ssh, "_client", lambda target: next(clients))
    return ssh


def test_a_channel_sshd_never_confirms_is_tried_once_more_on_a_new_connection(monkeypatch):
    ssh = _ssh_with(monkeypatch, False, True)
    result = ssh(TARGETS["fs1a"], "true", 5.0)
    assert (result.rc, result.stdout) == (0, "done\n")


def test_a_second_unconfirmed_channel_is_an_error_naming_the_host(monkeypatch):
    ssh = _ssh_with(monkeypatch, False, False)
    with pytest.raises(OSError, match="fs1a: Timeout opening channel"):
        ssh(TARGETS["fs1a"], "true", 5.0)
