"""The service's config file, connection pool and XML helpers (no database)."""

from __future__ import annotations

import dataclasses
import threading

import pymysql
import pytest
from confsvc_support import acme_repository, call, capture, config
from mysql_fakes import FakeServers

from clusterctl.confsvc import xmlout
from clusterctl.confsvc.app import ConfigService
from clusterctl.confsvc.config import ConfigError, load_config, read_password
from clusterctl.confsvc.pool import Pool, PoolExhausted
from clusterctl.db.connect import Endpoint, NoDatabase

GOOD = """\
database:
  hosts: ["10.9.0.31", "10.9.0.32:3307"]
  password_file: {secret}
clients:
  fs1: {{address: 10.9.0.21, shard: s1}}
edge: {{vip: 10.9.0.10}}
"""


def test_config_file(tmp_path):
    secret = tmp_path / "db.secret"
    secret.write_text("unit-test-secret\n")
    path = tmp_path / "confsvc.yml"
    path.write_text(GOOD.format(secret=secret))
    cfg = load_config(path)
    assert cfg.database.endpoints() == [Endpoint("10.9.0.31", 3306), Endpoint("10.9.0.32", 3307)]
    assert read_password(cfg) == "unit-test-secret"
    assert cfg.client_named("10.9.0.21")[0] == "fs1"
    assert cfg.client_named("not an address") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("database: [", "not valid YAML"),
        ("{}", "database: Field required"),
        (GOOD.replace("edge:", "edgy:"), "edge: Field required"),
        (GOOD + "dial_rules: [{{permission: local, pattern: '('}}]\n", "bad pattern"),
        (GOOD.replace("10.9.0.21", "fs1.example"), "clients.fs1.address"),
    ],
)
def test_config_errors(tmp_path, text, message):
    path = tmp_path / "confsvc.yml"
    path.write_text(text.format(secret="/nonexistent") if "{secret}" in text else text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_config_and_password_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "none.yml")
    with pytest.raises(ConfigError, match="database password file /nonexistent: cannot read"):
        read_password(config())


# --- pool ---------------------------------------------------------------------------------


def pool(servers, size=2, timeout_s=0.2, clock=None):
    return Pool([Endpoint("db1"), Endpoint("db2")], "config", "unit-test", database="cfg",
                size=size, timeout_s=timeout_s, connect=servers.connect, retry_s=10,
                **({"clock": clock} if clock else {}))


def test_pool_reuses_connections_and_fails_over():
    servers = FakeServers(down={"db1"})
    p = pool(servers)
    assert p.query("SELECT 1") == [("db2",)]
    assert p.query("SELECT 1") == [("db2",)]
    assert len(servers.opened) == 1


def test_pool_goes_back_to_the_first_node_once_it_may_be_tried_again():
    now = [100.0]
    servers = FakeServers()
    p = pool(servers, clock=lambda: now[0])
    p.query("SELECT 1")
    servers.opened[0].fail_next = pymysql.err.OperationalError(2013, "Lost connection")
    assert p.query("SELECT 1") == [("db2",)]
    now[0] += 5  # db1 still waits its turn: the idle connection to db2 is reused
    assert p.query("SELECT 1") == [("db2",)]
    assert len(servers.opened) == 2
    now[0] += 6  # retry_s since it failed: db1 first again, db2's idle connection closed
    assert p.query("SELECT 1") == [("db1",)]
    assert servers.opened[1].closed and [c.host for c in servers.opened] == ["db1", "db2", "db1"]


def test_a_node_that_refuses_stays_last_until_its_turn():
    now = [100.0]
    servers = FakeServers(down={"db1"})
    attempts = []

    def connect(**kw):
        attempts.append(kw["host"])
        return servers.connect(**kw)

    p = Pool([Endpoint("db1"), Endpoint("db2")], "config", "unit-test", database="cfg",
             size=3, connect=connect, retry_s=10, clock=lambda: now[0])
    with p.connection(), p.connection():
        pass
    assert attempts == ["db1", "db2", "db2"]  # db1 refused once, then was not asked again
    now[0] += 10
    servers.down.clear()
    assert p.query("SELECT 1") == [("db1",)]
    assert attempts[-1] == "db1"


def test_a_silent_node_costs_one_borrower_per_turn_and_the_survivor_is_kept():
    now = [100.0]
    servers = FakeServers(down={"db1"})
    p = pool(servers, size=3, clock=lambda: now[0])
    assert p.query("SELECT 1") == [("db2",)]
    now[0] += 10  # db1's turn: one borrower tries it, the others reuse db2's connection
    for _ in range(5):
        assert p.query("SELECT 1") == [("db2",)]
    assert servers.tried == ["db1", "db2", "db1"]
    assert len(servers.opened) == 1 and not servers.opened[0].closed
    now[0] += 10
    servers.down.clear()
    assert p.query("SELECT 1") == [("db1",)]  # its next turn found it back
    assert servers.opened[0].closed  # so the survivor's idle connection went


def test_pool_no_database():
    with pytest.raises(NoDatabase, match="db1:3306: 2003"):
        pool(FakeServers(down={"db1", "db2"})).query("SELECT 1")


def test_pool_retries_once_on_the_other_node_when_the_connection_died():
    servers = FakeServers()
    p = pool(servers)
    p.query("SELECT 1")
    servers.opened[0].fail_next = pymysql.err.OperationalError(2013, "Lost connection")
    assert p.query("SELECT 1") == [("db2",)]
    assert servers.opened[0].closed and len(servers.opened) == 2


def test_a_dead_connection_takes_its_idle_siblings_with_it():
    # A stopped node kills every connection to it; the retry must not borrow another of them.
    servers = FakeServers()
    p = pool(servers, size=3)
    with p.connection(), p.connection():
        pass
    first, second = servers.opened
    for conn in (first, second):
        conn.fail_next = pymysql.err.OperationalError(2013, "Lost connection")
    assert p.query("SELECT 1") == [("db2",)]
    assert first.closed and second.closed
    assert [c.host for c in servers.opened] == ["db1", "db1", "db2"]


def test_pool_does_not_retry_other_errors():
    servers = FakeServers()
    p = pool(servers)
    p.query("SELECT 1")
    servers.opened[0].fail_next = pymysql.err.ProgrammingError(1064, "syntax")
    with pytest.raises(pymysql.err.ProgrammingError):
        p.query("SELECT 1")


def test_pool_exhausted_after_waiting():
    p = pool(FakeServers(), size=1, timeout_s=0.05)
    with p.connection(), pytest.raises(PoolExhausted):
        p.query("SELECT 1")


def test_pool_is_shared_by_threads():
    servers = FakeServers()
    p = pool(servers, size=3, timeout_s=2)
    errors = []

    def work():
        try:
            for _ in range(50):
                p.query("SELECT 1")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(servers.opened) <= 3
    p.close()
    assert all(c.closed for c in servers.opened)


# --- values FreeSWITCH would expand -------------------------------------------------------


def test_literal_refuses_expansion():
    assert xmlout.literal("Alice <&>") == "Alice <&>"
    with pytest.raises(xmlout.UnsafeValue):
        xmlout.literal("${system(id)}")


def test_stored_value_with_dollar_is_not_served(tmp_path):
    repo = acme_repository(tmp_path)
    state = repo.tenants["acme"]
    state.users["1001"] = dataclasses.replace(state.users["1001"],
                                              display_name="${system(id)}")
    app = ConfigService(config(), repo)
    body = capture(7, domain="acme.example.org", key_value="acme.example.org", user="1001")
    status, _, out = call(app, body)
    assert status == 200 and b'status="not found"' in out and b"system" not in out


def test_a_galera_node_that_is_not_ready_is_left_for_the_next():
    # A Galera node shutting down still takes connections but refuses queries with 1047.
    servers = FakeServers()
    p = pool(servers)
    p.query("SELECT 1")
    servers.opened[0].fail_next = pymysql.err.OperationalError(
        1047, "WSREP has not yet prepared node for application use")
    assert p.query("SELECT 1") == [("db2",)]
