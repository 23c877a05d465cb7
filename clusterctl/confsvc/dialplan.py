"""``section=dialplan``: one extension for the dialled number in the tenant the edge stamped.

The tenant is ``variable_sip_h_X-Tenant-Id`` (docs/headers.md: the edge strips any X-Tenant-*
a phone sends and stamps its own); a request without it, for a tenant of another shard, or
for a number nothing answers is not found. The context returned has the name FreeSWITCH
asked for (``Hunt-Context``), so the profile's context setting stays FreeSWITCH's business.

Numbers, in order:
- a DID of the tenant (carrier calls): where the DID leads;
- a feature number: extension (ring the phone through the edge, then its voicemail),
  ring group (all at once, or one after the other), conference, queue, IVR;
- ``*97``: voicemail check (mailbox and PIN asked); ``*99<box>``: leave a message;
- ``ivr-<menu>-<digits>``: where an IVR sends a key press (the IVR transfers there);
- anything else: out through the edge if a dial rule matches and the tenant has that
  permission (emergency numbers always), an explicit refusal if not, not found otherwise.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from clusterctl.confsvc import xmlout
from clusterctl.confsvc.config import ServiceConfig
from clusterctl.confsvc.directory import edge_dial_string
from clusterctl.confsvc.repository import Repository, Target
from clusterctl.confsvc.request import Asker, XmlCurlRequest
from clusterctl.provision.state import TenantRow, Voicemail

TENANT_VARIABLE = "variable_sip_h_X-Tenant-Id"
CONTEXT = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
DIALLED = re.compile(r"^[0-9+*#A-Za-z-]{1,40}$")
FEATURE = re.compile(r"^[0-9]{2,8}$")
DEPOSIT = re.compile(r"^\*99([0-9]{2,8})$")
IVR_CHOICE = re.compile(r"^ivr-([0-9]{2,8})-([0-9*#]{0,8})$")
E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")
VOICEMAIL_CHECK = "*97"
INVALID_SOUND = "ivr/ivr-that_was_an_invalid_entry.wav"


class _Builder:
    """One extension in one context, plus what every action needs to know."""

    def __init__(self, context: str, number: str, config: ServiceConfig, tenant: TenantRow,
                 fs_name: str) -> None:
        self.root, section = xmlout.document("dialplan")
        ctx = ET.SubElement(section, "context", name=context)
        ext = ET.SubElement(ctx, "extension", name=f"{tenant.id}-{number}")
        self.condition = ET.SubElement(ext, "condition", field="destination_number",
                                       expression=f"^{re.escape(number)}$")
        self.context = context
        self.config = config
        self.tenant = tenant
        self.fs_name = fs_name

    def act(self, application: str, data: str = "") -> None:
        xmlout.action(self.condition, application, data)

    def done(self) -> bytes:
        return xmlout.serialize(self.root)


def lookup(request: XmlCurlRequest, asker: Asker, config: ServiceConfig,
           repo: Repository) -> bytes | None:
    """The dialplan document for ``request``, or None for not found."""
    tenant_id = request.get(TENANT_VARIABLE)
    context = request.get("Hunt-Context") or request.get("Caller-Context")
    number = request.get("Hunt-Destination-Number") or request.get("Caller-Destination-Number")
    if not tenant_id or not CONTEXT.match(context) or not DIALLED.match(number):
        return None
    found = repo.dialled(tenant_id, number if FEATURE.match(number) else "")
    if found is None or found[0].shard != asker.shard:
        return None
    tenant, target = found
    b = _Builder(context, number, config, tenant, asker.name)
    if target is not None:
        _target(b, repo, target)
        return b.done()
    if E164.match(number):
        did = repo.did(number)
        if did is not None:
            owner, entry = did
            if owner != tenant.id:
                return None
            return _route(b, repo, entry.dest_type, entry.dest_value)
    if number == VOICEMAIL_CHECK:
        b.act("answer")
        b.act("sleep", "500")
        b.act("voicemail", f"check default {tenant.domain}")
        return b.done()
    deposit = DEPOSIT.match(number)
    if deposit:
        box = repo.voicemail(tenant.id, deposit.group(1))
        if box is None:
            return None
        _leave_message(b, box)
        return b.done()
    choice = IVR_CHOICE.match(number)
    if choice:
        return _ivr_choice(b, repo, choice.group(1), choice.group(2))
    return _outbound(b, number)


def _route(b: _Builder, repo: Repository, dest_type: str, dest_value: str) -> bytes | None:
    """Actions for a typed destination (DIDs, IVR entries)."""
    if dest_type == "hangup":
        b.act("hangup", "NORMAL_CLEARING")
        return b.done()
    if dest_type == "voicemail":
        box = repo.voicemail(b.tenant.id, dest_value)
        if box is None:
            return None
        _leave_message(b, box)
        return b.done()
    found = repo.dialled(b.tenant.id, dest_value)
    target = found[1] if found is not None else None
    if target is None or target.kind != dest_type:
        return None
    _target(b, repo, target)
    return b.done()


def _target(b: _Builder, repo: Repository, target: Target) -> None:
    if target.kind == "extension":
        b.act("set", "hangup_after_bridge=true")
        b.act("set", "continue_on_fail=true")
        b.act("set", "call_timeout=30")
        b.act("bridge", _leg(b, target.users[0].username))
        if target.mailbox is not None:
            _leave_message(b, target.mailbox)
        else:
            b.act("hangup", "NO_ANSWER")
    elif target.kind == "ring_group" and target.ring_group is not None:
        group = target.ring_group
        if not target.users:
            b.act("hangup", "UNALLOCATED_NUMBER")
            return
        b.act("set", "hangup_after_bridge=true")
        b.act("set", "continue_on_fail=true")
        b.act("set", f"call_timeout={group.timeout_s}")
        legs = [f"[leg_timeout={group.timeout_s}]{_leg(b, u.username)}" for u in target.users]
        # "," rings every leg at once, "|" one after the other.
        b.act("bridge", ("," if group.strategy == "simultaneous" else "|").join(legs))
        b.act("hangup", "NO_ANSWER")
    elif target.kind == "conference" and target.conference is not None:
        b.act("answer")
        b.act("conference", f"{b.tenant.id}-{target.number}@default")
    elif target.kind == "queue" and target.queue is not None:
        b.act("answer")
        b.act("callcenter", f"{target.number}@{b.tenant.domain}")
    elif target.kind == "ivr" and target.ivr is not None:
        ivr = target.ivr
        keys = [e.digits for e in ivr.entries]
        longest = max((len(k) for k in keys), default=1)
        valid = "^(" + "|".join(re.escape(k) for k in keys) + ")$" if keys else "^$"
        b.act("answer")
        b.act("sleep", "500")
        b.act("set", "ivr_choice=")
        b.act("play_and_get_digits",
              f"1 {longest} {ivr.max_failures} {ivr.timeout_s * 1000} # {ivr.greeting}"
              f" {INVALID_SOUND} ivr_choice {valid} 3000")
        b.act("transfer", f"ivr-{ivr.number}-${{ivr_choice}} XML {b.context}")


def _leg(b: _Builder, sip_user: str) -> str:
    return edge_dial_string(b.config, b.tenant, sip_user, b.fs_name)


def _leave_message(b: _Builder, box: Voicemail) -> None:
    b.act("answer")
    b.act("sleep", "500")
    b.act("voicemail", f"default {b.tenant.domain} {box.mailbox}")


def _ivr_choice(b: _Builder, repo: Repository, menu: str, digits: str) -> bytes | None:
    found = repo.dialled(b.tenant.id, menu)
    target = found[1] if found is not None else None
    if target is None or target.ivr is None:
        return None
    for entry in target.ivr.entries:
        if entry.digits == digits:
            return _route(b, repo, entry.dest_type, entry.dest_value)
    # No (valid) key within the tries: say goodbye rather than fall to the static dialplan.
    b.act("hangup", "NORMAL_CLEARING")
    return b.done()


def _outbound(b: _Builder, number: str) -> bytes | None:
    if number in b.config.emergency_numbers:
        needed: str | None = None
    else:
        needed = next((perm for perm, pattern in b.config.compiled_rules()
                       if pattern.match(number)), "")
        if needed == "":
            return None
    if needed is not None and needed not in b.tenant.permissions:
        b.act("hangup", "OUTGOING_CALL_BARRED")
        return b.done()
    b.act("set", "hangup_after_bridge=true")
    b.act("bridge", _leg(b, number))
    return b.done()
