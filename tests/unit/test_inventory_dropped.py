"""Issue 16 item 1: nothing an inventory says is silently dropped.

Small inventories written to tmp_path; each case checks that both places are named
(file:line) and that no value appears in the message.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from clusterctl.cli import main
from clusterctl.dropped import dropped_values
from clusterctl.errors import EXIT_BAD_INPUT, BadInput
from clusterctl.inventory import read_inventory

EXAMPLE = Path(__file__).resolve().parents[2] / "inventory" / "example"


def write(base: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


def messages(base: Path) -> list[str]:
    return [str(d) for d in dropped_values(base)]


def test_a_key_given_twice_in_one_file(tmp_path):
    inv = write(tmp_path, {
        "hosts.yml": "all:\n  hosts:\n    a: {ansible_host: 10.0.0.1}\n",
        "group_vars/all/x.yml": "cluster_name: one\nsecret: s3cret-value\ncluster_name: two\n",
    })
    x = tmp_path / "group_vars/all/x.yml"
    assert messages(inv) == [
        f"{x}:3: key 'cluster_name' is given twice (also at {x}:1); only one of them would be used"
    ]


def test_a_nested_key_given_twice(tmp_path):
    inv = write(tmp_path, {
        "hosts.yml": "all:\n  hosts:\n    a:\n",
        "group_vars/all/x.yml": "dispatcher:\n  ping_interval: 2\n  ping_interval: 5\n",
    })
    [found] = dropped_values(inv)
    assert found.where.endswith("x.yml:3")
    assert found.other.endswith("x.yml:2")


def test_a_host_given_twice_in_one_group(tmp_path):
    hosts = "all:\n  children:\n    web:\n      hosts:\n        w1: {ansible_host: 10.0.0.1}\n" \
            "        w1: {ansible_host: 10.0.0.2}\n"
    inv = write(tmp_path, {"hosts.yml": hosts})
    found = messages(inv)
    assert found[0] == (f"{tmp_path / 'hosts.yml'}:6: key 'w1' is given twice (also at "
                        f"{tmp_path / 'hosts.yml'}:5); only one of them would be used")


def test_a_host_in_two_groups_with_different_variables(tmp_path):
    hosts = ("all:\n  children:\n    web:\n      hosts:\n        w1: {ansible_host: 10.0.0.1}\n"
             "    storage:\n      hosts:\n        w1: {ansible_host: 10.0.0.9}\n")
    inv = write(tmp_path, {"hosts.yml": hosts})
    assert messages(inv) == [
        f"{tmp_path / 'hosts.yml'}:8: host w1: 'ansible_host' is set again (also at "
        f"{tmp_path / 'hosts.yml'}:5); only one of them would be used"
    ]


def test_a_host_in_two_groups_with_the_same_or_no_variables_is_fine(tmp_path):
    hosts = ("all:\n  children:\n    web:\n      hosts:\n        w1: {ansible_host: 10.0.0.1}\n"
             "    storage:\n      hosts:\n        w1: {ansible_host: 10.0.0.1}\n"
             "    probes:\n      hosts:\n        w1:\n")
    assert messages(write(tmp_path, {"hosts.yml": hosts})) == []


def test_host_vars_file_repeating_a_hosts_file_variable(tmp_path):
    inv = write(tmp_path, {
        "hosts.yml": "all:\n  hosts:\n    fs1: {ansible_host: 10.0.0.1, shard: s1}\n",
        "host_vars/fs1.yml": "shard: s2\n",
    })
    [found] = dropped_values(inv)
    assert found.what == "host fs1: 'shard' is set again"
    assert found.where == f"{tmp_path / 'host_vars/fs1.yml'}:1"
    assert found.other == f"{tmp_path / 'hosts.yml'}:3"


def test_a_list_setting_in_two_group_vars_files(tmp_path):
    inv = write(tmp_path, {
        "hosts.yml": "all:\n  hosts:\n    a:\n",
        "group_vars/all/tenants.yml": "---\ntenants:\n  - id: acme\n",
        "group_vars/all/more.yml": "# more tenants\ntenants:\n  - id: globex\n",
    })
    assert messages(inv) == [
        f"{tmp_path / 'group_vars/all/tenants.yml'}:2: group all: 'tenants' is set again (also "
        f"at {tmp_path / 'group_vars/all/more.yml'}:2); only one of them would be used"
    ]


def test_group_vars_file_and_directory_and_hosts_file_vars(tmp_path):
    inv = write(tmp_path, {
        "hosts.yml": "all:\n  vars:\n    carriers: []\n  hosts:\n    a:\n",
        "group_vars/all.yml": "carriers: []\n",
    })
    [found] = dropped_values(inv)
    assert found.what == "group all: 'carriers' is set again"


def test_the_same_key_for_different_groups_is_not_a_drop(tmp_path):
    inv = write(tmp_path, {
        "hosts.yml": "all:\n  children:\n    web:\n      hosts:\n        w1:\n",
        "group_vars/all/x.yml": "ntp: a\n",
        "group_vars/web.yml": "ntp: b\n",
    })
    assert messages(inv) == []


def test_vaulted_file_and_ansible_tags_are_scanned_or_skipped_without_error(tmp_path):
    inv = write(tmp_path, {
        "hosts.yml": "all:\n  hosts:\n    a:\n",
        "group_vars/all/vault.yml": "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
        "group_vars/all/x.yml": (
            "pw: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\nu: !unsafe '{{'\n"
        ),
    })
    assert messages(inv) == []


def test_single_hosts_file_source_reads_its_directorys_group_vars(tmp_path):
    write(tmp_path, {
        "hosts.yml": "all:\n  hosts:\n    a:\n",
        "group_vars/all/a.yml": "x: 1\n",
        "group_vars/all/b.yml": "x: 2\n",
    })
    assert len(dropped_values(tmp_path / "hosts.yml")) == 1


def test_the_example_inventory_drops_nothing():
    assert dropped_values(EXAMPLE) == []


def test_read_inventory_refuses_and_masks_the_value(tmp_path):
    inv = tmp_path / "inv"
    shutil.copytree(EXAMPLE, inv)
    cluster_yml = inv / "group_vars/all/cluster.yml"
    cluster_yml.write_text(cluster_yml.read_text() + 'edge_auth_secret: "VerySecretValue123456"\n')
    with pytest.raises(BadInput) as caught:
        read_inventory(str(inv))
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert "1 value(s) Ansible would silently drop" in caught.value.message
    assert "key 'edge_auth_secret' is given twice" in caught.value.message
    assert "VerySecretValue123456" not in caught.value.message


def test_validate_cli_exits_2_naming_both_places(tmp_path):
    inv = tmp_path / "inv"
    shutil.copytree(EXAMPLE, inv)
    extra = "---\nshards:\n  shard9: {primary: a, secondary: b}\n"
    (inv / "group_vars/all/extra.yml").write_text(extra)
    result = CliRunner().invoke(main, ["validate", "-i", str(inv)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "Traceback" not in result.output
    assert f"{inv / 'group_vars/all/tenants.yml'}:" in result.output
    assert f"{inv / 'group_vars/all/extra.yml'}:2" in result.output


def test_nested_aliases_are_walked_once_each(tmp_path):
    # "Billion laughs": 30 levels of 2 aliases each would be 2**30 visits without the guard.
    lines = ["l0: &l0 {a: 1, a: 2}"]
    lines += [f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}]" for i in range(1, 31)]
    inv = write(tmp_path, {"hosts.yml": "all:\n  hosts:\n    a:\n",
                           "group_vars/all/x.yml": "\n".join(lines) + "\n"})
    [found] = dropped_values(inv)
    assert found.what == "key 'a' is given twice"


def test_absurdly_deep_nesting_is_left_to_ansible(tmp_path):
    deep = "x: " + "[" * 5000 + "]" * 5000 + "\n"
    inv = write(tmp_path, {"hosts.yml": "all:\n  hosts:\n    a:\n",
                           "group_vars/all/x.yml": deep})
    assert dropped_values(inv) == []
