"""`clusterctl lab` on bad input and without a lab: one line, the right exit code, and
nothing created. The engine is faked: these tests need no Docker."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from clusterctl.cli import main
from clusterctl.lab import engine, lifecycle
from clusterctl.lab.engine import Result


class FakeDocker:
    """Answers docker CLI calls from a table of (argument prefix -> stdout); records them."""

    def __init__(self, answers: dict[tuple[str, ...], str]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, *args: str, check: bool = True, timeout: float | None = None,
                 input_text: str | None = None, what: str | None = None) -> Result:
        self.calls.append(args)
        for prefix, out in self.answers.items():
            # The last element of a prefix may be the start of an argument (a --format).
            head, last = prefix[:-1], prefix[-1]
            if (args[:len(head)] == head and len(args) > len(head)
                    and args[len(head)].startswith(last)):
                return Result(("docker", *args), 0, out, "")
        if check:
            raise AssertionError(f"unexpected docker call {args}")
        return Result(("docker", *args), 1, "", "No such object")

    def created(self) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[:1] == ("run",) or c[:2] in {
            ("network", "create"), ("volume", "create")}]


@pytest.fixture
def lab_paths(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(lifecycle, "INVENTORY_DIR", tmp_path / "inventory" / "lab")
    monkeypatch.setattr(lifecycle, "KNOWN_HOSTS", tmp_path / ".lab" / "known_hosts")
    monkeypatch.setattr(lifecycle, "KEY_PATH", tmp_path / ".lab" / "id_ed25519")
    return tmp_path


def invoke(*args: str):
    return CliRunner().invoke(main, ["lab", *args])


def test_unknown_profile_is_bad_input():
    res = invoke("up", "--profile", "huge")
    assert res.exit_code == 2
    assert res.output == "error: unknown lab profile 'huge': choose one of default, galera\n"


def test_unreadable_topology_is_bad_input(tmp_path: Path):
    res = invoke("up", "--topology", str(tmp_path / "nope.yml"))
    assert res.exit_code == 2
    assert res.output.startswith("error: cannot read topology file")
    assert res.output.count("\n") == 1


def test_invalid_topology_is_bad_input(tmp_path: Path):
    path = tmp_path / "t.yml"
    path.write_text("network: {name: x, subnet: 10.9.0.0/24}\nhosts: {}\n", encoding="utf-8")
    res = invoke("up", "--topology", str(path))
    assert res.exit_code == 2
    assert res.output == f"error: topology file {path}: edge_vip: missing 'edge_vip'\n"


def test_engine_that_does_not_answer_without_permission(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(engine, "engine_answers", lambda: False)
    res = invoke("up")
    assert res.exit_code == 2
    assert "no Docker engine answers" in res.output
    assert "--install-engine" in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1


def test_subnet_clash_stops_before_anything_is_created(monkeypatch, lab_paths):
    fake = FakeDocker({
        ("network", "ls"): "bridge\ntheirs\n",
        ("network", "inspect", "--format", "{{.Name}} "): "bridge 172.17.0.0/16\n"
                                                         "theirs 172.29.0.0/16\n",
    })
    monkeypatch.setattr(lifecycle, "docker", fake)
    monkeypatch.setattr(lifecycle, "ensure_engine", lambda allow: "running")
    monkeypatch.setattr(lifecycle, "run", lambda argv, **kw: Result(tuple(argv), 0, "[]", ""))
    res = invoke("up")
    assert res.exit_code == 2
    assert ("error: lab subnet 172.29.10.0/24 clashes with docker network 'theirs' "
            "(172.29.0.0/16)") in res.output
    assert fake.created() == []


def test_subnet_clash_with_a_host_route(monkeypatch, lab_paths):
    fake = FakeDocker({("network", "ls"): ""})
    monkeypatch.setattr(lifecycle, "docker", fake)
    monkeypatch.setattr(lifecycle, "ensure_engine", lambda allow: "running")
    routes = '[{"dst": "default", "dev": "eth0"}, {"dst": "172.29.0.0/16", "dev": "wg0"}]'
    monkeypatch.setattr(lifecycle, "run", lambda argv, **kw: Result(tuple(argv), 0, routes, ""))
    res = invoke("up")
    assert res.exit_code == 2
    assert "clashes with host route 172.29.0.0/16" in res.output


def _empty_engine() -> FakeDocker:
    return FakeDocker({("info",): "20.10.24", ("ps",): "", ("network", "ls"): "",
                       ("volume", "ls"): "", ("images",): ""})


def test_down_without_a_lab_is_a_no_op(monkeypatch, lab_paths):
    fake = _empty_engine()
    monkeypatch.setattr(lifecycle, "docker", fake)
    res = invoke("down")
    assert res.exit_code == 0
    assert res.output.startswith("no lab:")
    assert not [c for c in fake.calls if "rm" in c]


def test_down_removes_exactly_the_labelled_objects(monkeypatch, lab_paths):
    fake = FakeDocker({("info",): "20.10.24", ("ps",): "c1\nc2\n",
                       ("network", "ls"): "clusterctl-lab\n", ("volume", "ls"): "v1\nv2\n",
                       ("images",): "img1\nimg2\n", ("rm",): "", ("network", "rm"): "",
                       ("volume", "rm"): "", ("image", "rm", "img1"): ""})
    monkeypatch.setattr(lifecycle, "docker", fake)
    (lab_paths / "inventory" / "lab").mkdir(parents=True)
    res = invoke("down")
    assert res.exit_code == 0, res.output
    ps = next(c for c in fake.calls if c[0] == "ps")
    assert ps[ps.index("--filter") + 1:][:3] == ("label=org.clusterctl.lab=1", "--filter",
                                                 "label=org.clusterctl.lab.host")
    assert [c for c in fake.calls if c[0] == "rm"] == [("rm", "-f", "-v", "c1"),
                                                       ("rm", "-f", "-v", "c2")]
    assert ("network", "rm", "clusterctl-lab") in fake.calls
    assert ("volume", "rm", "v1") in fake.calls
    assert ("volume", "rm", "v2") in fake.calls
    assert "kept 1 image(s) still used by other containers: img2" in res.output
    assert not (lab_paths / "inventory" / "lab").exists()
    fake.calls.clear()
    res = invoke("down", "--keep-images")
    assert not [c for c in fake.calls if c[0] in {"images", "image"}]


def test_down_reports_what_the_engine_would_not_remove(monkeypatch, lab_paths):
    fake = FakeDocker({("info",): "20.10.24", ("ps",): "c1\n", ("network", "ls"): "lab-net\n",
                       ("volume", "ls"): "v1\n", ("images",): "", ("rm",): "",
                       ("volume", "rm"): ""})
    monkeypatch.setattr(lifecycle, "docker", fake)
    monkeypatch.setattr(lifecycle.time, "sleep", lambda s: None)
    res = invoke("down")
    assert res.exit_code == 1
    # Retried, and the volume was still removed after the network failed.
    assert fake.calls.count(("network", "rm", "lab-net")) == 5
    assert ("volume", "rm", "v1") in fake.calls
    assert "removed 1 containers, 0 network(s), 1 volumes" in res.output
    assert res.output.splitlines()[-1].startswith(
        "error: lab down left behind network lab-net (No such object)")


def test_ssh_to_an_unknown_host(monkeypatch):
    monkeypatch.setattr(lifecycle, "_engine_up", lambda: True)
    monkeypatch.setattr(lifecycle, "lab_hosts", lambda: {"db1": ("running", "172.29.10.31")})
    res = invoke("ssh", "db9")
    assert res.exit_code == 2
    assert res.output == "error: unknown lab host 'db9' (lab hosts: db1)\n"


def test_ssh_with_no_lab(monkeypatch):
    monkeypatch.setattr(lifecycle, "_engine_up", lambda: True)
    monkeypatch.setattr(lifecycle, "lab_hosts", dict)
    res = invoke("ssh", "db1")
    assert res.exit_code == 2
    assert "none: run `clusterctl lab up`" in res.output


def test_ssh_argv_uses_the_lab_key_and_known_hosts(lab_paths):
    argv = lifecycle.ssh_argv("172.29.10.31", ("systemctl", "is-active", "ssh"))
    assert argv[:3] == ["ssh", "-i", str(lab_paths / ".lab" / "id_ed25519")]
    assert f"UserKnownHostsFile={lab_paths / '.lab' / 'known_hosts'}" in argv
    assert "StrictHostKeyChecking=yes" in argv
    assert argv[-4:] == ["root@172.29.10.31", "systemctl", "is-active", "ssh"]


def test_status_without_a_lab(monkeypatch):
    monkeypatch.setattr(lifecycle, "lab_hosts", dict)
    res = invoke("status")
    assert res.exit_code == 0
    assert res.output == "no lab: run `clusterctl lab up`\n"


def test_half_built_lab_names_the_failed_host(monkeypatch, lab_paths):
    from clusterctl.errors import ClusterctlError  # noqa: PLC0415

    monkeypatch.setattr(lifecycle, "ensure_engine", lambda allow: "running")
    monkeypatch.setattr(lifecycle, "_check_subnet", lambda topo: None)
    monkeypatch.setattr(lifecycle, "ensure_host_limits", lambda say: None)
    monkeypatch.setattr(lifecycle, "ensure_images", lambda debian: [])
    monkeypatch.setattr(lifecycle, "_ensure_network", lambda topo: "created")
    monkeypatch.setattr(lifecycle, "_ensure_key", lambda: "ssh-ed25519 AAAA test")
    monkeypatch.setattr(lifecycle, "docker", FakeDocker({("image", "inspect"): "sha256:x"}))

    def host_up(host, topo, image, image_id, public_key):
        if host.name == "db2":
            raise ClusterctlError("clusterctl-lab-db2: systemd/sshd not up within 90 s")
        return ("created", "running", "AAAAkey")

    monkeypatch.setattr(lifecycle, "_host_up", host_up)
    res = invoke("up")
    assert res.exit_code == 1
    error = res.output.splitlines()[-1]
    assert error.startswith("error: lab up failed at container start on db2 (db2: "
                            "clusterctl-lab-db2: systemd/sshd not up within 90 s)")
    assert "run `clusterctl lab up` again or `clusterctl lab down`" in error
    assert "fs1a     created, systemd running" in res.output
    assert not (lab_paths / "inventory" / "lab").exists()


@pytest.mark.parametrize(("directory", "usage_file", "stat_line"), [
    ("memory/docker/{id}", "memory.usage_in_bytes", "total_inactive_file 2097152"),
    ("system.slice/docker-{id}.scope", "memory.current", "inactive_file 2097152"),
])
def test_memory_from_the_container_cgroup(tmp_path: Path, directory, usage_file, stat_line):
    cid = "ab" * 32
    path = tmp_path / directory.format(id=cid)
    path.mkdir(parents=True)
    (path / usage_file).write_text("12582912\n", encoding="utf-8")
    (path / "memory.stat").write_text(f"cache 1\n{stat_line}\nrss 3\n", encoding="utf-8")
    assert lifecycle.cgroup_memory(cid, tmp_path) == 10 * 2**20
    assert lifecycle.cgroup_memory("cd" * 32, tmp_path) is None


def test_inotify_limits_are_raised_never_lowered(tmp_path: Path):
    (tmp_path / "max_user_instances").write_text("128\n", encoding="utf-8")
    (tmp_path / "max_user_watches").write_text("1000000\n", encoding="utf-8")
    said: list[str] = []
    lifecycle.ensure_host_limits(said.append, tmp_path)
    assert (tmp_path / "max_user_instances").read_text(encoding="utf-8") == "1024\n"
    assert (tmp_path / "max_user_watches").read_text(encoding="utf-8") == "1000000\n"
    assert said == ["    raised fs.inotify.max_user_instances 128 -> 1024 (systemd in every "
                    "container needs inotify)"]


def test_inotify_limits_not_writable_say_what_to_run(tmp_path: Path, monkeypatch):
    from clusterctl.errors import BadInput  # noqa: PLC0415

    (tmp_path / "max_user_instances").write_text("128\n", encoding="utf-8")
    (tmp_path / "max_user_watches").write_text("524288\n", encoding="utf-8")

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_text", refuse)
    with pytest.raises(BadInput, match=r"fs.inotify.max_user_instances is 128; .*run "
                                       r"`sysctl -w fs.inotify.max_user_instances=1024`"):
        lifecycle.ensure_host_limits(print, tmp_path)


def test_the_lab_containers_weigh_as_many_machines_as_it_has_hosts(tmp_path: Path):
    (tmp_path / "cpu.shares").write_text("1024\n", encoding="utf-8")
    said: list[str] = []
    lifecycle.ensure_cpu_weight(11, said.append, tmp_path)
    assert (tmp_path / "cpu.shares").read_text(encoding="utf-8") == "11264\n"
    lifecycle.ensure_cpu_weight(3, said.append, tmp_path)  # never lowered
    assert (tmp_path / "cpu.shares").read_text(encoding="utf-8") == "11264\n"
    assert said == ["    cpu weight of the lab's containers: 11264 (11 hosts)"]
    lifecycle.ensure_cpu_weight(11, said.append, tmp_path / "absent")  # cgroup v2: nothing
    assert len(said) == 1


def test_a_package_directory_without_debs_is_bad_input(tmp_path: Path):
    res = invoke("up", "--deb-dir", str(tmp_path))
    assert res.exit_code == 2
    assert res.output == f"error: --deb-dir {tmp_path}: no .deb files there\n"


def test_an_unknown_engine_is_refused():
    res = invoke("up", "--engine", "asterisk")
    assert res.exit_code == 2
    assert "'asterisk' is not one of 'opensips', 'kamailio'" in res.output


@pytest.mark.parametrize(
    "debs, flag, expected",
    [
        (["opensips_3.6.8-1_amd64.deb", "freeswitch_1.10.12-1_amd64.deb"], None, "freeswitch"),
        (["opensips_3.6.8-1_amd64.deb"], None, "standin"),
        (["opensips_3.6.8-1_amd64.deb", "freeswitch_1.10.12-1_amd64.deb"], "standin",
         "standin"),
    ],
)
def test_lab_up_runs_freeswitch_when_the_package_directory_has_it(
    tmp_path, monkeypatch, debs, flag, expected
):
    for name in debs:
        (tmp_path / name).write_bytes(b"")
    seen = {}
    monkeypatch.setattr(lifecycle, "up", lambda *a, **kw: seen.update(kw))
    args = ["lab", "up", "--deb-dir", str(tmp_path)] + (["--feature-servers", flag] if flag else [])
    res = CliRunner().invoke(main, args, env={"CLUSTERCTL_LAB_FEATURE_SERVERS": ""})
    assert res.exit_code == 0, res.output
    assert seen["feature_servers"] == expected


def test_lab_up_refuses_freeswitch_without_its_package(tmp_path, monkeypatch):
    (tmp_path / "opensips_3.6.8-1_amd64.deb").write_bytes(b"")
    monkeypatch.setattr(lifecycle, "up", lambda *a, **kw: pytest.fail("lab up ran"))
    for extra in (["--deb-dir", str(tmp_path)], []):
        res = CliRunner().invoke(main, ["lab", "up", "--feature-servers", "freeswitch", *extra],
                                 env={"CLUSTERCTL_DEB_DIR": ""})
        assert res.exit_code == 2
        assert "--feature-servers freeswitch installs FreeSWITCH from the package directory" in (
            res.output
        )
