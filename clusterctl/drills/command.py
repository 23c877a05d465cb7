"""What ``clusterctl drill ...`` does, kept out of cli.py: check input, build, run, report.

Everything that can be refused is refused before anything is touched: an unknown host, a host
outside the targeted group, a fault kind the backend cannot do. The live layers are built by
:func:`build_probes`, which the CLI tests replace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from clusterctl.drills import failover, live, vip
from clusterctl.drills.report import DrillReport, write_all
from clusterctl.drills.runner import Drill, run_drill
from clusterctl.drills.thresholds import thresholds_for
from clusterctl.edge import DispatcherSet, client_for
from clusterctl.errors import BadInput, ClusterctlError
from clusterctl.model import Cluster

# Installed on the probe host by the probe role: a short-call UAC scenario (failover), one
# that holds each call HOLD s before its BYE (vip: calls up across the fault), a one-shot
# OPTIONS scenario, and the registered test users (one line per tenant: user;domain;password).
PROBE_SCENARIO = "/etc/clusterctl/drill/uac.xml"
PROBE_HOLD_SCENARIO = "/etc/clusterctl/drill/uac_hold.xml"
PROBE_USERS = "/etc/clusterctl/drill/users.csv"
PROBE_OPTIONS = "/etc/clusterctl/drill/options.xml"
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
    vrrp = next(v for v in cluster.settings.vrrp_instances if v.group == "sip_edge")
    chosen: list[str] = []

    def fetch() -> list[DispatcherSet]:
        if not chosen:
            owners = probes_ref[0].vip_owners(cluster.members("sip_edge"), str(vrrp.vip))
            if len(owners) != 1:
                raise ClusterctlError(f"VIP {vrrp.vip} has {len(owners)} owners")
            chosen.append(str(cluster.hosts[owners[0]].address))
        return client_for(cluster.settings.edge_engine, chosen[0]).dispatcher_sets()

    return fetch


def build_probes(
    cluster: Cluster, backend: live.FaultBackend, scenario: str = PROBE_SCENARIO
) -> live.Probes:
    """The live observers: edge polling, VIP watching and SIPp traffic from the probe host."""
    ref: list[live.Probes] = []
    traffic = None
    probe_hosts = cluster.members("probes")
    if probe_hosts:
        vrrp = next(v for v in cluster.settings.vrrp_instances if v.group == "sip_edge")
        command = live.SippCommand(str(vrrp.vip), scenario, PROBE_USERS)
        tenant_of = {t.domain: t.id for t in cluster.settings.tenants}
        traffic = live.SippTraffic(backend, probe_hosts[0], command, tenant_of, PROBE_OPTIONS)
    probes = live.Probes(cluster, backend, _edge_fetch(cluster, ref), traffic)
    ref.append(probes)
    return probes


def registrations_on(cluster: Cluster) -> Callable[[str], int]:
    """Valid contacts in the location table of one edge node."""

    def count(host: str) -> int:
        address = str(cluster.hosts[host].address)
        return client_for(cluster.settings.edge_engine, address).registration_count()

    return count


def failover_drill(cluster: Cluster, target: str, fault: str) -> Drill:
    """Checked and built, nothing touched. Raises BadInput for bad input."""
    check_host(cluster, target, "feature_servers")
    backend = live.faults_for(cluster)
    check_fault(backend, (target,), fault)
    return failover.FailoverDrill(
        cluster, target, fault, build_probes(cluster, backend), thresholds_for(cluster.settings)
    )


def vip_drill(cluster: Cluster, fault: str) -> Drill:
    """Checked and built, nothing touched. Raises BadInput for bad input."""
    pair = cluster.members("sip_edge")
    if len(pair) != 2:
        raise BadInput(f"group sip_edge has {len(pair)} host(s); the VIP drill needs the pair")
    backend = live.faults_for(cluster)
    check_fault(backend, pair, fault)
    return vip.VipDrill(
        cluster,
        fault,
        build_probes(cluster, backend, PROBE_HOLD_SCENARIO),
        thresholds_for(cluster.settings, vip_fault=fault),
        registrations_on(cluster),
    )


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
