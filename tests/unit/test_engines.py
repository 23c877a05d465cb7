"""The engine facts of clusterctl/engines.py are the ones the roles use when they run alone.

Playbooks pass the Python values in; a role's defaults keep their own copy so the role runs
without clusterctl. These tests fail as soon as one copy drifts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from clusterctl import engines
from clusterctl.drills.build import PROBE_DIR, PROBE_HOLD_S
from clusterctl.errors import BadInput
from clusterctl.model import KNOWN_GROUPS, ClusterSettings

ROLES = Path(__file__).resolve().parents[2] / "roles"


def role_file(path: str) -> Any:
    return yaml.safe_load((ROLES / path).read_text(encoding="utf-8"))


def tasks_of(path: str) -> list[dict[str, Any]]:
    return list(role_file(path))


@pytest.mark.parametrize("engine", engines.ENGINES.values(), ids=lambda e: e.name)
def test_sip_edge_management_port_default_is_the_engine_port(engine: engines.EdgeEngine) -> None:
    default = role_file("sip_edge/defaults/main.yml")["sip_edge_management_port"]
    templar = Templar(loader=DataLoader(), variables={"sip_edge_engine": engine.name})
    assert int(templar.template(trust_as_template(default))) == engine.management_port


def test_common_defaults_to_the_default_engine_port() -> None:
    default = role_file("common/defaults/main.yml")["common_edge_management_port"]
    assert default == engines.ENGINES[engines.DEFAULT_ENGINE].management_port


def test_the_default_engine_is_the_same_everywhere() -> None:
    assert ClusterSettings.model_fields["edge_engine"].default == engines.DEFAULT_ENGINE
    assert role_file("mariadb/defaults/main.yml")["mariadb_edge_engine"] == engines.DEFAULT_ENGINE


@pytest.mark.parametrize("engine", engines.ENGINES.values(), ids=lambda e: e.name)
def test_the_role_starts_and_restarts_the_engine_unit(engine: engines.EdgeEngine) -> None:
    def units(tasks: list[dict[str, Any]]) -> set[str]:
        # A daemon-reload task names no unit.
        return {
            t["ansible.builtin.systemd_service"]["name"]
            for t in tasks
            if "name" in t.get("ansible.builtin.systemd_service", {})
        }

    others = {e.unit for e in engines.ENGINES.values()} - {engine.unit}
    started = units(tasks_of(f"sip_edge/tasks/{engine.name}.yml"))
    assert engine.unit in started
    assert not started & others
    assert engine.unit in units(tasks_of("sip_edge/handlers/main.yml"))


def test_opensips_handlers_use_the_management_path() -> None:
    urls = {
        t["ansible.builtin.uri"]["url"]
        for t in tasks_of("sip_edge/handlers/main.yml")
        if "ansible.builtin.uri" in t
    }
    assert urls
    assert {u.rsplit("}}", 1)[1] for u in urls} == {engines.OPENSIPS.management_path}


def test_edge_database_timers_are_the_roles() -> None:
    defaults = role_file("sip_edge/defaults/main.yml")
    assert defaults["sip_edge_db_timeout"] == engines.EDGE_DB_TIMEOUT_S
    assert defaults["sip_edge_db_retry_interval"] == engines.EDGE_DB_RETRY_S
    assert defaults["sip_edge_location_flush_interval"] == engines.EDGE_LOCATION_FLUSH_S


def test_opensips_sharing_tag_is_the_roles() -> None:
    defaults = role_file("sip_edge/defaults/main.yml")
    assert defaults["sip_edge_opensips_shtag"] == engines.OPENSIPS_SHTAG
    assert defaults["sip_edge_opensips_cluster_id"] == engines.OPENSIPS_CLUSTER_ID


def test_common_knows_the_models_groups() -> None:
    assert tuple(role_file("common/vars/main.yml")["__common_cluster_groups"]) == KNOWN_GROUPS


def test_drill_probe_defaults_are_what_the_drills_read() -> None:
    defaults = role_file("drill_probe/defaults/main.yml")
    assert defaults["drill_probe_dir"] == PROBE_DIR
    assert defaults["drill_probe_hold_ms"] == PROBE_HOLD_S * 1000


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(BadInput, match="unknown edge engine 'asterisk'"):
        engines.engine("asterisk")
