"""The migration runner (roles/mariadb/files/clusterctl_migrate.py) and the shipped migrations."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROLE_FILES = Path(__file__).resolve().parents[2] / "roles" / "mariadb" / "files"
MIGRATIONS = ROLE_FILES / "migrations"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "clusterctl_migrate", ROLE_FILES / "clusterctl_migrate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["clusterctl_migrate"] = module
    spec.loader.exec_module(module)
    return module


m = _load()


class FakeDb:
    """Records statements; fails the statements containing ``fail_on``; keeps schema_migrations."""

    def __init__(self, *fail_on: str) -> None:
        self.fail_on = fail_on
        self.executed: list[str] = []
        self.recorded: list[tuple[Any, ...]] = []
        self._rows: list[tuple[Any, ...]] = []

    def execute(self, query: str, args: Any = None) -> int:
        self.executed.append(query)
        if any(pattern in query for pattern in self.fail_on):
            raise RuntimeError("(1064, 'syntax error')")
        if query.startswith("SELECT version, checksum"):
            self._rows = [(r[1], r[3]) for r in self.recorded if r[0] == args[0]]
        elif "INSERT INTO `ops`.schema_migrations" in query:
            self.recorded.append(tuple(args))
        return 0

    def fetchall(self) -> Sequence[Sequence[Any]]:
        return self._rows


def write(tmp: Path, name: str, up: str, down: str) -> None:
    (tmp / name).write_text(f"-- test\n-- up\n{up}\n-- down\n{down}\n")


def run(db: FakeDb, directory: Path) -> tuple[int, list[str]]:
    result: tuple[int, list[str]] = m.migrate(
        db, m.load_migrations(directory), database="app", track="app", tracking_db="ops"
    )
    return result


def test_applies_in_order_records_and_is_idempotent(tmp_path: Path) -> None:
    write(tmp_path, "0002_b.sql", "CREATE TABLE b (id INT);", "DROP TABLE IF EXISTS b;")
    write(
        tmp_path,
        "0001_a.sql",
        "CREATE TABLE a (\n  id INT\n);\nINSERT INTO a VALUES (1);",
        "DROP TABLE IF EXISTS a;",
    )
    db = FakeDb()
    assert run(db, tmp_path) == (2, ["0001_a", "0002_b"])
    assert [
        q
        for q in db.executed
        if q.startswith(("CREATE TABLE a", "CREATE TABLE b", "INSERT INTO a"))
    ] == ["CREATE TABLE a (\n  id INT\n)", "INSERT INTO a VALUES (1)", "CREATE TABLE b (id INT)"]
    db.executed.clear()
    assert run(db, tmp_path) == (2, [])
    assert not any(q.startswith("CREATE TABLE a") for q in db.executed)


def test_failed_step_reverts_and_names_the_step(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id INT);", "DROP TABLE IF EXISTS a;")
    write(
        tmp_path,
        "0002_b.sql",
        "CREATE TABLE b (id INT);\nCREATE TABLE c (bad);",
        "DROP TABLE IF EXISTS c;\nDROP TABLE IF EXISTS b;",
    )
    db = FakeDb("CREATE TABLE c")
    with pytest.raises(m.MigrationError) as info:
        run(db, tmp_path)
    message = str(info.value)
    assert "migration 0002_b failed at step 2/2 (CREATE TABLE c (bad))" in message
    assert "reverted, schema stays at version 1" in message
    assert db.executed[-2:] == ["DROP TABLE IF EXISTS c", "DROP TABLE IF EXISTS b"]
    assert [r[1] for r in db.recorded] == [1]


def test_failed_revert_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (bad);", "DROP TABLE a_broken;")
    db = FakeDb("CREATE TABLE a (bad)", "a_broken")
    with pytest.raises(m.MigrationError, match=r"revert step failed \(DROP TABLE a_broken\)"):
        run(db, tmp_path)


def test_changed_applied_migration_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id INT);", "DROP TABLE IF EXISTS a;")
    db = FakeDb()
    run(db, tmp_path)
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id BIGINT);", "DROP TABLE IF EXISTS a;")
    with pytest.raises(m.MigrationError, match="was changed after it was applied"):
        run(db, tmp_path)


def test_database_ahead_of_the_release_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id INT);", "DROP TABLE IF EXISTS a;")
    db = FakeDb()
    db.recorded.append(("app", 7, "future", "x"))
    with pytest.raises(m.MigrationError, match="at migration 0007"):
        run(db, tmp_path)


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("1_a.sql", "-- up\nSELECT 1;\n-- down\n", "named NNNN_name.sql"),
        ("0001_a.sql", "-- down\nSELECT 1;\n-- up\nSELECT 1;\n", "'-- up' then a '-- down'"),
        ("0001_a.sql", "-- up\nSELECT 1\n-- down\n", "without a closing ';'"),
        ("0001_a.sql", "-- up\n-- down\nSELECT 1;\n", "no statement"),
    ],
)
def test_malformed_files_are_refused(tmp_path: Path, name: str, text: str, error: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(m.MigrationFileError, match=re.escape(error)):
        m.load_migrations(tmp_path)


def test_main_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        m.main(["--directory", str(tmp_path / "missing"), "--database", "d", "--track", "t"]) == 2
    )
    assert "no migration directory" in capsys.readouterr().err


# What each engine checks at start-up, from the engines' own schema scripts: Kamailio 6.0.1
# (Debian 13 kamailio-mysql-modules, /usr/share/kamailio/mysql) and OpenSIPS 3.6.8
# (scripts/mysql in the 3.6.8 tag).
KAMAILIO_6_0 = {
    "version": 1,
    "subscriber": 7,
    "location": 9,
    "location_attrs": 1,
    "dispatcher": 4,
    "trusted": 6,
    "address": 6,
    "domain": 2,
    "domain_attrs": 1,
    "dialog": 7,
    "dialog_vars": 1,
    "acc": 5,
    "acc_cdrs": 2,
    "missed_calls": 4,
    "presentity": 5,
    "active_watchers": 12,
    "watchers": 3,
    "xcap": 4,
    "pua": 7,
}
OPENSIPS_3_6 = {
    "subscriber": 8,
    "uri": 2,
    "location": 1013,
    "dispatcher": 9,
    "address": 5,
    "domain": 4,
    "dialog": 12,
    "acc": 7,
    "missed_calls": 5,
    "presentity": 5,
    "active_watchers": 12,
    "watchers": 4,
    "xcap": 4,
    "pua": 9,
    "clusterer": 4,
}


@pytest.mark.parametrize(
    ("track", "expected"), [("edge_kamailio", KAMAILIO_6_0), ("edge_opensips", OPENSIPS_3_6)]
)
def test_edge_schema_matches_the_engine_release(track: str, expected: dict[str, int]) -> None:
    (migration,) = m.load_migrations(MIGRATIONS / track)
    created = [s.split()[2] for s in migration.up if s.startswith("CREATE TABLE")]
    (insert,) = [s for s in migration.up if s.startswith("INSERT INTO version")]
    versions = {n: int(v) for n, v in re.findall(r"\('(\w+)', (\d+)\)", insert)}
    assert versions == expected
    # Every versioned table exists (Kamailio versions the version table itself) and the down
    # section drops every created table.
    assert set(expected) <= set(created)
    assert {re.sub(r"DROP TABLE IF EXISTS ", "", s) for s in migration.down} == set(created)


def test_every_table_has_a_primary_key_and_innodb() -> None:
    for directory in sorted(p for p in MIGRATIONS.iterdir() if p.is_dir()):
        for migration in m.load_migrations(directory):
            for statement in migration.up:
                if statement.startswith("CREATE TABLE"):
                    assert "PRIMARY KEY" in statement, statement.splitlines()[0]
                    assert statement.endswith("ENGINE=InnoDB"), statement.splitlines()[0]
