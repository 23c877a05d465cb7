"""The tenant file: read, check as a whole, hash the secrets, return the wanted TenantState.

Format (docs/provisioning.md)::

    tenant: acme                      # an inventory tenant id
    users:
      - extension: "1001"
        name: Alice
        password: "Correct-Horse-9"   # or, as exported: digest: {ha1: ..., ha1b: ..., ...}
    voicemail:
      - {mailbox: "1001", user: "1001", pin: "4821"}   # or pin_hash: ...
    ring_groups:
      - {number: "600", name: Sales, members: ["1001", "1002"]}
    conferences: [{number: "700", name: All hands}]
    queues: [{number: "800", name: Support, agents: ["1001"]}]
    ivrs:
      - number: "500"
        name: Main menu
        greeting: ivr/ivr-welcome.wav
        entries: {"1": ring_group 600, "2": voicemail 1001, "9": hangup}
    dids:
      - {number: "+4930123400", to: ivr 500}

Every problem is collected (file:line each) before anything is refused: a file with any
error is refused as a whole. Clear passwords and PINs are turned into digests here and go no
further; messages never quote them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clusterctl.errors import EXIT_BAD_INPUT, ClusterctlError
from clusterctl.provision import digest, located
from clusterctl.provision.located import Issue, Map, Seq
from clusterctl.provision.state import (
    DEST_TYPES,
    IVR_DEST_TYPES,
    QUEUE_STRATEGIES,
    RING_STRATEGIES,
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

NUMBER = re.compile(r"^[0-9]{2,8}$")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Free text (names) may hold XML metacharacters: every consumer escapes them. Control
# characters would break SIP headers and logs; "$", "{" and "}" are refused because FreeSWITCH
# expands ${...} (API calls included) in variables and application data.
TEXT = re.compile(r"^[^\x00-\x1f\x7f${}]{1,64}$")
TEXT_HINT = "must be 1-64 printable characters without $, { or }"
CALLER_ID = re.compile(r"^\+?[0-9]{2,15}$")
EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[A-Za-z0-9.-]{1,189}$")
SOUND = re.compile(r"^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_./-]{0,254}$")
DIGITS = re.compile(r"^[0-9*#]{1,8}$")
E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")

TOP_KEYS = ("tenant", "users", "voicemail", "ring_groups", "conferences", "queues", "ivrs", "dids")


class SpecErrors(ClusterctlError):
    """A tenant file with errors (exit 2); ``issues`` lists each one (file:line: message)."""

    def __init__(self, issues: list[Issue]) -> None:
        count = len(issues)
        super().__init__(
            f"{count} error{'s' if count != 1 else ''} in the tenant file, nothing written:\n"
            + "\n".join(f"  {issue}" for issue in issues),
            EXIT_BAD_INPUT,
        )
        self.issues = issues


@dataclass(frozen=True)
class Context:
    """What a file is checked against: the inventory's tenants and who owns which DID."""

    tenants: Mapping[str, TenantRow]
    inventory_dids: Mapping[str, str]  # DID -> tenant id, from the inventory
    db_did_owners: Callable[[Iterable[str]], Mapping[str, str]]  # DID -> tenant id, stored


class _Reader:
    """Field access that records an issue instead of raising, so every error is found."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[Issue] = []

    def error(self, line: int, message: str) -> None:
        self.issues.append(Issue(self.file, line, message))

    def mapping(self, value: Any, line: int, what: str, keys: tuple[str, ...]) -> Map | None:
        if not isinstance(value, Map):
            self.error(line, f"{what} must be a mapping")
            return None
        for key in value:
            if key not in keys:
                self.error(value.at(key), f"{what}: unknown key '{key}' (known: {', '.join(keys)})")
        return value

    def items(self, doc: Map, key: str) -> list[tuple[Any, int]]:
        value = doc.get(key)
        if value is None:
            return []
        if not isinstance(value, Seq):
            self.error(doc.at(key), f"{key} must be a list")
            return []
        return list(zip(value, value.lines, strict=True))

    def text(
        self,
        m: Map,
        key: str,
        what: str,
        pattern: re.Pattern[str],
        *,
        default: str | None = None,
        hint: str = "",
    ) -> str:
        value = m.get(key)
        if value is None:
            if default is None:
                self.error(m.line, f"{what}: '{key}' is required")
                return ""
            return default
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.error(m.at(key), f"{what}: '{key}' must be a string")
            return ""
        text = str(value)
        if isinstance(value, int) and key != "name":
            # YAML reads 0123 as 83 and 1001 as an int: numbers must be quoted to be exact.
            self.error(m.at(key), f"{what}: '{key}' must be quoted (\"{text}\")")
            return ""
        if not pattern.match(text):
            self.error(m.at(key), f"{what}: '{key}' {hint or 'has a bad format'}")
            return ""
        return text

    def secret(self, m: Map, key: str, what: str) -> str | None:
        """A clear secret; an error (never quoting it) unless it is a string."""
        value = m.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.error(m.at(key), f"{what}: '{key}' must be a quoted string")
            return None
        return value

    def number(self, m: Map, key: str, what: str, span: tuple[int, int], default: int) -> int:
        low, high = span
        value = m.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error(m.at(key), f"{what}: '{key}' must be a whole number from {low} to {high}")
            return default
        return value

    def choice(self, m: Map, key: str, what: str, choices: tuple[str, ...], default: str) -> str:
        value = m.get(key, default)
        if value not in choices:
            self.error(m.at(key), f"{what}: '{key}' must be one of {', '.join(choices)}")
            return default
        return str(value)

    def strings(self, m: Map, key: str, what: str) -> list[tuple[str, int]]:
        value = m.get(key, Seq())
        if not isinstance(value, Seq):
            self.error(m.at(key), f"{what}: '{key}' must be a list")
            return []
        out = []
        for item, line in zip(value, getattr(value, "lines", []), strict=False):
            if not isinstance(item, str) or not NUMBER.match(item):
                self.error(line, f"{what}: '{key}' entries must be quoted extension numbers")
                continue
            out.append((item, line))
        return out

    def destination(
        self, value: Any, line: int, what: str, *, types: tuple[str, ...]
    ) -> tuple[str, str] | None:
        if not isinstance(value, str):
            self.error(line, f"{what}: destination must be a string like 'extension 1001'")
            return None
        parts = value.split()
        if parts == ["hangup"] and "hangup" in types:
            return ("hangup", "")
        if len(parts) != 2 or parts[0] not in types or not NUMBER.match(parts[1]):
            self.error(line, f"{what}: destination '{value}' is not '<type> <number>'"
                             f" with type one of {', '.join(t for t in types if t != 'hangup')}")
            return None
        return (parts[0], parts[1])


def load_tenant_file(path: Path, context: Context) -> TenantState:
    """Read and check ``path``; the wanted state with secrets hashed.

    Raises BadInput-coded SpecErrors listing every problem (file:line) when anything is wrong,
    including an unreadable file.
    """
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecErrors([Issue(file, 0, f"cannot read: {exc.__class__.__name__}")]) from None
    try:
        doc = located.load(text, file)
    except located.YamlError as exc:
        raise SpecErrors(exc.issues) from None
    return parse(doc, file, context)


def parse(doc: Any, file: str, context: Context) -> TenantState:
    """Check a loaded document (see load_tenant_file); raises SpecErrors."""
    r = _Reader(file)
    top = r.mapping(doc, 1, "tenant file", TOP_KEYS)
    if top is None:
        raise SpecErrors(r.issues)
    tenant_id = top.get("tenant")
    tenant = context.tenants.get(tenant_id) if isinstance(tenant_id, str) else None
    if tenant is None:
        known = ", ".join(sorted(context.tenants)) or "none"
        r.error(top.at("tenant"), f"tenant '{tenant_id}' is not in the inventory (known: {known})")
        raise SpecErrors(r.issues)
    state = TenantState(tenant=tenant)
    numbers: dict[str, tuple[str, int]] = {}

    def claim(number: str, what: str, line: int) -> bool:
        """Dialled numbers are unique in a tenant: one number, one feature."""
        if not number:
            return False
        if number in numbers:
            first, first_line = numbers[number]
            r.error(line, f"{what}: number {number} is already {first} (line {first_line})")
            return False
        numbers[number] = (what, line)
        return True

    _users(r, top, tenant, state, claim)
    _voicemail(r, top, tenant, state)
    _ring_groups(r, top, state, claim)
    _conferences(r, top, state, claim)
    _queues(r, top, state, claim)
    _ivrs(r, top, state, claim)
    _dids(r, top, tenant, state, context)
    if r.issues:
        raise SpecErrors(sorted(r.issues, key=lambda i: i.line))
    return state


USER_KEYS = ("extension", "username", "name", "caller_id", "password", "digest", "enabled")
DIGEST_KEYS = ("ha1", "ha1b", "ha1_sha256", "ha1_sha512t256")


def _users(
    r: _Reader, top: Map, tenant: TenantRow, state: TenantState, claim: Callable[..., bool]
) -> None:
    usernames: dict[str, int] = {}
    for raw, line in r.items(top, "users"):
        m = r.mapping(raw, line, "user", USER_KEYS)
        if m is None:
            continue
        ext = r.text(m, "extension", "user", NUMBER, hint="must be 2 to 8 digits")
        what = f"user {ext}" if ext else "user"
        username = r.text(m, "username", what, USERNAME, default=ext)
        name = r.text(m, "name", what, TEXT, default=ext, hint=TEXT_HINT)
        caller_id = r.text(m, "caller_id", what, CALLER_ID, default="")
        enabled = m.get("enabled", True)
        if not isinstance(enabled, bool):
            r.error(m.at("enabled"), f"{what}: 'enabled' must be true or false")
        claimed = claim(ext, what, m.at("extension"))
        if claimed and username in usernames:
            r.error(m.at("username"), f"{what}: username {username} is already used"
                                      f" (line {usernames[username]})")
        elif claimed and username:
            usernames[username] = m.line
        secrets = _user_digests(r, m, what, username=username, ext=ext, domain=tenant.domain)
        if not claimed:
            continue
        # A user with a bad secret still exists for the references to it: the file is refused
        # anyway, and its ring groups should not report a second, misleading error.
        secrets = secrets or digest.Digests("", "", "", "")
        state.users[ext] = User(
            extension=ext,
            username=username,
            display_name=name,
            caller_id=caller_id,
            ha1=secrets.ha1,
            ha1b=secrets.ha1b,
            ha1_sha256=secrets.ha1_sha256,
            ha1_sha512t256=secrets.ha1_sha512t256,
            enabled=enabled is not False,
        )


def _user_digests(
    r: _Reader, m: Map, what: str, *, username: str, ext: str, domain: str
) -> digest.Digests | None:
    password = r.secret(m, "password", what)
    given = m.get("digest")
    if (password is None) == (given is None):
        r.error(m.line, f"{what}: give exactly one of 'password' or 'digest'")
        return None
    if password is not None:
        problem = digest.password_problem(password, username, ext)
        if problem:
            r.error(m.at("password"), f"{what}: password too weak: it {problem}")
            return None
        return digest.sip_digests(username, domain, password)
    d = r.mapping(given, m.at("digest"), f"{what} digest", DIGEST_KEYS)
    if d is None:
        return None
    values = {}
    for key in DIGEST_KEYS:
        pattern = HEX32 if key in ("ha1", "ha1b") else HEX64
        values[key] = r.text(d, key, f"{what} digest", pattern, hint="must be lower-case hex")
    if not all(values.values()):
        return None
    return digest.Digests(**values)


VOICEMAIL_KEYS = ("mailbox", "user", "pin", "pin_hash", "email", "max_messages")


def _voicemail(r: _Reader, top: Map, tenant: TenantRow, state: TenantState) -> None:
    seen: dict[str, int] = {}
    for raw, line in r.items(top, "voicemail"):
        m = r.mapping(raw, line, "voicemail box", VOICEMAIL_KEYS)
        if m is None:
            continue
        box = r.text(m, "mailbox", "voicemail box", NUMBER, hint="must be 2 to 8 digits")
        what = f"voicemail box {box}" if box else "voicemail box"
        user: str | None = r.text(m, "user", what, NUMBER, default="") or None
        if user is not None and user not in state.users:
            r.error(m.at("user"), f"{what}: user {user} is not defined in this file")
        email = r.text(m, "email", what, EMAIL, default="")
        max_messages = r.number(m, "max_messages", what, (1, 1000), 100)
        pin = r.secret(m, "pin", what)
        given = m.get("pin_hash")
        hashed = ""
        if (pin is None) == (given is None):
            r.error(m.line, f"{what}: give exactly one of 'pin' or 'pin_hash'")
        elif pin is not None:
            problem = digest.pin_problem(pin, box)
            if problem:
                r.error(m.at("pin"), f"{what}: PIN too weak: it {problem}")
            else:
                hashed = digest.pin_hash(box, tenant.domain, pin)
        else:
            hashed = r.text(m, "pin_hash", what, HEX32, hint="must be 32 lower-case hex digits")
        if box in seen:
            r.error(m.at("mailbox"), f"{what}: defined twice (line {seen[box]})")
            continue
        if box:
            seen[box] = m.at("mailbox")
        if box and hashed:
            state.voicemail[box] = Voicemail(box, user, hashed, email, max_messages)


def _members(
    r: _Reader, m: Map, key: str, what: str, state: TenantState
) -> tuple[str, ...]:
    members: list[str] = []
    for ext, line in r.strings(m, key, what):
        if ext not in state.users:
            r.error(line, f"{what}: {key[:-1]} {ext} is not a user defined in this file")
        elif ext in members:
            r.error(line, f"{what}: {key[:-1]} {ext} is listed twice")
        else:
            members.append(ext)
    return tuple(members)


RING_GROUP_KEYS = ("number", "name", "strategy", "timeout", "members")


def _ring_groups(r: _Reader, top: Map, state: TenantState, claim: Callable[..., bool]) -> None:
    for raw, line in r.items(top, "ring_groups"):
        m = r.mapping(raw, line, "ring group", RING_GROUP_KEYS)
        if m is None:
            continue
        number = r.text(m, "number", "ring group", NUMBER, hint="must be 2 to 8 digits")
        what = f"ring group {number}" if number else "ring group"
        name = r.text(m, "name", what, TEXT, hint=TEXT_HINT)
        strategy = r.choice(m, "strategy", what, RING_STRATEGIES, "simultaneous")
        timeout = r.number(m, "timeout", what, (5, 300), 30)
        members = _members(r, m, "members", what, state)
        if not members and "members" not in m:
            r.error(m.line, f"{what}: 'members' is required")
        if claim(number, what, m.at("number")):
            state.ring_groups[number] = RingGroup(number, name, strategy, timeout, members)


CONFERENCE_KEYS = ("number", "name", "max_members")


def _conferences(r: _Reader, top: Map, state: TenantState, claim: Callable[..., bool]) -> None:
    for raw, line in r.items(top, "conferences"):
        m = r.mapping(raw, line, "conference", CONFERENCE_KEYS)
        if m is None:
            continue
        number = r.text(m, "number", "conference", NUMBER, hint="must be 2 to 8 digits")
        what = f"conference {number}" if number else "conference"
        name = r.text(m, "name", what, TEXT, hint=TEXT_HINT)
        max_members = r.number(m, "max_members", what, (2, 500), 20)
        if claim(number, what, m.at("number")):
            state.conferences[number] = Conference(number, name, max_members)


QUEUE_KEYS = ("number", "name", "strategy", "max_wait", "agents")


def _queues(r: _Reader, top: Map, state: TenantState, claim: Callable[..., bool]) -> None:
    for raw, line in r.items(top, "queues"):
        m = r.mapping(raw, line, "queue", QUEUE_KEYS)
        if m is None:
            continue
        number = r.text(m, "number", "queue", NUMBER, hint="must be 2 to 8 digits")
        what = f"queue {number}" if number else "queue"
        name = r.text(m, "name", what, TEXT, hint=TEXT_HINT)
        strategy = r.choice(m, "strategy", what, QUEUE_STRATEGIES, "longest-idle-agent")
        max_wait = r.number(m, "max_wait", what, (10, 3600), 300)
        agents = _members(r, m, "agents", what, state)
        if claim(number, what, m.at("number")):
            state.queues[number] = Queue(number, name, strategy, max_wait, agents)


IVR_KEYS = ("number", "name", "greeting", "timeout", "max_failures", "entries")


def _ivrs(r: _Reader, top: Map, state: TenantState, claim: Callable[..., bool]) -> None:
    pending: list[tuple[str, IvrEntry, int]] = []
    for raw, line in r.items(top, "ivrs"):
        m = r.mapping(raw, line, "IVR", IVR_KEYS)
        if m is None:
            continue
        number = r.text(m, "number", "IVR", NUMBER, hint="must be 2 to 8 digits")
        what = f"IVR {number}" if number else "IVR"
        name = r.text(m, "name", what, TEXT, hint=TEXT_HINT)
        greeting = r.text(m, "greeting", what, SOUND, hint="must be a sound file path")
        timeout = r.number(m, "timeout", what, (1, 60), 10)
        failures = r.number(m, "max_failures", what, (1, 10), 3)
        entries: list[IvrEntry] = []
        raw_entries = m.get("entries")
        if not isinstance(raw_entries, Map) or not raw_entries:
            r.error(m.at("entries"), f"{what}: 'entries' must map digits to destinations")
        else:
            for digits, dest in raw_entries.items():
                key_line = raw_entries.at(digits)
                if not DIGITS.match(digits):
                    r.error(key_line, f"{what}: '{digits}' is not 1-8 of 0-9, * and #")
                    continue
                target = r.destination(dest, key_line, f"{what} entry {digits}",
                                         types=IVR_DEST_TYPES)
                if target is not None:
                    entry = IvrEntry(digits, *target)
                    entries.append(entry)
                    pending.append((what, entry, key_line))
        if claim(number, what, m.at("number")):
            state.ivrs[number] = Ivr(number, name, greeting, timeout, failures, tuple(entries))
    for what, entry, line in pending:
        if entry.dest_type != "hangup":
            _check_target(r, state, f"{what} entry {entry.digits}",
                          (entry.dest_type, entry.dest_value), line)


def _check_target(
    r: _Reader, state: TenantState, what: str, target: tuple[str, str], line: int
) -> None:
    dest_type, number = target
    if dest_type == "voicemail":
        found = number in state.voicemail
    else:
        found = state.destination(number) == dest_type
    if not found:
        r.error(line, f"{what}: leads to {dest_type} {number}, which this file does not define")


DID_KEYS = ("number", "to")


def _dids(
    r: _Reader, top: Map, tenant: TenantRow, state: TenantState, context: Context
) -> None:
    wanted: list[tuple[Did, int]] = []
    for raw, line in r.items(top, "dids"):
        m = r.mapping(raw, line, "DID", DID_KEYS)
        if m is None:
            continue
        number = r.text(m, "number", "DID", E164, hint="must be E.164 (+ and 6-15 digits)")
        what = f"DID {number}" if number else "DID"
        target = r.destination(m.get("to"), m.at("to"), what, types=DEST_TYPES)
        if number in state.dids:
            r.error(m.at("number"), f"{what}: listed twice")
            continue
        if not number or target is None:
            continue
        _check_target(r, state, what, target, m.at("to"))
        did = Did(number, *target)
        state.dids[number] = did
        wanted.append((did, m.at("number")))
    stored = context.db_did_owners([d.did for d, _ in wanted]) if wanted else {}
    for did, line in wanted:
        owners = {o for o in (context.inventory_dids.get(did.did), stored.get(did.did))
                  if o is not None and o != tenant.id}
        if owners:
            r.error(line, f"DID {did.did}: already owned by tenant {', '.join(sorted(owners))}")
        elif context.inventory_dids.get(did.did) != tenant.id:
            r.error(line, f"DID {did.did}: not in tenant {tenant.id}'s dids in the inventory"
                          " (the edge routes only those)")
