"""Kamailio management over ``jsonrpcs`` served by ``xhttp`` (endpoint: engines.KAMAILIO).

Reply shapes were recorded from Kamailio 5.6.3 (Debian 12), see tests/fixtures/kamailio/.
Kamailio 6.0.1 (Debian 13) prints the same keys for the calls used here: ``git diff
5.6.3 6.0.1`` of ``src/modules/dispatcher/dispatcher.c`` and ``src/modules/usrloc/ul_rpc.c``
in github.com/kamailio/kamailio only reformats them, adds fields to ``dispatcher.list full``
and keeps ``stats.get_statistics`` as ``"group:name = value"`` strings (``kex/core_stats.c``).

Destination flags are two letters: A(ctive), I(nactive), T(rying), D(isabled), then P(robing)
or X (not probed). ``T`` means a ping failed but the threshold is not reached: the destination
is still selected, so it reads ACTIVE with ``suspect`` set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from clusterctl.edge.base import (
    Contact,
    Destination,
    DestinationState,
    DispatcherSet,
    EdgeClient,
    EdgeManagementError,
    Registration,
    ReplyShapeError,
    contact_expires,
    field,
    stat_names,
    want,
)

# INACTIVE is ``d`` (disabled, not pinged): with ``ds_probing_mode 1`` an ``i`` destination
# is still pinged and comes back on its first 200, so an operator's "take it out" would not
# stick. PROBING is ``ip``: out of selection, pinged, re-included by the first good reply
# (what OpenSIPS calls Probing).
_SET_STATE = {
    DestinationState.ACTIVE: "ap",
    DestinationState.INACTIVE: "dx",
    DestinationState.PROBING: "ip",
}

# The usrloc table the sip_edge role saves to, and its contact counter (Kamailio 6.0 names).
_LOCATION = "location"
_CONTACTS_STAT = "location_contacts"
_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)?")
_STAT_LINE = re.compile(r"^(?P<name>\S+) = (?P<value>-?\d+(?:\.\d+)?)(?: \(-?\d+\))?$")


class KamailioClient(EdgeClient):
    """Kamailio 5.x / 6.0 through jsonrpcs. Errors: EdgeManagementError (see base)."""

    engine = "kamailio"

    def version(self) -> str:
        return str(self.parse("core.version", _version, self.rpc.call("core.version")))

    def dispatcher_sets(self) -> list[DispatcherSet]:
        try:
            result = self.rpc.call("dispatcher.list")
        except EdgeManagementError as exc:
            # Kamailio answers an empty list with a fault instead of an empty result.
            if "No Destination Sets" in exc.message:
                return []
            raise
        return list(self.parse("dispatcher.list", parse_dispatcher_list, result))

    def set_destination_state(self, set_id: int, uri: str, state: DestinationState) -> None:
        """``ap`` / ``dx`` / ``ip``; an unknown destination is error 500 State Update Failed."""
        result = self.rpc.call("dispatcher.set_state", [_SET_STATE[state], set_id, uri])
        self.parse("dispatcher.set_state", _ok, result)

    def reload_dispatcher(self) -> None:
        """Reloading resets every destination's state to its list flags (``AX`` by default)."""
        self.parse("dispatcher.reload", _ok, self.rpc.call("dispatcher.reload"))

    def registrations(self) -> list[Registration]:
        """The contacts this node serves: in memory, replicated from its peer over DMQ as the
        sip_edge role deploys it (usrloc ``db_mode`` 2). Empty under ``db_mode`` 3. A large
        table does not fit one reply (2,000 AORs were cut off at 78 kB, recorded in
        tests/fixtures/kamailio/6.0.1-dmq): that is an EdgeManagementError."""
        return list(self.parse("ul.dump", parse_ul_dump, self.rpc.call("ul.dump")))

    def registration(self, aor: str) -> Registration | None:
        """``ul.lookup`` of one AOR in ``location``; its "AOR not found" error is None."""
        try:
            result = self.rpc.call("ul.lookup", [_LOCATION, aor])
        except EdgeManagementError as exc:
            if "AOR not found" in exc.message:
                return None
            raise
        reg: Registration = self.parse("ul.lookup", parse_ul_lookup, result)
        return reg

    def registration_count(self) -> int:
        """Contacts in memory (``usrloc:location_contacts``; expired ones leave at the next
        usrloc timer run). Errors: EdgeManagementError, also when the counter is missing."""
        stats = self.statistics([_CONTACTS_STAT])
        count = stats.get(f"usrloc:{_CONTACTS_STAT}")
        if not isinstance(count, int):
            raise self.rpc.error("stats.get_statistics", f"no usrloc:{_CONTACTS_STAT} counter")
        return count

    def set_nat_keepalives(self, on: bool) -> None:
        """``nathelper.enable_ping``: the keepalived notify script switches it per VRRP state."""
        self.parse("nathelper.enable_ping", _empty,
                   self.rpc.call("nathelper.enable_ping", [int(on)]))

    def statistics(self, group_or_names: str | Iterable[str]) -> dict[str, int | float]:
        result = self.rpc.call("stats.get_statistics", stat_names(group_or_names))
        return dict(self.parse("stats.get_statistics", parse_statistics, result))


def _version(result: Any) -> str:
    match = _VERSION.search(want(result, str, "core.version result"))
    if not match:
        raise ReplyShapeError(f"no version number in {result!r}")
    return match.group(0)


def _ok(result: Any) -> None:
    if not want(result, str, "result").startswith("Ok."):
        raise ReplyShapeError(f"expected 'Ok. ...', got {result!r}")


def _empty(result: Any) -> None:
    """Commands that return nothing: jsonrpcs then sends a reply without a result."""
    if result not in (None, "", {}):
        raise ReplyShapeError(f"expected no result, got {result!r}")


def destination(uri: str, flags: str) -> Destination:
    """Normalise Kamailio's two flag letters (``AP``, ``TP``, ``IX``, ``DX`` ...)."""
    if len(flags) != 2 or flags[0] not in "AITD" or flags[1] not in "PX":
        raise ReplyShapeError(f"unknown destination flags {flags!r}")
    selectable = flags[0] in "AT"
    return Destination(
        uri=uri,
        state=DestinationState.ACTIVE if selectable else DestinationState.INACTIVE,
        raw_state=flags,
        selectable=selectable,
        suspect=flags[0] == "T",
        probing=flags[1] == "P",
    )


def parse_dispatcher_list(result: Any) -> list[DispatcherSet]:
    """``dispatcher.list``: RECORDS -> {SET: {ID, TARGETS -> {DEST: {URI, FLAGS}}}}."""
    sets: list[DispatcherSet] = []
    for record in field(result, "RECORDS", list):
        ds = field(record, "SET", dict)
        dests = tuple(
            destination(field(dest, "URI", str), field(dest, "FLAGS", str))
            for dest in (field(t, "DEST", dict) for t in field(ds, "TARGETS", list))
        )
        sets.append(DispatcherSet(field(ds, "ID", int), dests))
    return sets


def parse_ul_dump(result: Any) -> list[Registration]:
    """``ul.dump``: Domains -> {Domain: {Domain, AoRs -> {Info: {AoR, Contacts}}}}."""
    regs: list[Registration] = []
    for item in field(result, "Domains", list):
        table = field(item, "Domain", dict)
        table_name = field(table, "Domain", str)
        for aor_item in field(table, "AoRs", list):
            regs.append(_registration(field(aor_item, "Info", dict), table_name))
    return regs


def parse_ul_lookup(result: Any) -> Registration:
    """``ul.lookup``: {AoR, Contacts}, as one AoR of ``ul.dump``."""
    return _registration(want(result, dict, "ul.lookup result"), _LOCATION)


def _registration(info: Any, table: str) -> Registration:
    contacts = tuple(
        Contact(
            uri=field(c, "Address", str),
            expires=contact_expires(field(c, "Expires", (int, str))),
            call_id=field(c, "Call-ID", str),
            user_agent=field(c, "User-Agent", str),
        )
        for c in (field(ci, "Contact", dict) for ci in field(info, "Contacts", list))
    )
    return Registration(field(info, "AoR", str), contacts, table)


def parse_statistics(result: Any) -> dict[str, int | float]:
    """``stats.get_statistics``: a list of ``"group:name = value"`` strings."""
    stats: dict[str, int | float] = {}
    for line in want(result, list, "statistics result"):
        match = _STAT_LINE.match(want(line, str, "statistics line"))
        if not match:
            raise ReplyShapeError(f"statistics line {line!r}")
        value = match.group("value")
        stats[match.group("name")] = float(value) if "." in value else int(value)
    return stats
