"""What applying a tenant file changes: added, changed and removed features, and the users
whose FreeSWITCH directory entry goes stale.

Deletions are explicit: a feature the database has and the file lacks is removed only with
``prune``; otherwise it is kept and listed as unmanaged. Secret fields are named ("password",
"PIN") in the changes, never shown.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from clusterctl.provision.state import KINDS, TenantState, Voicemail

# Field name -> how a change of it is shown; secrets are named only.
_SECRET_FIELDS = {
    "ha1": "password",
    "ha1b": "password",
    "ha1_sha256": "password",
    "ha1_sha512t256": "password",
    "pin_hash": "PIN",
}
_LABELS = {
    "users": "user",
    "voicemail": "voicemail box",
    "ring_groups": "ring group",
    "conferences": "conference",
    "queues": "queue",
    "ivrs": "IVR",
    "dids": "DID",
}


@dataclass(frozen=True)
class Change:
    """One feature added (+), changed (~) or removed (-); ``fields`` names what changed."""

    op: str
    kind: str
    key: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.op} {_LABELS[self.kind]} {self.key}"
        return f"{text} ({', '.join(self.fields)})" if self.fields else text


@dataclass
class Plan:
    """The changes of one tenant and what the database will hold afterwards."""

    tenant_id: str
    tenant_changed: tuple[str, ...]
    changes: list[Change]
    unmanaged: list[Change]  # in the database, not in the file, kept (no prune)
    result: TenantState
    stale_users: tuple[str, ...] = field(default=())  # directory ids to flush
    conflicts: tuple[str, ...] = field(default=())  # kept features clashing with the file

    @property
    def empty(self) -> bool:
        """Nothing to write."""
        return not self.changes and not self.tenant_changed

    def lines(self) -> list[str]:
        """Human-readable changes, one per line (no secret values)."""
        out = []
        if self.tenant_changed:
            out.append(f"~ tenant {self.tenant_id} ({', '.join(self.tenant_changed)})")
        out += [str(c) for c in self.changes]
        out += [f"= {str(c)[2:]} (not in the file; kept, --prune removes it)"
                for c in self.unmanaged]
        return out


def _changed_fields(old: object, new: object) -> tuple[str, ...]:
    names: list[str] = []
    for f in dataclasses.fields(old):  # type: ignore[arg-type]
        if getattr(old, f.name) != getattr(new, f.name):
            shown = _SECRET_FIELDS.get(f.name, f.name)
            if shown not in names:
                names.append(shown)
    return tuple(names)


def make_plan(current: TenantState, desired: TenantState, *, prune: bool) -> Plan:
    """Compare the database's ``current`` state with the file's ``desired`` one."""
    result = TenantState(tenant=desired.tenant)
    changes: list[Change] = []
    unmanaged: list[Change] = []
    for kind in KINDS:
        old, new = current.kind(kind), desired.kind(kind)
        kept = result.kind(kind)
        for key, item in new.items():
            kept[key] = item
            if key not in old:
                changes.append(Change("+", kind, key))
            elif old[key] != item:
                changes.append(Change("~", kind, key, _changed_fields(old[key], item)))
        for key, item in old.items():
            if key in new:
                continue
            if prune:
                changes.append(Change("-", kind, key))
            else:
                kept[key] = item
                unmanaged.append(Change("-", kind, key))
    tenant_changed = _changed_fields(current.tenant, desired.tenant)
    stale_digests: tuple[str, ...] = ()
    if current.tenant.domain and "domain" in tenant_changed:
        # The domain is the digest realm: a user whose digests did not change with it (given
        # as a digest, or kept) could no longer authenticate.
        stale_digests = tuple(
            f"user {key}: its digests were made for domain {current.tenant.domain}: give its"
            " password in the file"
            for key, user in result.users.items()
            if key in current.users and current.users[key].ha1 == user.ha1
        ) + tuple(
            f"voicemail box {key}: its PIN hash was made for domain {current.tenant.domain}:"
            " give its PIN in the file"
            for key, box in result.voicemail.items()
            if key in current.voicemail and current.voicemail[key].pin_hash == box.pin_hash
        )
    conflicts = stale_digests + tuple(
        f"{_LABELS[c.kind]} {c.key} is in the database but not in the file, which uses"
        f" number {c.key} for something else: remove it with --prune"
        for c in unmanaged
        if c.kind not in ("voicemail", "dids")
        and sum(c.key in result.kind(k) for k in ("users", "ring_groups", "conferences",
                                                  "queues", "ivrs")) > 1
    )
    return Plan(
        tenant_id=desired.tenant.id,
        tenant_changed=tenant_changed,
        changes=changes,
        unmanaged=unmanaged,
        result=result,
        stale_users=_stale_users(current, result, changes, bool(tenant_changed)),
        conflicts=conflicts,
    )


def _stale_users(
    current: TenantState, result: TenantState, changes: list[Change], everyone: bool
) -> tuple[str, ...]:
    """Directory ids FreeSWITCH may have cached that now answer differently.

    A user is looked up by extension and by SIP username; a voicemail box by mailbox. A tenant
    change (name, permissions) touches every user's variables.
    """
    ids: set[str] = set()
    if everyone:
        for state in (current, result):
            for user in state.users.values():
                ids |= {user.extension, user.username}
            ids |= set(state.voicemail)
    for change in changes:
        if change.kind == "users":
            for state in (current, result):
                found = state.users.get(change.key)
                if found is not None:
                    ids |= {found.extension, found.username}
        elif change.kind == "voicemail":
            ids.add(change.key)
            for state in (current, result):
                box: Voicemail | None = state.voicemail.get(change.key)
                if box is not None and box.user is not None:
                    ids.add(box.user)
                    owner = state.users.get(box.user)
                    if owner is not None:
                        ids.add(owner.username)
    return tuple(sorted(ids))
