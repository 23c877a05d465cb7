"""The lab end to end: up and deploy (the session fixture) -> every host over SSH -> a second
deploy changes nothing -> every fault primitive works and is undone -> down leaves nothing
labelled behind (the session fixture). Run with `pytest -m lab -s` (prints the figures)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from clusterctl.faults import LabFaults, lab_faults
from clusterctl.lab import lifecycle
from clusterctl.lab.topology import load_topology, profile_path

pytestmark = pytest.mark.lab

TOPOLOGY = load_topology(profile_path("default"))
HOSTS = [h.name for h in TOPOLOGY.hosts]
ADDRESS = {h.name: str(h.address) for h in TOPOLOGY.hosts}
FIGURES: dict[str, float] = {}
# A throw-away unit for the service/process faults: a copy of sleep under its own name (kept
# under 15 characters: pkill -x matches the kernel's truncated process name).
TEST_UNIT = "clusterctl-fault-test"
TEST_PROCESS = "faultd-test"
UNIT_FILE = f"""[Unit]
Description=clusterctl fault primitive test target
[Service]
ExecStart=/usr/local/bin/{TEST_PROCESS} infinity
Restart=always
RestartSec=1
"""


def clusterctl(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clusterctl", *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


def timed(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    start = time.monotonic()
    res = clusterctl(*args)
    FIGURES[name] = round(time.monotonic() - start, 1)
    return res


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def until(check, timeout: float, step: float = 0.5) -> bool:
    """Poll ``check`` for at most ``timeout`` s (bounded: a broken fault cannot hang CI)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return bool(check())


def reaches(src: str, dst: str) -> bool:
    """ICMP from lab host ``src`` to lab host ``dst``, one try.

    ICMP is what the deployed `common` firewall admits between any two hosts (SSH only from
    the operator); a network cut drops it like everything else.
    """
    ping = subprocess.run(["docker", "exec", f"clusterctl-lab-{src}", "ping", "-c1", "-W1",
                           ADDRESS[dst]], capture_output=True, check=False, timeout=10)
    return ping.returncode == 0


@pytest.fixture(scope="module")
def lab(deployed_lab: object) -> Iterator[LabFaults]:
    """The fault backend of the session's deployed lab (tests/conftest.py brings it up and
    takes it down, asserting that nothing labelled is left)."""
    yield lab_faults()
    print("lab test figures:", json.dumps(FIGURES, indent=1))


def test_every_host_answers_ssh(lab: LabFaults):
    assert sorted(lab.targets) == sorted(HOSTS)
    for host in HOSTS:
        res = clusterctl("lab", "ssh", host, "--", "true", timeout=30)
        assert res.returncode == 0, f"{host}: {res.stderr}"
    assert clusterctl("lab", "ssh", host, "--", "hostname").stdout.strip() == host


def test_up_again_keeps_every_host(lab: LabFaults):
    res = timed("lab up (second, all kept)", "lab", "up")
    assert res.returncode == 0, res.stderr
    for host in HOSTS:
        assert f"{host:<8} kept" in res.stdout


def test_status_shows_every_host_running_with_memory(lab: LabFaults):
    res = clusterctl("lab", "status")
    rows = {line.split()[0]: line.split() for line in res.stdout.splitlines()[1:]}
    assert sorted(rows) == sorted(HOSTS)
    for host, row in rows.items():
        assert row[1:3] == ["running", ADDRESS[host]]
        assert row[3].endswith("MiB"), row
    print(res.stdout)


def test_second_deploy_changes_nothing(lab: LabFaults, lab_deploy):
    # The session fixture ran the first deploy of site.yml (common, database, stand-ins, edge).
    stats = lab_deploy("deploy site.yml, second run s")
    assert set(stats["ok"]) == set(HOSTS)
    assert stats.get("changed", {}) == {}, f"second run changed: {stats['changed']}"
    assert not stats.get("failures") and not stats.get("dark"), stats


@pytest.fixture
def test_unit(lab: LabFaults) -> Iterator[str]:
    host = "fs1a"
    setup = (f"cp /bin/sleep /usr/local/bin/{TEST_PROCESS} && "
             f"cat > /etc/systemd/system/{TEST_UNIT}.service && "
             f"systemctl daemon-reload && systemctl start {TEST_UNIT}")
    subprocess.run(["docker", "exec", "-i", f"clusterctl-lab-{host}", "sh", "-c", setup],
                   input=UNIT_FILE, text=True, check=True, timeout=30)
    yield host
    subprocess.run(["docker", "exec", f"clusterctl-lab-{host}", "sh", "-c",
                    f"systemctl stop {TEST_UNIT}; rm -f /etc/systemd/system/{TEST_UNIT}.service"
                    " && systemctl daemon-reload"], check=False, timeout=30)


def _active(lab: LabFaults, host: str) -> str:
    return subprocess.run(["docker", "exec", f"clusterctl-lab-{host}", "systemctl",
                           "is-active", TEST_UNIT], capture_output=True, text=True,
                          check=False).stdout.strip()


def _main_pid(host: str) -> int:
    return int(docker("exec", f"clusterctl-lab-{host}", "systemctl", "show",
                      "--property=MainPID", "--value", TEST_UNIT).strip())


def test_stop_and_start_a_service(lab: LabFaults, test_unit: str):
    event = lab.stop_service(test_unit, TEST_UNIT)
    assert _active(lab, test_unit) == "inactive"
    assert event.issued <= event.effective <= time.time()
    lab.start_service(test_unit, TEST_UNIT)
    assert _active(lab, test_unit) == "active"


def test_kill_by_unit_and_by_name_then_systemd_restarts_it(lab: LabFaults, test_unit: str):
    before = _main_pid(test_unit)
    lab.kill_process(test_unit, unit=TEST_UNIT)
    assert until(lambda: _main_pid(test_unit) not in {0, before}, 10)
    killed = _main_pid(test_unit)
    pids = lambda: docker("exec", f"clusterctl-lab-{test_unit}", "sh", "-c",  # noqa: E731
                          f"pgrep -x {TEST_PROCESS} || true").split()
    lab.kill_process(test_unit, process=TEST_PROCESS)
    assert str(killed) not in pids()
    assert until(lambda: _active(lab, test_unit) == "active" and pids() != [], 10)


def test_cut_and_restore_network(lab: LabFaults):
    start = time.monotonic()
    assert reaches("probe1", "fs2a")
    lab.cut_network("fs2a")
    assert not reaches("probe1", "fs2a")
    # Outbound too: the cut host cannot reach its peers.
    out = subprocess.run(["docker", "exec", "clusterctl-lab-fs2a", "ping", "-c1", "-W1",
                          ADDRESS["probe1"]], capture_output=True, check=False)
    assert out.returncode != 0
    # The operator's SSH stays open: this is how the restore gets in.
    assert lab.run("fs2a", ["hostname"]).strip() == "fs2a"
    lab.restore_network("fs2a")
    assert until(lambda: reaches("probe1", "fs2a"), 10)
    FIGURES["netcut + restore round trip s"] = round(time.monotonic() - start, 1)


def test_cut_network_restores_itself(lab: LabFaults):
    lab.cut_network("fs2b", auto_restore_s=10)
    assert not reaches("probe1", "fs2b")
    start = time.monotonic()
    assert until(lambda: reaches("probe1", "fs2b"), 30, step=1.0)
    FIGURES["netcut auto-restore after (armed 10 s)"] = round(time.monotonic() - start, 1)


def test_freeze_and_thaw(lab: LabFaults):
    state = lambda: docker("inspect", "--format", "{{.State.Status}}",  # noqa: E731
                           "clusterctl-lab-web2").strip()
    lab.freeze("web2")
    assert state() == "paused"
    # The kernel still answers ping and TCP handshakes for a frozen host; its processes do
    # not: sshd never sends its banner.
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(lifecycle.ssh_argv(ADDRESS["web2"], ("true",)), capture_output=True,
                       timeout=4, check=False)
    lab.thaw("web2")
    assert state() == "running"
    lab.wait_reachable("web2", timeout=30)
    assert reaches("probe1", "web2")


def test_restart_keeps_data_and_comes_back(lab: LabFaults):
    lab.run("db2", ["sh", "-c", "echo kept > /srv/data/marker && echo kept > /var/lib/mysql/m"])
    event = lab.restart("db2")
    back = lab.wait_reachable("db2", timeout=90)
    FIGURES["restart: ssh back after s"] = round(back - event.issued, 1)
    assert lab.run("db2", ["cat", "/srv/data/marker", "/var/lib/mysql/m"]) == "kept\nkept\n"
    res = timed("clusterctl lab restart", "lab", "restart", "db2")
    assert res.returncode == 0, res.stderr
    assert "db2: restarted" in res.stdout
