"""A mod_xml_curl POST body -> a typed request.

FreeSWITCH sends ``hostname``, ``section``, ``tag_name``, ``key_name``, ``key_value`` and then
every header of the lookup's event, form-encoded (docs in FREESWITCH-NOTES.md 1.1): a dialplan
request carries every channel variable, several KB. Values are split out at once but decoded
only when asked for, as a lookup reads a handful of them. Failure modes (BadRequest, the app
answers 400): a body that is not ASCII form data, too many fields, one field given twice with
different values, no section, or a field read that is not percent-encoded UTF-8.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_plus

MAX_FIELDS = 2000


class BadRequest(Exception):
    """The body is not a request FreeSWITCH would send (the app answers 400)."""


@dataclass(frozen=True)
class Asker:
    """The feature server asking: its inventory name and the shard it serves."""

    name: str
    shard: str


def _decode(raw: str) -> str:
    if "%" not in raw and "+" not in raw:
        return raw
    try:
        return unquote_plus(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("a field is not percent-encoded UTF-8") from None


@dataclass(frozen=True)
class XmlCurlRequest:
    """One lookup: its section and every field (still encoded), by name."""

    section: str
    raw: dict[str, str]

    def get(self, name: str) -> str:
        """A field's decoded value, empty when absent; raises BadRequest when undecodable."""
        value = self.raw.get(name)
        return _decode(value) if value is not None else ""


def parse_body(body: bytes) -> XmlCurlRequest:
    """Split a form-encoded body; raises BadRequest."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise BadRequest("not form-encoded (bytes outside ASCII)") from None
    pieces = [p for p in text.split("&") if p]
    if len(pieces) > MAX_FIELDS:
        raise BadRequest(f"more than {MAX_FIELDS} fields")
    raw: dict[str, str] = {}
    for piece in pieces:
        encoded_name, _, value = piece.partition("=")
        name = _decode(encoded_name)
        # xml_locate sends "section" twice with the same value; a conflict is not FreeSWITCH.
        if name in raw and raw[name] != value:
            raise BadRequest(f"field {name[:40]!r} given twice with different values")
        raw.setdefault(name, value)
    if "section" not in raw:
        raise BadRequest("no section field")
    return XmlCurlRequest(section=_decode(raw["section"]), raw=raw)
