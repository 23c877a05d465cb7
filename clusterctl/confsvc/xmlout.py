"""FreeSWITCH XML documents, built with ElementTree: every value is escaped by the library.

Values FreeSWITCH would expand (``${...}`` in variables and application data can call API
functions) come from checked data only; ``literal`` refuses anything with ``$`` as a last
line of defence against rows not written by provisioning.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

DOCUMENT_TYPE = "freeswitch/xml"


class UnsafeValue(ValueError):
    """A value would be expanded by FreeSWITCH (contains ``$``); the lookup is refused."""


def literal(value: str) -> str:
    """``value`` unchanged, or UnsafeValue when FreeSWITCH would expand part of it."""
    if "$" in value:
        raise UnsafeValue("value with '$' refused")
    return value


def document(section: str) -> tuple[ET.Element, ET.Element]:
    """A document root and its one section element."""
    root = ET.Element("document", type=DOCUMENT_TYPE)
    return root, ET.SubElement(root, "section", name=section)


def not_found() -> bytes:
    """The reply that sends FreeSWITCH to its next binding and then its static XML."""
    root, section = document("result")
    ET.SubElement(section, "result", status="not found")
    return serialize(root)


def serialize(root: ET.Element) -> bytes:
    """UTF-8 bytes of the document, with an XML declaration."""
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text


def params(parent: ET.Element, tag: str, items: Sequence[tuple[str, str]]) -> None:
    """``<params><param name= value=/>...`` (or variables/variable) under ``parent``."""
    if not items:
        return
    group = ET.SubElement(parent, tag + "s")
    for name, value in items:
        ET.SubElement(group, tag, name=name, value=value)


def action(condition: ET.Element, application: str, data: str = "") -> None:
    """One ``<action application= data=/>``."""
    if data:
        ET.SubElement(condition, "action", application=application, data=data)
    else:
        ET.SubElement(condition, "action", application=application)
