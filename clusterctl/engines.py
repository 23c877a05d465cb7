"""Facts about the SIP edge engines, defined once.

The edge clients, the drills, ``status`` and the playbooks (through clusterctl.role_inputs)
read them from here. The roles keep the same values as their own defaults so they still run
alone; tests/unit/test_engines.py fails when a role default drifts from these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from clusterctl.errors import BadInput

EngineName = Literal["opensips", "kamailio"]

# The engine of an inventory that names none (ClusterSettings.edge_engine).
DEFAULT_ENGINE: EngineName = "opensips"

# The inventory group of the edge pair; its VRRP instance is the edge VIP.
EDGE_GROUP = "sip_edge"


@dataclass(frozen=True)
class EdgeEngine:
    """One engine: where its management interface listens and what it runs as."""

    name: EngineName
    # JSON-RPC over HTTP on the node's own address (OpenSIPS mi_http, Kamailio jsonrpcs/xhttp).
    management_port: int
    management_path: str
    # The process keepalived tracks and the systemd unit the drills stop and kill.
    process: str
    unit: str
    # Granularity of the transaction timers: OpenSIPS runs them on a 1 s tick, so a 2 s INVITE
    # timeout fires after 2.0-3.0 s; Kamailio's are exact (../shared/docs/LAB-ENVIRONMENT.md).
    timer_tick_s: float

    def management_url(self, address: str) -> str:
        """The management endpoint of the engine on the node at ``address``."""
        return f"http://{address}:{self.management_port}{self.management_path}"


OPENSIPS = EdgeEngine("opensips", 8888, "/mi", process="opensips", unit="opensips",
                      timer_tick_s=1.0)
KAMAILIO = EdgeEngine("kamailio", 5071, "/RPC", process="kamailio", unit="kamailio",
                      timer_tick_s=0.0)
ENGINES: dict[str, EdgeEngine] = {e.name: e for e in (OPENSIPS, KAMAILIO)}

# OpenSIPS: the clusterer sharing tag that follows the VIP, <tag>/<cluster id>
# (roles/sip_edge sip_edge_opensips_shtag and sip_edge_opensips_cluster_id).
OPENSIPS_SHTAG = "vip"
OPENSIPS_CLUSTER_ID = 1

# Both engines and their database (roles/sip_edge sip_edge_db_timeout,
# sip_edge_db_retry_interval and sip_edge_location_flush_interval): seconds a query may hang on
# a silent database node before the next node is tried, seconds a failed node stays out
# (the configuration service's pool uses the same), and how often the contacts in memory
# are written back.
EDGE_DB_TIMEOUT_S = 3
EDGE_DB_RETRY_S = 10
EDGE_LOCATION_FLUSH_S = 10


def engine(name: str) -> EdgeEngine:
    """The engine called ``name``; BadInput for an unknown one."""
    try:
        return ENGINES[name]
    except KeyError:
        raise BadInput(f"unknown edge engine {name!r} (expected {' or '.join(ENGINES)})") from None
