"""Reaching the live cluster's nodes, for ``status`` and the drills alike.

The management client of an edge node on its engine's port, whether a host holds an address
(from ``ip -o addr show``), and which inventory host a dispatcher URI names. The commands run
on the hosts come from clusterctl.faults.drill_backend.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from clusterctl.edge import EdgeClient, client_for
from clusterctl.model import Cluster


def edge_client(cluster: Cluster, address: str) -> EdgeClient:
    """The management client of the edge node at ``address`` on the engine's port."""
    return client_for(cluster.settings.edge_engine, address)


def holds_address(ip_o_addr: str, vip: str) -> bool:
    """Whether ``ip -o addr show`` output lists ``vip`` as an address of the host."""
    return any(
        f" inet {vip}/" in line or f" inet {vip} " in line for line in ip_o_addr.splitlines()
    )


def host_of_uri(addresses: Mapping[str, str]) -> Callable[[str], str | None]:
    """Map a dispatcher URI (``sip:10.0.0.21:5060``) to the inventory host with that address."""
    pattern = re.compile(r"^sips?:(?:[^@]*@)?\[?([0-9A-Za-z.:-]+?)\]?(?::\d+)?(?:;.*)?$")

    def lookup(uri: str) -> str | None:
        found = pattern.match(uri)
        return addresses.get(found.group(1)) if found else None

    return lookup
