#!/usr/bin/python3
"""Apply clusterctl's versioned schema migrations to one database (runs on a database host).

Each migration is ``NNNN_name.sql`` with an ``-- up`` section and a ``-- down`` section;
statements end with ``;`` at the end of a line. MySQL commits DDL implicitly, so a migration
cannot be one transaction: when step k of ``up`` fails, every ``down`` statement is run (they
are written with ``IF EXISTS`` so they undo whatever part of ``up`` ran) and the migration is
not recorded, which leaves the schema at the previous version. Applied migrations are recorded
with a checksum in ``<tracking db>.schema_migrations``; a recorded migration whose file changed
is refused rather than silently skipped.

Prints one JSON line ``{"track", "version", "applied"}``. Exit status 1 with a one-line
message on stderr names the failed migration and step; 2 is bad input (missing directory,
malformed file). Needs only the standard library and PyMySQL (Debian's python3-pymysql).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pymysql

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    """A migration failed or the recorded history disagrees with the files (exit status 1)."""


class MigrationFileError(MigrationError):
    """A migration directory or file is malformed (exit status 2)."""


class Cursor(Protocol):
    """The part of a DB-API cursor the runner uses (PyMySQL's, or a fake in tests)."""

    def execute(self, query: str, args: Any = None) -> int: ...

    def fetchall(self) -> Sequence[Sequence[Any]]: ...


@dataclass(frozen=True)
class Migration:
    """One parsed migration file."""

    version: int
    name: str
    up: tuple[str, ...]
    down: tuple[str, ...]
    checksum: str


def split_statements(text: str) -> tuple[str, ...]:
    """Statements of a section: lines up to one ending in ``;``; ``--`` comment lines dropped."""
    statements: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        current.append(line.rstrip())
        if stripped.endswith(";"):
            statements.append("\n".join(current).rstrip(";").strip())
            current = []
    if current:
        raise MigrationFileError(f"statement without a closing ';': {current[0].strip()[:60]}")
    return tuple(statements)


def parse_migration(path: Path) -> Migration:
    """Parse one file. Raises MigrationFileError on a bad name or a missing section."""
    match = _NAME.match(path.name)
    if match is None:
        raise MigrationFileError(f"{path.name}: migration files are named NNNN_name.sql")
    text = path.read_text(encoding="utf-8")
    parts = re.split(r"^-- (up|down)\s*$", text, flags=re.M)
    # re.split keeps the captured section names: [preamble, "up", body, "down", body]
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    if set(sections) != {"up", "down"} or parts[1::2] != ["up", "down"]:
        raise MigrationFileError(f"{path.name}: needs an '-- up' then a '-- down' section")
    try:
        up = split_statements(sections["up"])
        down = split_statements(sections["down"])
    except MigrationFileError as exc:
        raise MigrationFileError(f"{path.name}: {exc}") from None
    if not up:
        raise MigrationFileError(f"{path.name}: the up section has no statement")
    return Migration(
        version=int(match.group(1)),
        name=match.group(2),
        up=up,
        down=down,
        checksum=hashlib.sha256(text.encode()).hexdigest(),
    )


def load_migrations(directory: Path) -> list[Migration]:
    """All migrations of a directory in version order. Raises MigrationFileError."""
    if not directory.is_dir():
        raise MigrationFileError(f"no migration directory {directory}")
    migrations = [parse_migration(p) for p in sorted(directory.glob("*.sql"))]
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationFileError(f"{directory}: two migrations share a version number")
    return migrations


def _ident(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", name):
        raise MigrationFileError(f"not a plain database name: {name!r}")
    return f"`{name}`"


def ensure_tracking(cur: Cursor, tracking_db: str) -> None:
    """Create the tracking database and table when missing (idempotent)."""
    db = _ident(tracking_db)
    cur.execute(f"CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4")
    cur.execute(
        f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations ("
        " track VARCHAR(64) NOT NULL,"
        " version INT UNSIGNED NOT NULL,"
        " name VARCHAR(128) NOT NULL,"
        " checksum CHAR(64) NOT NULL,"
        " applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),"
        " PRIMARY KEY (track, version)"
        ") ENGINE=InnoDB"
    )


def applied_versions(cur: Cursor, tracking_db: str, track: str) -> dict[int, str]:
    """Recorded version -> checksum for a track."""
    cur.execute(
        f"SELECT version, checksum FROM {_ident(tracking_db)}.schema_migrations WHERE track = %s",
        (track,),
    )
    return {int(row[0]): str(row[1]) for row in cur.fetchall()}


def migrate(
    cur: Cursor, migrations: Sequence[Migration], *, database: str, track: str, tracking_db: str
) -> tuple[int, list[str]]:
    """Apply the pending migrations in order; return (schema version, names applied).

    Raises MigrationError naming the migration and step that failed, after running its down
    section; earlier migrations of this run stay applied and recorded.
    """
    ensure_tracking(cur, tracking_db)
    done = applied_versions(cur, tracking_db, track)
    known = {m.version: m for m in migrations}
    for version, checksum in sorted(done.items()):
        if version not in known:
            raise MigrationError(
                f"{track}: the database is at migration {version:04d}, which this release"
                " does not have (a newer release applied it?)"
            )
        if known[version].checksum != checksum:
            raise MigrationError(
                f"{track}: migration {version:04d}_{known[version].name} was changed after it"
                " was applied; write a new migration instead"
            )
    current = max(done, default=0)
    applied: list[str] = []
    cur.execute(f"USE {_ident(database)}")
    for migration in migrations:
        if migration.version in done:
            continue
        label = f"{migration.version:04d}_{migration.name}"
        for step, statement in enumerate(migration.up, start=1):
            try:
                cur.execute(statement)
            except Exception as exc:
                revert_problem = _revert(cur, migration)
                first_line = statement.splitlines()[0][:80]
                raise MigrationError(
                    f"{track}: migration {label} failed at step {step}/{len(migration.up)}"
                    f" ({first_line}): {exc}; {revert_problem or 'reverted'}, schema stays"
                    f" at version {current}"
                ) from None
        cur.execute(
            f"INSERT INTO {_ident(tracking_db)}.schema_migrations"
            " (track, version, name, checksum) VALUES (%s, %s, %s, %s)",
            (track, migration.version, migration.name, migration.checksum),
        )
        current = migration.version
        applied.append(label)
    return current, applied


def _revert(cur: Cursor, migration: Migration) -> str | None:
    """Run the down section; return a description of the first failure, or None."""
    for statement in migration.down:
        try:
            cur.execute(statement)
        except Exception as exc:
            return f"revert step failed ({statement.splitlines()[0][:60]}): {exc}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry; connects through the local socket with the admin's client file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", required=True, type=Path)
    parser.add_argument("--database", required=True)
    parser.add_argument("--track", required=True)
    parser.add_argument("--tracking-db", default="clusterctl_ops")
    parser.add_argument("--socket", default="/run/mysqld/mysqld.sock")
    parser.add_argument("--defaults-file", default="/root/.my.cnf")
    args = parser.parse_args(argv)
    try:
        migrations = load_migrations(args.directory)
        try:
            # The [client] section of the defaults file holds root's password once it is set.
            connection = pymysql.connect(
                unix_socket=args.socket,
                read_default_file=str(args.defaults_file),
                autocommit=True,
                connect_timeout=10,
            )
        except pymysql.MySQLError as exc:
            raise MigrationError(f"cannot connect through {args.socket}: {exc}") from None
        with connection, connection.cursor() as cur:
            version, applied = migrate(
                cur,
                migrations,
                database=args.database,
                track=args.track,
                tracking_db=args.tracking_db,
            )
    except MigrationFileError as exc:
        print(f"clusterctl-migrate: {exc}", file=sys.stderr)
        return 2
    except MigrationError as exc:
        print(f"clusterctl-migrate: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"track": args.track, "version": version, "applied": applied}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
