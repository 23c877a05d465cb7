"""The container engine the lab runs on: the docker CLI, and starting it when it is missing.

The docker CLI is used through subprocess rather than the Python SDK: it is what the user can
rerun by hand, and it has no client/daemon API version pinning to drift.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from clusterctl.errors import BadInput, ClusterctlError

DOCKER_SOCKET = Path("/var/run/docker.sock")
DOCKERD_LOG = Path("/var/log/dockerd.log")
# dockerd needs a few seconds to create its socket; 60 s covers a slow first start
# (it sets up its storage driver and bridge) without hanging a CI job for ever.
ENGINE_START_TIMEOUT_S = 60.0
# Containers, networks and volumes of the lab carry LAB_LABEL=1 (set by `lab up`); images
# carry IMAGE_LABEL, which containers inherit, so it cannot tell lab containers apart.
LAB_LABEL = "org.clusterctl.lab"
LAB_LABEL_FILTER = f"label={LAB_LABEL}=1"
IMAGE_LABEL = "org.clusterctl.lab.image"


@dataclass(frozen=True)
class Result:
    """What a finished command left behind."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def last_error_line(self) -> str:
        """The last non-empty stderr (or stdout) line: the part worth a one-line error."""
        for text in (self.stderr, self.stdout):
            # The docker CLI ends some errors with a bare "exit status 1" after the real one.
            lines = [line.strip() for line in text.splitlines()
                     if line.strip() and not line.startswith("exit status ")]
            if lines:
                return lines[-1]
        return f"exit code {self.returncode}"


def run(
    argv: Sequence[str],
    *,
    input_text: str | None = None,
    timeout: float | None = None,
    check: bool = True,
    what: str | None = None,
) -> Result:
    """Run a command and capture its output.

    Raises ClusterctlError naming ``what`` (or the command) with its last error line when it
    fails and ``check`` is set, or when it runs longer than ``timeout`` seconds.
    """
    label = what or " ".join(argv[:3])
    try:
        proc = subprocess.run(
            list(argv),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ClusterctlError(f"{label}: no answer within {timeout:.0f} s") from exc
    except FileNotFoundError as exc:
        raise ClusterctlError(f"{label}: {argv[0]} is not installed") from exc
    result = Result(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        raise ClusterctlError(f"{label} failed: {result.last_error_line()}")
    return result


def docker(*args: str, check: bool = True, timeout: float | None = None,
           input_text: str | None = None, what: str | None = None) -> Result:
    """Run ``docker ARGS``; fails like :func:`run`."""
    return run(("docker", *args), check=check, timeout=timeout, input_text=input_text,
               what=what or f"docker {args[0] if args else ''}".strip())


def engine_answers() -> bool:
    """True when ``docker info`` reaches a running daemon within 20 s."""
    if shutil.which("docker") is None:
        return False
    try:
        return run(("docker", "info", "--format", "{{.ServerVersion}}"),
                   check=False, timeout=20).ok
    except ClusterctlError:
        return False


def install_allowed(flag: bool) -> bool:
    """The user allows installing the engine with ``--install-engine`` or by setting ``CI``."""
    return flag or bool(os.environ.get("CI"))


# What the lab needs on the machine that runs it: binary -> Debian package.
HOST_TOOLS = {"dockerd": "docker.io", "debootstrap": "debootstrap"}


def missing_packages() -> list[str]:
    """Debian packages of HOST_TOOLS whose binary is not on PATH."""
    return [pkg for binary, pkg in HOST_TOOLS.items() if shutil.which(binary) is None]


def _install(packages: list[str]) -> None:
    """``apt-get install`` ``packages``; raises ClusterctlError with apt's last line on failure."""
    env_prefix = ("env", "DEBIAN_FRONTEND=noninteractive")
    run((*env_prefix, "apt-get", "update"), timeout=300, what="apt-get update")
    run((*env_prefix, "apt-get", "install", "-y", "--no-install-recommends", *packages),
        timeout=600, what=f"apt-get install {' '.join(packages)}")


def _start_dockerd() -> None:
    """Start dockerd in its own session (the host may have no systemd); wait for its socket.

    Raises ClusterctlError pointing at the daemon's log when it does not answer in time.
    """
    with DOCKERD_LOG.open("ab") as log:
        # setsid: the daemon must outlive this process and its terminal.
        subprocess.Popen(
            ["setsid", "dockerd"], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    deadline = time.monotonic() + ENGINE_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if DOCKER_SOCKET.exists() and engine_answers():
            return
        time.sleep(0.5)
    raise ClusterctlError(
        f"dockerd did not answer within {ENGINE_START_TIMEOUT_S:.0f} s; see {DOCKERD_LOG}"
    )


def ensure_engine(allow_install: bool) -> str:
    """Make sure a Docker engine answers; return what was done ("running", "started", ...).

    Idempotent: an answering engine is left alone. Without permission to install or start,
    raises BadInput (exit 2) telling the user which flag allows it; ClusterctlError when the
    install or the daemon fails.
    """
    missing = missing_packages()
    if engine_answers() and not missing:
        return "running"
    if not install_allowed(allow_install):
        what = (f"{', '.join(missing)} not installed" if missing
                else "no Docker engine answers (docker info failed)")
        raise BadInput(
            f"{what}: install it and start dockerd, or rerun with --install-engine (or CI=1) "
            "to let clusterctl install docker.io and debootstrap and start the engine"
        )
    done = "running"
    if missing:
        _install(missing)
        done = f"installed {', '.join(missing)}"
    if not engine_answers():
        _start_dockerd()
        done = f"{done}; started" if missing else "started"
    return done
