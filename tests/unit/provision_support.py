"""A small cluster model and tenant files for the provisioning and service tests."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

from clusterctl.model import Cluster, build_cluster

# Test values only: these are not anyone's passwords.
ALICE_PW = "Unit-Test-Pass-01"
BOB_PW = "Unit-Test-Pass-02"

SETTINGS: dict[str, Any] = {
    "cluster_name": "unit",
    "vrrp_instances": [{"name": "edge", "vip": "10.9.0.10", "prefix": 24, "router_id": 7}],
    "shards": {"s1": {"primary": "fs1", "secondary": "fs2"},
               "s2": {"primary": "fs3", "secondary": "fs4"}},
    "tenants": [
        {"id": "acme", "name": "Acme", "domain": "acme.example.org", "shard": "s1",
         "dids": ["+4930123400", "+4930123401"], "permissions": ["internal", "national"]},
        {"id": "globex", "name": "Globex", "domain": "globex.example.org", "shard": "s2",
         "dids": ["+4940999000"]},
    ],
    "db_config_password": "{{ vault_db_config_password }}",
}
ADDRESSES = {"edge1": "10.9.0.11", "edge2": "10.9.0.12", "fs1": "10.9.0.21", "fs2": "10.9.0.22",
             "fs3": "10.9.0.23", "fs4": "10.9.0.24", "db1": "10.9.0.31", "db2": "10.9.0.32"}
GROUPS = {
    "all": list(ADDRESSES),
    "sip_edge": ["edge1", "edge2"],
    "feature_servers": ["fs1", "fs2", "fs3", "fs4"],
    "databases": ["db1", "db2"],
}


def cluster(**overrides: Any) -> Cluster:
    """The test cluster; ``overrides`` replace settings."""
    settings = {**copy.deepcopy(SETTINGS), **overrides}
    hostvars = {}
    for name, address in ADDRESSES.items():
        hv = copy.deepcopy(settings)
        hv["ansible_host"] = address
        hv["vault_db_config_password"] = "unit-test-vaulted"
        if name in ("fs1", "fs2"):
            hv["shard"] = "s1"
        if name in ("fs3", "fs4"):
            hv["shard"] = "s2"
        hostvars[name] = hv
    return build_cluster(GROUPS, hostvars)


ACME = f"""\
tenant: acme
users:
  - extension: "1001"
    name: Alice <&> "A"
    caller_id: "+4930123401"
    password: "{ALICE_PW}"
  - extension: "1002"
    username: bob
    name: Bob
    password: "{BOB_PW}"
voicemail:
  - mailbox: "1001"
    user: "1001"
    pin: "4821"
    email: alice@acme.example.org
ring_groups:
  - number: "600"
    name: Sales
    strategy: sequential
    timeout: 20
    members: ["1001", "1002"]
conferences:
  - number: "700"
    name: All hands
queues:
  - number: "800"
    name: Support
    agents: ["1002"]
ivrs:
  - number: "500"
    name: Main menu
    greeting: ivr/ivr-welcome.wav
    entries:
      "1": ring_group 600
      "2": voicemail 1001
      "9": hangup
dids:
  - number: "+4930123400"
    to: ivr 500
  - number: "+4930123401"
    to: extension 1001
"""


def write(tmp_path: Path, text: str, name: str = "acme.yml") -> Path:
    """Write a tenant file (dedented) and return its path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path
