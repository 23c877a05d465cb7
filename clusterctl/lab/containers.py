"""Lab hosts: one systemd container per host, with its volumes, on the lab's bridge network.

SYSTEMD_FLAGS is the one place the container flags live; the lab passes them to
``docker run`` and tests/unit/test_molecule_matches_lab.py holds every Molecule scenario to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ContainerFlags:
    """What systemd needs to run as PID 1 in a container on this kind of host.

    ``--privileged`` fails here ("unable to apply caps"), so the capabilities are granted one
    by one; cgroups come from the host (v1/hybrid) through a bind mount and the host namespace.
    """

    capabilities: tuple[str, ...]
    security_opts: tuple[str, ...]
    cgroupns_mode: str
    volumes: tuple[str, ...]
    tmpfs: tuple[str, ...]
    command: str

    def docker_args(self) -> list[str]:
        """The flags as ``docker run`` arguments (the image name and command come after)."""
        args: list[str] = []
        for cap in self.capabilities:
            args += ["--cap-add", cap]
        for opt in self.security_opts:
            args += ["--security-opt", opt]
        args.append(f"--cgroupns={self.cgroupns_mode}")
        for vol in self.volumes:
            args += ["-v", vol]
        for mnt in self.tmpfs:
            args += ["--tmpfs", mnt]
        return args

    def molecule_platform(self) -> dict[str, Any]:
        """The same flags as keys of a molecule-plugins docker platform."""
        return {
            "command": self.command,
            "capabilities": list(self.capabilities),
            "security_opts": list(self.security_opts),
            "cgroupns_mode": self.cgroupns_mode,
            "volumes": list(self.volumes),
            "tmpfs": list(self.tmpfs),
            "privileged": False,
        }


SYSTEMD_FLAGS = ContainerFlags(
    capabilities=("SYS_ADMIN", "NET_ADMIN", "NET_RAW"),
    security_opts=("seccomp=unconfined", "apparmor=unconfined"),
    cgroupns_mode="host",
    volumes=("/sys/fs/cgroup:/sys/fs/cgroup:rw",),
    tmpfs=("/run", "/run/lock"),
    command="/lib/systemd/systemd",
)

PREFIX = "clusterctl-lab"
HOST_LABEL = "org.clusterctl.lab.host"
# Where each kind of host keeps data that must survive `restart HOST` and a recreated
# container: every host gets /srv/data; MySQL and Gluster bricks get their own volume.
DATA_MOUNT = "/srv/data"
MYSQL_MOUNT = "/var/lib/mysql"
GLUSTER_MOUNT = "/srv/gluster"


def container_name(host: str) -> str:
    """``clusterctl-lab-<host>``."""
    return f"{PREFIX}-{host}"


def host_volumes(host: str, groups: tuple[str, ...]) -> list[tuple[str, str]]:
    """(volume name, mount point) pairs of a host, by its groups."""
    volumes = [(f"{PREFIX}-{host}-data", DATA_MOUNT)]
    if "databases" in groups:
        volumes.append((f"{PREFIX}-{host}-mysql", MYSQL_MOUNT))
    if "storage" in groups:
        volumes.append((f"{PREFIX}-{host}-gluster", GLUSTER_MOUNT))
    return volumes


def run_args(host: str, groups: tuple[str, ...], *, address: str, network: str, image: str,
             labels: dict[str, str]) -> list[str]:
    """The full ``docker run`` argument list of one lab host (after ``docker``)."""
    args = ["run", "--detach", "--name", container_name(host), "--hostname", host,
            "--network", network, "--ip", address]
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    args += SYSTEMD_FLAGS.docker_args()
    if "storage" in groups:
        # Gluster's FUSE client mounts the volume on the storage hosts themselves.
        args += ["--device", "/dev/fuse"]
    for volume, mount in host_volumes(host, groups):
        args += ["-v", f"{volume}:{mount}"]
    args += [image, SYSTEMD_FLAGS.command]
    return args
