"""Image recipes: hashing decides rebuilds; the mirror comes from the host's apt sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterctl.errors import BadInput
from clusterctl.lab import images

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.net/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://security.example.net/debian-security
Suites: bookworm-security
Components: main
"""


def test_mirrors_from_deb822_sources():
    assert images.mirrors_from_sources({"debian.sources": DEB822}) == (
        "http://mirror.example.net/debian", "http://security.example.net/debian-security")


def test_mirrors_from_one_line_sources_with_options():
    text = ("# deb http://commented.example/debian bookworm main\n"
            "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian/ bookworm main\n"
            "deb-src http://src.example/debian bookworm main\n")
    assert images.mirrors_from_sources({"sources.list": text}) == ("http://m.example/debian",
                                                                  None)


def test_no_debian_mirror_falls_back_to_deb_debian_org():
    assert images.mirrors_from_sources({"x.list": "deb http://ppa.example/ubuntu jammy main\n"}
                                       ) == (images.FALLBACK_MIRROR, None)


def test_host_mirrors_reads_sources_list_d(tmp_path: Path):
    (tmp_path / "etc/apt/sources.list.d").mkdir(parents=True)
    (tmp_path / "etc/apt/sources.list.d/debian.sources").write_text(DEB822, encoding="utf-8")
    (tmp_path / "etc/apt/sources.list.d/notes.txt").write_text("deb http://x/debian a b\n",
                                                                 encoding="utf-8")
    assert images.host_mirrors(tmp_path)[0] == "http://mirror.example.net/debian"


def test_apt_sources_for_the_image():
    text = images.apt_sources("trixie", "http://m/debian", "http://s/debian-security")
    assert "Suites: trixie trixie-updates" in text
    assert "Suites: trixie-security" in text
    assert "security" not in images.apt_sources("trixie", "http://m/debian", None)


def test_suites():
    assert images.suite_for("13") == "trixie"
    assert images.suite_for("12") == "bookworm"
    with pytest.raises(BadInput, match="unknown Debian release '11'"):
        images.suite_for("11")
    assert images.ImageSet("trixie").host == "clusterctl-lab-host:trixie"
    assert images.ImageSet("bookworm").base == "clusterctl-lab-base:bookworm"


def test_recipe_hash_is_stable_and_per_suite():
    assert images.base_recipe_hash("trixie") == images.base_recipe_hash("trixie")
    assert images.base_recipe_hash("trixie") != images.base_recipe_hash("bookworm")
    assert len(images.host_recipe_hash("trixie")) == 64


def test_recipe_hash_follows_the_recipe_files(tmp_path: Path, monkeypatch):
    base_before = images.base_recipe_hash("trixie")
    host_before = images.host_recipe_hash("trixie")
    dockerfile = tmp_path / "host.Dockerfile"
    dockerfile.write_text(images.HOST_DOCKERFILE.read_text(encoding="utf-8") + "RUN true\n",
                          encoding="utf-8")
    monkeypatch.setattr(images, "HOST_DOCKERFILE", dockerfile)
    assert images.base_recipe_hash("trixie") == base_before
    assert images.host_recipe_hash("trixie") != host_before
    setup = tmp_path / "base-setup.sh"
    setup.write_text(images.BASE_SETUP.read_text(encoding="utf-8") + "true\n", encoding="utf-8")
    monkeypatch.setattr(images, "BASE_SETUP", setup)
    # A new base means a new host layer too: it is built FROM the base.
    after_setup = images.base_recipe_hash("trixie")
    assert after_setup != base_before
    monkeypatch.setattr(images, "BASE_PACKAGES", (*images.BASE_PACKAGES, "vim"))
    assert images.base_recipe_hash("trixie") not in {base_before, after_setup}


def test_ensure_images_builds_only_what_changed(monkeypatch):
    labels = {"clusterctl-lab-base:trixie": images.base_recipe_hash("trixie"),
              "clusterctl-lab-host:trixie": "stale"}
    built: list[str] = []
    monkeypatch.setattr(images, "image_recipe", labels.get)
    monkeypatch.setattr(images, "build_base", lambda suite, log=None: built.append("base"))
    monkeypatch.setattr(images, "build_host", lambda suite: built.append("host"))
    assert images.ensure_images("13") == [("clusterctl-lab-base:trixie", "cached"),
                                          ("clusterctl-lab-host:trixie", "built")]
    assert built == ["host"]
    labels["clusterctl-lab-host:trixie"] = images.host_recipe_hash("trixie")
    assert [state for _, state in images.ensure_images("13")] == ["cached", "cached"]
    assert built == ["host"]


def test_base_setup_script_is_valid_shell():
    import subprocess  # noqa: PLC0415

    assert subprocess.run(["sh", "-n", str(images.BASE_SETUP)], check=False).returncode == 0
