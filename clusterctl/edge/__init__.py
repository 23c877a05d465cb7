"""Typed management clients for the SIP edge engines (OpenSIPS mi_http, Kamailio jsonrpcs).

``client_for("kamailio", "10.0.0.5")`` returns an :class:`EdgeClient`; every call on it is
bounded by ``timeout`` seconds and fails with :class:`EdgeManagementError` (one line naming
host and method).
"""

from __future__ import annotations

from clusterctl import engines
from clusterctl.edge import kamailio, opensips
from clusterctl.edge.base import (
    Contact,
    Destination,
    DestinationState,
    DispatcherSet,
    EdgeClient,
    EdgeManagementError,
    Endpoint,
    HttpReply,
    JsonRpc,
    Post,
    Registration,
    http_post,
)
from clusterctl.engines import EngineName as Engine
from clusterctl.errors import BadInput

__all__ = [
    "Contact",
    "Destination",
    "DestinationState",
    "DispatcherSet",
    "EdgeClient",
    "EdgeManagementError",
    "Endpoint",
    "Engine",
    "HttpReply",
    "Post",
    "Registration",
    "client_for",
]


def client_for(
    engine: str,
    host: str,
    port: int | None = None,
    timeout: float = 2.0,
    *,
    post: Post = http_post,
) -> EdgeClient:
    """A client for ``engine`` at ``host`` (default port: the engine's, clusterctl.engines).

    ``post`` replaces the HTTP transport (tests). Raises BadInput for an unknown engine, a
    port out of range or a timeout that is not positive.
    """
    if port is not None and not 0 < port < 65536:
        raise BadInput(f"edge management port {port} is out of range 1-65535")
    if not timeout > 0:
        raise BadInput(f"edge management timeout must be positive, got {timeout}")
    facts = engines.engine(engine)
    where = Endpoint(host, port or facts.management_port, facts.management_path)
    rpc = JsonRpc(facts.name, where, timeout, post)
    if facts is engines.KAMAILIO:
        return kamailio.KamailioClient(rpc)
    return opensips.OpenSIPSClient(rpc)
