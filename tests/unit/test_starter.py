"""``clusterctl init DIR``: a starter inventory whose missing secrets validate names."""

from __future__ import annotations

import stat

import yaml
from click.testing import CliRunner

from clusterctl.cli import main
from clusterctl.errors import EXIT_BAD_INPUT, EXIT_FAILED
from clusterctl.model import SECRET_KEYS
from clusterctl.starter import EXAMPLE, VAULT_FILE, vault_template


def test_init_then_validate_names_every_secret_to_fill(tmp_path):
    target = tmp_path / "prod"
    result = CliRunner().invoke(main, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert (target / "hosts.yml").is_file()
    vault = target / VAULT_FILE
    assert stat.S_IMODE(vault.stat().st_mode) == 0o600
    result = CliRunner().invoke(main, ["validate", "-i", str(target)])
    assert result.exit_code == EXIT_FAILED
    lines = [line.strip() for line in result.output.splitlines()[1:]]
    assert [line.split(":")[0] for line in lines] == list(SECRET_KEYS)
    assert all("is empty" in line and "group_vars/all/vault.yml" in line for line in lines)


def test_filled_vault_makes_the_starter_valid(tmp_path):
    target = tmp_path / "prod"
    CliRunner().invoke(main, ["init", str(target)])
    vault = target / VAULT_FILE
    vault.write_text(vault.read_text().replace('""', '"Filled-in-secret-0123456789"'))
    result = CliRunner().invoke(main, ["validate", "-i", str(target)])
    assert result.exit_code == 0, result.output


def test_every_secret_the_example_refers_to_is_in_the_vault_template():
    template = yaml.safe_load(vault_template())
    settings = {}
    for path in (EXAMPLE / "group_vars" / "all").glob("*.yml"):
        settings.update(yaml.safe_load(path.read_text()))
    for key in SECRET_KEYS:
        assert settings[key] == f"{{{{ vault_{key} }}}}"
        assert template[f"vault_{key}"] == ""


def test_init_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.output.startswith(f"error: {tmp_path}: exists and is not an empty directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
