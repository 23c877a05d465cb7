"""The docker run line of a lab host: systemd flags, fuse for storage, data volumes."""

from __future__ import annotations

from clusterctl.lab.containers import SYSTEMD_FLAGS, container_name, host_volumes, run_args


def _args(host: str, groups: tuple[str, ...]) -> list[str]:
    return run_args(host, groups, address="172.29.10.31", network="clusterctl-lab",
                    image="clusterctl-lab-host:trixie", labels={"org.clusterctl.lab": "1"})


def test_systemd_flags_exactly_as_documented():
    assert SYSTEMD_FLAGS.docker_args() == [
        "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW",
        "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
        "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--tmpfs", "/run", "--tmpfs", "/run/lock"]


def test_database_and_storage_host():
    args = _args("db1", ("databases", "storage"))
    assert args[:9] == ["run", "--detach", "--name", "clusterctl-lab-db1", "--hostname", "db1",
                        "--network", "clusterctl-lab", "--ip"]
    assert "--privileged" not in args
    assert args[args.index("--device") + 1] == "/dev/fuse"
    mounts = [args[i + 1] for i, a in enumerate(args) if a == "-v"]
    assert mounts == ["/sys/fs/cgroup:/sys/fs/cgroup:rw", "clusterctl-lab-db1-data:/srv/data",
                      "clusterctl-lab-db1-mysql:/var/lib/mysql",
                      "clusterctl-lab-db1-gluster:/srv/gluster"]
    assert args[-2:] == ["clusterctl-lab-host:trixie", "/lib/systemd/systemd"]
    assert args[args.index("--label") + 1] == "org.clusterctl.lab=1"


def test_plain_host_has_only_its_data_volume_and_no_fuse():
    args = _args("edge1", ("sip_edge",))
    assert "--device" not in args
    assert host_volumes("edge1", ("sip_edge",)) == [("clusterctl-lab-edge1-data", "/srv/data")]
    assert container_name("edge1") == "clusterctl-lab-edge1"
