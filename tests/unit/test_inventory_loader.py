"""The loader reads inventories through Ansible: bad input is one line naming the file, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret
from click.testing import CliRunner

from clusterctl.cli import main
from clusterctl.errors import EXIT_BAD_INPUT, BadInput
from clusterctl.inventory import load_cluster, read_inventory
from clusterctl.validate import check_inventory

VAULTED = "group_vars/all/vault.yml"
PASSWORD = "correct horse battery staple"
VAULT_TEXT = "".join(
    f"vault_{key}: secret-{key}\n"
    for key in ("db_root_password", "db_replication_password", "db_edge_password")
)


def vault_encrypt(path: Path, text: str, password: str = PASSWORD) -> None:
    """Write ``text`` to ``path`` encrypted as `ansible-vault encrypt` would."""
    vault = VaultLib([("default", VaultSecret(password.encode()))])
    path.write_bytes(vault.encrypt(text))


def listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory below ``root`` with its size and mtime."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def vaulted(inventory_copy: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The example with a vault-encrypted group_vars file, and a file holding its password."""
    vault_encrypt(inventory_copy / VAULTED, VAULT_TEXT)
    password_file = tmp_path / "vault-pass.txt"
    password_file.write_text(PASSWORD + "\n")
    return inventory_copy, password_file


def bad_input(source: Path | str, **kwargs: str) -> str:
    with pytest.raises(BadInput) as err:
        read_inventory(str(source), **kwargs)
    assert err.value.exit_code == EXIT_BAD_INPUT
    assert "\n" not in err.value.message
    return err.value.message


def test_reads_groups_and_raw_hostvars(inventory_copy):
    groups, hostvars = read_inventory(str(inventory_copy))
    assert groups["sip_edge"] == ["edge1", "edge2"]
    assert sorted(groups["storage"]) == ["db1", "web1", "web2"]
    assert hostvars["fs2a"]["shard"] == "shard2"
    # Raw, untemplated: vault references stay references (validate needs no vault password).
    assert hostvars["edge1"]["db_root_password"] == "{{ vault_db_root_password }}"
    assert len(hostvars) == 11


def test_load_cluster_builds_the_model(inventory_copy):
    cluster = load_cluster(str(inventory_copy))
    assert str(cluster.hosts["edge2"].address) == "10.20.0.12"
    assert cluster.settings.vrrp_instances[0].router_id == 51


def test_missing_inventory(tmp_path):
    message = bad_input(tmp_path / "nope")
    assert message == f"inventory {tmp_path / 'nope'}: no such file or directory"


def test_malformed_yaml_in_hosts_file(inventory_copy):
    hosts = inventory_copy / "hosts.yml"
    hosts.write_text(
        hosts.read_text().replace(
            "edge2: {ansible_host: 10.20.0.12}", "edge2: {ansible_host: 10.20.0.12"
        )
    )
    message = bad_input(inventory_copy)
    # The flow mapping left open on line 12 is reported where the parser gave up.
    assert f"{hosts}:12:" in message
    assert "failed to parse" in message


def test_malformed_yaml_in_group_vars(inventory_copy):
    tenants = inventory_copy / "group_vars/all/tenants.yml"
    text = tenants.read_text().replace('dids: ["+15550100200"]', 'dids: ["+15550100200"]]')
    tenants.write_text(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if '"+15550100200"]]' in row)
    message = bad_input(inventory_copy)
    assert f"{tenants}:{line}:" in message
    assert "YAML parsing failed" in message


def test_malformed_yaml_is_found_even_after_ansible_was_imported(inventory_copy):
    # Ansible reads its configuration once, at first import; strict parsing must not depend on
    # the loader importing it first (it does not here: this module imported ansible already).
    import ansible.constants  # noqa: F401, PLC0415

    (inventory_copy / "hosts.yml").write_text("all:\n  children: [oops\n")
    assert "hosts.yml" in bad_input(inventory_copy)


def test_vault_without_password_names_the_file(vaulted):
    inventory, _password = vaulted
    message = bad_input(inventory)
    assert f"{inventory / VAULTED}:" in message
    assert "vault password" in message


def test_vault_with_wrong_password_names_the_file(vaulted, tmp_path):
    inventory, _password = vaulted
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not it\n")
    message = bad_input(inventory, vault_password_file=str(wrong))
    assert f"{inventory / VAULTED}:" in message
    assert "Decryption failed" in message


def test_vault_password_file_that_does_not_exist(vaulted, tmp_path):
    inventory, _password = vaulted
    message = bad_input(inventory, vault_password_file=str(tmp_path / "absent"))
    assert message == f"vault password file {tmp_path / 'absent'}: no such file"


def test_vault_with_password_file(vaulted):
    inventory, password = vaulted
    _groups, hostvars = read_inventory(str(inventory), vault_password_file=str(password))
    assert str(hostvars["db1"]["vault_db_root_password"]) == "secret-db_root_password"
    # The vaulted values sit beside the settings that refer to them: still a valid cluster.
    assert len(check_inventory(str(inventory), str(password)).hosts) == 11


def test_vault_password_file_from_environment(vaulted, monkeypatch):
    inventory, password = vaulted
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(password))
    _groups, hostvars = read_inventory(str(inventory))
    assert str(hostvars["web2"]["vault_db_edge_password"]) == "secret-db_edge_password"


def test_vault_password_file_created_by_ansible_vault_cli(inventory_copy, tmp_path):
    # The same file as an operator would make it, with the venv's ansible-vault.
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    password = tmp_path / "pass"
    password.write_text(PASSWORD + "\n")
    target = inventory_copy / VAULTED
    target.write_text(VAULT_TEXT)
    subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-vault"),
            "encrypt",
            "--vault-password-file",
            str(password),
            str(target),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert target.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256")
    bad_input(inventory_copy)
    _groups, hostvars = read_inventory(str(inventory_copy), str(password))
    assert str(hostvars["edge1"]["vault_db_replication_password"]) == (
        "secret-db_replication_password"
    )


INI = """\
[sip_edge]
edge1 ansible_host=10.20.0.11
edge2 ansible_host=10.20.0.12

[feature_servers]
fs1a ansible_host=10.20.0.21 shard=shard1
fs1b ansible_host=10.20.0.22 shard=shard1
fs2a ansible_host=10.20.0.23 shard=shard2
fs2b ansible_host=10.20.0.24 shard=shard2

[databases]
db1 ansible_host=10.20.0.31
db2 ansible_host=10.20.0.32

[web]
web1 ansible_host=10.20.0.41
web2 ansible_host=10.20.0.42

[storage]
web1
web2
db1

[probes]
probe1 ansible_host=10.20.0.51
"""


def test_ini_inventory_is_read_like_the_yaml_one(inventory_copy):
    yaml_groups, yaml_vars = read_inventory(str(inventory_copy))
    (inventory_copy / "hosts.yml").unlink()
    ini = inventory_copy / "hosts.ini"
    ini.write_text(INI)
    for source in (inventory_copy, ini):
        groups, hostvars = read_inventory(str(source))
        assert {g: sorted(m) for g, m in groups.items()} == {
            g: sorted(m) for g, m in yaml_groups.items()
        }
        assert {h: str(v["ansible_host"]) for h, v in hostvars.items()} == {
            h: str(v["ansible_host"]) for h, v in yaml_vars.items()
        }
        assert check_inventory(str(source)).settings.cluster_name == "example"


def test_broken_ini_names_the_file(inventory_copy):
    (inventory_copy / "hosts.yml").unlink()
    ini = inventory_copy / "hosts.ini"
    ini.write_text("[sip_edge\nedge1 ansible_host=10.20.0.11\n")
    assert str(ini) in bad_input(inventory_copy)


def test_nothing_is_written_into_the_inventory_or_cwd(vaulted, tmp_path, monkeypatch):
    inventory, password = vaulted
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    with_pass = ["validate", "-i", str(inventory), "--vault-password-file", str(password)]
    before = listing(tmp_path)
    ok = runner.invoke(main, with_pass)
    no_pass = runner.invoke(main, ["validate", "-i", str(inventory)])
    assert (ok.exit_code, no_pass.exit_code) == (0, EXIT_BAD_INPUT)
    assert listing(tmp_path) == before
    # A broken inventory must not leave anything behind either.
    tenants = inventory / "group_vars/all/tenants.yml"
    tenants.write_text(tenants.read_text().replace("shard: shard2", "shard: shard7"))
    before = listing(tmp_path)
    assert runner.invoke(main, with_pass).exit_code == 1
    assert listing(tmp_path) == before
