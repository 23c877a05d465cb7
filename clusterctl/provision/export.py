"""The database back to tenant files: digests instead of passwords, PIN hashes instead of PINs.

An exported file, applied again, yields exactly the stored state (no change). Exported
digests are bound to the user name and domain they were made for: change either and the
user needs a new password in the file.
"""

from __future__ import annotations

from typing import Any

import yaml

from clusterctl.provision.state import TenantState

HEADER = (
    "# Exported by `clusterctl provision export`: digests, never passwords. To change a\n"
    "# password replace a user's `digest:` with `password:`; likewise `pin_hash:` with `pin:`.\n"
)


def _compact(item: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if defaults.get(k, object()) != v}


def to_document(state: TenantState) -> dict[str, Any]:
    """The tenant file's content for ``state`` (defaults left out)."""
    doc: dict[str, Any] = {"tenant": state.tenant.id}
    users = []
    for u in sorted(state.users.values(), key=lambda u: u.extension):
        item = _compact(
            {"extension": u.extension, "username": u.username, "name": u.display_name,
             "caller_id": u.caller_id, "enabled": u.enabled},
            {"username": u.extension, "name": u.extension, "caller_id": "", "enabled": True},
        )
        item["digest"] = {"ha1": u.ha1, "ha1b": u.ha1b, "ha1_sha256": u.ha1_sha256,
                          "ha1_sha512t256": u.ha1_sha512t256}
        users.append(item)
    sections: list[tuple[str, list[dict[str, Any]]]] = [("users", users)]
    sections.append(("voicemail", [
        _compact({"mailbox": v.mailbox, "user": v.user, "pin_hash": v.pin_hash,
                  "email": v.email, "max_messages": v.max_messages},
                 {"user": None, "email": "", "max_messages": 100})
        for v in sorted(state.voicemail.values(), key=lambda v: v.mailbox)
    ]))
    sections.append(("ring_groups", [
        _compact({"number": g.number, "name": g.name, "strategy": g.strategy,
                  "timeout": g.timeout_s, "members": list(g.members)},
                 {"strategy": "simultaneous", "timeout": 30})
        for g in sorted(state.ring_groups.values(), key=lambda g: g.number)
    ]))
    sections.append(("conferences", [
        _compact({"number": c.number, "name": c.name, "max_members": c.max_members},
                 {"max_members": 20})
        for c in sorted(state.conferences.values(), key=lambda c: c.number)
    ]))
    sections.append(("queues", [
        _compact({"number": q.number, "name": q.name, "strategy": q.strategy,
                  "max_wait": q.max_wait_s, "agents": list(q.agents)},
                 {"strategy": "longest-idle-agent", "max_wait": 300, "agents": []})
        for q in sorted(state.queues.values(), key=lambda q: q.number)
    ]))
    sections.append(("ivrs", [
        _compact({"number": i.number, "name": i.name, "greeting": i.greeting,
                  "timeout": i.timeout_s, "max_failures": i.max_failures,
                  "entries": {e.digits: f"{e.dest_type} {e.dest_value}".strip()
                              for e in i.entries}},
                 {"timeout": 10, "max_failures": 3})
        for i in sorted(state.ivrs.values(), key=lambda i: i.number)
    ]))
    sections.append(("dids", [
        {"number": d.did, "to": f"{d.dest_type} {d.dest_value}"}
        for d in sorted(state.dids.values(), key=lambda d: d.did)
    ]))
    for key, items in sections:
        if items:
            doc[key] = items
    return doc


def to_yaml(state: TenantState) -> str:
    """The tenant file's text for ``state``."""
    body = yaml.safe_dump(to_document(state), sort_keys=False, allow_unicode=True, width=100)
    return HEADER + "---\n" + body
