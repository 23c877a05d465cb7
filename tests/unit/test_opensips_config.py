"""The OpenSIPS edge config (roles/sip_edge/templates/etc/opensips/) rendered with lab-like inputs.

Rendered through Ansible's own Templar (the filters the templates use, ``comment`` and
``hash``, are Ansible's). The contract facts are read back from the rendered text; the last
tests run OpenSIPS's own checker (``opensips -C``) when a binary is available
(CLUSTERCTL_OPENSIPS_BIN, else /opt/opensips/sbin/opensips) and skip otherwise.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "sip_edge"
TEMPLATES = ROLE / "templates" / "etc" / "opensips"
HEADERS_DOC = REPO / "docs" / "headers.md"

DB_PASSWORD = "Edge-DB-pw_9f1c2e7a"
AUTH_SECRET = "nonce-secret-4b8d0c2e"
EDGE1, EDGE2, VIP = "172.29.10.11", "172.29.10.12", "172.29.10.100"

TENANTS: list[dict[str, Any]] = [
    {
        "id": "alpha",
        "domain": "alpha.lab.clusterctl.test",
        "shard": "shard1",
        "set_id": 1,
        "dids": ["+15550100001"],
        "permissions": ["internal", "local", "national"],
    },
    {
        "id": "beta",
        "domain": "beta.lab.clusterctl.test",
        "shard": "shard1",
        "set_id": 1,
        "dids": ["+15550100002", "+15550100012"],
        "permissions": ["internal", "local"],
    },
    {
        "id": "gamma",
        "domain": "Gamma.Lab.clusterctl.test",
        "shard": "shard2",
        "set_id": 2,
        "dids": [],
        "permissions": [],
    },
]
SETS: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "shard1",
        "destinations": [
            {"name": "fs1a", "address": "172.29.10.21", "port": 5060, "priority": 10},
            {"name": "fs1b", "address": "172.29.10.22", "port": 5060, "priority": 5},
        ],
    },
    {
        "id": 2,
        "name": "shard2",
        "destinations": [
            {"name": "fs2a", "address": "172.29.10.23", "port": 5060, "priority": 10},
            {"name": "fs2b", "address": "172.29.10.24", "port": 5080, "priority": 5},
        ],
    },
]


def lab_vars(listen: str = EDGE1, **overrides: Any) -> dict[str, Any]:
    """The role's inputs as playbooks/edge.yml computes them for the lab inventory."""
    variables: dict[str, Any] = {
        "ansible_managed": "Ansible managed: do not edit",
        "sip_edge_vip": VIP,
        "sip_edge_listen_address": listen,
        "sip_edge_sip_port": 5060,
        "sip_edge_management_port": 8888,
        "sip_edge_db_hosts": ["172.29.10.32", "172.29.10.31"],
        "sip_edge_db_port": 3306,
        "sip_edge_db_name": "clusterctl_edge",
        "sip_edge_db_user": "edge",
        "sip_edge_db_password": DB_PASSWORD,
        "sip_edge_auth_secret": AUTH_SECRET,
        "sip_edge_db_timeout": 6,
        "sip_edge_db_retry_interval": 10,
        "sip_edge_tenants": TENANTS,
        "sip_edge_dispatcher_sets": SETS,
        "sip_edge_feature_servers": [
            {"name": d["name"], "address": d["address"]} for s in SETS for d in s["destinations"]
        ],
        "sip_edge_carriers": [
            {"name": "pstn-a", "address": "198.51.100.0/24", "port": 5060},
            {"name": "pbx-b", "address": "203.0.113.7", "port": 5060},
        ],
        # Not the defaults, so a timer that ignores its variable shows.
        "sip_edge_ping_interval": 3,
        "sip_edge_probing_threshold": 4,
        "sip_edge_invite_timeout": 5,
        "sip_edge_ring_timeout": 90,
        "sip_edge_max_expires": 1800,
        "sip_edge_natping_interval": 25,
        "sip_edge_children": 8,
        "sip_edge_log_level": 2,
        "sip_edge_opensips_mpath": "/usr/lib/x86_64-linux-gnu/opensips/modules/",
        "sip_edge_opensips_dbtext_dir": "/etc/opensips/dbtext",
        "sip_edge_cluster_nodes": [EDGE1, EDGE2],
        "sip_edge_opensips_cluster_id": 1,
        "sip_edge_cluster_port": 5566,
        "sip_edge_location_flush_interval": 7,
        "sip_edge_auth_cache_ttl": 45,
        "sip_edge_opensips_shtag": "vip",
    }
    # The role's own constants (vars/main.yml), as Ansible loads them.
    variables.update(yaml.safe_load((ROLE / "vars/main.yml").read_text()))
    variables.update(overrides)
    return variables


def render(name: str, variables: dict[str, Any]) -> str:
    """Render one template as the template module would (trim_blocks, trailing newline)."""
    templar = Templar(loader=DataLoader(), variables=variables)
    text = (TEMPLATES / name).read_text()
    return str(templar.template(trust_as_template(text)))


@pytest.fixture(scope="module")
def cfg() -> str:
    return render("opensips.cfg.j2", lab_vars())


def modparams(text: str, module: str, param: str) -> list[str]:
    return re.findall(rf'^modparam\("{module}", "{param}", "?(.*?)"?\)$', text, re.M)


def dbtext_rows(text: str) -> list[dict[str, str]]:
    """db_text table -> rows keyed by column name (``\\:`` unescaped)."""
    header, *lines = text.splitlines()
    names = [col.split("(")[0] for col in header.split()]
    rows = []
    for line in lines:
        fields = [f.replace("\\:", ":") for f in re.split(r"(?<!\\):", line)]
        assert len(fields) == len(names), line
        rows.append(dict(zip(names, fields, strict=True)))
    return rows


def test_every_tenant_domain_maps_to_its_tenant_shard_and_set(cfg: str) -> None:
    for tenant in TENANTS:
        domain = tenant["domain"].lower()
        assert f'alias="{tenant["domain"]}"' in cfg
        case = re.search(rf'case "{re.escape(domain)}":\n(.*?)break;', cfg, re.S)
        assert case, domain
        body = case.group(1)
        assert f'$var(tenant_id) = "{tenant["id"]}";' in body
        assert f'$var(tenant_shard) = "{tenant["shard"]}";' in body
        assert f"$var(tenant_set) = {tenant['set_id']};" in body
        assert f'$var(tenant_perms) = "{",".join(tenant["permissions"])}";' in body
    # The lookup lower-cases the domain it compares.
    assert "switch ($(var(dom){s.tolower}))" in cfg


def test_every_did_maps_to_its_tenant(cfg: str) -> None:
    did_route = cfg.split("route[TENANT_BY_DID]", 1)[1]
    for tenant in TENANTS:
        for did in tenant["dids"]:
            case = re.search(
                rf'case "{re.escape(did)}":\n(?:\t\tcase "[^"]+":\n)*(.*?)break;', did_route, re.S
            )
            assert case, did
            assert f'$var(tenant_id) = "{tenant["id"]}";' in case.group(1)
            assert f'$rd = "{tenant["domain"]}";' in case.group(1)
    assert "gamma" not in did_route


def test_dispatcher_sets_keep_ids_and_priorities() -> None:
    rows = dbtext_rows(render("dbtext/dispatcher.j2", lab_vars()))
    got = [(int(r["setid"]), r["destination"], int(r["priority"]), r["description"]) for r in rows]
    assert got == [
        (1, "sip:172.29.10.21:5060", 10, "fs1a"),
        (1, "sip:172.29.10.22:5060", 5, "fs1b"),
        (2, "sip:172.29.10.23:5060", 10, "fs2a"),
        (2, "sip:172.29.10.24:5080", 5, "fs2b"),
    ]
    assert len({r["id"] for r in rows}) == len(rows)
    # Active at load, state not written back (persistent_state 0 in the config).
    assert {r["state"] for r in rows} == {"0"}


def test_calls_pick_by_priority_and_fail_over_within_the_call(cfg: str) -> None:
    selects = re.findall(r"ds_select_dst\((.+?)\)\)", cfg)
    # Algorithm 8: first destination in priority order, never hashing or round robin.
    assert selects == ['$var(tenant_set), 8, "f"']
    failure = cfg.split("failure_route[SHARD_FAILOVER]", 1)[1]
    assert 't_check_status("408|5[0-9][0-9]")' in failure
    assert 'ds_mark_dst("p")' in failure
    assert "ds_next_dst()" in failure
    assert "$var(marks) < 4" in failure
    assert modparams(cfg, "dispatcher", "persistent_state") == ["0"]


def test_timers_come_from_the_variables(cfg: str) -> None:
    assert modparams(cfg, "dispatcher", "ds_ping_interval") == ["3"]
    assert modparams(cfg, "dispatcher", "ds_probing_threshold") == ["4"]
    assert modparams(cfg, "dispatcher", "ds_probing_mode") == ["1"]
    assert modparams(cfg, "tm", "fr_timeout") == ["5"]
    assert modparams(cfg, "tm", "fr_inv_timeout") == ["90"]
    assert modparams(cfg, "nathelper", "natping_interval") == ["25"]
    assert modparams(cfg, "registrar", "max_expires") == ["1800"]
    assert modparams(cfg, "registrar", "default_expires") == ["1800"]
    assert modparams(cfg, "db_virtual", "db_probe_time") == ["10"]
    # The client tries a read three times: 6 s in all is 2 s per try.
    assert modparams(cfg, "db_mysql", "timeout_interval") == ["2"]
    # drill db's REGISTER bound for a silent node counts one reconnection, and a query must
    # run again after a reconnection that worked (the default max_db_queries, 2).
    assert modparams(cfg, "db_mysql", "max_db_retries") == ["1"]
    assert modparams(cfg, "db_mysql", "max_db_queries") == []


def test_probes_leave_from_the_host_and_calls_from_the_vip(cfg: str) -> None:
    assert modparams(cfg, "dispatcher", "ds_probing_sock") == [f"udp:{EDGE1}:5060"]
    assert modparams(cfg, "dispatcher", "ds_ping_from") == [f"sip:dispatcher@{EDGE1}"]
    assert cfg.count(f'$socket_out = "udp:{VIP}:5060";') == 2
    assert re.findall(r"^socket=(.*)$", cfg, re.M) == [
        f"udp:{VIP}:5060",
        f"udp:{EDGE1}:5060",
        f"bin:{EDGE1}:5566",
    ]


def test_mi_http_is_bound_to_the_host_address_only(cfg: str) -> None:
    assert modparams(cfg, "httpd", "ip") == [EDGE1]
    assert modparams(cfg, "httpd", "port") == ["8888"]
    assert modparams(cfg, "mi_http", "root") == ["mi"]
    management = [line for line in cfg.splitlines() if "httpd" in line or "mi_http" in line]
    assert management and not any(VIP in line for line in management)


def test_db_virtual_fails_over_across_the_hosts_in_order(cfg: str) -> None:
    urls = modparams(cfg, "db_virtual", "db_urls")
    assert urls[0] == "define edgedb FAILOVER"
    hosts = [re.match(r"mysql://edge:[^@]+@([^:]+):3306/clusterctl_edge$", u) for u in urls[1:]]
    assert [m.group(1) for m in hosts if m] == ["172.29.10.32", "172.29.10.31"]
    for module in ("usrloc", "sqlops", "presence"):
        assert modparams(cfg, module, "db_url") == ["virtual://edgedb"], module
    for module in ("dispatcher", "permissions"):
        assert modparams(cfg, module, "db_url") == ["text:///etc/opensips/dbtext"], module


def test_the_password_is_only_in_the_database_urls(cfg: str) -> None:
    lines = [line for line in cfg.splitlines() if DB_PASSWORD in line]
    assert len(lines) == 2
    assert all(line.startswith('modparam("db_virtual", "db_urls", "mysql://') for line in lines)
    for table in ("dbtext/dispatcher.j2", "dbtext/address.j2", "dbtext/version.j2"):
        assert DB_PASSWORD not in render(table, lab_vars())
    # The nonce secret is derived (32 characters), never written as given.
    assert AUTH_SECRET not in cfg
    assert re.search(r'modparam\("auth", "secret", "[0-9a-f]{32}"\)', cfg)


def test_internal_headers_are_stripped_and_set_as_documented(cfg: str) -> None:
    classify = cfg.split("route[CLASSIFY]", 1)[1].split("route[", 1)[0]
    assert 'if ($var(src) != "fs") {' in classify
    assert 'remove_hf_re("^X-(Tenant|FS)-");' in classify
    from_fs = cfg.split("route[FROM_FS]", 1)[1].split("route[", 1)[0]
    assert from_fs.index('remove_hf_re("^X-(Tenant|FS)-");') < from_fs.index('lookup("location")')
    to_shard = cfg.split("route[TO_SHARD]", 1)[1].split("route[", 1)[0]
    for header, var in (
        ("X-Tenant-Id", "tenant_id"),
        ("X-Tenant-Shard", "tenant_shard"),
        ("X-Tenant-Permissions", "tenant_perms"),
    ):
        assert f'append_hf("{header}: $var({var})\\r\\n");' in to_shard


def test_accounting_names_the_tenant_and_the_feature_server(cfg: str) -> None:
    assert modparams(cfg, "acc", "extra_fields") == ["log: tenant; fs; src_fs"]
    from_fs = cfg.split("route[FROM_FS]", 1)[1].split("route[", 1)[0]
    # Read before the internal headers are stripped.
    assert from_fs.index("$acc_extra(fs) = $hdr(X-FS-Id);") < from_fs.index("remove_hf_re(")
    reply = cfg.split("onreply_route[MANAGE_REPLY]", 1)[1]
    assert "$acc_extra(fs) = $hdr(X-FS-Id);" in reply
    assert "$acc_extra(src_fs) = $avp(fs_id);" in cfg


def test_every_documented_error_reply_is_sent(cfg: str) -> None:
    documented = re.findall(r"\| (\d{3}) `([^`]+)` \|", HEADERS_DOC.read_text())
    assert len(documented) >= 6
    for code, reason in documented:
        assert f'send_reply({code}, "{reason}")' in cfg, (code, reason)
    assert 'www_challenge("$td", "auth")' in cfg
    assert 'proxy_challenge("$fd", "auth")' in cfg
    assert 'send_reply(400, "Bad Request")' in cfg


def test_trusted_peers_are_address_groups() -> None:
    rows = dbtext_rows(render("dbtext/address.j2", lab_vars()))
    got = [(r["grp"], r["ip"], r["mask"], r["context_info"]) for r in rows]
    assert got == [
        ("1", "172.29.10.21", "32", "fs1a"),
        ("1", "172.29.10.22", "32", "fs1b"),
        ("1", "172.29.10.23", "32", "fs2a"),
        ("1", "172.29.10.24", "32", "fs2b"),
        ("2", "198.51.100.0", "24", "pstn-a"),
        ("2", "203.0.113.7", "32", "pbx-b"),
    ]
    assert len({r["id"] for r in rows}) == len(rows)


def test_table_versions_match_the_mariadb_schema() -> None:
    schema = REPO / "roles/mariadb/files/migrations/edge_opensips/0001_opensips_3_6.sql"
    versions = dict(re.findall(r"\('(\w+)', (\d+)\)", schema.read_text()))
    rows = dbtext_rows(render("dbtext/version.j2", lab_vars()))
    assert {r["table_name"]: r["table_version"] for r in rows} == {
        "dispatcher": versions["dispatcher"],
        "address": versions["address"],
    }


@pytest.mark.parametrize(
    ("listen", "node_id", "peer_id", "peer"), [(EDGE1, 1, 2, EDGE2), (EDGE2, 2, 1, EDGE1)]
)
def test_cluster_node_ids_and_the_vip_tag_starting_as_backup(
    listen: str, node_id: int, peer_id: int, peer: str
) -> None:
    cfg = render("opensips.cfg.j2", lab_vars(listen))
    assert modparams(cfg, "clusterer", "my_node_id") == [str(node_id)]
    [mine] = modparams(cfg, "clusterer", "my_node_info")
    assert f"node_id={node_id}, url=bin:{listen}:5566" in mine
    [neighbor] = modparams(cfg, "clusterer", "neighbor_node_info")
    assert f"node_id={peer_id}, url=bin:{peer}:5566" in neighbor
    assert modparams(cfg, "clusterer", "sharing_tag") == ["vip/1=backup"]
    assert "=active" not in cfg
    assert modparams(cfg, "nathelper", "cluster_sharing_tag") == ["vip"]
    assert 'save("location", , , "vip/1")' in cfg


def test_the_seed_waits_for_its_peer_longer_than_the_link_takes(cfg: str) -> None:
    # The restart sync on the seed node: 5 s (the default) was shorter than the link took.
    constants = yaml.safe_load((ROLE / "vars/main.yml").read_text())
    assert modparams(cfg, "clusterer", "seed_fallback_interval") == ["15"]
    assert constants["__sip_edge_opensips_sync_deadline_s"] > 15


def test_registrations_are_shared_with_the_peer_and_the_database(cfg: str) -> None:
    assert modparams(cfg, "usrloc", "cluster_mode") == ["full-sharing"]
    assert modparams(cfg, "usrloc", "location_cluster") == ["1"]
    assert modparams(cfg, "usrloc", "restart_persistency") == ["load-from-sql"]
    # In memory, written back on the flush timer; the peer's sync after a start is the unit's
    # ExecStartPost (clusterctl-opensips-sync).
    assert modparams(cfg, "usrloc", "sql_write_mode") == ["write-back"]
    assert modparams(cfg, "usrloc", "timer_interval") == ["7"]
    assert modparams(cfg, "usrloc", "skip_replicated_db_ops") == ["1"]
    assert modparams(cfg, "presence", "fallback2db") == ["1"]
    assert 'loadmodule "presence_mwi.so"' in cfg


def test_digest_checks_use_the_cached_ha1_and_recheck_a_wrong_password(cfg: str) -> None:
    assert 'loadmodule "auth_db.so"' not in cfg
    assert modparams(cfg, "auth", "password_spec") == ["$var(auth_ha1)"]
    assert modparams(cfg, "auth", "calculate_ha1") == ["0"]
    auth = cfg.split("route[AUTH] {", 1)[1].split("\nroute[", 1)[0]
    # The cache first, the table only on a miss or once more after a wrong password.
    assert auth.index("cache_fetch(") < auth.index("route(AUTH_LOAD)")
    assert "$var(auth_rc) == -2 && $var(auth_loaded) == 0" in auth
    load = cfg.split("route[AUTH_LOAD] {", 1)[1].split("\nroute[", 1)[0]
    assert "FROM subscriber WHERE username = '$(au{s.escape.common})'" in load
    assert 'cache_store("local", "$var(auth_key)", "$var(auth_ha1)", 45)' in load
    # Both the registrar and calls from users go through it.
    for route in ("REGISTRAR", "FROM_USER"):
        body = cfg.split(f"route[{route}] {{", 1)[1].split("\nroute[", 1)[0]
        assert "route(AUTH);" in body, route


# --- OpenSIPS's own checker -------------------------------------------------------------------


def _opensips() -> tuple[Path, Path] | None:
    """(binary, module dir) of an OpenSIPS build, or None."""
    binary = Path(os.environ.get("CLUSTERCTL_OPENSIPS_BIN", "/opt/opensips/sbin/opensips"))
    if not os.access(binary, os.X_OK):
        return None
    mods = sorted(binary.resolve().parents[1].glob("lib*/opensips/modules"))
    return (binary, mods[0]) if mods else None


OPENSIPS = _opensips()
needs_opensips = pytest.mark.skipif(
    OPENSIPS is None,
    reason="no OpenSIPS binary with a modules directory (set CLUSTERCTL_OPENSIPS_BIN or "
    "build one into /opt/opensips)",
)


def opensips_check(tmp_path: Path, variables: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    assert OPENSIPS is not None
    binary, mods = OPENSIPS
    variables["sip_edge_opensips_mpath"] = f"{mods}/"
    path = tmp_path / "opensips.cfg"
    path.write_text(render("opensips.cfg.j2", variables))
    return subprocess.run(
        [str(binary), "-C", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs_opensips
@pytest.mark.parametrize("listen", [EDGE1, EDGE2])
def test_opensips_accepts_the_rendered_config(tmp_path: Path, listen: str) -> None:
    result = opensips_check(tmp_path, lab_vars(listen))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "config file ok" in output


@needs_opensips
def test_opensips_accepts_the_config_without_dids_or_carriers(tmp_path: Path) -> None:
    tenants = [dict(t, dids=[]) for t in TENANTS]
    result = opensips_check(tmp_path, lab_vars(sip_edge_tenants=tenants, sip_edge_carriers=[]))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_opensips
def test_opensips_rejects_a_broken_render(tmp_path: Path) -> None:
    """The checker the role's validate: uses does fail: a tenant set id that is no number."""
    tenants = [dict(TENANTS[0], set_id="one)")]
    result = opensips_check(tmp_path, lab_vars(sip_edge_tenants=tenants))
    assert result.returncode != 0
