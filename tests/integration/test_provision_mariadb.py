"""Provisioning and the service against a real MariaDB (marked mariadb; skipped without one).

Both edge engines' schemas, built by the role's migration runner: the write is one
transaction, re-applying changes nothing, the edge rows hold digests only, and the service
answers from the database exactly what it answers from the in-memory repository.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

import mariadb_support
from confsvc_support import FS1, acme_repository, call, capture, config
from provision_support import ACME, ALICE_PW, BOB_PW, cluster, write

from clusterctl.confsvc.app import ConfigService
from clusterctl.confsvc.pool import Pool
from clusterctl.confsvc.repository import MariaDBRepository
from clusterctl.provision import command, spec
from clusterctl.provision.flush import RecordingFlusher
from clusterctl.provision.store import MariaDBStore, StoreError

pytestmark = pytest.mark.mariadb
_WHY = mariadb_support.reachable()
if _WHY:
    pytestmark = [pytest.mark.mariadb, pytest.mark.skip(reason=_WHY)]

PREFIX = "cc_it"


@pytest.fixture(params=["opensips", "kamailio"])
def db(request):
    conn = mariadb_support.admin()
    config_db, edge_db = mariadb_support.create_schema(conn, PREFIX, request.param)
    store = MariaDBStore(conn, request.param, config_db=config_db, edge_db=edge_db)
    yield conn, store, request.param, config_db, edge_db
    mariadb_support.drop_schema(conn, PREFIX)
    conn.close()


def rows(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_apply_is_one_idempotent_write_with_digests_only(tmp_path, db):
    conn, store, engine, cfg, edge = db
    path = write(tmp_path, ACME)
    done = command.apply_file(path, cluster(), store, RecordingFlusher(), prune=False)
    assert len(done.plan.changes) == 9
    subscribers = rows(conn, f"SELECT username, domain, password, ha1 FROM {edge}.subscriber"
                             " ORDER BY username")
    assert [(r[0], r[1], r[2]) for r in subscribers] == [
        ("1001", "acme.example.org", ""), ("bob", "acme.example.org", "")]
    dump = repr(rows(conn, f"SELECT * FROM {edge}.subscriber")) + repr(
        rows(conn, f"SELECT * FROM {cfg}.extensions")) + repr(
        rows(conn, f"SELECT * FROM {cfg}.voicemail_boxes"))
    for secret in (ALICE_PW, BOB_PW, "'4821'"):
        assert secret not in dump
    if engine == "kamailio":
        assert len(rows(conn, f"SELECT ha1b FROM {edge}.subscriber")[0][0]) == 32
    again = command.apply_file(path, cluster(), store, RecordingFlusher(), prune=False)
    assert again.plan.empty
    assert store.load(done.plan.result.tenant) == done.plan.result


def test_export_reapplies_to_no_change_and_prune_deletes(tmp_path, db):
    conn, store, _, cfg, edge = db
    command.apply_file(write(tmp_path, ACME), cluster(), store, RecordingFlusher(), prune=False)
    [exported] = command.export_tenants(cluster(), store, "acme", tmp_path / "out")
    plan, _ = command.plan_file(exported, cluster(), store, prune=True)
    assert plan.empty
    text = f'tenant: acme\nusers:\n  - extension: "1001"\n    password: "{ALICE_PW}"\n'
    done = command.apply_file(write(tmp_path, text, "small.yml"), cluster(), store,
                              RecordingFlusher(), prune=True)
    assert "- user 1002" in done.plan.lines() and "- DID +4930123400" in done.plan.lines()
    assert rows(conn, f"SELECT username FROM {edge}.subscriber") == (("1001",),)
    assert rows(conn, f"SELECT COUNT(*) FROM {cfg}.ring_group_members") == ((0,),)


def test_did_of_another_tenant_in_the_database_is_refused(tmp_path, db):
    conn, store, _, cfg, _ = db
    command.apply_file(write(tmp_path, ACME), cluster(), store, RecordingFlusher(), prune=False)
    # The inventory moved the DID to globex, the database still has it for acme.
    moved = cluster(tenants=[
        {"id": "acme", "name": "Acme", "domain": "acme.example.org", "shard": "s1"},
        {"id": "globex", "name": "Globex", "domain": "globex.example.org", "shard": "s2",
         "dids": ["+4930123400"]},
    ])
    text = 'tenant: globex\nconferences: [{number: "700", name: C}]\n' \
           'dids: [{number: "+4930123400", to: conference 700}]\n'
    with pytest.raises(spec.SpecErrors, match="already owned by tenant acme"):
        command.apply_file(write(tmp_path, text, "globex.yml"), moved, store,
                           RecordingFlusher(), prune=False)
    assert rows(conn, f"SELECT COUNT(*) FROM {cfg}.tenants") == ((1,),)


def test_failed_write_rolls_everything_back(tmp_path, db, monkeypatch):
    conn, store, _, cfg, edge = db
    real = MariaDBStore._upsert

    def fail_on_dids(self, cur, change, result, current):
        if change.kind == "dids":
            cur.execute("INSERT INTO no_such_table VALUES (1)")
        real(self, cur, change, result, current)

    monkeypatch.setattr(MariaDBStore, "_upsert", fail_on_dids)
    with pytest.raises(StoreError, match=r"write failed at \+ DID .*rolled back"):
        command.apply_file(write(tmp_path, ACME), cluster(), store, RecordingFlusher(),
                           prune=False)
    assert rows(conn, f"SELECT COUNT(*) FROM {cfg}.extensions") == ((0,),)
    assert rows(conn, f"SELECT COUNT(*) FROM {edge}.subscriber") == ((0,),)
    assert rows(conn, f"SELECT COUNT(*) FROM {cfg}.tenants") == ((0,),)


def test_service_answers_from_the_database_as_from_memory(tmp_path, db):
    _, store, _, cfg, _ = db
    command.apply_file(write(tmp_path, ACME), cluster(), store, RecordingFlusher(), prune=False)
    globex = 'tenant: globex\nusers:\n  - extension: "1001"\n    password: "Globex-Unit-Test-1"\n'
    command.apply_file(write(tmp_path, globex, "globex.yml"), cluster(), store,
                       RecordingFlusher(), prune=False)
    endpoint, user, password = mariadb_support.server()
    pool = Pool([endpoint], user, password, database=cfg, size=2)
    from_db = ConfigService(config(), MariaDBRepository(pool))
    from_memory = ConfigService(config(), acme_repository(tmp_path / "mem"))
    bodies = [capture(7, domain="acme.example.org", key_value="acme.example.org", user=u)
              for u in ("1001", "bob", "1002", "9999", "1001' OR 1=1")]
    for number in ("1001", "600", "700", "800", "500", "ivr-500-2", "+4930123400", "*991001",
                   "030123456", "+14155550100", "nothing"):
        bodies.append(capture(5, **{"Hunt-Destination-Number": number,
                                    "variable_sip_h_X-Tenant-Id": "acme"}))
    for body in bodies:
        assert call(from_db, body, address=FS1) == call(from_memory, body, address=FS1)
    pool.close()


@pytest.fixture
def tmp_path(tmp_path):  # the in-memory twin lives in its own directory
    (tmp_path / "mem").mkdir()
    return tmp_path
