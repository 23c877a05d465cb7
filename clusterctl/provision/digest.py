"""Digest hashes of SIP passwords and voicemail PINs, and the strength rules they must pass.

Only these hashes reach the database; the clear values live in the tenant file and in memory
during one apply. Nothing here puts a password or PIN into a message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import pairwise

MIN_PASSWORD_LENGTH = 12
MIN_PIN_LENGTH = 4
MAX_PIN_LENGTH = 10


@dataclass(frozen=True)
class Digests:
    """Every digest form the edge engines check (realm = the tenant's domain)."""

    ha1: str  # MD5(user:realm:password), both engines
    ha1b: str  # MD5(user@domain:realm:password), Kamailio
    ha1_sha256: str  # SHA-256(user:realm:password), RFC 8760, OpenSIPS
    ha1_sha512t256: str  # SHA-512/256(user:realm:password), RFC 8760, OpenSIPS


def _hex(algorithm: str, text: str) -> str:
    return hashlib.new(algorithm, text.encode("utf-8")).hexdigest()


def sip_digests(username: str, domain: str, password: str) -> Digests:
    """The digests of ``username``'s password in the realm ``domain``."""
    plain = f"{username}:{domain}:{password}"
    return Digests(
        ha1=_hex("md5", plain),
        ha1b=_hex("md5", f"{username}@{domain}:{domain}:{password}"),
        ha1_sha256=_hex("sha256", plain),
        ha1_sha512t256=_hex("sha512_256", plain),
    )


def pin_hash(mailbox: str, domain: str, pin: str) -> str:
    """What FreeSWITCH's mod_voicemail compares as ``vm-a1-hash``: MD5(mailbox:domain:pin)."""
    return _hex("md5", f"{mailbox}:{domain}:{pin}")


def password_problem(password: str, username: str, extension: str) -> str | None:
    """Why a SIP password is too weak, or None.

    The rule: at least 12 printable ASCII characters without spaces, at least three of
    lower case, upper case, digits and other characters, and not containing the user name or
    the extension (phones are attacked with exactly those).
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"is shorter than {MIN_PASSWORD_LENGTH} characters"
    if any(not (33 <= ord(c) <= 126) for c in password):
        return "must be printable ASCII without spaces"
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < 3:
        return "needs three of: lower case, upper case, digits, other characters"
    lowered = password.lower()
    for part in {username.lower(), extension}:
        if len(part) >= 3 and part in lowered:
            return "contains the user name or extension"
    return None


def pin_problem(pin: str, mailbox: str) -> str | None:
    """Why a voicemail PIN is too weak, or None.

    The rule: 4 to 10 digits, not the mailbox number, not one repeated digit, not a run of
    consecutive digits up or down (1234, 9876).
    """
    if not pin.isascii() or not pin.isdigit():
        return "must be digits only"
    if not MIN_PIN_LENGTH <= len(pin) <= MAX_PIN_LENGTH:
        return f"must be {MIN_PIN_LENGTH} to {MAX_PIN_LENGTH} digits"
    if pin == mailbox:
        return "is the mailbox number"
    if len(set(pin)) == 1:
        return "is one repeated digit"
    steps = {(int(b) - int(a)) % 10 for a, b in pairwise(pin)}
    if steps in ({1}, {9}):
        return "is a run of consecutive digits"
    return None
