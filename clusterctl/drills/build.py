"""Build a drill from the inventory and run it to its reports (``clusterctl drill ...``).

Everything that can be refused is refused before anything is touched: an unknown host, a host
outside the targeted group, a fault kind the backend cannot do. The live layers are built by
:func:`build_probes`, which the CLI tests replace.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from clusterctl import faults
from clusterctl import status as cluster_status
from clusterctl.drills import chaos, db, failover, live, vip, web
from clusterctl.drills.report import DrillReport, write_all
from clusterctl.drills.run import Drill, run_drill
from clusterctl.drills.thresholds import thresholds_for
from clusterctl.edge import DispatcherSet, Registration
from clusterctl.errors import BadInput, ClusterctlError
from clusterctl.model import Cluster
from clusterctl.nodes import edge_client
from clusterctl.web import WEB_GROUP

# Installed on the probe host by roles/drill_probe: a short-call UAC scenario (failover), one
# that holds each call before its BYE (vip: calls up across the fault), a one-shot OPTIONS
# scenario and a REGISTER one. The test users' CSV is written by the drill itself
# (live.TestUsers: random passwords, removed afterwards).
PROBE_DIR = "/etc/clusterctl/drill"
PROBE_SCENARIO = f"{PROBE_DIR}/uac.xml"
PROBE_HOLD_SCENARIO = f"{PROBE_DIR}/uac_hold.xml"
# roles/drill_probe drill_probe_hold_ms: how long each held call stays up before its BYE.
PROBE_HOLD_S = 5.0
PROBE_OPTIONS = f"{PROBE_DIR}/options.xml"
PROBE_REGISTER = f"{PROBE_DIR}/register.xml"
PROBE_USERS = "/tmp/clusterctl-drill-users.csv"
EXIT_ABORTED = 130


def check_host(cluster: Cluster, host: str, group: str) -> None:
    """BadInput unless ``host`` is an inventory host in ``group``."""
    if host not in cluster.hosts:
        known = ", ".join(cluster.members(group)) or "none"
        raise BadInput(f"unknown host {host!r} (hosts in {group}: {known})")
    if host not in cluster.members(group):
        raise BadInput(
            f"host {host} is not in group {group}; a drill here targets one of: "
            f"{', '.join(cluster.members(group)) or 'none'}"
        )


def check_fault(backend: live.FaultBackend, hosts: tuple[str, ...], fault: str) -> None:
    """BadInput when the backend cannot do ``fault`` to one of ``hosts``."""
    for host in hosts:
        reason = backend.refusal(host, fault)
        if reason:
            raise BadInput(f"fault {fault} on {host}: {reason}")


def _edge_fetch(
    cluster: Cluster, probes_ref: list[live.Probes]
) -> Callable[[], list[DispatcherSet]]:
    """Dispatcher reads from whichever edge node holds the VIP when first asked."""
    vrrp = cluster.settings.edge_vrrp
    chosen: list[str] = []

    def fetch() -> list[DispatcherSet]:
        if not chosen:
            owners = probes_ref[0].vip_owners(cluster.members("sip_edge"), str(vrrp.vip))
            if len(owners) != 1:
                raise ClusterctlError(f"VIP {vrrp.vip} has {len(owners)} owners")
            chosen.append(str(cluster.hosts[owners[0]].address))
        return edge_client(cluster, chosen[0]).dispatcher_sets()

    return fetch


def _sipp_traffic(
    cluster: Cluster, backend: live.FaultBackend, scenario: str
) -> live.SippTraffic | None:
    """SIPp calls from the first probe host as the drill's test users of every tenant (None
    without a probe host)."""
    probe_hosts = cluster.members("probes")
    if not probe_hosts:
        return None
    vrrp = cluster.settings.edge_vrrp
    probe = probe_hosts[0]
    local = str(cluster.hosts[probe].address or "")
    tenant_of = {t.domain: t.id for t in cluster.settings.tenants}
    users = live.TestUsers(
        backend,
        cluster.members("databases"),
        [t.domain for t in cluster.settings.tenants],
        csv_path=PROBE_USERS,
    )
    command = live.SippCommand(str(vrrp.vip), scenario, PROBE_USERS, local, auth=users.auth)
    return live.SippTraffic(
        backend,
        probe,
        command,
        tenant_of,
        PROBE_OPTIONS,
        users=users,
        register_scenario=PROBE_REGISTER,
    )


def build_probes(
    cluster: Cluster,
    backend: live.FaultBackend,
    scenario: str = PROBE_SCENARIO,
    traffic: bool = True,
    sipp: live.SippTraffic | None = None,
) -> live.Probes:
    """The live observers: edge polling, VIP watching and (``traffic``, with a probe host)
    SIPp calls from the probe host as the drill's registered test users of every tenant
    (``sipp``, when the caller built them itself)."""
    ref: list[live.Probes] = []
    sipp = sipp or _sipp_traffic(cluster, backend, scenario)
    probes = live.Probes(
        cluster,
        backend,
        _edge_fetch(cluster, ref),
        sipp if traffic else None,
        checker=sipp,
    )
    ref.append(probes)
    return probes


def registrations_on(cluster: Cluster) -> Callable[[str, tuple[str, ...]], int]:
    """Contacts as the edge node ``host`` serves them (in its memory, replicated from its
    peer), so "after" is what the new VIP holder serves: of ``aors``, how many have an
    unexpired contact; with no AORs, all contacts it holds (a counter, no dump)."""

    def count(host: str, aors: tuple[str, ...]) -> int:
        client = edge_client(cluster, str(cluster.hosts[host].address))
        if not aors:
            return client.registration_count()
        return sum(_serves(client.registration(aor)) for aor in aors)

    return count


def _serves(reg: Registration | None) -> bool:
    """An AOR with at least one contact that has not expired (permanent ones count)."""
    return reg is not None and any(c.expires is None or c.expires > 0 for c in reg.contacts)


def failover_drill(cluster: Cluster, target: str, fault: str, traffic: bool = True,
                   backend: live.FaultBackend | None = None) -> Drill:
    """Checked and built, nothing touched. Raises BadInput for bad input.

    ``traffic`` False measures detection by probing alone (no calls to mark the target).
    ``backend``: a fault backend to share (its SSH connections), else a new one.
    """
    check_host(cluster, target, "feature_servers")
    backend = backend or faults.drill_backend(cluster)
    check_fault(backend, (target,), fault)
    probes = build_probes(cluster, backend, PROBE_SCENARIO, traffic)
    return failover.FailoverDrill(cluster, target, fault, probes, thresholds_for(cluster.settings))


def vip_drill(cluster: Cluster, fault: str, backend: live.FaultBackend | None = None) -> Drill:
    """Checked and built, nothing touched. Raises BadInput for bad input."""
    pair = cluster.members("sip_edge")
    if len(pair) != 2:
        raise BadInput(f"group sip_edge has {len(pair)} host(s); the VIP drill needs the pair")
    backend = backend or faults.drill_backend(cluster)
    check_fault(backend, pair, fault)
    probes = build_probes(cluster, backend, PROBE_HOLD_SCENARIO)
    return vip.VipDrill(
        cluster,
        fault,
        probes,
        thresholds_for(cluster.settings, vip_fault=fault),
        registrations_on(cluster),
        hold_s=PROBE_HOLD_S,
    )


def web_drill(cluster: Cluster, target: str, fault: str,
              backend: live.FaultBackend | None = None) -> Drill:
    """Checked and built, nothing touched. Raises BadInput for bad input: a target outside
    the web group, or a cluster whose feature servers do not ask the web tier (no FreeSWITCH:
    the lab's SIPp stand-ins)."""
    check_host(cluster, target, WEB_GROUP)
    if cluster.feature_server_unit != "freeswitch":
        raise BadInput("the feature servers run SIPp stand-ins, which ask the web tier nothing: "
                       "drill web needs FreeSWITCH on them")
    backend = backend or faults.drill_backend(cluster)
    check_fault(backend, (target,), fault)
    limits = web.web_limits(fault, thresholds_for(cluster.settings).max_failed_calls)
    return web.WebDrill(
        cluster,
        target,
        fault,
        build_probes(cluster, backend, PROBE_SCENARIO),
        watch=web.LookupWatch(backend, web.lookup_bodies(cluster),
                              web.target_health_url(cluster, target)),
        limits=limits,
    )


def db_drill(cluster: Cluster, target: str, fault: str,
             backend: live.FaultBackend | None = None) -> Drill:
    """Checked and built, nothing touched. Raises BadInput for bad input: a target outside
    the databases group, no probe host (the REGISTERs and calls come from it), no monitor
    password (the writer and the health checks use it)."""
    check_host(cluster, target, "databases")
    password = cluster.secret("db_monitor_password")
    if not password:
        raise BadInput("drill db writes and checks health as the monitor user: set "
                       "db_monitor_password, and pass --vault-password-file when it is vaulted")
    backend = backend or faults.drill_backend(cluster)
    check_fault(backend, (target,), fault)
    sipp = _sipp_traffic(cluster, backend, PROBE_SCENARIO)
    if sipp is None:
        raise BadInput("drill db sends REGISTERs and calls from a probe host: the inventory "
                       "has no host in group probes")
    registers = live.RegisterStream(backend, sipp.host, dataclasses.replace(
        sipp.command, scenario=PROBE_REGISTER, rate=db.REGISTER_RATE, port=live.REGISTER_PORT,
        trace="/tmp/clusterctl-drill-registers.log"))
    addresses = {h: str(cluster.hosts[h].address) for h in cluster.members("databases")}
    lookups = None
    if cluster.feature_server_unit == "freeswitch":
        lookups = web.LookupWatch(backend, web.lookup_bodies(cluster), "")
    return db.DbDrill(
        target,
        fault,
        build_probes(cluster, backend, sipp=sipp),
        registers=registers,
        lookups=lookups,
        writer=db.AuditWriter(addresses, password),
        limits=db.db_limits(fault, cluster.settings.db_topology,
                            thresholds_for(cluster.settings).max_failed_calls),
        health=db.node_health(addresses, password),
    )


def chaos_tiers(cluster: Cluster) -> dict[str, str | None]:
    """Each tier of the design -> None when ``clusterctl chaos`` can fault it here, else
    why not (the message names what the inventory lacks)."""
    out: dict[str, str | None] = {}
    no_probe = None if cluster.members("probes") else (
        "its faults' traffic comes from a probe host: the inventory has no host in group probes")
    for tier, group in chaos.TIER_GROUPS.items():
        hosts = cluster.members(group)
        if tier == "storage":
            out[tier] = "this version of clusterctl deploys no storage tier (GlusterFS voicemail)"
        elif tier == "edge" and len(hosts) != 2:
            out[tier] = f"group {group} has {len(hosts)} host(s); the VIP drill needs the pair"
        elif not hosts:
            out[tier] = f"the inventory has no host in group {group}"
        elif tier == "web" and cluster.feature_server_unit != "freeswitch":
            out[tier] = "the feature servers run SIPp stand-ins, which ask the web tier nothing"
        elif tier == "db" and not cluster.secret("db_monitor_password"):
            out[tier] = "drill db needs db_monitor_password (--vault-password-file when vaulted)"
        else:
            out[tier] = no_probe
    return out


def chaos_runner(cluster: Cluster, tiers: tuple[str, ...],
                 say: Callable[[str], None] = lambda _line: None,
                 ) -> tuple[chaos.Chaos, dict[str, chaos.Tier]]:
    """The live parts of a chaos run and the tiers it faults: each fault built as its tier's
    drill, health as ``clusterctl status`` sees it plus every feature server's HAProxy (with
    the web tier), registrations as the VIP holder serves them. A tier gets the fault kinds
    the backend can do to each of its hosts (production: freeze needs
    ``fault_commands``). Nothing touched; BadInput when a tier is left with none."""
    backend = faults.drill_backend(cluster)
    chosen = {}
    for name in tiers:
        hosts = cluster.members(chaos.TIER_GROUPS[name])
        kinds = tuple(k for k in chaos.TIER_FAULTS[name]
                      if not any(backend.refusal(h, k) for h in hosts))
        if not kinds:
            raise BadInput(f"tier {name}: no fault kind can be done to all of its hosts ("
                           + "; ".join(f"{k}: {backend.refusal(hosts[0], k)}"
                                       for k in chaos.TIER_FAULTS[name]) + ")")
        chosen[name] = chaos.Tier(name, hosts, kinds)
    builders: dict[str, Callable[[str, str], Drill]] = {
        "edge": lambda _target, kind: vip_drill(cluster, kind, backend),
        "feature": lambda target, kind: failover_drill(cluster, target, kind, backend=backend),
        "db": lambda target, kind: db_drill(cluster, target, kind, backend),
        "web": lambda target, kind: web_drill(cluster, target, kind, backend),
    }

    def build(fault: chaos.ScheduledFault) -> Drill:
        drill = builders[fault.tier](fault.target, fault.kind)
        return chaos.WithCompanions(drill, backend, fault.companions) if fault.companions else drill

    read = cluster_status.reader(cluster, backend)
    watch = web.LookupWatch(backend, web.lookup_bodies(cluster), "") if "web" in tiers else None

    def health() -> list[str]:
        now = read()
        problems = [] if cluster_status.verdict(now) == cluster_status.HEALTHY else (
            now.problems or ["status is not healthy"])
        return problems + (web.haproxy_problems(watch) if watch else [])

    count = registrations_on(cluster)

    def served(aors: tuple[str, ...]) -> int:
        owners = read().vip_owners
        if len(owners) != 1:
            raise ClusterctlError(f"the VIP has {len(owners)} owners")
        return count(owners[0], aors)

    return chaos.Chaos(build, health, served, say=say), chosen


def dry_run_lines(drill: Drill) -> list[str]:
    """k0sctl-style "would do" lines, one per host and step."""
    return [f"[{host}] would {what}" for host, what in drill.plan()]


def run_and_report(
    cluster: Cluster, drill: Drill, runs: int, params: dict[str, object], runs_root: Path
) -> tuple[DrillReport, Path]:
    """Run ``runs`` times and write the reports; returns them and the run directory."""
    if runs < 1:
        raise BadInput(f"--runs must be at least 1, got {runs}")
    started = time.time()
    results = run_drill(drill, runs)
    report = DrillReport(
        drill.name,
        cluster.settings.cluster_name,
        dict(params),
        results,
        requested_runs=runs,
        started=started,
    )
    return report, write_all(report, runs_root)
