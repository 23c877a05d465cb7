"""Fixtures of the edge contract suite (`pytest -m lab tests/contract`).

Runs against a deployed cluster: by default the session's lab (tests/conftest.py brings it
up and deploys site.yml); with CLUSTERCTL_CONTRACT_INVENTORY set, against that inventory as
it is (an already deployed lab, e.g. inventory/lab, or another cluster), deploying nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusterctl.inventory import load_cluster

from .harness import Edge, User


@pytest.fixture(scope="session")
def edge(request: pytest.FixtureRequest) -> Edge:
    """The deployed cluster; fails when the edge is not in its steady state."""
    source = os.environ.get("CLUSTERCTL_CONTRACT_INVENTORY")
    if source is None:
        source = str(request.getfixturevalue("deployed_lab"))
    elif not Path(source).exists():
        pytest.skip(f"CLUSTERCTL_CONTRACT_INVENTORY={source} does not exist")
    env = Edge(load_cluster(source))
    holders = env.vip_holders()
    names = [h.host.name for h in holders]
    assert len(names) == 1, f"steady state: VIP {env.vip} must be on one edge, is on {names}"
    return env


@pytest.fixture(scope="session", autouse=True)
def quiet_nat_keepalives(edge: Edge) -> Iterator[None]:
    """NAT keepalives off on both edges while the suite runs, back on on the VIP holder
    (keepalived's notify script switches them on each VRRP transition, as deployed)."""
    for node in edge.edges:
        edge.nat_keepalives(node, False)
    yield
    for node in edge.vip_holders():
        edge.nat_keepalives(node, True)


@pytest.fixture(scope="session")
def users(edge: Edge) -> Iterator[list[User]]:
    """Two subscribers per tenant for this run, removed afterwards."""
    made = edge.make_users()
    yield made
    edge.drop_users(made)
