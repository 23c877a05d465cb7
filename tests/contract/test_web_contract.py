"""The web tier's contract (issue 13): FreeSWITCH gets provisioned users from the
configuration service through the HAProxy on its own host, only for its shard's tenants; a
provisioning change is served at once; a stopped web node costs no lookup.

Skipped on a lab without FreeSWITCH or without web hosts. Each test is bounded (request
timeouts, a fixed number of lookups) and undoes its fault in a `finally`; the tenant's test
user is removed at the end through the same provisioning path.
"""

from __future__ import annotations

import json
import secrets
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from clusterctl.provision import command
from clusterctl.web import CONFSVC_PATH, CONFSVC_PORT, CONFSVC_PROXY_PORT, WEB_GROUP

from .harness import Edge, Remote

pytestmark = pytest.mark.lab

EXTENSION = "7990"  # outside the numbers the static XML and the other suites use
LOOKUPS = 300
LOOKUP_GAP_S = 0.02


@pytest.fixture(scope="module")
def web(edge: Edge) -> Edge:
    cluster = edge.cluster
    if not cluster.members(WEB_GROUP) or cluster.feature_server_unit != "freeswitch":
        pytest.skip("the lab has no web tier or runs SIPp stand-ins instead of FreeSWITCH")
    return edge


def _apply(edge: Edge, path: Path, *, prune: bool = False) -> command.Applied:
    cluster = edge.cluster
    with command.open_store(cluster) as store:
        done = command.apply_file(path, cluster, store, command.default_flusher(cluster),
                                  prune=prune)
    assert not done.flushed.failures, done.flushed.failures
    return done


class ProvisionedUser:
    """One user of the last tenant, written to a tenant file and applied."""

    def __init__(self, edge: Edge, directory: Path) -> None:
        self.tenant = edge.cluster.settings.tenants[-1]
        self.path = directory / f"{self.tenant.id}.yml"
        self.password = secrets.token_urlsafe(18)

    def write(self, name: str | None) -> Path:
        users = [] if name is None else [
            {"extension": EXTENSION, "name": name, "password": self.password}
        ]
        self.path.write_text(yaml.safe_dump({"tenant": self.tenant.id, "users": users}))
        return self.path


@pytest.fixture(scope="module")
def provisioned(web: Edge, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProvisionedUser]:
    tenant = ProvisionedUser(web, tmp_path_factory.mktemp("tenants"))
    _apply(web, tenant.write("Web Contract"))
    yield tenant
    _apply(web, tenant.write(None), prune=True)


def _shard_servers(edge: Edge, shard: str) -> list[Remote]:
    sh = edge.cluster.settings.shards[shard]
    return [edge.remote(sh.primary), edge.remote(sh.secondary)]


def _user_var(fs: Remote, tenant: ProvisionedUser, var: str) -> str:
    """What FreeSWITCH's directory says (``user_data``): from the service through HAProxy
    when the static XML does not have the user."""
    command_ = f"user_data {EXTENSION}@{tenant.tenant.domain} var {var}"
    return fs.run(f"fs_cli -x '{command_}'", 15).stdout.strip()


def test_the_shards_servers_get_the_user_from_the_service(web: Edge,
                                                          provisioned: ProvisionedUser) -> None:
    for fs in _shard_servers(web, provisioned.tenant.shard):
        assert _user_var(fs, provisioned, "tenant_id") == provisioned.tenant.id, fs.host.name
        assert _user_var(fs, provisioned, "effective_caller_id_name") == "Web Contract"
    # A server of another shard learns nothing about this tenant's users.
    other = next(s for s in web.cluster.settings.shards if s != provisioned.tenant.shard)
    for fs in _shard_servers(web, other):
        assert _user_var(fs, provisioned, "tenant_id") != provisioned.tenant.id, fs.host.name


def test_a_change_is_served_by_the_next_lookup(web: Edge, provisioned: ProvisionedUser) -> None:
    servers = _shard_servers(web, provisioned.tenant.shard)
    for fs in servers:  # both servers hold the old entry in their cache
        assert _user_var(fs, provisioned, "effective_caller_id_name") == "Web Contract"
    began = time.monotonic()
    done = _apply(web, provisioned.write("Web Contract Renamed"))
    applied = time.monotonic() - began
    assert sorted(done.hosts) == sorted(fs.host.name for fs in servers)
    # No waiting: the apply flushed both caches before it returned.
    names = [_user_var(fs, provisioned, "effective_caller_id_name") for fs in servers]
    served = time.monotonic() - began
    print(f"provisioning change: applied and flushed in {applied:.2f} s, served by both "
          f"servers {served:.2f} s after the apply started")
    assert names == ["Web Contract Renamed"] * 2
    _apply(web, provisioned.write("Web Contract"))


_LOOKUP_LOOP = """
import json, time, urllib.error, urllib.parse, urllib.request
body = urllib.parse.urlencode({{"section": "directory", "tag_name": "domain", "key_name": "name",
    "key_value": "{domain}", "action": "user_call", "user": "{user}",
    "domain": "{domain}"}}).encode()
print("WATCHING", flush=True)
bad = []
for i in range({count}):
    began = time.monotonic()
    try:
        with urllib.request.urlopen("{url}", data=body, timeout=3) as reply:
            ok = reply.status == 200 and b'user id="{user}"' in reply.read()
            if not ok:
                bad.append([i, "no user in the reply"])
    except (OSError, urllib.error.URLError) as exc:
        bad.append([i, str(exc)[:80]])
    time.sleep(max(0.0, {gap} - (time.monotonic() - began)))
print(json.dumps(bad))
"""


def test_a_stopped_web_node_costs_no_lookup(web: Edge, provisioned: ProvisionedUser) -> None:
    fs = _shard_servers(web, provisioned.tenant.shard)[0]
    victim = web.remote(web.cluster.members(WEB_GROUP)[0])
    url = f"http://127.0.0.1:{CONFSVC_PROXY_PORT}{CONFSVC_PATH}"
    script = _LOOKUP_LOOP.format(domain=provisioned.tenant.domain, user=EXTENSION, url=url,
                                 count=LOOKUPS, gap=LOOKUP_GAP_S)
    watch = fs.start(f"python3 -c {shlex.quote(script)}")
    try:
        time.sleep(LOOKUPS * LOOKUP_GAP_S / 3)
        victim.run("systemctl stop apache2", 30)
        finished = watch.wait(LOOKUPS * (LOOKUP_GAP_S + 3) + 10)
    finally:
        watch.kill()
        victim.run("systemctl start apache2", 30)
    assert finished.returncode == 0, finished.stderr
    bad = json.loads(finished.stdout.strip().splitlines()[-1])
    assert bad == [], f"{len(bad)} of {LOOKUPS} lookups failed with {victim.host.name} stopped"


def test_only_feature_servers_are_answered(web: Edge) -> None:
    # The probe host is no client of the service: the firewall (common_confsvc_port) and the
    # service's allow-list both keep it out; either way nothing is answered.
    node = web.cluster.hosts[web.cluster.members(WEB_GROUP)[0]]
    got = web.probe.run(
        "python3 -c 'import urllib.request, urllib.error\n"
        "try:\n"
        f"    urllib.request.urlopen(\"http://{node.address}:{CONFSVC_PORT}{CONFSVC_PATH}\","
        " data=b\"section=directory\", timeout=2); print(200)\n"
        "except urllib.error.HTTPError as exc: print(exc.code)\n"
        "except OSError as exc: print(\"refused\", exc)'", 15)
    assert not got.stdout.startswith("200"), got.stdout
