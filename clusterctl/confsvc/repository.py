"""What the service reads: tenants, directory entries and dialled features.

``Repository`` is the read interface the XML handlers use; ``MariaDBRepository`` answers it
with parameterised queries through the pool, ``MemoryRepository`` from provisioning states
(tests). Disabled tenants and users do not exist here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from clusterctl.confsvc.pool import Pool
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


@dataclass(frozen=True)
class Target:
    """A dialled feature: its kind, the users it rings, its voicemail box and settings."""

    kind: str  # extension | ring_group | conference | queue | ivr
    number: str
    users: tuple[User, ...] = ()
    mailbox: Voicemail | None = None
    ring_group: RingGroup | None = None
    conference: Conference | None = None
    queue: Queue | None = None
    ivr: Ivr | None = None


class Repository(Protocol):
    """Read access for the XML handlers; every method may raise on a database failure."""

    def tenant_by_domain(self, domain: str) -> TenantRow | None:
        """The enabled tenant of a SIP domain."""
        ...

    def tenant_by_id(self, tenant_id: str) -> TenantRow | None:
        """The enabled tenant with this id."""
        ...

    def directory_entry(self, tenant_id: str, user_id: str) -> tuple[User | None,
                                                                      Voicemail | None]:
        """The user whose extension or SIP username is ``user_id`` and its voicemail box;
        else (None, the box with mailbox ``user_id``); else (None, None)."""
        ...

    def target(self, tenant_id: str, number: str) -> Target | None:
        """The feature dialled as ``number`` in the tenant."""
        ...

    def voicemail(self, tenant_id: str, mailbox: str) -> Voicemail | None:
        """A voicemail box by mailbox number."""
        ...

    def did(self, number: str) -> tuple[str, Did] | None:
        """(tenant id, DID) for a public number."""
        ...

    def ping(self) -> None:
        """Raise unless the database answers."""
        ...


@dataclass
class MemoryRepository:
    """The Repository over provisioning states (tests, no database)."""

    tenants: dict[str, TenantState]

    def tenant_by_domain(self, domain: str) -> TenantRow | None:
        for state in self.tenants.values():
            if state.tenant.domain == domain:
                return state.tenant
        return None

    def tenant_by_id(self, tenant_id: str) -> TenantRow | None:
        state = self.tenants.get(tenant_id)
        return state.tenant if state is not None else None

    def directory_entry(self, tenant_id: str, user_id: str) -> tuple[User | None,
                                                                      Voicemail | None]:
        state = self.tenants[tenant_id]
        for user in state.users.values():
            if user.enabled and user_id in (user.extension, user.username):
                boxes = [v for v in state.voicemail.values() if v.user == user.extension]
                return user, boxes[0] if boxes else None
        return None, state.voicemail.get(user_id)

    def target(self, tenant_id: str, number: str) -> Target | None:
        state = self.tenants[tenant_id]
        kind = state.destination(number)
        if kind == "extension":
            user = state.users[number]
            if not user.enabled:
                return None
            return Target(kind, number, users=(user,), mailbox=self._box_of(state, number))
        if kind == "ring_group":
            group = state.ring_groups[number]
            return Target(kind, number, users=self._users(state, group.members),
                          ring_group=group)
        if kind == "conference":
            return Target(kind, number, conference=state.conferences[number])
        if kind == "queue":
            queue = state.queues[number]
            return Target(kind, number, users=self._users(state, queue.agents), queue=queue)
        if kind == "ivr":
            return Target(kind, number, ivr=state.ivrs[number])
        return None

    @staticmethod
    def _users(state: TenantState, extensions: tuple[str, ...]) -> tuple[User, ...]:
        return tuple(state.users[e] for e in extensions if state.users[e].enabled)

    @staticmethod
    def _box_of(state: TenantState, extension: str) -> Voicemail | None:
        boxes = [v for v in state.voicemail.values() if v.user == extension]
        return boxes[0] if boxes else None

    def voicemail(self, tenant_id: str, mailbox: str) -> Voicemail | None:
        return self.tenants[tenant_id].voicemail.get(mailbox)

    def did(self, number: str) -> tuple[str, Did] | None:
        for tenant_id, state in self.tenants.items():
            if number in state.dids:
                return tenant_id, state.dids[number]
        return None

    def ping(self) -> None:
        return None


def _permissions(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value or ())
    return tuple(sorted(p for p in items if p))


def _tenant(row: tuple[Any, ...]) -> TenantRow:
    return TenantRow(str(row[0]), str(row[1]), str(row[2]), str(row[3]), _permissions(row[4]))


_USER_COLUMNS = ("e.extension, e.sip_username, e.display_name, e.caller_id_number, e.ha1,"
                 " e.ha1b, e.ha1_sha256, e.ha1_sha512t256")
# Which kind of feature a number is in a tenant: one round trip over the unique keys.
_KIND_QUERY = (
    "SELECT 'extension' FROM extensions WHERE tenant_id = %s AND extension = %s AND enabled"
    " UNION ALL SELECT 'ring_group' FROM ring_groups WHERE tenant_id = %s AND number = %s"
    " UNION ALL SELECT 'conference' FROM conferences WHERE tenant_id = %s AND number = %s"
    " UNION ALL SELECT 'queue' FROM queues WHERE tenant_id = %s AND number = %s"
    " UNION ALL SELECT 'ivr' FROM ivr_menus WHERE tenant_id = %s AND number = %s LIMIT 1"
)


def _user(row: tuple[Any, ...]) -> User:
    ext, username, name, cid, ha1, ha1b, sha256, sha512t256 = (str(v) for v in row[:8])
    return User(ext, username, name, cid, ha1, ha1b, sha256, sha512t256)


def _box(row: tuple[Any, ...], user: str | None) -> Voicemail:
    return Voicemail(str(row[0]), user, str(row[1]), str(row[2]), int(row[3]))


class MariaDBRepository:
    """The Repository on the configuration database, through a connection pool."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def tenant_by_domain(self, domain: str) -> TenantRow | None:
        rows = self._pool.query(
            "SELECT id, name, domain, shard, permissions FROM tenants"
            " WHERE domain = %s AND enabled", (domain,))
        return _tenant(rows[0]) if rows else None

    def tenant_by_id(self, tenant_id: str) -> TenantRow | None:
        rows = self._pool.query(
            "SELECT id, name, domain, shard, permissions FROM tenants WHERE id = %s AND enabled",
            (tenant_id,))
        return _tenant(rows[0]) if rows else None

    def directory_entry(self, tenant_id: str, user_id: str) -> tuple[User | None,
                                                                      Voicemail | None]:
        rows = self._pool.query(
            f"SELECT {_USER_COLUMNS}, v.mailbox, v.pin_hash, v.email, v.max_messages"
            " FROM extensions e LEFT JOIN voicemail_boxes v ON v.extension_id = e.id"
            " WHERE e.tenant_id = %s AND (e.extension = %s OR e.sip_username = %s)"
            " AND e.enabled ORDER BY e.extension = %s DESC LIMIT 1",
            (tenant_id, user_id, user_id, user_id))
        if rows:
            user = _user(rows[0])
            box = _box(rows[0][8:], user.extension) if rows[0][8] is not None else None
            return user, box
        return None, self.voicemail(tenant_id, user_id)

    def voicemail(self, tenant_id: str, mailbox: str) -> Voicemail | None:
        rows = self._pool.query(
            "SELECT v.mailbox, v.pin_hash, v.email, v.max_messages, e.extension"
            " FROM voicemail_boxes v LEFT JOIN extensions e ON e.id = v.extension_id"
            " WHERE v.tenant_id = %s AND v.mailbox = %s", (tenant_id, mailbox))
        if not rows:
            return None
        return _box(rows[0], str(rows[0][4]) if rows[0][4] is not None else None)

    def did(self, number: str) -> tuple[str, Did] | None:
        rows = self._pool.query(
            "SELECT tenant_id, did, dest_type, dest_value FROM dids WHERE did = %s", (number,))
        if not rows:
            return None
        return str(rows[0][0]), Did(str(rows[0][1]), str(rows[0][2]), str(rows[0][3]))

    def ping(self) -> None:
        self._pool.query("SELECT 1")

    def target(self, tenant_id: str, number: str) -> Target | None:
        kinds = self._pool.query(_KIND_QUERY, (tenant_id, number) * 5)
        if not kinds:
            return None
        kind = str(kinds[0][0])
        key = (tenant_id, number)
        if kind == "extension":
            user, box = self.directory_entry(tenant_id, number)
            return Target(kind, number, users=(user,), mailbox=box) if user else None
        if kind == "ring_group":
            rows = self._pool.query(
                "SELECT name, strategy, ring_timeout_s FROM ring_groups"
                " WHERE tenant_id = %s AND number = %s", key)
            users = self._members(
                "SELECT {cols} FROM ring_group_members m JOIN ring_groups g"
                " ON g.id = m.ring_group_id JOIN extensions e ON e.id = m.extension_id"
                " WHERE g.tenant_id = %s AND g.number = %s AND e.enabled ORDER BY m.position",
                key)
            group = RingGroup(number, str(rows[0][0]), str(rows[0][1]), int(rows[0][2]),
                              tuple(u.extension for u in users))
            return Target(kind, number, users=users, ring_group=group)
        if kind == "conference":
            rows = self._pool.query(
                "SELECT name, max_members FROM conferences WHERE tenant_id = %s AND number = %s",
                key)
            return Target(kind, number,
                          conference=Conference(number, str(rows[0][0]), int(rows[0][1])))
        if kind == "queue":
            rows = self._pool.query(
                "SELECT name, strategy, max_wait_s FROM queues WHERE tenant_id = %s"
                " AND number = %s", key)
            users = self._members(
                "SELECT {cols} FROM queue_agents a JOIN queues q ON q.id = a.queue_id"
                " JOIN extensions e ON e.id = a.extension_id WHERE q.tenant_id = %s"
                " AND q.number = %s AND e.enabled ORDER BY a.tier_position", key)
            queue = Queue(number, str(rows[0][0]), str(rows[0][1]), int(rows[0][2]),
                          tuple(u.extension for u in users))
            return Target(kind, number, users=users, queue=queue)
        rows = self._pool.query(
            "SELECT m.name, m.greeting, m.timeout_s, m.max_failures, e.digits, e.dest_type,"
            " e.dest_value FROM ivr_menus m LEFT JOIN ivr_entries e ON e.ivr_menu_id = m.id"
            " WHERE m.tenant_id = %s AND m.number = %s ORDER BY e.digits", key)
        entries = tuple(IvrEntry(str(r[4]), str(r[5]), str(r[6])) for r in rows
                        if r[4] is not None)
        first = rows[0]
        ivr = Ivr(number, str(first[0]), str(first[1]), int(first[2]), int(first[3]), entries)
        return Target(kind, number, ivr=ivr)

    def _members(self, query: str, key: tuple[str, str]) -> tuple[User, ...]:
        return tuple(_user(r) for r in self._pool.query(query.format(cols=_USER_COLUMNS), key))
