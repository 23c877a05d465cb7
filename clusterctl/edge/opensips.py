"""OpenSIPS management over ``mi_http`` (JSON-RPC 2.0; endpoint: clusterctl.engines.OPENSIPS).

Method names, 3.x versus 4.0 (checked 2026-08 in the OpenSIPS source, branches ``3.6`` and
``4.0`` of github.com/OpenSIPS/opensips, and the page "Migration from 3.6.x to 4.0.x",
opensips.org/Documentation/Migration-3-6-0-to-4-0-0, section "MI naming logic"):

* 4.0 exports every MI command as ``module:command``. ``modules/dispatcher/dispatcher.c``
  registers ``dispatcher:list``, ``dispatcher:set_state``, ``dispatcher:reload``;
  ``modules/usrloc/ul_mi.h`` ``usrloc:dump``; ``statistics.c`` ``statistics:get``.
* The 3.x names (``ds_list``, ``ds_set_state``, ``ds_reload``, ``ul_dump``,
  ``get_statistics``) are kept as aliases in 4.0 "where available"; an unqualified name that
  two modules export fails with JSON-RPC code -32001 (method ambiguous).
* Parameters and reply shapes of these commands are the same in 3.6 and 4.0 (``git diff
  3.6 4.0`` touches only the export tables): ``state``/``group``/``address``; ``full``;
  ``statistics`` (an array). ``which`` lists the canonical names (``mi/mi_core.c``).

So this client calls ``which`` once per client and uses the canonical 4.x names when the
engine lists them, the 3.x names otherwise. ``version`` and ``which`` are core commands
reachable unqualified on both.
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
    JsonRpc,
    Registration,
    ReplyShapeError,
    contact_expires,
    field,
    stat_names,
    want,
)

# canonical 4.x name -> 3.x name
_LEGACY = {
    "dispatcher:list": "ds_list",
    "dispatcher:set_state": "ds_set_state",
    "dispatcher:reload": "ds_reload",
    "usrloc:dump": "ul_dump",
    "statistics:get": "get_statistics",
    "usrloc:show_contact": "ul_show_contact",
}

# The usrloc table the sip_edge role registers into, and its contact counter.
_LOCATION = "location"
_CONTACTS_STAT = "location-contacts"

_STATES = {
    "Active": DestinationState.ACTIVE,
    "Inactive": DestinationState.INACTIVE,
    "Probing": DestinationState.PROBING,
}

_SET_STATE = {
    DestinationState.ACTIVE: "a",
    DestinationState.INACTIVE: "i",
    DestinationState.PROBING: "p",
}

_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)?")


class OpenSIPSClient(EdgeClient):
    """OpenSIPS 3.x / 4.0 through mi_http. Errors: EdgeManagementError (see base)."""

    engine = "opensips"

    def __init__(self, rpc: JsonRpc) -> None:
        super().__init__(rpc)
        self._canonical: bool | None = None

    def method(self, canonical: str) -> str:
        """The name this engine answers to; asks ``which`` on first use."""
        if self._canonical is None:
            names = self.parse("which", _which, self.rpc.call("which"))
            self._canonical = canonical in names
        return canonical if self._canonical else _LEGACY[canonical]

    def version(self) -> str:
        return str(self.parse("version", _version, self.rpc.call("version")))

    def dispatcher_sets(self) -> list[DispatcherSet]:
        name = self.method("dispatcher:list")
        return list(self.parse(name, parse_ds_list, self.rpc.call(name)))

    def set_destination_state(self, set_id: int, uri: str, state: DestinationState) -> None:
        """``a``/``i``/``p``. A destination set Inactive here is not probed until set back."""
        name = self.method("dispatcher:set_state")
        params = {"state": _SET_STATE[state], "group": set_id, "address": uri}
        self.parse(name, _ok, self.rpc.call(name, params))

    def reload_dispatcher(self) -> None:
        name = self.method("dispatcher:reload")
        self.parse(name, _ok, self.rpc.call(name))

    def registrations(self) -> list[Registration]:
        name = self.method("usrloc:dump")
        return list(self.parse(name, parse_ul_dump, self.rpc.call(name)))

    def registration(self, aor: str) -> Registration | None:
        """One AOR of ``location`` from memory; its 404 "AOR not found" is None."""
        name = self.method("usrloc:show_contact")
        try:
            result = self.rpc.call(name, {"table_name": _LOCATION, "aor": aor})
        except EdgeManagementError as exc:
            if exc.rpc_code == 404:
                return None
            raise
        reg: Registration = self.parse(name, parse_ul_show_contact, result)
        return reg

    def registration_count(self) -> int:
        """Contacts in memory (``usrloc:location-contacts``; expired ones leave at the next
        usrloc timer run). Errors: EdgeManagementError, also when the counter is missing."""
        count = self.statistics([_CONTACTS_STAT]).get(f"usrloc:{_CONTACTS_STAT}")
        if not isinstance(count, int):
            raise self.rpc.error(self.method("statistics:get"),
                                 f"no usrloc:{_CONTACTS_STAT} counter")
        return count

    def set_nat_keepalives(self, on: bool) -> None:
        """``nh_enable_ping``. On top of it only the holder of the VIP's sharing tag pings
        (nathelper ``cluster_sharing_tag``, moved by the keepalived notify script)."""
        self.parse("nh_enable_ping", _ok, self.rpc.call("nh_enable_ping", {"status": int(on)}))

    def statistics(self, group_or_names: str | Iterable[str]) -> dict[str, int | float]:
        """OpenSIPS answers error 404 when none of the names exist: that is ``{}`` here."""
        names = stat_names(group_or_names)
        name = self.method("statistics:get")
        try:
            result = self.rpc.call(name, {"statistics": names})
        except EdgeManagementError as exc:
            if exc.rpc_code == 404:
                return {}
            raise
        return dict(self.parse(name, parse_statistics, result))


def _which(result: Any) -> set[str]:
    return {want(n, str, "command name") for n in want(result, list, "which result")}


def _version(result: Any) -> str:
    server = field(result, "Server", str)
    match = _VERSION.search(server)
    if not match:
        raise ReplyShapeError(f"no version number in {server!r}")
    return match.group(0)


def _ok(result: Any) -> None:
    if result != "OK":
        raise ReplyShapeError(f"expected 'OK', got {result!r}")


def parse_ds_list(result: Any) -> list[DispatcherSet]:
    """``ds_list`` / ``dispatcher:list``: PARTITIONS -> SETS -> Destinations.

    A partition with no sets has no ``SETS`` key (``ds_print_mi_list`` returns early).
    """
    sets: list[DispatcherSet] = []
    for part in field(result, "PARTITIONS", list):
        part_name = field(part, "name", str)
        for ds in want(part, dict, "partition").get("SETS", []):
            dests = []
            for dest in field(ds, "Destinations", list):
                raw = field(dest, "state", str)
                if raw not in _STATES:
                    raise ReplyShapeError(f"unknown destination state {raw!r}")
                state = _STATES[raw]
                dests.append(
                    Destination(
                        uri=field(dest, "URI", str),
                        state=state,
                        raw_state=raw,
                        # Probing excludes a destination from selection in OpenSIPS.
                        selectable=state is DestinationState.ACTIVE,
                        probing=state is DestinationState.PROBING,
                    )
                )
            sets.append(DispatcherSet(field(ds, "id", int), tuple(dests), part_name))
    return sets


def parse_ul_dump(result: Any) -> list[Registration]:
    """``ul_dump`` / ``usrloc:dump``: Domains (tables) -> AORs -> Contacts."""
    regs: list[Registration] = []
    for table in field(result, "Domains", list):
        table_name = field(table, "name", str)
        for aor in want(table, dict, "domain").get("AORs", []):
            regs.append(_registration(aor, table_name))
    return regs


def parse_ul_show_contact(result: Any) -> Registration:
    """``ul_show_contact`` / ``usrloc:show_contact``: one AOR with its contacts."""
    return _registration(result, _LOCATION)


def _registration(aor: Any, table: str) -> Registration:
    contacts = tuple(
        Contact(
            uri=field(c, "Contact", str),
            expires=contact_expires(field(c, "Expires", (int, str))),
            call_id=field(c, "Callid", str),
            user_agent=field(c, "User-agent", str),
        )
        for c in field(aor, "Contacts", list)
    )
    return Registration(field(aor, "AOR", str), contacts, table)


def parse_statistics(result: Any) -> dict[str, int | float]:
    """``get_statistics`` / ``statistics:get``: an object of ``group:name`` -> number."""
    stats = want(result, dict, "statistics result")
    return {want(k, str, "name"): want(v, (int, float), k) for k, v in stats.items()}
