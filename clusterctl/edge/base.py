"""The engine-neutral model of the edge's management interface and its JSON-RPC transport.

Both engines speak JSON-RPC 2.0 over HTTP POST; only method names, parameters and reply
shapes differ, and those live in ``opensips.py`` and ``kamailio.py``. Every failure (refused
connection, timeout, HTTP error, JSON-RPC error object, malformed JSON, an unexpected reply
shape) is raised as :class:`EdgeManagementError` with one line naming host, port and method.
"""

from __future__ import annotations

import abc
import enum
import http.client
import json
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clusterctl.errors import BadInput, ClusterctlError

# A runaway or hostile endpoint must not eat the operator's memory: a real ul_dump of
# 100,000 contacts is about 50 MB of JSON.
MAX_REPLY_BYTES = 256 * 1024 * 1024


class EdgeManagementError(ClusterctlError):
    """The edge's management interface could not be reached or gave an unusable reply.

    ``rpc_code`` is the JSON-RPC error code when the engine answered with an error object.
    """

    def __init__(self, message: str, rpc_code: int | None = None) -> None:
        super().__init__(message)
        self.rpc_code = rpc_code


class DestinationState(enum.Enum):
    """A dispatcher destination's state, the same words for both engines."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    PROBING = "probing"


@dataclass(frozen=True)
class Destination:
    """One dispatcher destination.

    ``raw_state`` is the engine's own word (OpenSIPS ``Active``/``Inactive``/``Probing``,
    Kamailio flag letters such as ``AP``, ``TP``, ``IP``, ``DX``). ``selectable`` says whether
    the engine would route a new call to it now. ``suspect`` marks Kamailio's ``T*`` (a ping
    failed, still selected until the threshold is reached). ``probing`` says the engine's
    raw state carries its probing mark (OpenSIPS ``Probing``, Kamailio second letter ``P``).
    """

    uri: str
    state: DestinationState
    raw_state: str
    selectable: bool
    suspect: bool = False
    probing: bool = False


@dataclass(frozen=True)
class DispatcherSet:
    """A dispatcher set (group) and its destinations in the engine's order."""

    id: int
    destinations: tuple[Destination, ...]
    partition: str | None = None


@dataclass(frozen=True)
class Contact:
    """One registered contact.

    ``expires`` is the number of seconds left, ``None`` for a permanent contact and 0 for
    one the engine reports as ``expired`` or ``deleted`` (still in memory, not reachable).
    """

    uri: str
    expires: int | None
    call_id: str
    user_agent: str


@dataclass(frozen=True)
class Registration:
    """An address of record with its contacts."""

    aor: str
    contacts: tuple[Contact, ...]
    table: str = "location"


class ReplyShapeError(Exception):
    """A reply that parsed as JSON but does not have the expected fields (internal)."""


def want(value: object, kind: type[Any] | tuple[type[Any], ...], what: str) -> Any:
    """Return ``value`` if it is of ``kind``; raise ReplyShapeError naming ``what`` if not."""
    # bool is an int subclass; an engine never sends one where we want a number.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
        raise ReplyShapeError(f"{what} is {type(value).__name__}, expected {kind}")
    return value


def field(obj: object, key: str, kind: type[Any] | tuple[type[Any], ...]) -> Any:
    """Return ``obj[key]`` checked against ``kind``; ReplyShapeError if absent or mistyped."""
    mapping = want(obj, dict, f"parent of {key!r}")
    if key not in mapping:
        raise ReplyShapeError(f"missing {key!r}")
    return want(mapping[key], kind, repr(key))


def contact_expires(value: object) -> int | None:
    """Both engines print seconds left, or the words permanent / expired / deleted."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0)
    if value == "permanent":
        return None
    if value in ("expired", "deleted"):
        return 0
    raise ReplyShapeError(f"contact Expires is {value!r}")


@dataclass(frozen=True)
class Endpoint:
    """Where an engine's JSON-RPC listens."""

    host: str
    port: int
    path: str

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}{self.path}"


@dataclass(frozen=True)
class HttpReply:
    """Status and complete body of one HTTP exchange."""

    status: int
    body: bytes


# (endpoint, body, headers, timeout) -> reply. Raises OSError (incl. TimeoutError) or
# http.client.HTTPException; tests inject a fake to see exactly what is sent.
Post = Callable[[Endpoint, bytes, Mapping[str, str], float], HttpReply]


def http_post(
    endpoint: Endpoint, body: bytes, headers: Mapping[str, str], timeout: float
) -> HttpReply:
    """POST ``body`` and read the whole reply within ``timeout`` seconds in total.

    The deadline covers connect, headers and body together, so a server that keeps a
    chunked body open (OpenSIPS 3.6.8 without Content-Type) or trickles bytes cannot hold
    the caller longer than ``timeout``. Raises TimeoutError, OSError, HTTPException.
    """
    deadline = time.monotonic() + timeout
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)
    try:
        conn.request("POST", endpoint.path, body=body, headers=dict(headers))
        sock = conn.sock
        if not isinstance(sock, socket.socket):
            raise OSError("no socket after connect")
        sock.settimeout(_remaining(deadline))
        resp = conn.getresponse()
        chunks: list[bytes] = []
        size = 0
        while True:
            # getresponse() may hand the socket to the response; the object stays valid.
            sock.settimeout(_remaining(deadline))
            chunk = resp.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_REPLY_BYTES:
                raise OSError(f"reply larger than {MAX_REPLY_BYTES} bytes")
            chunks.append(chunk)
        return HttpReply(resp.status, b"".join(chunks))
    finally:
        conn.close()


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


class JsonRpc:
    """A JSON-RPC 2.0 client for one HTTP endpoint.

    Sends ``Content-Type: application/json`` on every request (OpenSIPS mi_http needs it)
    and bounds each call by ``timeout`` seconds in total.
    """

    def __init__(
        self, engine: str, endpoint: Endpoint, timeout: float, post: Post = http_post
    ) -> None:
        self.engine = engine
        self.endpoint = endpoint
        self.timeout = timeout
        self._post = post
        self._next_id = 1

    def error(self, method: str, detail: str, rpc_code: int | None = None) -> EdgeManagementError:
        """One-line error naming engine, endpoint and method."""
        detail = " ".join(detail.split())
        return EdgeManagementError(
            f"{self.engine} management at {self.endpoint}: {method}: {detail}", rpc_code
        )

    def call(self, method: str, params: list[Any] | dict[str, Any] | None = None) -> Any:
        """Call ``method`` and return its ``result``.

        Raises EdgeManagementError on any transport, HTTP or JSON-RPC failure, and on a reply
        whose id does not match the request.
        """
        req_id = self._next_id
        self._next_id += 1
        request: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": req_id}
        if params is not None:
            request["params"] = params
        body = json.dumps(request).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        try:
            reply = self._post(self.endpoint, body, headers, self.timeout)
        except TimeoutError:
            raise self.error(method, f"no complete reply within {self.timeout:g} s") from None
        except ConnectionRefusedError:
            raise self.error(method, "connection refused") from None
        except (OSError, http.client.HTTPException) as exc:
            raise self.error(method, f"{type(exc).__name__}: {exc}") from None
        return self._result(method, req_id, reply)

    def _result(self, method: str, req_id: int, reply: HttpReply) -> Any:
        try:
            doc = json.loads(reply.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            snippet = reply.body[:80].decode("utf-8", "replace")
            if reply.status != 200:
                raise self.error(method, f"HTTP {reply.status}: {snippet!r}") from None
            raise self.error(method, f"malformed JSON reply: {snippet!r}") from None
        if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
            err = doc["error"]
            code = err.get("code")
            # Kamailio puts its JSON-RPC errors in an HTTP 500; report the engine's words.
            raise self.error(
                method,
                f"JSON-RPC error {code}: {err.get('message', '')}",
                code if isinstance(code, int) else None,
            )
        if reply.status != 200:
            raise self.error(method, f"HTTP {reply.status}")
        if not isinstance(doc, dict) or "result" not in doc:
            raise self.error(method, "reply has neither result nor error")
        if doc.get("id") != req_id:
            raise self.error(method, f"reply id {doc.get('id')!r} != request id {req_id}")
        return doc["result"]


class EdgeClient(abc.ABC):
    """The management operations clusterctl needs from either edge engine.

    Every method raises EdgeManagementError when the engine cannot be reached, refuses the
    call, or answers in a shape this client does not understand.
    """

    engine: str

    def __init__(self, rpc: JsonRpc) -> None:
        self.rpc = rpc

    @abc.abstractmethod
    def version(self) -> str:
        """The engine's version number, e.g. ``3.6.8`` or ``5.6.3``."""

    @abc.abstractmethod
    def dispatcher_sets(self) -> list[DispatcherSet]:
        """All dispatcher sets with their destinations' current states."""

    @abc.abstractmethod
    def set_destination_state(self, set_id: int, uri: str, state: DestinationState) -> None:
        """Force a destination's state (an unknown set or URI is an error)."""

    @abc.abstractmethod
    def reload_dispatcher(self) -> None:
        """Reload the destinations from the engine's list (file or database)."""

    @abc.abstractmethod
    def registrations(self) -> list[Registration]:
        """Every AOR in the location table with its contacts."""

    @abc.abstractmethod
    def set_nat_keepalives(self, on: bool) -> None:
        """Switch this node's NAT keepalives (OPTIONS to contacts behind NAT) on or off."""

    @abc.abstractmethod
    def statistics(self, group_or_names: str | Iterable[str]) -> dict[str, int | float]:
        """Named statistics (``registered_users``) or groups (``usrloc:``), or ``all``.

        Keys are ``group:name``. Unknown names are left out (both engines skip them).
        """

    @abc.abstractmethod
    def registration(self, aor: str) -> Registration | None:
        """One AOR (``user@domain``) with its contacts; None when it has none."""

    @abc.abstractmethod
    def registration_count(self) -> int:
        """Contacts this node holds, over all AORs (a counter: no dump of the table)."""

    def parse(self, method: str, parser: Callable[[Any], Any], result: Any) -> Any:
        """Run ``parser`` on a result; a shape surprise becomes an EdgeManagementError."""
        try:
            return parser(result)
        except ReplyShapeError as exc:
            raise self.rpc.error(method, f"unexpected reply shape: {exc}") from None


def stat_names(group_or_names: str | Iterable[str]) -> list[str]:
    """Normalise the statistics argument to a non-empty list of names."""
    names = [group_or_names] if isinstance(group_or_names, str) else list(group_or_names)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise BadInput("statistics: give at least one non-empty statistic name or group")
    return names
