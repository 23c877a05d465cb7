"""A mod_xml_curl POST body -> a typed request.

FreeSWITCH sends ``hostname``, ``section``, ``tag_name``, ``key_name``, ``key_value`` and then
every header of the lookup's event, form-encoded (docs in FREESWITCH-NOTES.md 1.1). Failure
modes: a body that is not UTF-8 form data, too many fields, or one field given twice with
different values raises BadRequest (the app answers 400).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

MAX_FIELDS = 2000


class BadRequest(Exception):
    """The body is not a request FreeSWITCH would send (the app answers 400)."""


@dataclass(frozen=True)
class Asker:
    """The feature server asking: its inventory name and the shard it serves."""

    name: str
    shard: str


@dataclass(frozen=True)
class XmlCurlRequest:
    """One lookup: its section and every field, by name."""

    section: str
    fields: dict[str, str]

    def get(self, name: str) -> str:
        """A field's value, empty when absent."""
        return self.fields.get(name, "")


def parse_body(body: bytes) -> XmlCurlRequest:
    """Decode a form-encoded body; raises BadRequest."""
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False,
                          encoding="utf-8", errors="strict", max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"not form-encoded UTF-8 ({type(exc).__name__})") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        # xml_locate sends "section" twice with the same value; a conflict is not FreeSWITCH.
        if name in fields and fields[name] != value:
            raise BadRequest(f"field {name[:40]!r} given twice with different values")
        fields.setdefault(name, value)
    if "section" not in fields:
        raise BadRequest("no section field")
    return XmlCurlRequest(section=fields["section"], fields=fields)
