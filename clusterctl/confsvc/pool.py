"""A small thread-safe pool of PyMySQL connections with failover across database nodes.

mod_wsgi runs the service in threads; each request borrows one connection. Connections are
opened lazily, up to ``size``; a borrower waits at most ``timeout_s`` for a free one and then
gets PoolExhausted. A connection that raised a MySQL error is closed, not returned. New
connections try the node that last worked first, then the others in order, so after a
database failover the pool follows without a restart. Read-only queries are retried once on a
fresh connection when the old one turns out to be dead (the node restarted or failed over).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pymysql

from clusterctl.db.connect import Connect, Endpoint, NoDatabase, connect_first

# Client-side "connection is gone" errors: a retry on a new connection is safe for reads.
_GONE = {2006, 2013, 2055}


class PoolExhausted(Exception):
    """Every connection stayed busy for the whole wait."""


class Pool:
    """Up to ``size`` connections to the first answering node of ``endpoints``."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        user: str,
        password: str,
        *,
        database: str,
        size: int = 8,
        timeout_s: float = 2.0,
        connect: Connect = pymysql.connect,
    ) -> None:
        self._endpoints = list(endpoints)
        self._user = user
        self._password = password
        self._database = database
        self._size = size
        self._timeout_s = timeout_s
        self._connect = connect
        self._idle: list[Any] = []
        self._open = 0
        self._cond = threading.Condition()

    def _new(self) -> Any:
        with self._cond:
            order = list(self._endpoints)
        conn, used = connect_first(order, self._user, self._password, database=self._database,
                                   timeout_s=self._timeout_s, connect=self._connect)
        with self._cond:
            # The node that answered goes first for the next connection.
            self._endpoints.remove(used)
            self._endpoints.insert(0, used)
        return conn

    def _take(self) -> Any:
        with self._cond:
            if not self._idle and self._open >= self._size:
                waited = self._cond.wait_for(
                    lambda: bool(self._idle) or self._open < self._size, self._timeout_s)
                if not waited:
                    raise PoolExhausted(f"all {self._size} database connections busy")
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            return self._new()
        except NoDatabase:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def _give_back(self, conn: Any, *, broken: bool) -> None:
        with self._cond:
            if broken:
                self._open -= 1
            else:
                self._idle.append(conn)
            self._cond.notify()
        if broken:
            with contextlib.suppress(pymysql.MySQLError):  # already dead: nothing to close
                conn.close()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """Borrow a connection; raises NoDatabase or PoolExhausted."""
        conn = self._take()
        try:
            yield conn
        except BaseException:
            self._give_back(conn, broken=True)
            raise
        self._give_back(conn, broken=False)

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query; retried once on a new connection if the old one died.

        Raises pymysql.MySQLError, NoDatabase or PoolExhausted.
        """
        for attempt in (1, 2):
            try:
                with self.connection() as conn, conn.cursor() as cur:
                    cur.execute(sql, tuple(args))
                    return [tuple(row) for row in cur.fetchall()]
            except pymysql.OperationalError as exc:
                code = exc.args[0] if exc.args else None
                if attempt == 2 or code not in _GONE:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the idle connections (at shutdown)."""
        with self._cond:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for conn in idle:
            conn.close()
