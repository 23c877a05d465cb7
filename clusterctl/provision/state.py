"""A tenant as the database holds it: hashes, never clear secrets; features keyed by number.

The same shape comes from a tenant file (after hashing) and from the database, so comparing
the two is comparing values. Destinations are ``(type, number)`` inside the tenant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEST_TYPES = ("extension", "ring_group", "ivr", "queue", "conference", "voicemail")
IVR_DEST_TYPES = (*DEST_TYPES, "hangup")
RING_STRATEGIES = ("simultaneous", "sequential")
QUEUE_STRATEGIES = ("longest-idle-agent", "ring-all", "round-robin", "top-down")
PERMISSIONS = ("internal", "local", "national", "international", "premium")


@dataclass(frozen=True)
class TenantRow:
    """The tenant itself, from the inventory."""

    id: str
    name: str
    domain: str
    shard: str
    permissions: tuple[str, ...]


@dataclass(frozen=True)
class User:
    """An extension and its SIP account (digests only)."""

    extension: str
    username: str
    display_name: str
    caller_id: str
    ha1: str
    ha1b: str
    ha1_sha256: str
    ha1_sha512t256: str
    enabled: bool = True


@dataclass(frozen=True)
class Voicemail:
    """A voicemail box; ``user`` is the extension it belongs to, if any."""

    mailbox: str
    user: str | None
    pin_hash: str
    email: str
    max_messages: int


@dataclass(frozen=True)
class RingGroup:
    """Extensions rung together or one after the other."""

    number: str
    name: str
    strategy: str
    timeout_s: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Conference:
    """A conference room."""

    number: str
    name: str
    max_members: int


@dataclass(frozen=True)
class Queue:
    """A call-centre queue and its agents (extensions)."""

    number: str
    name: str
    strategy: str
    max_wait_s: int
    agents: tuple[str, ...]


@dataclass(frozen=True)
class IvrEntry:
    """A key press and where it leads."""

    digits: str
    dest_type: str
    dest_value: str


@dataclass(frozen=True)
class Ivr:
    """A menu: a greeting, then digits -> destinations."""

    number: str
    name: str
    greeting: str
    timeout_s: int
    max_failures: int
    entries: tuple[IvrEntry, ...]


@dataclass(frozen=True)
class Did:
    """A public number of the tenant and where it leads."""

    did: str
    dest_type: str
    dest_value: str


# Feature kinds in the order they are written (a ring group needs its members first) and their
# key attribute; deletions run in the reverse order.
KINDS = ("users", "voicemail", "ring_groups", "conferences", "queues", "ivrs", "dids")


@dataclass
class TenantState:
    """One tenant's provisioned features."""

    tenant: TenantRow
    users: dict[str, User] = field(default_factory=dict)
    voicemail: dict[str, Voicemail] = field(default_factory=dict)
    ring_groups: dict[str, RingGroup] = field(default_factory=dict)
    conferences: dict[str, Conference] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    ivrs: dict[str, Ivr] = field(default_factory=dict)
    dids: dict[str, Did] = field(default_factory=dict)

    def kind(self, name: str) -> dict[str, object]:
        """The features of one kind (one of KINDS), keyed by number."""
        items: dict[str, object] = getattr(self, name)
        return items

    def destination(self, number: str) -> str | None:
        """The type of feature dialled as ``number`` (numbers are unique in a tenant)."""
        for kind, dest in (
            ("users", "extension"),
            ("ring_groups", "ring_group"),
            ("ivrs", "ivr"),
            ("queues", "queue"),
            ("conferences", "conference"),
        ):
            if number in self.kind(kind):
                return dest
        return None
