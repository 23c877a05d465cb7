"""Every Molecule scenario runs on the lab's image with exactly the lab's container flags.

Molecule replaces (does not merge) platform lists, so each scenario repeats the flags; this
test is what keeps them equal to clusterctl.lab.containers.SYSTEMD_FLAGS.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clusterctl.lab.containers import SYSTEMD_FLAGS
from clusterctl.lab.images import SUITES, ImageSet

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "molecule").glob("*/molecule.yml"))
LAB_IMAGES = {ImageSet(suite).host for suite in SUITES.values()}
CGROUP_VOLUME = SYSTEMD_FLAGS.volumes[0]


def platform_problems(platform: dict) -> list[str]:
    """What differs between one Molecule platform and the lab's hosts."""
    name = platform.get("name", "?")
    problems = []
    if platform.get("image") not in LAB_IMAGES:
        problems.append(f"{name}: image {platform.get('image')!r} is not a lab image "
                        f"({', '.join(sorted(LAB_IMAGES))})")
    if platform.get("pre_build_image") is not True:
        problems.append(f"{name}: pre_build_image must be true (no registry to pull from)")
    expected = SYSTEMD_FLAGS.molecule_platform()
    for key, value in expected.items():
        have = platform.get(key)
        if key == "volumes":
            # Extra named volumes (data directories) are allowed; the cgroup mount is not
            # optional.
            if not isinstance(have, list) or CGROUP_VOLUME not in have:
                problems.append(f"{name}: volumes must include {CGROUP_VOLUME}")
        elif have != value:
            problems.append(f"{name}: {key} is {have!r}, the lab uses {value!r}")
    return problems


def test_there_are_scenarios_to_check():
    assert (REPO / "molecule" / "base.yml").is_file()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.parent.name for p in SCENARIOS])
def test_scenario_platforms_match_the_lab(scenario: Path):
    config = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    platforms = config.get("platforms") or []
    assert platforms, f"{scenario} has no platforms"
    problems = [p for platform in platforms for p in platform_problems(platform)]
    assert problems == []


def test_the_check_catches_drift():
    good = {"name": "x", "image": "clusterctl-lab-host:trixie", "pre_build_image": True,
            **SYSTEMD_FLAGS.molecule_platform()}
    assert platform_problems(good) == []
    extra_volume = {**good, "volumes": [CGROUP_VOLUME, "x-data:/var/lib/mysql"]}
    assert platform_problems(extra_volume) == []
    assert platform_problems({**good, "privileged": True}) == [
        "x: privileged is True, the lab uses False"]
    assert platform_problems({**good, "capabilities": ["SYS_ADMIN"]})
    assert platform_problems({**good, "cgroupns_mode": "private"})
    assert platform_problems({**good, "volumes": ["x-data:/srv"]})
    assert platform_problems({**good, "tmpfs": ["/run"]})
    assert platform_problems({**good, "command": "bash"})
    assert platform_problems({**good, "image": "debian:trixie"})
    missing = dict(good)
    del missing["security_opts"]
    assert platform_problems(missing) == ["x: security_opts is None, the lab uses "
                                          "['seccomp=unconfined', 'apparmor=unconfined']"]
