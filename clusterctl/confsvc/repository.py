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


@dataclass(frozen=True)
class DirectoryEntry:
    """A directory answer's data: the tenant, the user (if the id is one) and the voicemail
    box whose mailbox is the id (if any)."""

    tenant: TenantRow
    user: User | None
    mailbox: Voicemail | None


class Repository(Protocol):
    """Read access for the XML handlers; every method may raise on a database failure.

    Users read here carry no digests: the service never serves them.
    """

    def directory(self, domain: str, user_id: str) -> DirectoryEntry | None:
        """The enabled tenant of ``domain`` (None: no such tenant), the enabled user whose
        extension or SIP username is ``user_id`` and the box with that mailbox number."""
        ...

    def dialled(self, tenant_id: str, number: str) -> tuple[TenantRow, Target | None] | None:
        """The enabled tenant (None: no such tenant) and the feature dialled as ``number``."""
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


def _public(user: User) -> User:
    """The user without its digests."""
    return User(user.extension, user.username, user.display_name, user.caller_id, "", "", "", "",
                user.enabled)


@dataclass
class MemoryRepository:
    """The Repository over provisioning states (tests, no database)."""

    tenants: dict[str, TenantState]

    def directory(self, domain: str, user_id: str) -> DirectoryEntry | None:
        for state in self.tenants.values():
            if state.tenant.domain != domain:
                continue
            users = [u for u in state.users.values()
                     if u.enabled and user_id in (u.extension, u.username)]
            users.sort(key=lambda u: u.extension != user_id)
            user = _public(users[0]) if users else None
            return DirectoryEntry(state.tenant, user, state.voicemail.get(user_id))
        return None

    def dialled(self, tenant_id: str, number: str) -> tuple[TenantRow, Target | None] | None:
        state = self.tenants.get(tenant_id)
        if state is None:
            return None
        return state.tenant, self._target(state, number)

    def _target(self, state: TenantState, number: str) -> Target | None:
        kind = state.destination(number)
        if kind == "extension":
            user = state.users[number]
            if not user.enabled:
                return None
            boxes = [v for v in state.voicemail.values() if v.user == number]
            return Target(kind, number, users=(_public(user),),
                          mailbox=boxes[0] if boxes else None)
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
        return tuple(_public(state.users[e]) for e in extensions if state.users[e].enabled)

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


_TENANT_COLUMNS = "t.id, t.name, t.domain, t.shard, t.permissions"
_USER_COLUMNS = "e.extension, e.sip_username, e.display_name, e.caller_id_number"
_BOX_COLUMNS = "v.mailbox, v.pin_hash, v.email, v.max_messages"
# One round trip per directory lookup: the tenant, the user by extension and by SIP username
# (two joins on the unique keys: an OR or a sort would make MariaDB build a temporary table,
# four times slower), and the box numbered like the id.
_DIRECTORY = (
    f"SELECT {_TENANT_COLUMNS}, {_USER_COLUMNS},"
    " n.extension, n.sip_username, n.display_name, n.caller_id_number, {_BOX_COLUMNS}"
    " FROM tenants t"
    " LEFT JOIN extensions e ON e.tenant_id = t.id AND e.extension = %s AND e.enabled"
    " LEFT JOIN extensions n ON n.tenant_id = t.id AND n.sip_username = %s AND n.enabled"
    " LEFT JOIN voicemail_boxes v ON v.tenant_id = t.id AND v.mailbox = %s"
    " WHERE t.domain = %s AND t.enabled"
).replace("{_BOX_COLUMNS}", _BOX_COLUMNS)
# One round trip for the tenant, an extension (the common call) with its box, and whether the
# number is another kind of feature: constant lookups on unique keys only.
_DIALLED = (
    f"SELECT {_TENANT_COLUMNS}, {_USER_COLUMNS}, {_BOX_COLUMNS}, g.id, c.id, q.id, m.id"
    " FROM tenants t"
    " LEFT JOIN extensions e ON e.tenant_id = t.id AND e.extension = %s AND e.enabled"
    " LEFT JOIN voicemail_boxes v ON v.extension_id = e.id"
    " LEFT JOIN ring_groups g ON g.tenant_id = t.id AND g.number = %s"
    " LEFT JOIN conferences c ON c.tenant_id = t.id AND c.number = %s"
    " LEFT JOIN queues q ON q.tenant_id = t.id AND q.number = %s"
    " LEFT JOIN ivr_menus m ON m.tenant_id = t.id AND m.number = %s"
    " WHERE t.id = %s AND t.enabled LIMIT 1"
)
_OTHER_KINDS = ("ring_group", "conference", "queue", "ivr")


def _user(row: tuple[Any, ...]) -> User:
    ext, username, name, cid = (str(v) for v in row[:4])
    return User(ext, username, name, cid, "", "", "", "")


def _box(row: tuple[Any, ...], user: str | None) -> Voicemail:
    return Voicemail(str(row[0]), user, str(row[1]), str(row[2]), int(row[3]))


class MariaDBRepository:
    """The Repository on the configuration database, through a connection pool."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def directory(self, domain: str, user_id: str) -> DirectoryEntry | None:
        rows = self._pool.query(_DIRECTORY, (user_id, user_id, user_id, domain))
        if not rows:
            return None
        row = rows[0]
        if row[5] is not None:
            user: User | None = _user(row[5:9])
        else:
            user = _user(row[9:13]) if row[9] is not None else None
        box = _box(row[13:17], None) if row[13] is not None else None
        return DirectoryEntry(_tenant(row), user, box)

    def dialled(self, tenant_id: str, number: str) -> tuple[TenantRow, Target | None] | None:
        rows = self._pool.query(_DIALLED, (number,) * 5 + (tenant_id,))
        if not rows:
            return None
        row = rows[0]
        tenant = _tenant(row)
        if row[5] is not None:
            box = _box(row[9:13], str(row[5])) if row[9] is not None else None
            return tenant, Target("extension", number, users=(_user(row[5:9]),), mailbox=box)
        for kind, found in zip(_OTHER_KINDS, row[13:17], strict=True):
            if found is not None:
                return tenant, self._feature(kind, tenant_id, number)
        return tenant, None

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

    def _feature(self, kind: str, tenant_id: str, number: str) -> Target:
        key = (tenant_id, number)
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
