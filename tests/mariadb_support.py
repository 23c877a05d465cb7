"""A throwaway schema on a local MariaDB for the integration tests and the benchmark.

The server is ``CLUSTERCTL_TEST_MARIADB`` (``host:port``, default 127.0.0.1:3307), reached as
``CLUSTERCTL_TEST_MARIADB_USER`` (default root) with ``CLUSTERCTL_TEST_MARIADB_PASSWORD``
(default empty): a test server on loopback, never a production one. The schema is built by
the role's own migration runner from ``roles/mariadb/files/migrations``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pymysql

from clusterctl.db.connect import Endpoint, open_connection

REPO = Path(__file__).resolve().parent.parent
MIGRATIONS = REPO / "roles" / "mariadb" / "files" / "migrations"


def server() -> tuple[Endpoint, str, str]:
    """The test server and the admin credentials."""
    host, _, port = os.environ.get("CLUSTERCTL_TEST_MARIADB", "127.0.0.1:3307").partition(":")
    return (Endpoint(host, int(port or 3306)),
            os.environ.get("CLUSTERCTL_TEST_MARIADB_USER", "root"),
            os.environ.get("CLUSTERCTL_TEST_MARIADB_PASSWORD", ""))


def admin() -> Any:
    """An autocommit admin connection; raises pymysql.MySQLError when there is no server."""
    endpoint, user, password = server()
    return open_connection(endpoint, user, password, timeout_s=2.0)


def _migrator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "clusterctl_migrate", REPO / "roles" / "mariadb" / "files" / "clusterctl_migrate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while defined
    spec.loader.exec_module(module)
    return module


def create_schema(conn: Any, prefix: str, engine: str) -> tuple[str, str]:
    """Fresh ``<prefix>_config`` and ``<prefix>_edge`` databases at the latest migration."""
    migrate = _migrator()
    drop_schema(conn, prefix)
    names = {"config": f"{prefix}_config", f"edge_{engine}": f"{prefix}_edge"}
    with conn.cursor() as cur:
        for database in (*names.values(), f"{prefix}_ops"):
            cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        for track, database in names.items():
            migrate.migrate(cur, migrate.load_migrations(MIGRATIONS / track), database=database,
                            track=track, tracking_db=f"{prefix}_ops")
    return names["config"], names[f"edge_{engine}"]


def drop_schema(conn: Any, prefix: str) -> None:
    """Remove what create_schema made."""
    with conn.cursor() as cur:
        for suffix in ("config", "edge", "ops"):
            cur.execute(f"DROP DATABASE IF EXISTS `{prefix}_{suffix}`")


def reachable() -> str | None:
    """None when the test server answers, else why not (for a skip reason)."""
    try:
        admin().close()
    except pymysql.MySQLError as exc:
        endpoint, _, _ = server()
        return (f"no MariaDB test server at {endpoint} ({exc.args[-1] if exc.args else exc}); "
                "set CLUSTERCTL_TEST_MARIADB=host:port")
    return None
