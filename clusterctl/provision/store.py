"""Where tenants are stored: the Store protocol, MariaDB (one transaction per apply) and an
in-memory store for tests.

``MariaDBStore.write`` changes the configuration tables and the edge's ``subscriber`` rows in
one transaction on one connection: both schemas live on the same server, so a failure at any
statement rolls all of it back. Only features the plan lists are touched, so re-applying an
unchanged file writes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pymysql

from clusterctl.errors import ClusterctlError
from clusterctl.provision.plan import Change, Plan
from clusterctl.provision.state import (
    Conference,
    Did,
    Ivr,
    IvrEntry,
    Queue,
    RingGroup,
    TenantRow,
    TenantState,
    User,
    Voicemail,
)

EdgeEngine = Literal["opensips", "kamailio"]

# The subscriber columns each engine's auth module reads (see the edge migrations): the clear
# password column stays empty.
SUBSCRIBER_DIGESTS: dict[str, tuple[str, ...]] = {
    "kamailio": ("ha1", "ha1b"),
    "opensips": ("ha1", "ha1_sha256", "ha1_sha512t256"),
}


class StoreError(ClusterctlError):
    """The database refused a read or the write (rolled back; the message says which step)."""


class Store(Protocol):
    """Reads tenants and writes a plan; implementations: MariaDBStore, MemoryStore."""

    def load(self, tenant: TenantRow) -> TenantState:
        """The stored state of ``tenant`` (empty features and an empty row when new)."""
        ...

    def stored_tenant(self, tenant_id: str) -> TenantRow | None:
        """The stored row of a tenant, or None."""
        ...

    def tenant_ids(self) -> list[str]:
        """Every stored tenant id, sorted."""
        ...

    def did_owners(self, dids: Iterable[str]) -> dict[str, str]:
        """DID -> tenant id for the stored ones among ``dids``."""
        ...

    def write(self, plan: Plan, current: TenantState) -> None:
        """Apply ``plan`` (computed against ``current``) atomically; raises StoreError."""
        ...


def empty_state(tenant_id: str) -> TenantState:
    """The state of a tenant the database does not have yet."""
    return TenantState(tenant=TenantRow(tenant_id, "", "", "", ()))


@dataclass
class MemoryStore:
    """A Store in memory, with the edge's subscriber rows, for tests."""

    engine: EdgeEngine = "opensips"
    tenants: dict[str, TenantState] = field(default_factory=dict)
    subscribers: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    writes: int = 0

    def load(self, tenant: TenantRow) -> TenantState:
        stored = self.tenants.get(tenant.id)
        if stored is None:
            return empty_state(tenant.id)
        return copy.deepcopy(stored)

    def stored_tenant(self, tenant_id: str) -> TenantRow | None:
        stored = self.tenants.get(tenant_id)
        return stored.tenant if stored is not None else None

    def tenant_ids(self) -> list[str]:
        return sorted(self.tenants)

    def did_owners(self, dids: Iterable[str]) -> dict[str, str]:
        wanted = set(dids)
        return {
            did: state.tenant.id
            for state in self.tenants.values()
            for did in state.dids
            if did in wanted
        }

    def write(self, plan: Plan, current: TenantState) -> None:
        self.writes += 1
        for change in plan.changes:
            if change.kind != "users":
                continue
            old = current.users.get(change.key)
            if old is not None:
                self.subscribers.pop((old.username, current.tenant.domain), None)
            new = plan.result.users.get(change.key)
            if new is not None and new.enabled:
                row = {"password": ""}
                row.update({c: getattr(new, c) for c in SUBSCRIBER_DIGESTS[self.engine]})
                self.subscribers[(new.username, plan.result.tenant.domain)] = row
        self.tenants[plan.tenant_id] = plan.result


class Cursor(Protocol):
    """The DB-API cursor surface used here (PyMySQL's)."""

    def execute(self, query: str, args: Any = None) -> int: ...

    def fetchall(self) -> Sequence[Sequence[Any]]: ...


def _permissions(value: Any) -> tuple[str, ...]:
    """A SET column as PyMySQL returns it (a str "a,b" or a set) -> sorted tuple."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    return tuple(sorted(p for p in items if p))


class MariaDBStore:
    """A Store on one open PyMySQL connection (``autocommit`` off for the write)."""

    def __init__(
        self,
        connection: Any,
        engine: EdgeEngine,
        *,
        config_db: str = "clusterctl_config",
        edge_db: str = "clusterctl_edge",
    ) -> None:
        self._conn = connection
        self._engine = engine
        self._cfg = config_db
        self._edge = edge_db

    def _rows(self, query: str, args: Any = None) -> Sequence[Sequence[Any]]:
        try:
            with self._conn.cursor() as cur:
                cur.execute(query.replace("{cfg}", self._cfg), args)
                return list(cur.fetchall())
        except pymysql.MySQLError as exc:
            raise StoreError(f"database read failed: {exc.args[-1] if exc.args else exc}") from None

    def stored_tenant(self, tenant_id: str) -> TenantRow | None:
        rows = self._rows(
            "SELECT id, name, domain, shard, permissions FROM {cfg}.tenants WHERE id = %s",
            (tenant_id,),
        )
        if not rows:
            return None
        r = rows[0]
        return TenantRow(str(r[0]), str(r[1]), str(r[2]), str(r[3]), _permissions(r[4]))

    def tenant_ids(self) -> list[str]:
        return [str(r[0]) for r in self._rows("SELECT id FROM {cfg}.tenants ORDER BY id")]

    def did_owners(self, dids: Iterable[str]) -> dict[str, str]:
        wanted = sorted(set(dids))
        if not wanted:
            return {}
        marks = ", ".join(["%s"] * len(wanted))
        rows = self._rows(f"SELECT did, tenant_id FROM {{cfg}}.dids WHERE did IN ({marks})",
                          wanted)
        return {str(r[0]): str(r[1]) for r in rows}

    def load(self, tenant: TenantRow) -> TenantState:
        row = self.stored_tenant(tenant.id)
        if row is None:
            return empty_state(tenant.id)
        state = TenantState(tenant=row)
        t = (tenant.id,)
        for r in self._rows(
            "SELECT extension, sip_username, display_name, caller_id_number, ha1, ha1b,"
            " ha1_sha256, ha1_sha512t256, enabled FROM {cfg}.extensions WHERE tenant_id = %s",
            t,
        ):
            ext, username, name, cid, ha1, ha1b, sha256, sha512t256 = (str(v) for v in r[:8])
            state.users[ext] = User(ext, username, name, cid, ha1, ha1b, sha256, sha512t256,
                                    enabled=bool(r[8]))
        for r in self._rows(
            "SELECT v.mailbox, e.extension, v.pin_hash, v.email, v.max_messages"
            " FROM {cfg}.voicemail_boxes v LEFT JOIN {cfg}.extensions e ON e.id = v.extension_id"
            " WHERE v.tenant_id = %s",
            t,
        ):
            user = str(r[1]) if r[1] is not None else None
            state.voicemail[str(r[0])] = Voicemail(str(r[0]), user, str(r[2]), str(r[3]),
                                                   int(r[4]))
        members = self._links(
            "SELECT g.number, e.extension FROM {cfg}.ring_group_members m"
            " JOIN {cfg}.ring_groups g ON g.id = m.ring_group_id"
            " JOIN {cfg}.extensions e ON e.id = m.extension_id"
            " WHERE g.tenant_id = %s ORDER BY g.number, m.position",
            t,
        )
        for r in self._rows(
            "SELECT number, name, strategy, ring_timeout_s FROM {cfg}.ring_groups"
            " WHERE tenant_id = %s",
            t,
        ):
            number = str(r[0])
            state.ring_groups[number] = RingGroup(number, str(r[1]), str(r[2]), int(r[3]),
                                                  tuple(members.get(number, ())))
        for r in self._rows(
            "SELECT number, name, max_members FROM {cfg}.conferences WHERE tenant_id = %s", t
        ):
            state.conferences[str(r[0])] = Conference(str(r[0]), str(r[1]), int(r[2]))
        agents = self._links(
            "SELECT q.number, e.extension FROM {cfg}.queue_agents a"
            " JOIN {cfg}.queues q ON q.id = a.queue_id"
            " JOIN {cfg}.extensions e ON e.id = a.extension_id"
            " WHERE q.tenant_id = %s ORDER BY q.number, a.tier_position",
            t,
        )
        for r in self._rows(
            "SELECT number, name, strategy, max_wait_s FROM {cfg}.queues WHERE tenant_id = %s", t
        ):
            number = str(r[0])
            state.queues[number] = Queue(number, str(r[1]), str(r[2]), int(r[3]),
                                         tuple(agents.get(number, ())))
        entries: dict[str, list[IvrEntry]] = {}
        for r in self._rows(
            "SELECT m.number, e.digits, e.dest_type, e.dest_value FROM {cfg}.ivr_entries e"
            " JOIN {cfg}.ivr_menus m ON m.id = e.ivr_menu_id WHERE m.tenant_id = %s"
            " ORDER BY m.number, e.digits",
            t,
        ):
            entries.setdefault(str(r[0]), []).append(IvrEntry(str(r[1]), str(r[2]), str(r[3])))
        for r in self._rows(
            "SELECT number, name, greeting, timeout_s, max_failures FROM {cfg}.ivr_menus"
            " WHERE tenant_id = %s",
            t,
        ):
            number = str(r[0])
            state.ivrs[number] = Ivr(number, str(r[1]), str(r[2]), int(r[3]), int(r[4]),
                                     tuple(entries.get(number, ())))
        for r in self._rows(
            "SELECT did, dest_type, dest_value FROM {cfg}.dids WHERE tenant_id = %s", t
        ):
            state.dids[str(r[0])] = Did(str(r[0]), str(r[1]), str(r[2]))
        return state

    def _links(self, query: str, args: Any) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for r in self._rows(query, args):
            out.setdefault(str(r[0]), []).append(str(r[1]))
        return out

    def write(self, plan: Plan, current: TenantState) -> None:
        step = "begin"
        try:
            self._conn.begin()
            with self._conn.cursor() as cur:
                step = "tenant"
                self._tenant(cur, plan.result.tenant)
                for change in reversed(plan.changes):
                    if change.op == "-":
                        step = str(change)
                        self._delete(cur, change, current)
                for change in plan.changes:
                    if change.op != "-":
                        step = str(change)
                        self._upsert(cur, change, plan.result, current)
            step = "commit"
            self._conn.commit()
        except pymysql.MySQLError as exc:
            self._conn.rollback()
            message = exc.args[-1] if exc.args else exc
            raise StoreError(f"write failed at {step}: {message}; rolled back, nothing written"
                             ) from None

    def _exec(self, cur: Cursor, query: str, args: Any = None) -> None:
        cur.execute(query.replace("{cfg}", self._cfg).replace("{edge}", self._edge), args)

    def _tenant(self, cur: Cursor, t: TenantRow) -> None:
        self._exec(
            cur,
            "INSERT INTO {cfg}.tenants (id, name, domain, shard, permissions)"
            " VALUES (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE name = VALUES(name),"
            " domain = VALUES(domain), shard = VALUES(shard), permissions = VALUES(permissions)",
            (t.id, t.name, t.domain, t.shard, ",".join(t.permissions)),
        )

    def _delete(self, cur: Cursor, change: Change, current: TenantState) -> None:
        tid = current.tenant.id
        table, column = _TABLES[change.kind]
        if change.kind == "users":
            user = current.users[change.key]
            self._exec(cur, "DELETE FROM {edge}.subscriber WHERE username = %s AND domain = %s",
                       (user.username, current.tenant.domain))
        if change.kind == "dids":
            self._exec(cur, "DELETE FROM {cfg}.dids WHERE did = %s AND tenant_id = %s",
                       (change.key, tid))
            return
        self._exec(cur, f"DELETE FROM {{cfg}}.{table} WHERE tenant_id = %s AND {column} = %s",
                   (tid, change.key))

    def _upsert(self, cur: Cursor, change: Change, result: TenantState,
                current: TenantState) -> None:
        tid = result.tenant.id
        key = change.key
        if change.kind == "users":
            self._user(cur, result.users[key], result.tenant, current)
        elif change.kind == "voicemail":
            v = result.voicemail[key]
            self._exec(
                cur,
                "INSERT INTO {cfg}.voicemail_boxes (tenant_id, mailbox, extension_id, pin_hash,"
                " email, max_messages) VALUES (%s, %s, (SELECT id FROM {cfg}.extensions WHERE"
                " tenant_id = %s AND extension = %s), %s, %s, %s) ON DUPLICATE KEY UPDATE"
                " extension_id = VALUES(extension_id), pin_hash = VALUES(pin_hash),"
                " email = VALUES(email), max_messages = VALUES(max_messages)",
                (tid, v.mailbox, tid, v.user, v.pin_hash, v.email, v.max_messages),
            )
        elif change.kind == "ring_groups":
            g = result.ring_groups[key]
            self._exec(
                cur,
                "INSERT INTO {cfg}.ring_groups (tenant_id, number, name, strategy, ring_timeout_s)"
                " VALUES (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE name = VALUES(name),"
                " strategy = VALUES(strategy), ring_timeout_s = VALUES(ring_timeout_s)",
                (tid, g.number, g.name, g.strategy, g.timeout_s),
            )
            self._link(cur, "ring_group_members", tid, g.number, members=g.members)
        elif change.kind == "conferences":
            c = result.conferences[key]
            self._exec(
                cur,
                "INSERT INTO {cfg}.conferences (tenant_id, number, name, max_members)"
                " VALUES (%s, %s, %s, %s) ON DUPLICATE KEY UPDATE name = VALUES(name),"
                " max_members = VALUES(max_members)",
                (tid, c.number, c.name, c.max_members),
            )
        elif change.kind == "queues":
            q = result.queues[key]
            self._exec(
                cur,
                "INSERT INTO {cfg}.queues (tenant_id, number, name, strategy, max_wait_s)"
                " VALUES (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE name = VALUES(name),"
                " strategy = VALUES(strategy), max_wait_s = VALUES(max_wait_s)",
                (tid, q.number, q.name, q.strategy, q.max_wait_s),
            )
            self._link(cur, "queue_agents", tid, q.number, members=q.agents)
        elif change.kind == "ivrs":
            self._ivr(cur, tid, result.ivrs[key])
        else:
            d = result.dids[key]
            self._exec(
                cur,
                "INSERT INTO {cfg}.dids (did, tenant_id, dest_type, dest_value)"
                " VALUES (%s, %s, %s, %s) ON DUPLICATE KEY UPDATE"
                " dest_type = VALUES(dest_type), dest_value = VALUES(dest_value)",
                (d.did, tid, d.dest_type, d.dest_value),
            )

    def _user(self, cur: Cursor, u: User, tenant: TenantRow, current: TenantState) -> None:
        old = current.users.get(u.extension)
        if old is not None and (old.username, current.tenant.domain) != (u.username,
                                                                        tenant.domain):
            self._exec(cur, "DELETE FROM {edge}.subscriber WHERE username = %s AND domain = %s",
                       (old.username, current.tenant.domain))
        self._exec(
            cur,
            "INSERT INTO {cfg}.extensions (tenant_id, extension, sip_username, ha1, ha1b,"
            " ha1_sha256, ha1_sha512t256, display_name, caller_id_number, enabled)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE"
            " sip_username = VALUES(sip_username), ha1 = VALUES(ha1), ha1b = VALUES(ha1b),"
            " ha1_sha256 = VALUES(ha1_sha256), ha1_sha512t256 = VALUES(ha1_sha512t256),"
            " display_name = VALUES(display_name), caller_id_number = VALUES(caller_id_number),"
            " enabled = VALUES(enabled)",
            (tenant.id, u.extension, u.username, u.ha1, u.ha1b, u.ha1_sha256, u.ha1_sha512t256,
             u.display_name, u.caller_id, u.enabled),
        )
        columns = SUBSCRIBER_DIGESTS[self._engine]
        if not u.enabled:
            # A disabled user keeps its extension but cannot register or call.
            self._exec(cur, "DELETE FROM {edge}.subscriber WHERE username = %s AND domain = %s",
                       (u.username, tenant.domain))
            return
        names = ", ".join(columns)
        marks = ", ".join(["%s"] * len(columns))
        updates = ", ".join(f"{c} = VALUES({c})" for c in columns)
        self._exec(
            cur,
            f"INSERT INTO {{edge}}.subscriber (username, domain, password, {names})"
            f" VALUES (%s, %s, '', {marks}) ON DUPLICATE KEY UPDATE password = '', {updates}",
            (u.username, tenant.domain, *(getattr(u, c) for c in columns)),
        )

    def _link(self, cur: Cursor, table: str, tid: str, number: str, *,
              members: tuple[str, ...]) -> None:
        fk, parent, order_column = _LINKS[table]
        parent_id = (f"(SELECT id FROM {{cfg}}.{parent} WHERE tenant_id = %s AND number = %s)")
        self._exec(cur, f"DELETE FROM {{cfg}}.{table} WHERE {fk} = {parent_id}", (tid, number))
        for position, ext in enumerate(members, start=1):
            self._exec(
                cur,
                f"INSERT INTO {{cfg}}.{table} ({fk}, extension_id, {order_column})"
                f" SELECT p.id, e.id, %s FROM {{cfg}}.{parent} p JOIN {{cfg}}.extensions e"
                " ON e.tenant_id = p.tenant_id WHERE p.tenant_id = %s AND p.number = %s"
                " AND e.extension = %s",
                (position, tid, number, ext),
            )

    def _ivr(self, cur: Cursor, tid: str, ivr: Ivr) -> None:
        self._exec(
            cur,
            "INSERT INTO {cfg}.ivr_menus (tenant_id, number, name, greeting, timeout_s,"
            " max_failures) VALUES (%s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE"
            " name = VALUES(name), greeting = VALUES(greeting), timeout_s = VALUES(timeout_s),"
            " max_failures = VALUES(max_failures)",
            (tid, ivr.number, ivr.name, ivr.greeting, ivr.timeout_s, ivr.max_failures),
        )
        menu = "(SELECT id FROM {cfg}.ivr_menus WHERE tenant_id = %s AND number = %s)"
        self._exec(cur, f"DELETE FROM {{cfg}}.ivr_entries WHERE ivr_menu_id = {menu}",
                   (tid, ivr.number))
        for e in ivr.entries:
            self._exec(
                cur,
                "INSERT INTO {cfg}.ivr_entries (ivr_menu_id, digits, dest_type, dest_value)"
                f" VALUES ({menu}, %s, %s, %s)",
                (tid, ivr.number, e.digits, e.dest_type, e.dest_value),
            )


# Link table -> (its parent key column, the parent table, the order column).
_LINKS = {
    "ring_group_members": ("ring_group_id", "ring_groups", "position"),
    "queue_agents": ("queue_id", "queues", "tier_position"),
}
_TABLES = {
    "users": ("extensions", "extension"),
    "voicemail": ("voicemail_boxes", "mailbox"),
    "ring_groups": ("ring_groups", "number"),
    "conferences": ("conferences", "number"),
    "queues": ("queues", "number"),
    "ivrs": ("ivr_menus", "number"),
    "dids": ("dids", "did"),
}
