"""`clusterctl lab` verbs: build, up, down, status, ssh, restart.

Everything the lab creates carries the label org.clusterctl.lab=1 (containers, network,
volumes) or org.clusterctl.lab.image (images); `down` removes by label and nothing else.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from clusterctl.engines import EngineName
from clusterctl.errors import BadInput, ClusterctlError
from clusterctl.lab import containers
from clusterctl.lab.engine import (
    IMAGE_LABEL,
    LAB_LABEL,
    LAB_LABEL_FILTER,
    docker,
    ensure_engine,
    run,
)
from clusterctl.lab.images import ImageSet, ensure_images, suite_for
from clusterctl.lab.inventory import DEFAULT_LAB_ENGINE, write_inventory
from clusterctl.lab.topology import LabHost, Topology, find_clash
from clusterctl.model import FeatureServerKind
from clusterctl.paths import HOME

Say = Callable[[str], None]
T = TypeVar("T")
LAB_DIR = HOME / ".lab"
KEY_PATH = LAB_DIR / "id_ed25519"
KNOWN_HOSTS = LAB_DIR / "known_hosts"
INVENTORY_DIR = HOME / "inventory" / "lab"
# Bounds: systemd in a container reaches "running" in 2-5 s here, even with a dozen booting
# at once on two cores; sshd answers right after.
BOOT_TIMEOUT_S = 90.0
SSH_TIMEOUT_S = 60.0
# Containers inherit their image's labels, and images of an older build carried
# org.clusterctl.lab=1: only `lab up` sets the host label, so both together mean "ours".
CONTAINER_FILTERS = ("--filter", LAB_LABEL_FILTER, "--filter", f"label={containers.HOST_LABEL}")
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
               "-o", "StrictHostKeyChecking=yes")


@dataclass
class Phases:
    """Times named phases and prints each one's duration as it ends."""

    say: Say
    total_start: float = 0.0

    def __post_init__(self) -> None:
        self.total_start = time.monotonic()

    @contextmanager
    def phase(self, title: str) -> Iterator[None]:
        start = time.monotonic()
        yield
        self.say(f"  {title:<34} {time.monotonic() - start:6.1f} s")

    def total(self) -> float:
        return time.monotonic() - self.total_start


def ssh_argv(address: str, command: tuple[str, ...] = ()) -> list[str]:
    """The system ssh command reaching a lab host as root with the lab's key."""
    return ["ssh", "-i", str(KEY_PATH), "-o", f"UserKnownHostsFile={KNOWN_HOSTS}",
            *SSH_OPTIONS, f"root@{address}", *command]


def build(debian: str, allow_install: bool, say: Say) -> None:
    """Make sure the engine answers and the images of ``debian`` are current."""
    phases = Phases(say)
    with phases.phase("engine"):
        ensure_engine(allow_install)
    with phases.phase("images"):
        for image, state in ensure_images(debian):
            say(f"  {image}: {state}")
    say(f"images ready in {phases.total():.1f} s")


def _check_subnet(topo: Topology) -> None:
    """BadInput naming the docker network or host route that overlaps the lab's subnet."""
    nets = docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    subnets: dict[str, list[str]] = {}
    if nets:
        res = docker("network", "inspect", "--format",
                     "{{.Name}} {{range .IPAM.Config}}{{.Subnet}} {{end}}", *nets)
        for line in res.stdout.splitlines():
            name, *cidrs = line.split()
            subnets[name] = cidrs
    own_bridges = set()
    own = docker("network", "inspect", "--format", "{{.Id}}", topo.network_name, check=False)
    if own.ok:
        own_bridges.add("br-" + own.stdout.strip()[:12])
    routes = [r["dst"] for r in json.loads(run(("ip", "-j", "route")).stdout or "[]")
              if r.get("dev") not in own_bridges]
    clash = find_clash(topo.subnet, subnets, routes, own_network=topo.network_name)
    if clash:
        raise BadInput(f"lab subnet {topo.subnet} clashes with {clash}: choose another subnet "
                       "in a topology file (--topology)")


def _ensure_network(topo: Topology) -> str:
    """Create the lab's bridge network, or keep it when it matches; BadInput otherwise."""
    res = docker("network", "inspect", "--format",
                 '{{ index .Labels "' + LAB_LABEL + '" }} '
                 "{{range .IPAM.Config}}{{.Subnet}}{{end}}", topo.network_name, check=False)
    if res.ok:
        label, _, subnet = res.stdout.strip().partition(" ")
        if label != "1":
            raise BadInput(f"a docker network named {topo.network_name!r} exists and is not "
                           "the lab's: remove it or rename the lab network (--topology)")
        if subnet == str(topo.subnet):
            return "kept"
        raise BadInput(f"the lab network has subnet {subnet}, the topology wants "
                       f"{topo.subnet}: run `clusterctl lab down` first")
    docker("network", "create", "--driver", "bridge", "--subnet", str(topo.subnet),
           "--gateway", str(topo.gateway), "--label", f"{LAB_LABEL}=1", topo.network_name)
    return "created"


def _container_state(host: LabHost, image_id: str, network: str) -> str:
    """"healthy", "absent" or why the existing container must be replaced."""
    res = docker("container", "inspect", containers.container_name(host.name), check=False)
    if not res.ok:
        return "absent"
    info = json.loads(res.stdout)[0]
    if info["Config"]["Labels"].get(containers.HOST_LABEL) != host.name:
        raise ClusterctlError(f"container {containers.container_name(host.name)} exists and "
                              "is not the lab's: remove or rename it")
    state = info["State"]
    address = info["NetworkSettings"]["Networks"].get(network, {}).get("IPAddress")
    if info["Image"] != image_id:
        return "image changed"
    if address != str(host.address):
        return "address changed"
    if state.get("Paused"):
        docker("unpause", info["Name"].lstrip("/"))
    elif not state.get("Running"):
        return f"not running ({state.get('Status')})"
    return "healthy"


def _volumes(host: LabHost) -> None:
    for volume, _mount in containers.host_volumes(host.name, host.groups):
        docker("volume", "create", "--label", f"{LAB_LABEL}=1", volume)


def _wait_boot(name: str) -> str:
    """Wait for systemd to finish booting and sshd to run; the final system state."""
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    state = "unknown"
    while time.monotonic() < deadline:
        res = docker("exec", name, "systemctl", "is-system-running", check=False, timeout=20)
        state = res.stdout.strip() or "unknown"
        if state in {"running", "degraded"}:
            ssh = docker("exec", name, "systemctl", "is-active", "ssh", check=False, timeout=20)
            if ssh.stdout.strip() == "active":
                return state if state == "running" else _failed_units(name)
        time.sleep(0.5)
    raise ClusterctlError(f"{name}: systemd/sshd not up within {BOOT_TIMEOUT_S:.0f} s "
                          f"(system state {state})")


def _failed_units(name: str) -> str:
    """"degraded (failed: units...)": a degraded host is usable, but say what failed."""
    res = docker("exec", name, "systemctl", "--failed", "--plain", "--no-legend", check=False,
                 timeout=20)
    units = [line.split()[0] for line in res.stdout.splitlines() if line.strip()]
    return f"degraded (failed: {', '.join(units) or 'none listed'})"


def _install_key(name: str, public_key: str) -> str:
    """Authorize the lab key for root; return the host's ed25519 key for known_hosts."""
    docker("exec", "-i", name, "sh", "-c",
           "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys",
           input_text=public_key, what=f"installing the lab key in {name}")
    return docker("exec", name, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]


def wait_ssh(address: str, timeout: float = SSH_TIMEOUT_S) -> None:
    """Retry `ssh root@address true` until it works; ClusterctlError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        res = run(ssh_argv(address, ("true",)), check=False, timeout=15)
        if res.ok:
            return
        last = res.last_error_line()
        time.sleep(1)
    raise ClusterctlError(f"{address}: no SSH within {timeout:.0f} s ({last})")


def _ensure_key() -> str:
    LAB_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not KEY_PATH.exists():
        run(("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "clusterctl-lab",
             "-f", str(KEY_PATH)), what="ssh-keygen")
    return KEY_PATH.with_suffix(".pub").read_text(encoding="utf-8")


def _host_up(host: LabHost, topo: Topology, image: str, image_id: str,
             public_key: str) -> tuple[str, str, str]:
    """Bring one host to "booted, key installed"; (action, system state, host key)."""
    name = containers.container_name(host.name)
    state = _container_state(host, image_id, topo.network_name)
    if state == "healthy":
        try:
            return "kept", _wait_boot(name), _install_key(name, public_key)
        except ClusterctlError:
            # A running host whose boot never finished (a half-failed earlier `up`) is
            # replaced; its data volumes stay.
            state = "boot never finished"
    labels = {LAB_LABEL: "1", containers.HOST_LABEL: host.name}
    with _ENGINE_NETWORK_LOCK:
        if state != "absent":
            docker("rm", "-f", name)
        _volumes(host)
        docker(*containers.run_args(host.name, host.groups, address=str(host.address),
                                    network=topo.network_name, image=image, labels=labels),
               what=f"starting {name}")
    action = "created" if state == "absent" else f"recreated ({state})"
    return action, _wait_boot(name), _install_key(name, public_key)


# Containers are created and removed one at a time, booted in parallel. Debian 12's engine
# (20.10) once lost count of the lab network's endpoints after a run that created four
# containers at a time, and then refused to remove the empty network ("has active
# endpoints") until dockerd restarted; concurrent joins are the likely cause and the one we
# can avoid.
_ENGINE_NETWORK_LOCK = threading.Lock()


def _parallel(hosts: tuple[LabHost, ...], work: Callable[[LabHost], T]
              ) -> tuple[dict[str, T], dict[str, str]]:
    """Run ``work`` for every host (4 at a time: two cores); results and per-host errors."""
    results: dict[str, T] = {}
    errors: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {h.name: pool.submit(work, h) for h in hosts}
        for name, fut in futures.items():
            try:
                results[name] = fut.result()
            except ClusterctlError as exc:
                errors[name] = exc.message
    return results, errors


def _fail_half_built(errors: dict[str, str], step: str) -> None:
    first = next(iter(errors))
    raise ClusterctlError(
        f"lab up failed at {step} on {', '.join(errors)} ({first}: {errors[first]}); the "
        "lab is half built: run `clusterctl lab up` again or `clusterctl lab down`")


# Every systemd in a container takes several inotify instances from the host's per-user
# budget (128 by default on Debian): a dozen lab hosts next to a few Molecule containers
# exhaust it and systemd stalls at boot ("Failed to create inotify object: Too many open
# files"). kind asks for the same raise.
INOTIFY_LIMITS = {"max_user_instances": 1024, "max_user_watches": 524288}
INOTIFY_DIR = Path("/proc/sys/fs/inotify")


def ensure_host_limits(say: Say, proc_dir: Path = INOTIFY_DIR) -> None:
    """Raise the host's inotify limits to INOTIFY_LIMITS (never lowers them).

    Raises BadInput with the sysctl command to run when they are too low and not writable.
    """
    for key, wanted in INOTIFY_LIMITS.items():
        path = proc_dir / key
        current = int(path.read_text(encoding="utf-8"))
        if current >= wanted:
            continue
        try:
            path.write_text(f"{wanted}\n", encoding="utf-8")
        except OSError:
            raise BadInput(f"fs.inotify.{key} is {current}; systemd containers need "
                           f"{wanted}: run `sysctl -w fs.inotify.{key}={wanted}` as root"
                           ) from None
        say(f"    raised fs.inotify.{key} {current} -> {wanted} (systemd in every container "
            "needs inotify)")


CPU_SHARES_PER_HOST = 1024  # the v1 default: one lab host weighs as much as one host process
DOCKER_CPU_GROUP = Path("/sys/fs/cgroup/cpu/docker")


def ensure_cpu_weight(hosts: int, say: Say, group: Path = DOCKER_CPU_GROUP) -> None:
    """Give docker's parent cpu cgroup (cgroup v1, cgroupfs driver) the weight of ``hosts``
    machines: each lab host's services sit in a group below it (the image turns on systemd's
    CPU accounting), and at the default weight all of them together would count as one
    process against this machine's own processes. Nothing to do on other cgroup layouts.
    Raises BadInput when the weight cannot be written."""
    shares = group / "cpu.shares"
    if not shares.is_file():
        return
    wanted = CPU_SHARES_PER_HOST * hosts
    if int(shares.read_text(encoding="utf-8")) >= wanted:
        return
    try:
        shares.write_text(f"{wanted}\n", encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot set {shares} to {wanted}: {exc.strerror}") from None
    say(f"    cpu weight of the lab's containers: {wanted} ({hosts} hosts)")


def up(topo: Topology, debian: str, allow_install: bool, say: Say, *,
       engine: EngineName = DEFAULT_LAB_ENGINE, package_dir: Path | None = None,
       feature_servers: FeatureServerKind = "standin") -> None:
    """Build or reconcile the lab of ``topo``; idempotent (healthy hosts are kept).

    ``engine`` is the edge engine the inventory names; ``package_dir`` a directory of .debs
    the roles install OpenSIPS (and FreeSWITCH) from instead of the vendors' repositories;
    ``feature_servers`` what answers on the feature servers (FreeSWITCH needs the packages).

    Raises BadInput for a subnet clash (before anything is created) and ClusterctlError
    naming the failed hosts when the lab is left half built.
    """
    phases = Phases(say)
    say(f"lab up: {len(topo.hosts)} hosts from {topo.source}, Debian {debian}")
    with phases.phase("engine"):
        ensure_engine(allow_install)
    with phases.phase("host checks"):
        _check_subnet(topo)
        ensure_host_limits(say)
    with phases.phase("images"):
        built = ensure_images(debian)
    say("    " + ", ".join(f"{image} {state}" for image, state in built))
    image = ImageSet(suite_for(debian)).host
    image_id = docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
    with phases.phase("network"):
        net = _ensure_network(topo)
    say(f"    network {topo.network_name} {topo.subnet}: {net}")
    public_key = _ensure_key()
    with phases.phase("containers + boot + key"):
        results, errors = _parallel(
            topo.hosts, lambda h: _host_up(h, topo, image, image_id, public_key))
    for name, result in results.items():
        action, system, _key = result
        say(f"    {name:<8} {action}, systemd {system}")
    if errors:
        _fail_half_built(errors, "container start")
    ensure_cpu_weight(len(topo.hosts), say)
    KNOWN_HOSTS.write_text("".join(
        f"{h.address} ssh-ed25519 {results[h.name][2]}\n"
        for h in topo.hosts), encoding="utf-8")
    with phases.phase("ssh reachable"):
        _, errors = _parallel(topo.hosts, lambda h: wait_ssh(str(h.address)))
    if errors:
        _fail_half_built(errors, "SSH")
    with phases.phase("inventory"):
        write_inventory(topo, INVENTORY_DIR, key_path=KEY_PATH, known_hosts=KNOWN_HOSTS,
                        lab_name=containers.PREFIX, engine=engine, package_dir=package_dir,
                        feature_servers=feature_servers)
    say(f"lab up: {len(topo.hosts)} hosts reachable over SSH in {phases.total():.1f} s; "
        f"inventory: {_shown(INVENTORY_DIR)}")


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when inside it (``inventory/lab``)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _ids(kind: str) -> list[str]:
    """IDs/names of the lab's objects of one kind: "ps", "network", "volume" or "images"."""
    fmt = "{{.ID}}" if kind in {"ps", "images"} else "{{.Name}}"
    cmd, filters = {
        "ps": (("ps", "-a"), CONTAINER_FILTERS),
        "images": (("images",), ("--filter", f"label={IMAGE_LABEL}")),
        "network": (("network", "ls"), ("--filter", LAB_LABEL_FILTER)),
        "volume": (("volume", "ls"), ("--filter", LAB_LABEL_FILTER)),
    }[kind]
    return docker(*cmd, *filters, "--format", fmt).stdout.split()


def down(keep_images: bool, say: Say) -> None:
    """Remove the lab's containers, network, volumes (and images unless ``keep_images``).

    A no-op message when there is no lab. Images another container still uses are kept
    and named; ClusterctlError when the engine refuses to remove a lab object.
    """
    if shutil.which("docker") is None or not _engine_up():
        say("no lab: no Docker engine answers, nothing to remove")
        _remove_local_files()
        return
    start = time.monotonic()
    found = {"containers": _ids("ps"), "networks": _ids("network"), "volumes": _ids("volume")}
    images = [] if keep_images else _ids("images")
    if not any(found.values()) and not images and not INVENTORY_DIR.exists():
        say("no lab: nothing carries the label org.clusterctl.lab=1; nothing removed")
        return
    for container in found["containers"]:  # one at a time: see _ENGINE_NETWORK_LOCK
        docker("rm", "-f", "-v", container, timeout=60)
    left = [f"network {n} ({why})" for n, why in _remove_each("network", found["networks"])]
    left += [f"volume {v} ({why})" for v, why in _remove_each("volume", found["volumes"])]
    kept = [image for image, _why in _remove_each("image", images, retries=1)]
    _remove_local_files()
    removed = {k: len(v) for k, v in found.items()}
    removed["networks"] -= sum(1 for x in left if x.startswith("network"))
    removed["volumes"] -= sum(1 for x in left if x.startswith("volume"))
    say(f"lab down: removed {removed['containers']} containers, {removed['networks']} "
        f"network(s), {removed['volumes']} volumes, {len(images) - len(kept)} images "
        f"in {time.monotonic() - start:.1f} s")
    if kept:
        say(f"  kept {len(kept)} image(s) still used by other containers: {', '.join(kept)}")
    if left:
        raise ClusterctlError(f"lab down left behind {'; '.join(left)}: rerun `clusterctl lab "
                              "down`; an engine that reports a stale endpoint keeps the "
                              "network until dockerd restarts (`lab up` reuses it meanwhile)")


def _remove_each(kind: str, names: list[str], retries: int = 5) -> list[tuple[str, str]]:
    """``docker KIND rm`` each object, retrying briefly (the engine releases a removed
    container's endpoints and mounts asynchronously); (name, last error) of those left."""
    left = []
    for name in names:
        for attempt in range(retries):
            res = docker(kind, "rm", name, check=False, timeout=60)
            if res.ok:
                break
            if attempt < retries - 1:
                time.sleep(1)
        else:
            left.append((name, res.last_error_line()))
    return left


def _engine_up() -> bool:
    return docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=20).ok


def _remove_local_files() -> None:
    shutil.rmtree(INVENTORY_DIR, ignore_errors=True)
    KNOWN_HOSTS.unlink(missing_ok=True)


@dataclass(frozen=True)
class HostStatus:
    """One lab container as `lab status` shows it."""

    host: str
    state: str
    address: str
    memory: str


def lab_hosts() -> dict[str, tuple[str, str]]:
    """Lab host name -> (container state, address) of the running lab, from the engine."""
    names = docker("ps", "-a", *CONTAINER_FILTERS, "--format", "{{.Names}}").stdout.split()
    if not names:
        return {}
    res = docker("container", "inspect", *names)
    hosts = {}
    for info in json.loads(res.stdout):
        host = info["Config"]["Labels"][containers.HOST_LABEL]
        addresses = [n.get("IPAddress", "") for n in info["NetworkSettings"]["Networks"].values()]
        hosts[host] = (info["State"]["Status"], next((a for a in addresses if a), "-"))
    return hosts


def status() -> list[HostStatus]:
    """State, address and memory use of every lab container (empty when there is no lab)."""
    hosts = lab_hosts()
    if not hosts:
        return []
    memory = {}
    ids = docker("ps", "-a", "--no-trunc", *CONTAINER_FILTERS,
                 "--format", "{{.Names}}\t{{.ID}}").stdout
    for line in ids.splitlines():
        name, _, cid = line.partition("\t")
        used = cgroup_memory(cid)
        memory[name] = f"{used / 2**20:.1f}MiB" if used is not None else _stats_memory(name)
    return [HostStatus(h, state, addr, memory.get(containers.container_name(h), "-"))
            for h, (state, addr) in sorted(hosts.items())]


def _stats_memory(name: str) -> str:
    """Memory use as `docker stats` reports it (when the cgroup files are not readable)."""
    res = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name, check=False,
                 timeout=30)
    used = res.stdout.split(" / ")[0].strip() if res.ok else ""
    return used or "-"


def cgroup_memory(full_id: str, root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Bytes a container (by its full id) uses the way `docker stats` counts them (usage
    minus inactive page cache), read from its cgroup (v1 or v2, cgroupfs or systemd driver);
    None if not found.

    Read directly because Debian 12's engine (20.10) reports 0B in `docker stats` for systemd
    containers on cgroup v1 (systemd moves itself into init.scope).
    """
    full = full_id
    candidates = [
        (root / "memory/docker" / full, "memory.usage_in_bytes", "total_inactive_file"),
        (root / f"memory/system.slice/docker-{full}.scope", "memory.usage_in_bytes",
         "total_inactive_file"),
        (root / "docker" / full, "memory.current", "inactive_file"),
        (root / f"system.slice/docker-{full}.scope", "memory.current", "inactive_file"),
    ]
    for path, usage_file, inactive_key in candidates:
        if full and (path / usage_file).is_file():
            usage = int((path / usage_file).read_text(encoding="utf-8"))
            stat = dict(line.split() for line in
                        (path / "memory.stat").read_text(encoding="utf-8").splitlines())
            return usage - int(stat.get(inactive_key, 0))
    return None


def address_of(host: str) -> str:
    """The lab address of ``host``; BadInput (exit 2) for a host the lab does not have."""
    hosts = lab_hosts() if _engine_up() else {}
    if host not in hosts:
        known = ", ".join(sorted(hosts)) or "none: run `clusterctl lab up`"
        raise BadInput(f"unknown lab host {host!r} (lab hosts: {known})")
    return hosts[host][1]


def restart(host: str, say: Say) -> None:
    """`docker restart` a lab host and wait until systemd and sshd are back."""
    address = address_of(host)
    start = time.monotonic()
    name = containers.container_name(host)
    docker("restart", "-t", "10", name, timeout=60)
    system = _wait_boot(name)
    wait_ssh(address)
    say(f"{host}: restarted, systemd {system}, SSH back after {time.monotonic() - start:.1f} s")
