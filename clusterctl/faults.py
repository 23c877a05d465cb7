"""Fault primitives for drills: one interface, a lab backend and a production backend.

In-host faults (stop/start a service, kill -9 a process, cut/restore the network) run over SSH
in both backends, exactly as they would on a real server. Whole-host faults differ: the lab
pauses and restarts containers through the engine; production runs operator-configured
commands (``fault_commands`` in the inventory) on this machine, or refuses.

Every primitive returns a :class:`FaultEvent` with the instant it took effect (drills measure
from ``effective``) and records it in ``Faults.events``.
"""

from __future__ import annotations

import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import paramiko

from clusterctl.db import DB_UNIT
from clusterctl.drills import SERVICE_FAULTS, VIP_FAULTS
from clusterctl.engines import engine
from clusterctl.errors import BadInput, ClusterctlError
from clusterctl.model import fault_fields
from clusterctl.web import WEB_GROUP, WEB_UNIT

if TYPE_CHECKING:
    from clusterctl.model import Cluster

NFT_TABLE = "inet clusterctl_fault"
RESTORE_UNIT = "clusterctl-fault-restore"
# A cut host restores itself after this long even if the drill that cut it crashed: longer
# than any drill's fault window (detection bounds are seconds), short enough to not matter.
NETCUT_AUTO_RESTORE_S = 120
COMMAND_TIMEOUT_S = 30.0
# How long sshd may take to confirm a new session channel (it normally takes milliseconds).
CHANNEL_OPEN_TIMEOUT_S = 10.0
HOST_ACTIONS = ("freeze", "thaw", "restart")
UNIT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@:")


@dataclass(frozen=True)
class FaultTarget:
    """How to reach one host: its inventory name and its SSH connection."""

    name: str
    address: str
    user: str = "root"
    key_path: str | None = None
    port: int = 22


@dataclass(frozen=True)
class FaultEvent:
    """One primitive applied: ``issued`` when it was sent, ``effective`` when the command
    reported it done (epoch seconds)."""

    primitive: str
    host: str
    detail: str
    issued: float
    effective: float


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str

    def error_line(self) -> str:
        lines = [ln for ln in (self.stderr or self.stdout).splitlines() if ln.strip()]
        return lines[-1].strip() if lines else f"exit code {self.rc}"


class HostExec(Protocol):
    """Runs a shell command inside a host (over SSH); OSError when the host cannot be reached."""

    def __call__(self, target: FaultTarget, command: str, timeout: float) -> CommandResult: ...


class LocalExec(Protocol):
    """Runs a command on the operator's machine."""

    def __call__(self, argv: Sequence[str], timeout: float) -> CommandResult: ...


# --- in-host commands (pure: the unit tests check them) -------------------------------------


def _unit(unit: str) -> str:
    if not unit or not set(unit) <= UNIT_CHARS:
        raise BadInput(f"{unit!r} is not a systemd unit name")
    return unit


def stop_service_command(unit: str) -> str:
    return f"systemctl stop {_unit(unit)}"


def start_service_command(unit: str) -> str:
    return f"systemctl start {_unit(unit)}"


def kill_command(*, process: str | None = None, unit: str | None = None) -> str:
    """kill -9 a process by exact name, or a unit's main process (then systemd's Restart=
    policy decides whether it comes back)."""
    if (process is None) == (unit is None):
        raise BadInput("kill needs exactly one of a process name or a unit")
    if process is not None:
        return (f"pkill -9 -x {shlex.quote(process)} || "
                f"{{ echo 'no process named {process}' >&2; exit 3; }}")
    name = _unit(str(unit))
    return (f"pid=$(systemctl show --property=MainPID --value {name}); "
            f"if [ \"${{pid:-0}}\" -gt 0 ]; then kill -9 \"$pid\"; "
            f"else echo '{name} has no main process' >&2; exit 3; fi")


def netcut_command(auto_restore_s: int = NETCUT_AUTO_RESTORE_S, keep_from: str | None = None
                   ) -> str:
    """Drop all traffic of the host except loopback and SSH with the operator.

    The operator is ``keep_from`` or, by default, the address this SSH session comes from
    (``$SSH_CONNECTION``), so the restore can still connect. The auto-restore timer is armed
    first: a drill that dies mid-fault leaves the host cut for at most ``auto_restore_s``.
    """
    if not 10 <= auto_restore_s <= 3600:
        raise BadInput("netcut auto-restore must be between 10 and 3600 s")
    operator = shlex.quote(keep_from) if keep_from else '"${SSH_CONNECTION%% *}"'
    return "\n".join([
        "set -eu",
        f"op={operator}",
        "[ -n \"$op\" ] || { echo 'cannot tell the operator address (no SSH_CONNECTION)' >&2;"
        " exit 3; }",
        'case "$op" in *:*) fam=ip6 ;; *) fam=ip ;; esac',
        f"systemctl stop {RESTORE_UNIT}.timer 2>/dev/null || true",
        f"systemctl reset-failed {RESTORE_UNIT}.timer {RESTORE_UNIT}.service 2>/dev/null || true",
        f"systemd-run --quiet --unit={RESTORE_UNIT} --on-active={auto_restore_s}s"
        f" --timer-property=AccuracySec=1s /usr/sbin/nft delete table {NFT_TABLE}",
        "nft -f - <<EOF",
        # Creating then deleting makes re-cutting a cut host replace the table, not fail.
        f"table {NFT_TABLE}",
        f"delete table {NFT_TABLE}",
        f"table {NFT_TABLE} {{",
        "  chain input { type filter hook input priority -150; policy drop;",
        '    iif "lo" accept; $fam saddr $op tcp dport 22 accept; }',
        "  chain output { type filter hook output priority -150; policy drop;",
        '    oif "lo" accept; $fam daddr $op tcp sport 22 accept; }',
        "}",
        "EOF",
    ])


def netrestore_command() -> str:
    """Remove the cut (idempotent) and disarm the auto-restore timer."""
    return (f"systemctl stop {RESTORE_UNIT}.timer 2>/dev/null || true; "
            f"if nft list table {NFT_TABLE} >/dev/null 2>&1; then "
            f"nft delete table {NFT_TABLE}; fi")


# --- the interface --------------------------------------------------------------------------


class Faults:
    """The primitives over a set of hosts; subclasses say how whole-host faults are done."""

    def __init__(self, targets: Mapping[str, FaultTarget], host_exec: HostExec,
                 local_exec: LocalExec | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.targets = dict(targets)
        self.host_exec = host_exec
        self.local_exec = local_exec or run_local
        self.clock = clock
        self.events: list[FaultEvent] = []

    def target(self, host: str) -> FaultTarget:
        """BadInput for a host the backend does not know."""
        try:
            return self.targets[host]
        except KeyError:
            raise BadInput(f"unknown host {host!r}") from None

    def _in_host(self, primitive: str, host: str, command: str, detail: str) -> FaultEvent:
        target = self.target(host)
        issued = self.clock()
        try:
            result = self.host_exec(target, command, COMMAND_TIMEOUT_S)
        except OSError as exc:
            raise ClusterctlError(f"{primitive} on {host}: cannot reach it over SSH: {exc}"
                                  ) from exc
        if result.rc != 0:
            raise ClusterctlError(f"{primitive} on {host} failed: {result.error_line()}")
        return self._record(primitive, host, detail, issued)

    def _record(self, primitive: str, host: str, detail: str, issued: float) -> FaultEvent:
        event = FaultEvent(primitive, host, detail, issued, self.clock())
        self.events.append(event)
        return event

    def stop_service(self, host: str, unit: str) -> FaultEvent:
        return self._in_host("stop_service", host, stop_service_command(unit), unit)

    def start_service(self, host: str, unit: str) -> FaultEvent:
        return self._in_host("start_service", host, start_service_command(unit), unit)

    def kill_process(self, host: str, *, process: str | None = None,
                     unit: str | None = None) -> FaultEvent:
        command = kill_command(process=process, unit=unit)
        return self._in_host("kill_process", host, command, str(process or unit))

    def cut_network(self, host: str, *, auto_restore_s: int = NETCUT_AUTO_RESTORE_S,
                    keep_from: str | None = None) -> FaultEvent:
        return self._in_host("cut_network", host, netcut_command(auto_restore_s, keep_from),
                             f"auto-restore after {auto_restore_s} s")

    def restore_network(self, host: str) -> FaultEvent:
        return self._in_host("restore_network", host, netrestore_command(), "")

    def run(self, host: str, argv: Sequence[str]) -> str:
        """A read-only command on ``host``; its stdout. OSError when unreachable,
        RuntimeError when the command fails."""
        result = self.host_exec(self.target(host), shlex.join(argv), COMMAND_TIMEOUT_S)
        if result.rc != 0:
            raise RuntimeError(f"{shlex.join(argv)} on {host}: {result.error_line()}")
        return result.stdout

    # Whole-host faults: the backend turns an action into a command run on this machine.

    def host_command(self, action: str, host: str) -> list[str]:
        raise NotImplementedError

    def refusal(self, action: str) -> str | None:
        """Why this backend cannot do a whole-host ``action`` (None: it can)."""
        return None

    def _whole_host(self, action: str, host: str) -> FaultEvent:
        argv = self.host_command(action, host)
        issued = self.clock()
        result = self.local_exec(argv, COMMAND_TIMEOUT_S * 2)
        if result.rc != 0:
            raise ClusterctlError(f"{action} {host} failed: {result.error_line()}")
        return self._record(action, host, shlex.join(argv), issued)

    def freeze(self, host: str) -> FaultEvent:
        return self._whole_host("freeze", host)

    def thaw(self, host: str) -> FaultEvent:
        return self._whole_host("thaw", host)

    def restart(self, host: str) -> FaultEvent:
        return self._whole_host("restart", host)

    def wait_reachable(self, host: str, timeout: float = 90.0) -> float:
        """Retry ``true`` over SSH until it works (after thaw, restart or restore); when it did.
        ClusterctlError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                if self.host_exec(self.target(host), "true", 5.0).rc == 0:
                    return self.clock()
            except OSError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise ClusterctlError(f"{host}: not reachable over SSH within {timeout:.0f} s {last}")


class LabFaults(Faults):
    """Lab backend: freeze/thaw/restart through the container engine."""

    ENGINE: ClassVar[dict[str, tuple[str, ...]]] = {
        "freeze": ("pause",), "thaw": ("unpause",), "restart": ("restart", "-t", "10")}

    def host_command(self, action: str, host: str) -> list[str]:
        from clusterctl.lab.containers import container_name  # noqa: PLC0415

        self.target(host)
        return ["docker", *self.ENGINE[action], container_name(host)]


class ProductionFaults(Faults):
    """Production backend: freeze/thaw/restart run the inventory's ``fault_commands``."""

    def __init__(self, targets: Mapping[str, FaultTarget], host_exec: HostExec,
                 fault_commands: Mapping[str, str | None] | None = None,
                 local_exec: LocalExec | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(targets, host_exec, local_exec, clock)
        self.fault_commands = {k: v for k, v in (fault_commands or {}).items() if v}

    def refusal(self, action: str) -> str | None:
        if action in self.fault_commands:
            return None
        return (f"{action} is not configured for this cluster: set fault_commands.{action} "
                "in the inventory (a command run on this machine, e.g. "
                "'virsh suspend {host}'; {host} and {address} are filled in)")

    def host_command(self, action: str, host: str) -> list[str]:
        reason = self.refusal(action)
        if reason:
            raise BadInput(reason)
        target = self.target(host)
        try:
            text = self.fault_commands[action].format_map(fault_fields(host, target.address))
        except (KeyError, IndexError, ValueError) as exc:
            raise BadInput(f"fault_commands.{action}: bad placeholder ({exc}); "
                           "use {host} and {address}") from None
        return shlex.split(text)


# --- executors ------------------------------------------------------------------------------


def run_local(argv: Sequence[str], timeout: float) -> CommandResult:
    """Run ``argv`` here; a missing program or a timeout is a failed result, not an exception."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              check=False)
    except FileNotFoundError:
        return CommandResult(127, "", f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired:
        return CommandResult(124, "", f"no answer within {timeout:.0f} s")
    return CommandResult(proc.returncode, proc.stdout, proc.stderr)


@dataclass
class SshExec:
    """Runs commands over SSH with paramiko, one cached connection per host.

    With ``known_hosts`` host keys are checked against it; without, unknown keys are accepted
    as Ansible does with ``host_key_checking = False`` (the repository's ansible.cfg).
    """

    known_hosts: Path | None = None
    connect_timeout: float = 5.0
    _clients: dict[str, paramiko.SSHClient] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _client(self, target: FaultTarget) -> paramiko.SSHClient:
        with self._lock:
            client = self._clients.get(target.name)
            transport = client.get_transport() if client else None
            if client is not None and transport is not None and transport.is_active():
                return client
            client = paramiko.SSHClient()
            if self.known_hosts is not None:
                client.load_host_keys(str(self.known_hosts))
                client.set_missing_host_key_policy(paramiko.RejectPolicy())
            else:
                client.load_system_host_keys()
                client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            try:
                client.connect(target.address, port=target.port, username=target.user,
                               key_filename=target.key_path, timeout=self.connect_timeout,
                               banner_timeout=self.connect_timeout,
                               auth_timeout=self.connect_timeout, allow_agent=True)
            except paramiko.SSHException as exc:
                raise OSError(f"SSH to {target.user}@{target.address}: {exc}") from exc
            self._clients[target.name] = client
            return client

    def _channel(self, target: FaultTarget) -> paramiko.Channel:
        """A session channel to ``target``. A channel sshd never confirms (seen on the lab's
        probe host, twice in about 60 drill runs: the command never started) is tried once
        more on a new connection, since nothing ran."""
        error: Exception = paramiko.SSHException("no transport")
        for _attempt in (1, 2):
            transport = self._client(target).get_transport()
            if transport is not None:
                try:
                    return transport.open_session(timeout=CHANNEL_OPEN_TIMEOUT_S)
                except paramiko.SSHException as exc:
                    error = exc
            self.close(target.name)
        raise OSError(f"{target.name}: {error or type(error).__name__}") from error

    def __call__(self, target: FaultTarget, command: str, timeout: float) -> CommandResult:
        channel = self._channel(target)
        try:
            channel.settimeout(timeout)
            channel.exec_command(command)
            out = channel.makefile("rb").read().decode(errors="replace")
            err = channel.makefile_stderr("rb").read().decode(errors="replace")
            rc = channel.recv_exit_status()
        except (OSError, paramiko.SSHException) as exc:
            # A frozen or restarted host leaves a dead connection: the next call reconnects.
            self.close(target.name)
            raise OSError(f"{target.name}: {exc or type(exc).__name__}") from exc
        finally:
            channel.close()
        return CommandResult(rc, out, err)

    def close(self, name: str | None = None) -> None:
        with self._lock:
            for key in [name] if name else list(self._clients):
                client = self._clients.pop(str(key), None)
                if client is not None:
                    client.close()


# --- construction ---------------------------------------------------------------------------


def target_from_vars(name: str, hostvars: Mapping[str, Any]) -> FaultTarget:
    """A target from inventory host variables (ansible_host/user/port/private key)."""
    address = hostvars.get("ansible_host")
    if not address:
        raise BadInput(f"host {name} has no ansible_host")
    return FaultTarget(name=name, address=str(address),
                       user=str(hostvars.get("ansible_user", "root")),
                       key_path=hostvars.get("ansible_ssh_private_key_file"),
                       port=int(hostvars.get("ansible_port", 22)))


def lab_faults() -> LabFaults:
    """The lab backend over the running lab's hosts (from the engine, with the lab's key)."""
    from clusterctl.lab import lifecycle  # noqa: PLC0415

    targets = {host: FaultTarget(host, address, "root", str(lifecycle.KEY_PATH))
               for host, (_state, address) in lifecycle.lab_hosts().items()}
    if not targets:
        raise ClusterctlError("no lab is running: run `clusterctl lab up`")
    return LabFaults(targets, SshExec(known_hosts=lifecycle.KNOWN_HOSTS))


# --- the drills' view (clusterctl.drills.live.FaultBackend) ---------------------------------


class DrillFaults:
    """Fault kinds the drills name, mapped onto the primitives by the target's role.

    ``stop``/``kill`` act on the host's drill unit: a feature server's SIPp stand-in (lab) or
    FreeSWITCH (production); on an edge host the SIP engine (keepalived tracks it, so its
    death is what must move the VIP); on a web host Apache; on a database host MariaDB.
    ``stop-keepalived`` stops keepalived gracefully; ``freeze`` and ``netcut`` the whole host.
    """

    def __init__(self, faults: Faults, units: Mapping[str, str]) -> None:
        self.faults = faults
        self.units = dict(units)

    def _unit(self, host: str, kind: str) -> str:
        if kind == "stop-keepalived":
            return "keepalived"
        unit = self.units.get(host)
        if unit is None:
            raise BadInput(f"{host} has no service the drills know how to {kind}")
        return unit

    def refusal(self, host: str, kind: str) -> str | None:
        if host not in self.faults.targets:
            return f"unknown host {host!r}"
        if kind == "freeze":
            return self.faults.refusal("freeze") or self.faults.refusal("thaw")
        if kind in {"stop", "kill"} and host not in self.units:
            return f"no service the drills know how to {kind} on {host}"
        if kind not in {*SERVICE_FAULTS, *VIP_FAULTS}:
            return f"unknown fault {kind!r}"
        return None

    def inject(self, host: str, kind: str) -> float:
        if kind in {"stop", "stop-keepalived"}:
            return self.faults.stop_service(host, self._unit(host, kind)).effective
        if kind == "kill":
            return self.faults.kill_process(host, unit=self._unit(host, kind)).effective
        if kind == "freeze":
            return self.faults.freeze(host).effective
        if kind == "netcut":
            return self.faults.cut_network(host).effective
        raise BadInput(f"unknown fault {kind!r}")

    def restore(self, host: str, kind: str) -> float:
        if kind in {"stop", "kill", "stop-keepalived"}:
            return self.faults.start_service(host, self._unit(host, kind)).effective
        if kind == "freeze":
            return self.faults.thaw(host).effective
        if kind == "netcut":
            return self.faults.restore_network(host).effective
        raise BadInput(f"unknown fault {kind!r}")

    def describe(self, host: str, kind: str) -> str:
        if kind in {"stop", "stop-keepalived"}:
            return stop_service_command(self._unit(host, kind))
        if kind == "kill":
            return kill_command(unit=self._unit(host, kind))
        if kind == "freeze":
            return shlex.join(self.faults.host_command("freeze", host))
        return f"nftables cut of {host} (table {NFT_TABLE}, auto-restore armed)"

    def describe_restore(self, host: str, kind: str) -> str:
        if kind in {"stop", "kill", "stop-keepalived"}:
            return start_service_command(self._unit(host, kind))
        if kind == "freeze":
            return shlex.join(self.faults.host_command("thaw", host))
        return netrestore_command()

    def run(self, host: str, argv: list[str]) -> str:
        return self.faults.run(host, argv)


def drill_backend(cluster: Cluster) -> DrillFaults:
    """The drills' fault backend for ``cluster``: lab or production by the inventory."""
    targets = {name: target_from_vars(name, host.vars) for name, host in cluster.hosts.items()}
    units: dict[str, str] = {}
    for name in cluster.members("feature_servers"):
        units[name] = cluster.feature_server_unit
    for name in cluster.members("sip_edge"):
        units[name] = engine(cluster.settings.edge_engine).unit
    for name in cluster.members(WEB_GROUP):
        units[name] = WEB_UNIT
    for name in cluster.members("databases"):
        units[name] = DB_UNIT
    faults: Faults
    if cluster.is_lab:
        from clusterctl.lab.lifecycle import KNOWN_HOSTS  # noqa: PLC0415

        faults = LabFaults(targets, SshExec(known_hosts=KNOWN_HOSTS))
    else:
        commands = cluster.settings.fault_commands
        faults = ProductionFaults(targets, SshExec(),
                                  commands.model_dump() if commands else None)
    return DrillFaults(faults, units)
