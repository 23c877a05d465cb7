"""A small thread-safe pool of PyMySQL connections with failover across database nodes.

mod_wsgi runs the service in threads; each request borrows one connection. Connections are
opened lazily, up to ``size``; a borrower waits at most ``timeout_s`` for a free one and then
gets PoolExhausted. A connection that raised a MySQL error is closed, not returned.

Nodes are used in the inventory's order, the first live one taking every query, as the edge's
database layer does. A node that refused a connection or lost one under a query goes last.
Every ``retry_s`` (the edge's sip_edge_db_retry_interval) one borrower, and only one, tries
a connection to it first: when that works the node is first again, and an idle connection to
a node that is no longer first is closed instead of reused, so the pool comes back to the
first node after a failover. (When every borrower went back to a silent node at once, each
paid its connect timeout and then reconnected to the survivor together: in `drill db`
that burst timed out against the survivor too and both web nodes failed their health checks
for 1.5 s.) Read-only queries are retried once on a fresh connection when the old one turns
out to be dead; that node's idle connections are closed with it (they died together: `drill
db` saw a retry take a second dead one and fail).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pymysql

from clusterctl.db.connect import Connect, Endpoint, NoDatabase, connect_first

# Errors after which this node cannot answer now, so a read is retried on a new connection
# (to another node): the connection is gone (2006, 2013, 2055), the server is shutting down
# (1053) or killed the connection (1927), or a Galera node is not in the primary component
# or not synced ("WSREP has not yet prepared node for application use", 1047; seen during a
# node's shutdown in `drill db`).
_GONE = {1047, 1053, 1927, 2006, 2013, 2055}


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
        retry_s: float = 10.0,
        connect: Connect = pymysql.connect,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._endpoints = list(endpoints)
        self._retry_s = retry_s
        self._clock = clock
        self._demoted: dict[Endpoint, float] = {}  # node -> when it failed or was last tried
        self._user = user
        self._password = password
        self._database = database
        self._size = size
        self._timeout_s = timeout_s
        self._connect = connect
        self._idle: list[Any] = []
        self._open = 0
        self._cond = threading.Condition()

    def _order(self) -> list[Endpoint]:
        """The nodes in inventory order, the demoted ones last (call locked)."""
        return sorted(self._endpoints, key=lambda e: e in self._demoted)  # stable

    def _claim_trial(self) -> Endpoint | None:
        """A demoted node whose turn has come, now stamped so that no other borrower tries it
        for another retry_s (call locked)."""
        now = self._clock()
        due = [e for e in self._endpoints
               if e in self._demoted and now - self._demoted[e] >= self._retry_s]
        if not due:
            return None
        self._demoted[due[0]] = now
        return due[0]

    def _trial(self, endpoint: Endpoint) -> None:
        """One connection to a demoted node: it is first again if that works."""
        try:
            conn, _ = connect_first([endpoint], self._user, self._password,
                                    database=self._database, timeout_s=self._timeout_s,
                                    connect=self._connect)
        except NoDatabase:
            return
        conn.endpoint = endpoint
        with self._cond:
            self._demoted.pop(endpoint, None)
            first = self._order()[0]
            # Idle connections to a node that is no longer first are left, as in _take.
            stale = [c for c in self._idle if getattr(c, "endpoint", first) != first]
            self._idle = [c for c in self._idle if c not in stale]
            self._open -= len(stale)
            if endpoint == first and self._open < self._size:  # the next borrower takes it
                self._idle.append(conn)
                self._open += 1
            else:
                stale.append(conn)
        for old in stale:
            with contextlib.suppress(pymysql.MySQLError):
                old.close()

    def _new(self) -> Any:
        with self._cond:
            order = self._order()
        try:
            conn, used = connect_first(order, self._user, self._password,
                                       database=self._database, timeout_s=self._timeout_s,
                                       connect=self._connect)
        except NoDatabase:
            with self._cond:
                self._demoted.update(dict.fromkeys(order, self._clock()))
            raise
        with self._cond:
            # The nodes tried before the one that answered refused it.
            self._demoted.update(dict.fromkeys(order[: order.index(used)], self._clock()))
            self._demoted.pop(used, None)
        conn.endpoint = used
        return conn

    def _take(self) -> Any:
        with self._cond:
            trial = self._claim_trial()
        if trial is not None:
            self._trial(trial)
        with self._cond:
            if not self._idle and self._open >= self._size:
                waited = self._cond.wait_for(
                    lambda: bool(self._idle) or self._open < self._size, self._timeout_s)
                if not waited:
                    raise PoolExhausted(f"all {self._size} database connections busy")
            first = self._order()[0]
            while self._idle:
                conn = self._idle.pop()
                if getattr(conn, "endpoint", first) == first:
                    return conn
                # A node before it is back in turn: leave this one.
                self._open -= 1
                with contextlib.suppress(pymysql.MySQLError):
                    conn.close()
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

    def _forget(self, endpoint: Endpoint | None) -> None:
        """A connection to ``endpoint`` died: close its idle siblings, try that node last."""
        with self._cond:
            stale = [c for c in self._idle if getattr(c, "endpoint", None) == endpoint]
            self._idle = [c for c in self._idle if getattr(c, "endpoint", None) != endpoint]
            self._open -= len(stale)
            if endpoint is not None:
                self._demoted[endpoint] = self._clock()
            self._cond.notify_all()
        for conn in stale:
            with contextlib.suppress(pymysql.MySQLError):
                conn.close()

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query; retried once on a new connection if the old one died.

        Raises pymysql.MySQLError, NoDatabase or PoolExhausted.
        """
        for attempt in (1, 2):
            conn: Any = None
            try:
                with self.connection() as conn, conn.cursor() as cur:
                    cur.execute(sql, tuple(args))
                    return [tuple(row) for row in cur.fetchall()]
            except pymysql.OperationalError as exc:
                code = exc.args[0] if exc.args else None
                if attempt == 2 or code not in _GONE:
                    raise
                self._forget(getattr(conn, "endpoint", None))
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close the idle connections (at shutdown)."""
        with self._cond:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for conn in idle:
            conn.close()
