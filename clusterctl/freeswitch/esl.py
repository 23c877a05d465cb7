"""A typed client for FreeSWITCH's event socket (mod_event_socket, inbound mode).

The protocol: the server greets with ``Content-Type: auth/request``; the client sends
``auth PASSWORD`` and gets a ``command/reply`` (``+OK accepted`` / ``-ERR invalid``); each
``api CMD`` is answered by an ``api/response`` whose body is the command's output. A source the
socket's ACL does not admit gets ``text/rude-rejection`` and is disconnected.

Every failure is raised as :class:`EslError` (or its subclasses) with one line naming host,
port and command: connection refused, timeout, ACL rejection, wrong password, a closed
connection, an ``-ERR`` answer, or a reply this client cannot read. Reply shapes were recorded
from FreeSWITCH 1.10.12 (tests/fixtures/freeswitch/).
"""

from __future__ import annotations

import functools
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

from clusterctl.errors import ClusterctlError

DEFAULT_PORT = 8021
# A sane upper bound for one reply (a `show channels` of thousands of calls is a few MB).
MAX_BODY_BYTES = 64 * 1024 * 1024

Connect = Callable[[tuple[str, int], float], socket.socket]
T = TypeVar("T")


class EslError(ClusterctlError):
    """The event socket could not be used: unreachable, refused, or an unusable reply."""


class EslAuthError(EslError):
    """The password was refused, or the socket's ACL does not admit this source."""


class EslCommandError(EslError):
    """FreeSWITCH answered a command with ``-ERR ...`` (unknown command, bad argument)."""


@dataclass(frozen=True)
class EslMessage:
    """One message: its headers (names as sent) and its body (empty when none)."""

    headers: dict[str, str]
    body: str = ""

    @property
    def content_type(self) -> str:
        """The ``Content-Type`` header, empty when absent."""
        return self.headers.get("Content-Type", "")


def _connect(address: tuple[str, int], timeout: float) -> socket.socket:
    return socket.create_connection(address, timeout=timeout)


class EslConnection:
    """One authenticated event-socket connection; use as a context manager.

    ``timeout`` bounds the connect and each read. Raises EslError subclasses only.
    """

    def __init__(
        self,
        host: str,
        password: str,
        port: int = DEFAULT_PORT,
        timeout: float = 3.0,
        *,
        connect: Connect = _connect,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._password = password
        self._connect = connect
        self._sock: socket.socket | None = None
        self._buffer = b""

    def __repr__(self) -> str:
        return f"EslConnection({self.host}:{self.port})"

    def error(self, what: str, detail: str, kind: type[EslError] = EslError) -> EslError:
        """One-line error naming the socket and the command."""
        return kind(f"FreeSWITCH event socket {self.host}:{self.port}: {what}: {detail}")

    def __enter__(self) -> EslConnection:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Connect and authenticate.

        Raises EslAuthError for an ACL rejection or a wrong password, EslError otherwise.
        """
        try:
            self._sock = self._connect((self.host, self.port), self.timeout)
            self._sock.settimeout(self.timeout)
        except ConnectionRefusedError:
            raise self.error("connect", "connection refused") from None
        except TimeoutError:
            raise self.error("connect", f"no answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise self.error("connect", f"{type(exc).__name__}: {exc}") from None
        greeting = self._read("connect")
        if greeting.content_type == "text/rude-rejection":
            self.close()
            raise self.error(
                "connect", f"refused by its ACL ({greeting.body.strip()})", EslAuthError
            )
        if greeting.content_type != "auth/request":
            self.close()
            raise self.error("connect", f"unexpected greeting {greeting.content_type!r}")
        reply = self._command("auth", f"auth {self._password}")
        if not reply.headers.get("Reply-Text", "").startswith("+OK"):
            self.close()
            raise self.error("auth", "password refused", EslAuthError)

    def close(self) -> None:
        """Say goodbye (best effort) and close; never raises."""
        if self._sock is None:
            return
        try:
            self._sock.sendall(b"exit\n\n")
        except OSError:
            pass
        finally:
            self._sock.close()
            self._sock = None
            self._buffer = b""

    def api(self, command: str) -> str:
        """Run ``api COMMAND`` and return its output.

        Raises EslCommandError when the output starts with ``-ERR``, EslError on transport
        failures. ``command`` must be one line.
        """
        if "\n" in command or "\r" in command or not command.strip():
            raise self.error(command or "api", "a command is one non-empty line")
        self._send(command, f"api {command}")
        reply = self._read_until(command, "api/response")
        if reply.body.startswith("-ERR") or reply.body.startswith("-USAGE"):
            raise self.error(command, reply.body.strip(), EslCommandError)
        return reply.body

    def _command(self, what: str, line: str) -> EslMessage:
        self._send(what, line)
        return self._read_until(what, "command/reply")

    def _send(self, what: str, line: str) -> None:
        if self._sock is None:
            raise self.error(what, "not connected")
        try:
            self._sock.sendall(line.encode() + b"\n\n")
        except OSError as exc:
            raise self.error(what, f"send failed: {exc}") from None

    def _read_until(self, what: str, content_type: str) -> EslMessage:
        # Log lines or events would only arrive if subscribed; skip anything else anyway.
        while True:
            message = self._read(what)
            if message.content_type == "text/disconnect-notice":
                raise self.error(what, "FreeSWITCH closed the connection")
            if message.content_type == content_type:
                return message

    def _read(self, what: str) -> EslMessage:
        head = self._read_to(b"\n\n", what)
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\n"):
            name, sep, value = line.partition(":")
            if not sep:
                raise self.error(what, f"malformed header line {line[:60]!r}")
            headers[name.strip()] = value.strip()
        length_text = headers.get("Content-Length", "0")
        if not length_text.isdigit() or int(length_text) > MAX_BODY_BYTES:
            raise self.error(what, f"unusable Content-Length {length_text[:20]!r}")
        body = self._read_exact(int(length_text), what)
        return EslMessage(headers, body.decode("utf-8", "replace"))

    def _fill(self, what: str) -> None:
        if self._sock is None:
            raise self.error(what, "not connected")
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            raise self.error(what, f"no reply within {self.timeout:g} s") from None
        except OSError as exc:
            raise self.error(what, f"receive failed: {exc}") from None
        if not chunk:
            raise self.error(what, "connection closed by FreeSWITCH")
        self._buffer += chunk

    def _read_to(self, marker: bytes, what: str) -> bytes:
        while marker not in self._buffer:
            if len(self._buffer) > 65536:
                raise self.error(what, "header block larger than 64 KiB")
            self._fill(what)
        head, _, self._buffer = self._buffer.partition(marker)
        return head.lstrip(b"\n")

    def _read_exact(self, size: int, what: str) -> bytes:
        while len(self._buffer) < size:
            self._fill(what)
        body, self._buffer = self._buffer[:size], self._buffer[size:]
        return body


@dataclass(frozen=True)
class ProfileStatus:
    """``sofia status profile NAME``: the fields clusterctl uses, plus all of them raw."""

    name: str
    url: str
    context: str
    calls_in: int
    failed_calls_in: int
    calls_out: int
    failed_calls_out: int
    fields: dict[str, str] = field(repr=False)


_COUNT = re.compile(r"^(\d+) total\.?\s*$", re.MULTILINE)


def parse_calls_count(body: str) -> int:
    """``show calls count`` prints ``N total.``; anything else is a ValueError."""
    match = _COUNT.search(body)
    if match is None:
        raise ValueError(f"no 'N total.' in {body.strip()[:60]!r}")
    return int(match.group(1))


def parse_profile_status(name: str, body: str) -> ProfileStatus:
    """Parse the key/value table of ``sofia status profile NAME``.

    ValueError when the profile does not exist (``Invalid Profile!``) or a field is missing.
    """
    if "Invalid Profile" in body:
        raise ValueError(f"no sofia profile {name!r}")
    fields: dict[str, str] = {}
    for line in body.splitlines():
        if not line.strip() or line.startswith("="):
            continue
        key, sep, value = line.partition("\t")
        if not sep:
            continue
        fields[key.strip()] = value.strip()

    def number(key: str) -> int:
        value = fields.get(key, "")
        if not value.isdigit():
            raise ValueError(f"sofia profile {name}: {key} is {value!r}")
        return int(value)

    if "URL" not in fields:
        raise ValueError(f"sofia profile {name}: no URL in {body.strip()[:60]!r}")
    return ProfileStatus(
        name=fields.get("Name", name),
        url=fields["URL"],
        context=fields.get("Context", ""),
        calls_in=number("CALLS-IN"),
        failed_calls_in=number("FAILED-CALLS-IN"),
        calls_out=number("CALLS-OUT"),
        failed_calls_out=number("FAILED-CALLS-OUT"),
        fields=fields,
    )


def _plus_ok(conn: EslConnection, command: str, body: str) -> None:
    if not body.startswith("+OK"):
        raise conn.error(command, f"expected +OK, got {body.strip()[:60]!r}", EslCommandError)


class FreeSwitchClient:
    """The operations clusterctl needs from a feature server, over one connection per call.

    Every method raises EslError (or a subclass) naming host and command; a reply in a shape
    this client does not understand is an EslError too.
    """

    def __init__(
        self,
        host: str,
        password: str,
        port: int = DEFAULT_PORT,
        timeout: float = 3.0,
        *,
        connect: Connect = _connect,
    ) -> None:
        self.host = host
        # Every call opens a fresh connection with exactly these settings.
        self._open = functools.partial(
            EslConnection, host, password, port, timeout, connect=connect
        )

    def api(self, command: str) -> str:
        """Run one ``api`` command on a fresh connection and return its output."""
        with self._open() as conn:
            return conn.api(command)

    def _parsed(self, command: str, parse: Callable[[str], T]) -> T:
        with self._open() as conn:
            body = conn.api(command)
            try:
                return parse(body)
            except ValueError as exc:
                raise conn.error(command, str(exc)) from None

    def calls_count(self) -> int:
        """Calls in progress (``show calls count``: bridged legs count once)."""
        return self._parsed("show calls count", parse_calls_count)

    def channels_count(self) -> int:
        """Channels in progress (``show channels count``: every leg counts)."""
        return self._parsed("show channels count", parse_calls_count)

    def profile_status(self, profile: str) -> ProfileStatus:
        """``sofia status profile PROFILE``; EslError when the profile does not run."""
        return self._parsed(
            f"sofia status profile {profile}", lambda body: parse_profile_status(profile, body)
        )

    def pause_inbound(self) -> None:
        """Refuse new inbound calls (503) and answer OPTIONS 503 (with the profile's
        ``sip-options-respond-503-on-busy``); calls in progress continue."""
        with self._open() as conn:
            _plus_ok(conn, "fsctl pause inbound", conn.api("fsctl pause inbound"))

    def resume_inbound(self) -> None:
        """Accept new inbound calls again."""
        with self._open() as conn:
            _plus_ok(conn, "fsctl resume inbound", conn.api("fsctl resume inbound"))

    def inbound_paused(self) -> bool:
        """True while new inbound calls are refused (``fsctl pause_check inbound``)."""
        with self._open() as conn:
            body = conn.api("fsctl pause_check inbound").strip()
            if body not in ("true", "false"):
                raise conn.error("fsctl pause_check inbound", f"unexpected reply {body[:60]!r}")
            return body == "true"

    def flush_xml_cache(self, user: str | None = None, domain: str | None = None) -> None:
        """Drop cached directory entries: one user's (``user`` and ``domain``) or all."""
        if (user is None) != (domain is None):
            raise EslError("flush_xml_cache: give both user and domain, or neither")
        command = "xml_flush_cache" if user is None else f"xml_flush_cache id {user} {domain}"
        with self._open() as conn:
            _plus_ok(conn, command, conn.api(command))
