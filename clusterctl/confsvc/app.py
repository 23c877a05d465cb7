"""The WSGI application FreeSWITCH's mod_xml_curl talks to.

``POST <any path>`` with a form body: the directory or dialplan document, or the "not found"
document (unknown section, tenant, user or number). ``GET /health``: 200 when the database
answers (HAProxy's check). Replies for bad input, never a traceback:

| case | reply |
|---|---|
| client not in ``clients`` (``health_clients`` for /health) | 403 |
| not POST / GET /health | 405 |
| no or bad Content-Length | 411 / 400 |
| body over ``max_body_bytes`` | 413 (not read) |
| not form-encoded UTF-8, conflicting fields, no section | 400 |
| database down or pool exhausted | 503: FreeSWITCH tries its next binding, then static XML |
| a bug | 500, logged with its traceback in the server log only |
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from ipaddress import ip_address
from typing import Any

import pymysql

from clusterctl.confsvc import dialplan, directory, xmlout
from clusterctl.confsvc.config import ServiceConfig, read_password
from clusterctl.confsvc.pool import Pool, PoolExhausted
from clusterctl.confsvc.repository import MariaDBRepository, Repository
from clusterctl.confsvc.request import Asker, BadRequest, parse_body
from clusterctl.db.connect import NoDatabase

log = logging.getLogger("clusterctl.confsvc")

StartResponse = Callable[..., Any]
Handler = Callable[..., "bytes | None"]
HANDLERS: dict[str, Handler] = {"directory": directory.lookup, "dialplan": dialplan.lookup}
_REASONS = {
    200: "OK", 400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed",
    411: "Length Required", 413: "Payload Too Large", 415: "Unsupported Media Type",
    500: "Internal Server Error", 503: "Service Unavailable",
}
_XML = "text/xml; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"


class Reply(Exception):
    """A reply decided early (an error status with a one-line reason)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ConfigService:
    """The WSGI callable: one instance per process, shared by its threads."""

    def __init__(self, config: ServiceConfig, repo: Repository) -> None:
        self.config = config
        self.repo = repo
        self._trusted = {str(a) for a in config.trusted_proxies}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            status, content_type, body = self._handle(environ)
        except Reply as reply:
            status, content_type, body = reply.status, _TEXT, (reply.reason + "\n").encode()
        except (NoDatabase, PoolExhausted, pymysql.MySQLError) as exc:
            code = f" {exc.args[0]}" if isinstance(exc, pymysql.MySQLError) and exc.args else ""
            log.warning("database unavailable: %s%s", type(exc).__name__, code)
            status, content_type, body = 503, _TEXT, b"database unavailable\n"
        except xmlout.UnsafeValue:
            log.warning("refused a stored value FreeSWITCH would expand")
            status, content_type, body = 200, _XML, xmlout.not_found()
        except Exception:
            log.exception("internal error")
            status, content_type, body = 500, _TEXT, b"internal error\n"
        start_response(f"{status} {_REASONS[status]}", [
            ("Content-Type", content_type), ("Content-Length", str(len(body))),
        ])
        return [body]

    def client_address(self, environ: dict[str, Any]) -> str:
        """The asking host: REMOTE_ADDR, or the last X-Forwarded-For hop from a trusted proxy."""
        peer = str(environ.get("REMOTE_ADDR", ""))
        forwarded = str(environ.get("HTTP_X_FORWARDED_FOR", ""))
        if peer in self._trusted and forwarded:
            return forwarded.rsplit(",", maxsplit=1)[-1].strip()
        return peer

    def _handle(self, environ: dict[str, Any]) -> tuple[int, str, bytes]:
        method = environ.get("REQUEST_METHOD", "")
        path = str(environ.get("PATH_INFO", ""))
        address = self.client_address(environ)
        if method == "GET" and path.rstrip("/").endswith("/health"):
            return self._health(address)
        if method != "POST":
            raise Reply(405, "only POST (and GET /health)")
        client = self.config.client_named(address)
        if client is None:
            log.warning("refused a request from %s (not a configured feature server)",
                        _printable(address))
            raise Reply(403, "not an allowed client")
        fs_name, entry = client
        try:
            request = parse_body(self._body(environ))
            handler = HANDLERS.get(request.section)
            asker = Asker(fs_name, entry.shard)
            answer = handler(request, asker, self.config, self.repo) if handler else None
        except BadRequest as exc:
            raise Reply(400, str(exc)) from None
        return 200, _XML, answer if answer is not None else xmlout.not_found()

    def _body(self, environ: dict[str, Any]) -> bytes:
        content_type = str(environ.get("CONTENT_TYPE", "")).split(";", 1)[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise Reply(415, "expected application/x-www-form-urlencoded")
        raw_length = str(environ.get("CONTENT_LENGTH", "") or "")
        if not raw_length:
            raise Reply(411, "Content-Length required")
        if not raw_length.isdigit():
            raise Reply(400, "bad Content-Length")
        length = int(raw_length)
        if length > self.config.max_body_bytes:
            raise Reply(413, f"body over {self.config.max_body_bytes} bytes")
        body = bytes(environ["wsgi.input"].read(length))
        if len(body) != length:
            raise Reply(400, "body shorter than Content-Length")
        return body

    def _health(self, address: str) -> tuple[int, str, bytes]:
        allowed = {str(a) for a in self.config.health_clients}
        if address not in allowed and self.config.client_named(address) is None:
            raise Reply(403, "not an allowed client")
        self.repo.ping()
        return 200, _TEXT, b"ok\n"


def _printable(address: str) -> str:
    """The address for a log line (anything that is not an IP shown as such)."""
    try:
        return str(ip_address(address))
    except ValueError:
        return "<not an address>"


def create_app(config: ServiceConfig) -> ConfigService:
    """The application on a pool of connections to the configured database nodes.

    Raises ConfigError when the password file cannot be read; connections open on demand.
    """
    db = config.database
    pool = Pool(db.endpoints(), db.user, read_password(config), database=db.name,
                size=db.pool_size, timeout_s=db.timeout_s, retry_s=db.retry_s)
    return ConfigService(config, MariaDBRepository(pool))
