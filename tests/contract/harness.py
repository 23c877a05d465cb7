"""What the edge contract tests drive: hosts over SSH, SIPp on the probe, the edge's JSON-RPC.

Everything is read from the inventory (``CLUSTERCTL_CONTRACT_INVENTORY``, default
``inventory/lab``), so the same tests run against either engine. Every remote command is
bounded by a timeout; a host that does not answer fails the test with the command's output.
"""

from __future__ import annotations

import itertools
import re
import secrets
import shlex
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from clusterctl.edge import EdgeClient, client_for
from clusterctl.model import Cluster, Host, Tenant

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
REMOTE_DIR = "/root/clusterctl-contract"
# The mariadb role's edge database (roles/mariadb/defaults/main.yml mariadb_edge_database).
EDGE_DATABASE = "clusterctl_edge"
ANSWERED = re.compile(r"ANSWERED X-FS-Id: (?P<fs>\S*) \| X-FS-Saw-Tenant-Id: (?P<tenant>\S*)")


class RemoteError(AssertionError):
    """A remote command failed or timed out (an assertion: the test fails, with output)."""


@dataclass(frozen=True)
class Remote:
    """One inventory host reached over SSH as Ansible would reach it."""

    host: Host

    @property
    def address(self) -> str:
        return str(self.host.address)

    def ssh_args(self, command: str) -> list[str]:
        """The ssh command line that runs ``command`` on the host."""
        hv = self.host.vars
        args = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]
        args += shlex.split(str(hv.get("ansible_ssh_common_args", "")))
        if hv.get("ansible_ssh_private_key_file"):
            args += ["-i", str(hv["ansible_ssh_private_key_file"])]
        return [*args, f"{hv.get('ansible_user', 'root')}@{self.address}", command]

    def start(self, command: str, ready: str = "WATCHING", timeout: float = 10.0) -> Watch:
        """Start ``command`` in the background; return once it printed the line ``ready``.

        RemoteError if it does not within ``timeout`` s (the process is killed).
        """
        proc = subprocess.Popen(
            self.ssh_args(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        watch = Watch(self.host.name, proc)
        got: list[str] = []
        reader = threading.Thread(
            target=lambda: got.append(proc.stdout.readline() if proc.stdout else "")
        )
        reader.start()
        reader.join(timeout)
        if not got or got[0].strip() != ready:
            watch.kill()
            raise RemoteError(f"{self.host.name}: `{command}` did not start within {timeout} s")
        return watch

    def run(
        self, command: str, timeout: float = 30.0, stdin: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on the host; RemoteError on timeout or (``check``) a non-zero exit."""
        args = self.ssh_args(command)
        try:
            done = subprocess.run(
                args, input=stdin, capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RemoteError(f"{self.host.name}: `{command}` took over {timeout} s") from exc
        result = subprocess.CompletedProcess(
            args,
            done.returncode,
            done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )
        if check and result.returncode != 0:
            raise RemoteError(
                f"{self.host.name}: `{command}` exited {result.returncode}: "
                f"{result.stderr.strip()[-500:]}"
            )
        return result


@dataclass
class Watch:
    """A remote command running in the background over SSH."""

    host: str
    proc: subprocess.Popen[str]

    def wait(self, timeout: float) -> subprocess.CompletedProcess[str]:
        """Its exit code and the rest of its output; RemoteError after ``timeout`` s."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self.kill()
            raise RemoteError(f"{self.host}: background command ran over {timeout} s") from exc
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)

    def kill(self) -> None:
        """Stop the local ssh (the remote loop is bounded by its own deadline)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def _sipp_inputs(keys: dict[str, str], auth: tuple[str, str] | None) -> list[str]:
    """SIPp arguments for a scenario's ``[key]`` values and digest credentials."""
    args: list[str] = []
    for key, value in keys.items():
        args += ["-key", key, value]
    if auth:
        args += ["-au", auth[0], "-ap", auth[1]]
    return args


@dataclass
class SippResult:
    """One SIPp run: exit code (0 = every call as scenario), its log, how long it took."""

    rc: int
    log: str
    elapsed: float
    errors: str

    def answered(self) -> tuple[str, str]:
        """(feature server id, tenant id it saw) from the call's ANSWERED line."""
        match = ANSWERED.search(self.log)
        if match is None:
            raise AssertionError(f"no answer logged (rc={self.rc}): {self.log!r} {self.errors}")
        return match["fs"], match["tenant"]


@dataclass
class BackgroundSipp:
    """A SIPp left running on a host (a phone waiting for calls or NOTIFYs).

    It is bounded twice: SIPp's own ``-timeout`` and ``timeout -s INT`` around it (SIPp
    ignores SIGTERM). ``stop`` interrupts it by its recorded pid.
    """

    remote: Remote
    log: str
    pidfile: str
    rcfile: str

    def wait_log(self, pattern: str, timeout: float) -> str:
        """Its log once a line matches the extended regex ``pattern`` (or ``timeout`` s passed:
        the caller asserts on what it got)."""
        steps = max(1, int(timeout * 10))
        return self.remote.run(
            f"for i in $(seq {steps}); do grep -Eq {shlex.quote(pattern)} {self.log}"
            f" 2>/dev/null && break; sleep 0.1; done; cat {self.log} 2>/dev/null; true",
            timeout + 10,
        ).stdout

    def finish(self, timeout: float) -> tuple[int, str]:
        """(SIPp's exit code, its log) once it ended; RemoteError if it runs over ``timeout``."""
        steps = max(1, int(timeout * 10))
        out = self.remote.run(
            f"for i in $(seq {steps}); do [ -s {self.rcfile} ] && break; sleep 0.1; done;"
            f" echo RC=$(cat {self.rcfile} 2>/dev/null); cat {self.log} 2>/dev/null; true",
            timeout + 10,
        ).stdout
        rc_line, _, log = out.partition("\n")
        rc = rc_line.removeprefix("RC=")
        if not rc:
            raise RemoteError(
                f"{self.remote.host.name}: SIPp still running after {timeout} s; log: {log!r}"
            )
        return int(rc), log

    def stop(self) -> None:
        """Interrupt it if it still runs (idempotent)."""
        self.remote.run(
            f"[ -s {self.rcfile} ] || kill -INT $(cat {self.pidfile}) 2>/dev/null; true",
            10,
            check=False,
        )


@dataclass(frozen=True)
class User:
    """A test subscriber created for the run."""

    name: str
    domain: str
    password: str
    tenant: Tenant


@dataclass
class Edge:
    """The cluster as the contract tests see it."""

    cluster: Cluster
    # The probe's firewall admits SIP from the edges on 5060-5199; drills use 5060-5099.
    ports: Iterator[int] = field(default_factory=lambda: itertools.cycle(range(5100, 5200)))
    copied: set[str] = field(default_factory=set)

    @property
    def engine(self) -> str:
        return self.cluster.settings.edge_engine

    @property
    def vip(self) -> str:
        instance = next(i for i in self.cluster.settings.vrrp_instances if i.group == "sip_edge")
        return str(instance.vip)

    def remote(self, name: str) -> Remote:
        return Remote(self.cluster.hosts[name])

    @property
    def edges(self) -> list[Remote]:
        return [self.remote(n) for n in self.cluster.members("sip_edge")]

    @property
    def probe(self) -> Remote:
        probes = self.cluster.members("probes")
        if not probes:
            raise AssertionError("the inventory has no probes host to send SIP from")
        return self.remote(probes[0])

    def client(self, edge: Remote) -> EdgeClient:
        return client_for(self.engine, edge.address, timeout=2.0)

    def vip_holders(self) -> list[Remote]:
        """The edge nodes that have the VIP on an interface right now."""
        pattern = f" {self.vip}/"
        return [e for e in self.edges if pattern in e.run("ip -4 -o addr show", 10).stdout]

    def copy_scenarios(self, target: Remote) -> None:
        """Put tests/contract/scenarios on ``target`` once per run."""
        if target.host.name in self.copied:
            return
        tar = subprocess.run(
            ["tar", "-C", str(SCENARIOS), "-c", "."], capture_output=True, check=True
        ).stdout
        target.run(f"mkdir -p {REMOTE_DIR} && tar -C {REMOTE_DIR} -x", 30, stdin=tar)
        self.copied.add(target.host.name)

    def sipp(
        self,
        scenario: str,
        keys: dict[str, str],
        auth: tuple[str, str] | None = None,
        source: Remote | None = None,
        timeout: float = 20.0,
        extra: str = "",
        port: int | None = None,
        local_ip: str | None = None,
    ) -> SippResult:
        """Run one call of ``scenario`` against the VIP from ``source`` (default: the probe),
        sending from ``local_ip`` (default: the host's own address)."""
        where = source or self.probe
        self.copy_scenarios(where)
        port = port or next(self.ports)
        log = f"{REMOTE_DIR}/{scenario}-{port}.log"
        err = f"{REMOTE_DIR}/{scenario}-{port}.err"
        args = [
            "sipp",
            f"{self.vip}:5060",
            "-sf",
            f"{REMOTE_DIR}/{scenario}.xml",
            "-m",
            "1",
            "-i",
            local_ip or where.address,
            "-p",
            str(port),
            "-nostdin",
            "-timeout",
            f"{int(timeout)}s",
            "-trace_logs",
            "-log_file",
            log,
            "-trace_err",
            "-error_file",
            err,
        ]
        args += _sipp_inputs(keys, auth)
        command = (
            f"rm -f {log} {err}; timeout {int(timeout) + 5} {shlex.join(args)} {extra}"
            f" >/dev/null 2>&1; rc=$?; echo RC=$rc; cat {log} 2>/dev/null; echo ERRORS;"
            f" grep -h 'Aborting\\|received\\|while expecting' {err} 2>/dev/null | head -5; true"
        )
        start = time.monotonic()
        out = where.run(command, timeout + 15).stdout
        elapsed = time.monotonic() - start
        head, _, errors = out.partition("ERRORS")
        rc_line, _, body = head.partition("\n")
        return SippResult(int(rc_line.removeprefix("RC=")), body, elapsed, errors.strip())

    def background_sipp(
        self,
        scenario: str,
        port: int,
        keys: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float = 20.0,
        call_vip: bool = False,
    ) -> BackgroundSipp:
        """Start one call of ``scenario`` on the probe's ``port`` in the background; return
        once SIPp has bound the port (RemoteError if not within 5 s). ``call_vip``: the
        scenario sends first (to the VIP); otherwise it waits for requests."""
        probe = self.probe
        self.copy_scenarios(probe)
        base = f"{REMOTE_DIR}/{scenario}-{port}"
        running = BackgroundSipp(probe, f"{base}.log", f"{base}.pid", f"{base}.rc")
        args = ["timeout", "-s", "INT", str(int(timeout) + 5), "sipp"]
        args += [f"{self.vip}:5060"] if call_vip else []
        args += ["-sf", f"{REMOTE_DIR}/{scenario}.xml", "-m", "1", "-i", probe.address]
        args += ["-p", str(port), "-nostdin", "-timeout", f"{int(timeout)}s"]
        args += ["-trace_logs", "-log_file", running.log]
        args += _sipp_inputs(keys or {}, auth)
        inner = (
            f"{shlex.join(args)} >/dev/null 2>&1 & echo $! > {running.pidfile};"
            f" wait $!; echo $? > {running.rcfile}"
        )
        probe.run(
            f"rm -f {base}.log {base}.pid {base}.rc;"
            f" setsid sh -c {shlex.quote(inner)} </dev/null >/dev/null 2>&1 &"
            f" for i in $(seq 50); do ss -Hlun 'sport = :{port}' | grep -q . && exit 0;"
            " sleep 0.1; done; exit 1",
            15,
        )
        return running

    def sql(self, statement: str, node: int = 0) -> str:
        """Run SQL on a database node (default the first) as its root (unix socket)."""
        db = self.remote(self.cluster.members("databases")[node])
        return db.run(f"mysql -N -B {EDGE_DATABASE}", 20, stdin=statement.encode()).stdout

    def wait_replicated(self, count_query: str, expected: int, timeout: float = 10.0) -> None:
        """Wait until every database node answers ``count_query`` with ``expected``.

        The edge may read from any node (db_cluster / db_virtual fail over); a subscriber
        written on the first node and not yet replicated to the node the edge reads would be
        challenged again (a 401 to the authenticated REGISTER).
        """
        for node, name in enumerate(self.cluster.members("databases")):
            self.wait_for(
                f"{expected} rows on {name}",
                lambda node=node: self.sql(count_query, node).strip() == str(expected),
                timeout,
                every=0.2,
            )

    def make_users(self, per_tenant: int = 2) -> list[User]:
        """Create test subscribers (extensions 79xx) in every tenant, with random passwords."""
        users = []
        for tenant in self.cluster.settings.tenants:
            for n in range(per_tenant):
                users.append(User(f"79{n:02d}", tenant.domain, secrets.token_hex(8), tenant))
        values = ",".join(f"('{u.name}','{u.domain}','{u.password}')" for u in users)
        self.sql(
            "INSERT INTO subscriber (username, domain, password) VALUES "
            f"{values} ON DUPLICATE KEY UPDATE password = VALUES(password);"
        )
        rows = " OR ".join(
            f"(username='{u.name}' AND domain='{u.domain}' AND password='{u.password}')"
            for u in users
        )
        self.wait_replicated(f"SELECT COUNT(*) FROM subscriber WHERE {rows};", len(users))
        return users

    def drop_users(self, users: list[User]) -> None:
        """Remove the run's contacts (unregistered, so both edges' memory forgets them), then
        its subscribers."""
        for user in users:
            self.unregister(user)
        cond = " OR ".join(f"(username='{u.name}' AND domain='{u.domain}')" for u in users)
        self.sql(f"DELETE FROM subscriber WHERE {cond};")

    def unregister(self, user: User) -> None:
        """Remove every contact of ``user`` as a phone would (Contact: *, Expires: 0)."""
        keys = {"user": user.name, "domain": user.domain}
        result = self.sipp("unregister", keys, (user.name, user.password))
        assert result.rc == 0, f"unregister {user.name}@{user.domain}: {result.errors}"

    def nat_keepalives(self, node: Remote, on: bool) -> None:
        """Switch the edge node's NAT keepalives (SIP OPTIONS to contacts with a private
        address, which every lab phone has). The suite's phones are one-call SIPp UASs that a
        keepalive aborts, so the suite runs with them off (conftest.py)."""
        self.client(node).set_nat_keepalives(on)

    def contacts(self, user: User, node: Remote | None = None) -> int:
        """Contacts of ``user`` as ``node`` (default: the VIP holder) serves them."""
        if node is None:
            (node,) = self.vip_holders()
        reg = self.client(node).registration(f"{user.name}@{user.domain}")
        return len(reg.contacts) if reg else 0

    def wait_for(self, what: str, check: object, timeout: float, every: float = 0.1) -> float:
        """Poll ``check()`` until true; seconds it took, AssertionError naming ``what`` if not."""
        assert callable(check)
        start = time.monotonic()
        while True:
            if check():
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{what}: not within {timeout} s")
            time.sleep(every)
