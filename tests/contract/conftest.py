"""Fixtures of the edge contract suite (`pytest -m lab tests/contract`).

Runs against a deployed cluster: `clusterctl lab up`, then playbooks/database.yml,
feature_standin.yml and edge.yml. The inventory is CLUSTERCTL_CONTRACT_INVENTORY or
inventory/lab; without one every test is skipped, saying so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusterctl.inventory import load_cluster

from .harness import Edge, User

REPO_ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Contract tests drive a live cluster: only when `-m lab` asks for them."""
    if "lab" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="needs a deployed lab: run `pytest -m lab tests/contract`")
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def edge() -> Edge:
    """The deployed cluster; skips when there is no inventory, fails when the edge is down."""
    source = os.environ.get("CLUSTERCTL_CONTRACT_INVENTORY", str(REPO_ROOT / "inventory" / "lab"))
    if not Path(source).exists():
        pytest.skip(f"no inventory at {source}: run `clusterctl lab up` and deploy the edge")
    env = Edge(load_cluster(source))
    holders = env.vip_holders()
    names = [h.host.name for h in holders]
    assert len(names) == 1, f"steady state: VIP {env.vip} must be on one edge, is on {names}"
    return env


@pytest.fixture(scope="session")
def users(edge: Edge) -> Iterator[list[User]]:
    """Two subscribers per tenant for this run, removed afterwards."""
    made = edge.make_users()
    yield made
    edge.drop_users(made)
