"""The shipped examples stay valid: the tenant file against the example inventory, the
service config file as the service reads it."""

from __future__ import annotations

from pathlib import Path

from clusterctl.confsvc.config import load_config
from clusterctl.inventory import load_cluster
from clusterctl.provision import command, spec

ROOT = Path(__file__).resolve().parents[2]


def test_example_tenant_file_is_valid_for_the_example_inventory():
    cluster = load_cluster(str(ROOT / "inventory" / "example"))
    context = spec.Context(command.tenant_rows(cluster), command.inventory_dids(cluster),
                           lambda _dids: {})
    state = spec.load_tenant_file(ROOT / "examples" / "tenants" / "acme.yml", context)
    assert set(state.users) == {"1001", "1002"} and state.tenant.domain == "acme.voice.example.com"


def test_example_service_config_is_valid():
    config = load_config(ROOT / "examples" / "confsvc" / "confsvc.yml")
    assert config.client_named("10.20.0.21") is not None
