"""diff / apply / export against the in-memory store: idempotence, prune, flush, round trip."""

from __future__ import annotations

import contextlib

import pytest
from click.testing import CliRunner
from provision_support import ACME, ALICE_PW, BOB_PW, cluster, write

from clusterctl import cli
from clusterctl.errors import BadInput
from clusterctl.provision import command, export, spec
from clusterctl.provision.flush import NoFlush, RecordingFlusher
from clusterctl.provision.store import MemoryStore


def apply(path, store, flusher=None, prune=False):
    return command.apply_file(path, cluster(), store, flusher or RecordingFlusher(), prune=prune)


def test_first_apply_writes_everything_and_the_edge_rows(tmp_path):
    store = MemoryStore(engine="opensips")
    flusher = RecordingFlusher()
    done = apply(write(tmp_path, ACME), store, flusher)
    assert store.writes == 1
    assert [str(c) for c in done.plan.changes][:3] == ["+ user 1001", "+ user 1002",
                                                       "+ voicemail box 1001"]
    row = store.subscribers[("bob", "acme.example.org")]
    assert set(row) == {"password", "ha1", "ha1_sha256", "ha1_sha512t256"}
    assert row["password"] == ""
    assert done.hosts == ("fs1", "fs2")
    entries, hosts = flusher.calls[0]
    assert hosts == ("fs1", "fs2")
    assert set(entries) == {("1001", "acme.example.org"), ("1002", "acme.example.org"),
                            ("bob", "acme.example.org")}


def test_kamailio_rows_carry_ha1b(tmp_path):
    store = MemoryStore(engine="kamailio")
    apply(write(tmp_path, ACME), store)
    assert set(store.subscribers[("1001", "acme.example.org")]) == {"password", "ha1", "ha1b"}


def test_second_apply_changes_nothing(tmp_path):
    store = MemoryStore()
    path = write(tmp_path, ACME)
    apply(path, store)
    flusher = RecordingFlusher()
    done = apply(path, store, flusher)
    assert done.plan.empty and store.writes == 1 and flusher.calls == []


def test_password_change_is_named_not_shown_and_flushes_that_user(tmp_path):
    store = MemoryStore()
    apply(write(tmp_path, ACME), store)
    changed = ACME.replace(BOB_PW, "Unit-Test-Pass-03")
    flusher = RecordingFlusher()
    done = apply(write(tmp_path, changed), store, flusher)
    assert done.plan.lines() == ["~ user 1002 (password)"]
    assert set(flusher.calls[0][0]) == {("1002", "acme.example.org"), ("bob", "acme.example.org")}
    assert "Unit-Test-Pass-03" not in "\n".join(done.plan.lines())


def test_removal_needs_prune(tmp_path):
    store = MemoryStore()
    apply(write(tmp_path, ACME), store)
    smaller = ACME.replace('  - number: "700"\n    name: All hands\n', "")
    smaller = smaller.replace("conferences:\n", "")
    path = write(tmp_path, smaller)
    plan, _ = command.plan_file(path, cluster(), store, prune=False)
    assert plan.empty
    assert plan.lines() == ["= conference 700 (not in the file; kept, --prune removes it)"]
    done = apply(path, store, prune=True)
    assert done.plan.lines() == ["- conference 700"]
    assert "700" not in store.tenants["acme"].conferences


def test_prune_of_a_user_removes_its_edge_row(tmp_path):
    store = MemoryStore()
    apply(write(tmp_path, ACME), store)
    text = f'tenant: acme\nusers:\n  - extension: "1001"\n    password: "{ALICE_PW}"\n'
    done = apply(write(tmp_path, text), store, prune=True)
    assert "- user 1002" in done.plan.lines()
    assert ("bob", "acme.example.org") not in store.subscribers
    assert ("1001", "acme.example.org") in store.subscribers


def test_kept_feature_clashing_with_the_file_is_refused(tmp_path):
    store = MemoryStore()
    apply(write(tmp_path, ACME), store)
    text = 'tenant: acme\nconferences: [{number: "600", name: Now a conference}]\n'
    with pytest.raises(BadInput, match="ring group 600 is in the database but not in the file"):
        command.plan_file(write(tmp_path, text), cluster(), store, prune=False)


def test_refused_file_writes_nothing(tmp_path):
    store = MemoryStore()
    with pytest.raises(spec.SpecErrors):
        apply(write(tmp_path, ACME.replace(ALICE_PW, "weak")), store)
    assert store.writes == 0 and store.tenants == {}


def test_export_round_trip_changes_nothing(tmp_path):
    store = MemoryStore()
    apply(write(tmp_path, ACME), store)
    out = tmp_path / "export"
    [path] = command.export_tenants(cluster(), store, "acme", out)
    text = path.read_text()
    for secret in (ALICE_PW, BOB_PW, "4821"):
        assert secret not in text
    assert "digest:" in text and "pin_hash:" in text
    plan, _ = command.plan_file(path, cluster(), store, prune=True)
    assert plan.empty and plan.lines() == []
    assert export.to_yaml(store.tenants["acme"]) == text


def test_export_unknown_tenant(tmp_path):
    with pytest.raises(BadInput, match="tenant nope is not in the database"):
        command.export_tenants(cluster(), MemoryStore(), "nope", tmp_path)


def test_flush_failure_is_reported(tmp_path):
    flusher = RecordingFlusher(down=frozenset({"fs2"}))
    done = apply(write(tmp_path, ACME), MemoryStore(), flusher)
    assert done.flushed.failures == {"fs2": "unreachable"}


def test_vault_reference_is_resolved():
    assert cluster().secret("db_config_password") == "unit-test-vaulted"
    assert cluster(db_config_password="{{ lookup('x') }}").secret("db_config_password") is None
    assert cluster(db_config_password="plain").secret("db_config_password") == "plain"


# --- the command line -------------------------------------------------------------------------


@pytest.fixture
def cli_store(monkeypatch):
    store = MemoryStore()
    monkeypatch.setattr("clusterctl.validate.check_inventory", lambda *_a, **_k: cluster())

    @contextlib.contextmanager
    def fake_open(_cluster):
        yield store

    monkeypatch.setattr(command, "open_store", fake_open)
    # The event-socket flusher has its own tests (test_freeswitch_cache.py).
    monkeypatch.setattr(command, "default_flusher", lambda _cluster: NoFlush())
    return store


def test_cli_diff_apply_export(tmp_path, cli_store):
    path = write(tmp_path, ACME)
    runner = CliRunner()
    result = runner.invoke(cli.main, ["provision", "diff", "-f", str(path), "-i", "inv"])
    assert result.exit_code == 0, result.output
    assert "+ user 1001" in result.output and cli_store.writes == 0
    result = runner.invoke(cli.main, ["provision", "apply", "-f", str(path), "-i", "inv"])
    assert result.exit_code == 0, result.output
    assert "change(s) applied" in result.output and cli_store.writes == 1
    result = runner.invoke(cli.main, ["provision", "apply", "-f", str(path), "-i", "inv"])
    assert result.output.strip().endswith("tenant acme: no change")
    out = tmp_path / "out"
    result = runner.invoke(cli.main, ["provision", "export", "-i", "inv", "-o", str(out)])
    assert result.exit_code == 0 and (out / "acme.yml").is_file()


def test_cli_bad_file_exit_2_one_message_per_error(tmp_path, cli_store):
    path = write(tmp_path, ACME.replace(ALICE_PW, "weak").replace('"600"', '"700"'))
    result = CliRunner().invoke(cli.main, ["provision", "apply", "-f", str(path), "-i", "inv"])
    assert result.exit_code == 2
    assert "3 errors in the tenant file, nothing written" in result.output
    assert "acme.yml:6: user 1001: password too weak" in result.output
    assert "Traceback" not in result.output and "weak\"" not in result.output
    assert cli_store.writes == 0


def test_cli_missing_file(tmp_path, cli_store):
    result = CliRunner().invoke(
        cli.main, ["provision", "diff", "-f", str(tmp_path / "none.yml"), "-i", "inv"])
    assert result.exit_code == 2 and "no such file" in result.output


def test_domain_change_moves_every_edge_row(tmp_path):
    store = MemoryStore()
    apply(write(tmp_path, ACME), store)
    moved = cluster(tenants=[
        {"id": "acme", "name": "Acme", "domain": "acme.example.net", "shard": "s1",
         "dids": ["+4930123400", "+4930123401"], "permissions": ["internal", "national"]},
        {"id": "globex", "name": "Globex", "domain": "globex.example.org", "shard": "s2"},
    ])
    flusher = RecordingFlusher()
    done = command.apply_file(write(tmp_path, ACME), moved, store, flusher, prune=False)
    assert done.plan.tenant_changed == ("domain",)
    assert set(store.subscribers) == {("1001", "acme.example.net"), ("bob", "acme.example.net")}
    assert ("1001", "acme.example.org") in flusher.calls[0][0]


def test_domain_change_needs_passwords_not_digests(tmp_path):
    store = MemoryStore()
    apply(write(tmp_path, ACME), store)
    [exported] = command.export_tenants(cluster(), store, "acme", tmp_path / "out")
    moved = cluster(tenants=[
        {"id": "acme", "name": "Acme", "domain": "acme.example.net", "shard": "s1",
         "dids": ["+4930123400", "+4930123401"], "permissions": ["internal", "national"]},
    ])
    with pytest.raises(BadInput, match="user 1001: its digests were made for domain"):
        command.plan_file(exported, moved, store, prune=False)
