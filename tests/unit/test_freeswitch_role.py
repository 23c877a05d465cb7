"""The freeswitch role's inputs, its rendered dialplan and its tree checker (no host needed)."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "freeswitch"
CHECKER = ROLE / "files" / "usr" / "local" / "libexec" / "clusterctl-fs-xml-check"
# Inputs with no safe default: documented in argument_specs, deliberately absent from defaults.
NO_DEFAULT = {"freeswitch_esl_password", "freeswitch_signalwire_token"}


def test_every_default_is_documented_and_every_input_has_a_default_or_is_a_secret():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert set(options) - set(defaults) == NO_DEFAULT
    assert set(defaults) - set(options) == set()
    for name in NO_DEFAULT:
        assert options[name].get("no_log") is True, name
        assert "default" not in options[name], name
    for name, value in defaults.items():
        if "{{" not in str(value):
            assert options[name]["default"] == value, name


def write_tree(root: Path, sofia_context="edge_in", transfer_ctx="tenant_acme", extra=""):
    (root / "autoload_configs").mkdir(parents=True)
    (root / "dialplan").mkdir()
    (root / "directory").mkdir()
    (root / "freeswitch.xml").write_text(
        '<?xml version="1.0"?>\n<document type="freeswitch/xml">\n'
        '  <X-PRE-PROCESS cmd="include" data="vars.xml"/>\n'
        '  <section name="configuration">\n'
        '    <X-PRE-PROCESS cmd="include" data="autoload_configs/*.xml"/>\n'
        "  </section>\n"
        '  <section name="dialplan">\n'
        '    <X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>\n'
        "  </section>\n"
        '  <section name="directory">\n'
        '    <X-PRE-PROCESS cmd="include" data="directory/*.xml"/>\n'
        "  </section>\n</document>\n"
    )
    (root / "vars.xml").write_text(
        '<!-- managed -->\n<include>\n'
        '  <X-PRE-PROCESS cmd="set" data="sip_address=10.0.0.1"/>\n</include>\n'
    )
    (root / "autoload_configs" / "modules.conf.xml").write_text(
        '<configuration name="modules.conf"><modules>'
        '<load module="mod_sofia"/><load module="mod_event_socket"/></modules></configuration>\n'
    )
    (root / "autoload_configs" / "acl.conf.xml").write_text(
        '<configuration name="acl.conf"><network-lists><list name="edge" default="deny"/>'
        '<list name="esl" default="deny"/></network-lists></configuration>\n'
    )
    (root / "autoload_configs" / "event_socket.conf.xml").write_text(
        '<configuration name="event_socket.conf"><settings>'
        '<param name="apply-inbound-acl" value="esl"/></settings></configuration>\n'
    )
    (root / "autoload_configs" / "sofia.conf.xml").write_text(
        '<configuration name="sofia.conf"><profiles><profile name="edge"><settings>\n'
        '<param name="sip-ip" value="$${sip_address}"/>\n'
        f'<param name="context" value="{sofia_context}"/>\n'
        '<param name="apply-inbound-acl" value="edge"/>\n'
        f"{extra}</settings></profile></profiles></configuration>\n"
    )
    (root / "dialplan" / "edge.xml").write_text(
        '<include><context name="edge_in"><extension name="t"><condition>'
        f'<action application="transfer" data="${{destination_number}} XML {transfer_ctx}"/>'
        '</condition></extension></context>'
        '<context name="tenant_acme"/></include>\n'
    )
    (root / "directory" / "tenants.xml").write_text(
        '<include><domain name="a.example"/></include>\n'
    )


def check(root: Path, mod_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECKER), "--conf-dir", str(root),
         "--mod-dir", str(mod_dir or root / "nomods")],
        capture_output=True, text=True, check=False,
    )


def test_a_consistent_tree_passes(tmp_path):
    write_tree(tmp_path)
    result = check(tmp_path)
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sofia_context": "public"}, "sofia profile edge: context 'public' does not exist"),
        ({"transfer_ctx": "tenant_nobody"},
         "context edge_in: transfer to unknown context 'tenant_nobody'"),
        ({"extra": '<param name="rtp-ip" value="$${rtp_addr}"/>\n'},
         "$${rtp_addr} is not set anywhere"),
        ({"extra": "<param name='x' value='y'>\n"}, "the pre-processed tree is not XML"),
    ],
)
def test_broken_references_are_named(tmp_path, kwargs, message):
    write_tree(tmp_path, **kwargs)
    result = check(tmp_path)
    assert result.returncode == 1
    assert message in result.stderr


def test_a_module_missing_from_the_module_directory_is_named(tmp_path):
    write_tree(tmp_path / "conf")
    mods = tmp_path / "mod"
    mods.mkdir()
    (mods / "mod_sofia.so").write_text("")
    result = check(tmp_path / "conf", mods)
    assert result.returncode == 1
    assert f"modules.conf loads mod_event_socket, which is not in {mods}" in result.stderr


def test_the_checker_module_loads_as_python():
    namespace = runpy.run_path(str(CHECKER), run_name="not_main")
    assert "check" in namespace
