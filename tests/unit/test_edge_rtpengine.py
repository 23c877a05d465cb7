"""The optional rtpengine media relay of the SIP edge (``sip_edge_rtpengine``), both engines.

Renders roles/sip_edge's Kamailio and OpenSIPS configs with the switch off and on through
Ansible's Templar (the lab inputs of test_opensips_config) and reads the contract back: off,
not a trace of rtpengine and nothing else changed by the switch; on, the module, its loopback
control socket and the offer/answer/delete calls. The last tests run the engines' own checkers
when a binary with every module the config loads is on this machine, and skip saying what is
missing otherwise.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from test_opensips_config import OPENSIPS, VIP, lab_vars

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "sip_edge"
TEMPLATES = ROLE / "templates" / "etc"
ENGINES = {"kamailio": "kamailio/kamailio.cfg.j2", "opensips": "opensips/opensips.cfg.j2"}
# Not the default, so a socket that ignores its variable shows.
NG_PORT = 2999


def role_defaults() -> dict[str, Any]:
    data = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert isinstance(data, dict)
    return data


def edge_vars(rtpengine: object, **overrides: Any) -> dict[str, Any]:
    """Lab inputs plus the relay's variables; ``rtpengine`` as given (bool, or a string from -e)."""
    variables = lab_vars(
        sip_edge_rtpengine=rtpengine,
        sip_edge_rtpengine_ng_port=NG_PORT,
        sip_edge_rtpengine_port_min=31000,
        sip_edge_rtpengine_port_max=31999,
    )
    variables.update(overrides)
    return variables


def render(template: str, variables: dict[str, Any]) -> str:
    """Render as the template module would; fails on an undefined variable."""
    templar = Templar(loader=DataLoader(), variables=variables)
    return str(templar.template(trust_as_template((TEMPLATES / template).read_text())))


def engine_cfg(engine: str, rtpengine: object, **overrides: Any) -> str:
    if engine == "kamailio":
        overrides.setdefault("sip_edge_management_port", 5071)
    return render(ENGINES[engine], edge_vars(rtpengine, **overrides))


def block(cfg: str, header: str) -> str:
    """The body of one route block (``route[MEDIA]``, ``onreply_route[MANAGE_REPLY]`` ...)."""
    match = re.search(rf"^{re.escape(header)} \{{\n(.*?)^\}}$", cfg, re.M | re.S)
    assert match, header
    return match.group(1)


# --- switched off: nothing --------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_off_renders_no_trace_of_rtpengine(engine: str) -> None:
    cfg = engine_cfg(engine, False)
    assert "rtpengine" not in cfg.lower()
    assert "route(MEDIA)" not in cfg
    assert str(NG_PORT) not in cfg


@pytest.mark.parametrize("engine", ENGINES)
def test_the_switch_only_adds_lines(engine: str) -> None:
    """On = off plus inserted lines: the relay never rewrites a line of the routing contract."""
    off = engine_cfg(engine, False).splitlines()
    on = engine_cfg(engine, True).splitlines()
    ops = difflib.SequenceMatcher(a=off, b=on, autojunk=False).get_opcodes()
    assert {tag for tag, *_ in ops} == {"equal", "insert"}
    inserted = [line for tag, _, _, j1, j2 in ops if tag == "insert" for line in on[j1:j2]]
    assert any("rtpengine" in line for line in inserted)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("given", "relayed"), [("false", False), ("true", True), ("no", False)])
def test_extra_vars_strings_are_read_as_booleans(engine: str, given: str, relayed: bool) -> None:
    """``-e sip_edge_rtpengine=false`` arrives as a string, which is truthy unless cast."""
    assert engine_cfg(engine, given) == engine_cfg(engine, relayed)


def test_defaults_leave_the_relay_off_inside_the_firewall_range() -> None:
    defaults = role_defaults()
    assert defaults["sip_edge_rtpengine"] is False
    common = yaml.safe_load((REPO / "roles/common/defaults/main.yml").read_text())
    low, high = (int(p) for p in str(common["common_edge_rtp_ports"]).split("-"))
    assert low <= defaults["sip_edge_rtpengine_port_min"] < defaults["sip_edge_rtpengine_port_max"]
    assert defaults["sip_edge_rtpengine_port_max"] <= high


# --- switched on: the module, the socket, the calls ---------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_on_loads_the_module_and_talks_ng_over_loopback(engine: str) -> None:
    cfg = engine_cfg(engine, True)
    assert cfg.count('loadmodule "rtpengine.so"') == 1
    socks = re.findall(r'^modparam\("rtpengine", "rtpengine_sock", "(.*)"\)$', cfg, re.M)
    assert socks == [f"udp:127.0.0.1:{NG_PORT}"]


@pytest.mark.parametrize("engine", ENGINES)
def test_media_route_anchors_the_sdp_on_the_relay(engine: str) -> None:
    media = block(engine_cfg(engine, True), "route[MEDIA]")
    calls = re.findall(r'rtpengine_manage\("([^"]*)"\)', media)
    assert len(calls) == 2
    # Both session and media addresses of the SDP are rewritten to the relay's (the VIP).
    assert all({"replace-origin", "replace-session-connection"} <= set(c.split()) for c in calls)
    # A private SDP address is replaced by the address the SIP came from (a NATed phone).
    assert "SIP-source-address" in calls[0]
    assert 'nat_uac_test("8")' in media or 'nat_uac_test("private-sdp")' in media


@pytest.mark.parametrize(
    ("engine", "branch_route"),
    [("kamailio", "branch_route[MANAGE_BRANCH]"), ("opensips", "branch_route[MEDIA_BRANCH]")],
)
def test_offers_per_branch_answers_on_good_replies_and_acks(engine: str, branch_route: str) -> None:
    cfg = engine_cfg(engine, True)
    assert "route(MEDIA);" in block(cfg, branch_route)
    reply = block(cfg, "onreply_route[MANAGE_REPLY]")
    # 1xx/2xx only: a failed branch may fail over, a refused re-INVITE keeps the call's media.
    gated = re.search(
        r"if \((?:status|\$rs) =~ \"\^?\[12\]\[0-9\]\[0-9\]\$?\"\)[ {]*\n\s*route\(MEDIA\);", reply
    )
    assert gated, reply
    relay = block(cfg, "route[RELAY]")
    assert re.search(r'is_method\("ACK(\|CANCEL)?"\)\)[ {]*\n\s*route\(MEDIA\);', relay), relay
    if engine == "opensips":
        assert re.search(
            r'is_method\("INVITE\|BYE\|UPDATE"\)\)\n\s*t_on_branch\("MEDIA_BRANCH"\);', relay
        )


@pytest.mark.parametrize("engine", ENGINES)
def test_failed_and_cancelled_calls_delete_their_session(engine: str) -> None:
    cfg = engine_cfg(engine, True)
    failover = block(cfg, "failure_route[SHARD_FAILOVER]")
    # After the failover attempt (which leaves through RELAY's exit), not before it.
    assert failover.rindex("rtpengine_delete();") > failover.index("ds_next_dst()")
    to_users = block(cfg, "failure_route[MEDIA_FAILURE]")
    assert "rtpengine_delete();" in to_users
    assert 't_on_failure("MEDIA_FAILURE");' in block(cfg, "route[FROM_FS]")
    if engine == "kamailio":
        # Kamailio's CANCEL goes through RELAY, where route(MEDIA) deletes (rtpengine_manage).
        assert 'is_method("ACK|CANCEL")' in block(cfg, "route[RELAY]")
    else:
        main = block(cfg, "route")
        cancel = main.split('is_method("CANCEL")', 1)[1].split("exit;", 1)[0]
        assert cancel.index("rtpengine_delete();") < cancel.index("t_relay();")


def test_the_relay_config_puts_media_on_the_vip_and_control_on_loopback() -> None:
    conf = render("rtpengine/rtpengine.conf.j2", edge_vars(True))
    assert "# Ansible managed: do not edit\n" in conf.split("[rtpengine]", 1)[0]
    keys = dict(re.findall(r"^([a-z-]+) = (.*)$", conf, re.M))
    assert keys["interface"] == VIP
    assert keys["listen-ng"] == f"127.0.0.1:{NG_PORT}"
    assert (keys["port-min"], keys["port-max"]) == ("31000", "31999")
    # Userspace forwarding: no kernel module in the lab's containers.
    assert keys["table"] == "-1"
    # No other control or web listener on any address.
    assert not {k for k in keys if k.startswith("listen-")} - {"listen-ng"}


def test_the_relay_is_set_up_before_the_engine_and_restarted_first() -> None:
    main = yaml.safe_load((ROLE / "tasks/main.yml").read_text())
    includes = [
        t["ansible.builtin.include_tasks"] for t in main if "ansible.builtin.include_tasks" in t
    ]
    assert includes == ["rtpengine.yml", "{{ sip_edge_engine }}.yml"]
    handlers = yaml.safe_load((ROLE / "handlers/main.yml").read_text())
    assert handlers[0]["listen"] == "Restart rtpengine"
    tasks = yaml.safe_load((ROLE / "tasks/rtpengine.yml").read_text())
    on, off = tasks
    assert on["when"] == "sip_edge_rtpengine | bool"
    assert off["when"] == "not sip_edge_rtpengine | bool"
    stop = off["block"][-1]["ansible.builtin.systemd_service"]
    assert (stop["state"], stop["enabled"]) == ("stopped", False)


# --- the engines' own checkers ----------------------------------------------------------------


def _kamailio() -> tuple[str, list[Path]]:
    """(binary, candidate module dirs) of a Kamailio on this host, or ("", [])."""
    binary = os.environ.get("CLUSTERCTL_KAMAILIO_BIN") or shutil.which("kamailio") or ""
    dirs = (
        [Path(os.environ["CLUSTERCTL_KAMAILIO_MODULES"])]
        if "CLUSTERCTL_KAMAILIO_MODULES" in os.environ
        else []
    )
    return binary, dirs + sorted(Path("/usr/lib").glob("*/kamailio/modules"))


@pytest.mark.parametrize("rtpengine", [False, True])
def test_kamailio_accepts_the_rendered_config(tmp_path: Path, rtpengine: bool) -> None:
    binary, dirs = _kamailio()
    if not binary:
        pytest.skip("no kamailio binary (set CLUSTERCTL_KAMAILIO_BIN)")
    cfg = engine_cfg("kamailio", rtpengine)
    wanted = re.findall(r'^loadmodule "(.+)"$', cfg, re.M)
    have = {p.name for d in dirs for p in d.glob("*.so")}
    missing = sorted(set(wanted) - have)
    if missing:
        pytest.skip(
            f"{binary} has no {', '.join(missing)} in {[str(d) for d in dirs]} "
            "(kamailio-mysql-modules, kamailio-presence-modules; or set "
            "CLUSTERCTL_KAMAILIO_MODULES)"
        )
    path = tmp_path / "kamailio.cfg"
    path.write_text(cfg)
    result = subprocess.run(
        [binary, "-c", "-f", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _opensips_rtpengine_module() -> Path | None:
    """rtpengine.so next to the OpenSIPS build's modules, or CLUSTERCTL_OPENSIPS_RTPENGINE_SO."""
    if OPENSIPS is None:
        return None
    candidates = [OPENSIPS[1] / "rtpengine.so"]
    if "CLUSTERCTL_OPENSIPS_RTPENGINE_SO" in os.environ:
        candidates.insert(0, Path(os.environ["CLUSTERCTL_OPENSIPS_RTPENGINE_SO"]))
    return next((c for c in candidates if c.is_file()), None)


RTPENGINE_SO = _opensips_rtpengine_module()


@pytest.mark.skipif(
    RTPENGINE_SO is None,
    reason="no OpenSIPS build with an rtpengine module (the /opt/opensips build has none: set "
    "CLUSTERCTL_OPENSIPS_RTPENGINE_SO to a rtpengine.so built from the same source)",
)
def test_opensips_accepts_the_config_with_the_relay(tmp_path: Path) -> None:
    assert OPENSIPS is not None and RTPENGINE_SO is not None
    binary, mods = OPENSIPS
    # One module directory holding the build's modules and the rtpengine module.
    mpath = tmp_path / "modules"
    mpath.mkdir()
    for module in [*mods.glob("*.so"), RTPENGINE_SO]:
        link = mpath / module.name
        if not link.exists():
            link.symlink_to(module.resolve())
    cfg = engine_cfg("opensips", True, sip_edge_opensips_mpath=f"{mpath}/")
    path = tmp_path / "opensips.cfg"
    path.write_text(cfg)
    result = subprocess.run(
        [str(binary), "-C", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "config file ok" in output
