"""``clusterctl provision``: diff, apply and export tenant files against a cluster's database.

Failure modes: a tenant file with errors (SpecErrors, exit 2, nothing written); no database
node answering or no ``db_config_password`` (exit 1); a write the database refuses (rolled
back, exit 1); feature servers that could not drop their cache after a successful write
(reported per host, exit 1: the data is written, the stale entries expire by ``cacheable``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clusterctl.db.connect import Endpoint, connect_first
from clusterctl.errors import BadInput, ClusterctlError
from clusterctl.freeswitch.cache import esl_flusher
from clusterctl.model import Cluster
from clusterctl.provision import export, spec
from clusterctl.provision.flush import CacheFlusher, FlushResult, NoFlush
from clusterctl.provision.plan import Plan, make_plan
from clusterctl.provision.state import TenantRow, TenantState
from clusterctl.provision.store import MariaDBStore, Store

CONFIG_USER = "config"


def tenant_rows(cluster: Cluster) -> dict[str, TenantRow]:
    """The inventory's tenants as database rows."""
    return {
        t.id: TenantRow(t.id, t.name, t.domain, t.shard, tuple(sorted(t.permissions)))
        for t in cluster.settings.tenants
    }


def inventory_dids(cluster: Cluster) -> dict[str, str]:
    """DID -> tenant id as the inventory (and so the edge) has them."""
    return {did: t.id for t in cluster.settings.tenants for did in t.dids}


def shard_hosts(cluster: Cluster, tenant: TenantRow) -> list[str]:
    """The feature servers that may have the tenant's users cached: its shard's pair."""
    shard = cluster.settings.shards[tenant.shard]
    return [shard.primary, shard.secondary]


@contextmanager
def open_store(cluster: Cluster) -> Iterator[Store]:
    """A MariaDBStore on the first database node that answers, as the ``config`` user.

    Raises ClusterctlError when there is no databases group or no usable password, and
    NoDatabase when no node answers.
    """
    nodes = cluster.members("databases")
    if not nodes:
        raise ClusterctlError("the inventory has no databases group: nothing to provision into")
    password = cluster.secret("db_config_password")
    if not password:
        raise ClusterctlError(
            "db_config_password is not set (or is a template clusterctl cannot resolve)"
        )
    endpoints = [Endpoint(str(cluster.hosts[n].address or n)) for n in nodes]
    connection, _ = connect_first(endpoints, CONFIG_USER, password)
    try:
        yield MariaDBStore(connection, cluster.settings.edge_engine)
    finally:
        connection.close()


def _context(cluster: Cluster, store: Store) -> spec.Context:
    return spec.Context(tenant_rows(cluster), inventory_dids(cluster), store.did_owners)


def plan_file(
    path: Path, cluster: Cluster, store: Store, *, prune: bool
) -> tuple[Plan, TenantState]:
    """Check ``path`` and compare it with the database: the plan and the stored state.

    Raises SpecErrors (the file), BadInput (no file, a kept feature clashing with the file)
    or StoreError.
    """
    if not path.is_file():
        raise BadInput(f"tenant file {path}: no such file")
    desired = spec.load_tenant_file(path, _context(cluster, store))
    current = store.load(desired.tenant)
    plan = make_plan(current, desired, prune=prune)
    if plan.conflicts:
        raise BadInput(f"{path}: " + "; ".join(plan.conflicts))
    return plan, current


@dataclass(frozen=True)
class Applied:
    """What an apply did: the plan, the hosts asked to flush and how that went."""

    plan: Plan
    hosts: tuple[str, ...]
    flushed: FlushResult


def apply_file(
    path: Path, cluster: Cluster, store: Store, flusher: CacheFlusher, *, prune: bool
) -> Applied:
    """Write the file's changes in one transaction, then flush the stale users on the shard.

    An unchanged file writes nothing and flushes nothing.
    """
    plan, current = plan_file(path, cluster, store, prune=prune)
    if plan.empty:
        return Applied(plan, (), FlushResult())
    store.write(plan, current)
    tenant = plan.result.tenant
    domains = {tenant.domain, current.tenant.domain} - {""}
    entries = [(user, domain) for domain in sorted(domains) for user in plan.stale_users]
    hosts = shard_hosts(cluster, tenant)
    if current.tenant.shard and current.tenant.shard != tenant.shard:
        hosts += [h for h in shard_hosts(cluster, current.tenant) if h not in hosts]
    flushed = flusher.flush(entries, hosts) if entries else FlushResult()
    return Applied(plan, tuple(hosts), flushed)


def export_tenants(
    cluster: Cluster, store: Store, tenant_id: str | None, out_dir: Path
) -> list[Path]:
    """Write ``<tenant>.yml`` per stored tenant (or just ``tenant_id``) into ``out_dir``."""
    ids = store.tenant_ids()
    if tenant_id is not None:
        if tenant_id not in ids:
            raise BadInput(f"tenant {tenant_id} is not in the database (stored: "
                           f"{', '.join(ids) or 'none'})")
        ids = [tenant_id]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for tid in ids:
        row = store.stored_tenant(tid)
        if row is None:
            continue
        target = out_dir / f"{tid}.yml"
        target.write_text(export.to_yaml(store.load(row)), encoding="utf-8")
        written.append(target)
    return written


def default_flusher(cluster: Cluster) -> CacheFlusher:
    """The cache flusher ``clusterctl provision apply`` uses: the event socket of each
    FreeSWITCH feature server; nothing for the lab's SIPp stand-ins (they cache nothing).

    BadInput when the servers run FreeSWITCH and fs_esl_password cannot be read: the apply
    then writes nothing, rather than leave the servers answering from stale entries.
    """
    if cluster.feature_server_unit != "freeswitch" or not cluster.members("feature_servers"):
        return NoFlush()
    password = cluster.secret("fs_esl_password")
    if not password:
        raise BadInput(
            "fs_esl_password cannot be read from the inventory (the feature servers' caches "
            "must be flushed after a change): set it, and pass --vault-password-file when it "
            "is vaulted"
        )
    return esl_flusher(cluster, password)
