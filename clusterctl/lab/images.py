"""The lab's images, built without a registry: debootstrap -> docker import -> docker build.

``clusterctl-lab-base:<suite>`` is a debootstrapped Debian with systemd and sshd;
``clusterctl-lab-host:<suite>`` adds what every lab host shares. Each image carries the sha256
of its recipe in a label and is rebuilt only when that hash changes.

Images carry ``org.clusterctl.lab.image`` rather than the lab's own ``org.clusterctl.lab``
label: every container inherits its image's labels, so a lab label on the image would mark
other people's Molecule containers as lab containers, and ``lab down`` would remove them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from clusterctl.errors import BadInput, ClusterctlError
from clusterctl.lab.engine import IMAGE_LABEL, docker, run

RECIPES = Path(__file__).resolve().parent / "recipes"
BASE_SETUP = RECIPES / "base-setup.sh"
HOST_DOCKERFILE = RECIPES / "host.Dockerfile"
RECIPE_LABEL = "org.clusterctl.recipe"
DEFAULT_DEBIAN = "13"
SUITES = {"13": "trixie", "12": "bookworm"}
# What makes a container a server the roles can reach: systemd as PID 1, sshd, Python for
# Ansible, and the tools the fault primitives run inside the host (nft, ip, pkill).
BASE_PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "libpam-systemd", "openssh-server", "python3", "sudo",
    "iproute2", "nftables", "procps", "ca-certificates",
)
# debootstrap of trixie with the packages above takes about a minute here; 15 min bounds a
# mirror that stalls.
DEBOOTSTRAP_TIMEOUT_S = 900
HOST_BUILD_TIMEOUT_S = 900
FALLBACK_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class ImageSet:
    """The two image names of one Debian release."""

    suite: str

    @property
    def base(self) -> str:
        return f"clusterctl-lab-base:{self.suite}"

    @property
    def host(self) -> str:
        return f"clusterctl-lab-host:{self.suite}"


def suite_for(debian: str) -> str:
    """Debian release number -> suite name; BadInput for a release the lab does not build."""
    try:
        return SUITES[debian]
    except KeyError:
        raise BadInput(
            f"unknown Debian release {debian!r}: choose one of {', '.join(sorted(SUITES))}"
        ) from None


def _uris_from_deb822(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"(?mi)^URIs:\s*(\S+)", text)]


def _uris_from_one_line(text: str) -> list[str]:
    uris = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if not fields or fields[0] != "deb":
            continue
        # "deb [options] URI suite ..." - options are one bracketed word or several.
        rest = fields[1:]
        if rest and rest[0].startswith("["):
            while rest and not rest[0].endswith("]"):
                rest = rest[1:]
            rest = rest[1:]
        if rest:
            uris.append(rest[0])
    return uris


def mirrors_from_sources(texts: dict[str, str]) -> tuple[str, str | None]:
    """Pick the Debian mirror and the security mirror out of apt source files' contents.

    ``texts`` maps a file name to its text (``*.sources`` files are deb822, others one-line).
    Falls back to deb.debian.org when no Debian mirror is listed.
    """
    uris: list[str] = []
    for name, text in texts.items():
        uris += _uris_from_deb822(text) if name.endswith(".sources") else _uris_from_one_line(text)
    uris = [u.rstrip("/") for u in uris]
    security = next((u for u in uris if u.endswith("debian-security")), None)
    main = next((u for u in uris if u.endswith("/debian")), None)
    return main or FALLBACK_MIRROR, security


def host_mirrors(root: Path = Path("/")) -> tuple[str, str | None]:
    """The mirrors this machine's apt uses (sources.list and sources.list.d)."""
    texts = {}
    for path in [root / "etc/apt/sources.list",
                 *sorted((root / "etc/apt/sources.list.d").glob("*"))]:
        if path.is_file() and (path.suffix in {".list", ".sources"} or path.name == "sources.list"):
            texts[path.name] = path.read_text(encoding="utf-8", errors="replace")
    return mirrors_from_sources(texts)


def apt_sources(suite: str, mirror: str, security: str | None) -> str:
    """The deb822 sources file written into the image: the suite, its updates, its security."""
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    stanzas = [f"Types: deb\nURIs: {mirror}\nSuites: {suite} {suite}-updates\n"
               f"Components: main\nSigned-By: {keyring}\n"]
    if security:
        stanzas.append(f"Types: deb\nURIs: {security}\nSuites: {suite}-security\n"
                       f"Components: main\nSigned-By: {keyring}\n")
    return "\n".join(stanzas)


def base_recipe_hash(suite: str) -> str:
    """sha256 over everything that decides the base image's content (not the mirror's URL)."""
    recipe = {
        "suite": suite,
        "variant": "minbase",
        "packages": sorted(BASE_PACKAGES),
        "setup": BASE_SETUP.read_text(encoding="utf-8"),
        "import_changes": list(_import_changes("")),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def host_recipe_hash(suite: str) -> str:
    """sha256 of the host layer: its Dockerfile and the base it is built on."""
    text = HOST_DOCKERFILE.read_text(encoding="utf-8")
    return hashlib.sha256(f"{base_recipe_hash(suite)}\n{text}".encode()).hexdigest()


def _import_changes(recipe_hash: str) -> tuple[str, ...]:
    # container=docker tells systemd it runs in a container (it skips hardware units).
    # STOPSIGNAL is set in the host layer: `docker import --change` refuses it on Debian 12's
    # engine (20.10).
    changes = (
        'CMD ["/lib/systemd/systemd"]',
        "ENV container=docker",
        f"LABEL {IMAGE_LABEL}=base",
    )
    return (*changes, f"LABEL {RECIPE_LABEL}={recipe_hash}") if recipe_hash else changes


def image_recipe(name: str) -> str | None:
    """The recipe hash label of a local image, or None when the image does not exist."""
    res = docker("image", "inspect", "--format",
                 f'{{{{ index .Config.Labels "{RECIPE_LABEL}" }}}}', name, check=False)
    return res.stdout.strip() if res.ok else None


def _unmount_below(root: Path) -> None:
    """Unmount whatever a failed debootstrap left mounted inside ``root`` (deepest first)."""
    prefix = str(root.resolve()) + "/"
    mounts = [line.split()[1] for line in
              Path("/proc/mounts").read_text(encoding="utf-8").splitlines()]
    for mnt in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        run(("umount", "-l", mnt), check=False)


def build_base(suite: str, *, log: Path | None = None) -> str:
    """debootstrap a minbase root with BASE_PACKAGES and import it as the base image.

    Raises ClusterctlError with debootstrap's last line (the full log is at ``log``) when the
    mirror is unreachable or a package is missing.
    """
    images = ImageSet(suite)
    recipe = base_recipe_hash(suite)
    mirror, security = host_mirrors()
    work = Path(tempfile.mkdtemp(prefix="clusterctl-lab-rootfs-", dir="/var/tmp"))
    rootfs = work / "rootfs"
    try:
        res = run(("debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                   suite, str(rootfs), mirror),
                  timeout=DEBOOTSTRAP_TIMEOUT_S, check=False)
        if log is not None:
            log.write_text(res.stdout + res.stderr, encoding="utf-8")
        if not res.ok:
            raise ClusterctlError(f"debootstrap {suite} from {mirror} failed: "
                                  f"{res.last_error_line()}")
        (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
        (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(
            apt_sources(suite, mirror, security), encoding="utf-8")
        shutil.copy(BASE_SETUP, rootfs / "tmp/base-setup.sh")
        run(("chroot", str(rootfs), "/bin/sh", "/tmp/base-setup.sh"),
            timeout=300, what="base image setup (chroot)")
        (rootfs / "tmp/base-setup.sh").unlink()
        _import(rootfs, images.base, recipe)
    finally:
        _unmount_below(rootfs)
        shutil.rmtree(work, ignore_errors=True)
    return images.base


def _import(rootfs: Path, name: str, recipe: str) -> None:
    """``tar -C rootfs -c . | docker import --change ... - name``; ClusterctlError on failure."""
    argv = ["docker", "import"]
    for change in _import_changes(recipe):
        argv += ["--change", change]
    argv += ["-", name]
    with subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."],
                          stdout=subprocess.PIPE) as tar:
        imp = subprocess.run(argv, stdin=tar.stdout, capture_output=True, text=True,
                             check=False, timeout=600)
        if tar.stdout is not None:
            tar.stdout.close()
        tar_rc = tar.wait()
    if tar_rc != 0 or imp.returncode != 0:
        last = (imp.stderr.strip().splitlines() or [f"tar exit {tar_rc}"])[-1]
        raise ClusterctlError(f"docker import {name} failed: {last}")


def build_host(suite: str) -> str:
    """``docker build`` the host layer FROM the base image; ClusterctlError with the last line
    of the build output when apt fails inside it."""
    images = ImageSet(suite)
    before = docker("image", "inspect", "--format", "{{.Id}}", images.host, check=False)
    docker("build", "--network", "bridge", "--build-arg", f"BASE={images.base}",
           "--label", f"{IMAGE_LABEL}=host", "--label", f"{RECIPE_LABEL}={host_recipe_hash(suite)}",
           "-t", images.host, "-f", str(HOST_DOCKERFILE), str(RECIPES),
           timeout=HOST_BUILD_TIMEOUT_S, what=f"docker build {images.host}")
    # The replaced image would linger untagged; while a container still uses it, rm fails and
    # the image stays (down removes it later by its label).
    if before.ok and before.stdout.strip() != _image_id(images.host):
        docker("image", "rm", before.stdout.strip(), check=False)
    return images.host


def _image_id(name: str) -> str:
    res = docker("image", "inspect", "--format", "{{.Id}}", name, check=False)
    return res.stdout.strip()


def ensure_images(debian: str, *, log_dir: Path | None = None) -> list[tuple[str, str]]:
    """Build whichever of the two images is missing or has a different recipe hash.

    Returns (image, "built" | "cached") pairs. Idempotent: images whose recipe label matches
    are kept as they are.
    """
    suite = suite_for(debian)
    images = ImageSet(suite)
    done = []
    if image_recipe(images.base) != base_recipe_hash(suite):
        build_base(suite, log=(log_dir / f"debootstrap-{suite}.log") if log_dir else None)
        done.append((images.base, "built"))
    else:
        done.append((images.base, "cached"))
    if image_recipe(images.host) != host_recipe_hash(suite):
        build_host(suite)
        done.append((images.host, "built"))
    else:
        done.append((images.host, "cached"))
    return done
