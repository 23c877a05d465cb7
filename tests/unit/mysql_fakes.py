"""In-memory stand-ins for pymysql servers, for the clients that fail over between nodes
(the configuration service's pool, drill db's writer)."""

from __future__ import annotations

from typing import Any

import pymysql


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def execute(self, sql: str, args: Any = None) -> None:
        if self.conn.fail_next:
            error, self.conn.fail_next = self.conn.fail_next, None
            raise error
        if self.conn.host in self.conn.servers.dead:
            raise pymysql.err.OperationalError(2013, "Lost connection to server during query")
        self.conn.queries.append((sql, args))

    def fetchall(self) -> list[tuple[str]]:
        return [(self.conn.host,)]


class FakeConnection:
    def __init__(self, host: str, servers: FakeServers) -> None:
        self.host = host
        self.servers = servers
        self.queries: list[tuple[str, Any]] = []
        self.closed = False
        self.fail_next: Exception | None = None

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def close(self) -> None:
        self.closed = True


class FakeServers:
    """Servers by address: ``down`` ones refuse connections, ``dead`` ones lose a connection
    under its next query. ``tried`` lists every connection attempt, ``opened`` the ones
    that succeeded."""

    def __init__(self, down: set[str] | tuple[str, ...] = ()) -> None:
        self.down = set(down)
        self.dead: set[str] = set()
        self.tried: list[str] = []
        self.opened: list[FakeConnection] = []

    def connect(self, **kw: Any) -> FakeConnection:
        host = kw["host"]
        self.tried.append(host)
        if host in self.down:
            raise pymysql.err.OperationalError(2003, f"Can't connect to MySQL server on '{host}'")
        conn = FakeConnection(host, self)
        self.opened.append(conn)
        return conn

    def args_on(self, host: str) -> list[Any]:
        """The arguments of every query run on ``host``, in order."""
        return [args for c in self.opened if c.host == host for _, args in c.queries]
