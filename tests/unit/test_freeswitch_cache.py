"""Provisioning's cache flush over the event socket (clusterctl/freeswitch/cache.py) and the
flusher `clusterctl provision apply` picks for an inventory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clusterctl.errors import BadInput
from clusterctl.freeswitch.cache import EslFlusher
from clusterctl.freeswitch.esl import EslAuthError
from clusterctl.inventory import load_cluster
from clusterctl.lab.inventory import write_inventory
from clusterctl.lab.topology import load_topology, profile_path
from clusterctl.model import Cluster
from clusterctl.provision.command import default_flusher
from clusterctl.provision.flush import NoFlush


class FakeServer:
    def __init__(self, host: str, down: bool = False) -> None:
        self.host = host
        self.down = down
        self.flushed: list[tuple[str | None, str | None]] = []

    def flush_xml_cache(self, user: str | None = None, domain: str | None = None) -> None:
        if self.down:
            raise EslAuthError(f"{self.host}:8021: password refused")
        self.flushed.append((user, domain))


def test_every_entry_is_flushed_on_every_host_and_a_failing_host_is_named() -> None:
    servers = {"fs1a": FakeServer("fs1a"), "fs1b": FakeServer("fs1b", down=True)}
    flusher = EslFlusher(lambda host: servers[host])  # type: ignore[arg-type,return-value]
    entries = [("1001", "acme.example"), ("1002", "acme.example")]
    result = flusher.flush(entries, ["fs1a", "fs1b"])
    assert servers["fs1a"].flushed == entries
    assert result.failures == {"fs1b": "fs1b:8021: password refused"}


def _lab(tmp_path: Path, **kw: Any) -> Cluster:
    out = tmp_path / "lab"
    write_inventory(load_topology(profile_path("default")), out, key_path=tmp_path / "key",
                    known_hosts=tmp_path / "known_hosts", lab_name="clusterctl-lab", **kw)
    return load_cluster(str(out))


def test_the_lab_with_freeswitch_flushes_over_the_event_socket(tmp_path: Path) -> None:
    cluster = _lab(tmp_path, package_dir=tmp_path / "debs", feature_servers="freeswitch")
    assert isinstance(default_flusher(cluster), EslFlusher)


def test_stand_ins_cache_nothing(tmp_path: Path) -> None:
    assert isinstance(default_flusher(_lab(tmp_path)), NoFlush)


def test_an_unreadable_event_socket_password_refuses_before_writing(
    inventory_copy: Path,
) -> None:
    # The example's password is a vault reference that is not defined in the copy.
    cluster = load_cluster(str(inventory_copy))
    with pytest.raises(BadInput, match="fs_esl_password cannot be read"):
        default_flusher(cluster)
