"""The keepalived notify script and the calls playbooks/edge.yml gives it per engine.

The script is rendered from roles/keepalived with what clusterctl.role_inputs computes, then
run as keepalived runs it (notify TYPE NAME STATE PRIORITY) against a JSON-RPC server on loopback
that records what it was asked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from clusterctl import role_inputs
from clusterctl.model import build_cluster

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "roles/keepalived/templates/usr/local/libexec/clusterctl-vrrp-notify.j2"


def edge_notify_vars(engine: str, host: str = "172.29.10.11") -> dict[str, Any]:
    """keepalived_notify_rpc_url and _calls as playbooks/edge.yml gets them (role_inputs)."""
    settings = {
        "cluster_name": "notify",
        "edge_engine": engine,
        "vrrp_instances": [{"name": "edge", "vip": "172.29.10.100", "prefix": 24, "router_id": 51}],
        "shards": {"shard1": {"primary": "fs1", "secondary": "fs2"}},
        "tenants": [{"id": "t", "name": "T", "domain": "t.example.org", "shard": "shard1"}],
    }
    addresses = {
        "edge1": host, "edge2": "172.29.10.12", "fs1": "172.29.10.21", "fs2": "172.29.10.22"
    }
    groups = {"sip_edge": ["edge1", "edge2"], "feature_servers": ["fs1", "fs2"]}
    cluster = build_cluster(
        groups, {h: {**settings, "ansible_host": a} for h, a in addresses.items()}
    )
    got = role_inputs.keepalived(cluster, "edge1")
    return {k: got[k] for k in ("keepalived_notify_rpc_url", "keepalived_notify_rpc_calls")}


def test_kamailio_keepalives_follow_the_vip() -> None:
    got = edge_notify_vars("kamailio")
    assert got["keepalived_notify_rpc_url"].strip() == "http://172.29.10.11:5071/RPC"
    calls = got["keepalived_notify_rpc_calls"]
    assert calls == {
        "MASTER": [{"method": "nathelper.enable_ping", "params": [1]}],
        "BACKUP": [{"method": "nathelper.enable_ping", "params": [0]}],
        "FAULT": [{"method": "nathelper.enable_ping", "params": [0]}],
    }


def test_opensips_sharing_tag_goes_active_on_master_only() -> None:
    got = edge_notify_vars("opensips")
    assert got["keepalived_notify_rpc_url"].strip() == "http://172.29.10.11:8888/mi"
    assert got["keepalived_notify_rpc_calls"] == {
        "MASTER": [{"method": "clusterer_shtag_set_active", "params": {"tag": "vip/1"}}]
    }


class Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    reply: ClassVar[dict[str, Any]] = {}

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Recorder.seen.append((self.headers["Content-Type"], json.loads(self.rfile.read(length))))
        body = json.dumps(Recorder.reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def engine() -> Iterator[str]:
    Recorder.seen = []
    Recorder.reply = {"jsonrpc": "2.0", "result": "Ok.", "id": 1}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/RPC"
    finally:
        server.shutdown()
        server.server_close()


def notify(tmp_path: Path, url: str, state: str) -> subprocess.CompletedProcess[str]:
    calls = edge_notify_vars("kamailio")["keepalived_notify_rpc_calls"]
    variables = {
        "keepalived_notify_rpc_url": url,
        "keepalived_notify_rpc_calls": calls,
        "ansible_managed": "test",
    }
    templar = Templar(loader=DataLoader(), variables=variables)
    script = tmp_path / "notify"
    script.write_text(str(templar.template(trust_as_template(SCRIPT.read_text()))))
    return subprocess.run(
        [sys.executable, str(script), "INSTANCE", "VI_SIP", state, "150"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(("state", "flag"), [("MASTER", 1), ("BACKUP", 0), ("FAULT", 0)])
def test_the_script_makes_the_calls_of_the_state(
    tmp_path: Path, engine: str, state: str, flag: int
) -> None:
    result = notify(tmp_path, engine, state)
    assert result.returncode == 0, result.stderr
    ((content_type, request),) = Recorder.seen
    assert content_type == "application/json"
    assert (request["method"], request["params"]) == ("nathelper.enable_ping", [flag])


def test_a_state_without_calls_calls_nothing(tmp_path: Path, engine: str) -> None:
    assert notify(tmp_path, engine, "STOP").returncode == 0
    assert Recorder.seen == []


def test_an_error_reply_fails_the_script(tmp_path: Path, engine: str) -> None:
    Recorder.reply = {"jsonrpc": "2.0", "error": {"code": 500, "message": "no"}, "id": 1}
    result = notify(tmp_path, engine, "MASTER")
    assert result.returncode == 1
    assert len(Recorder.seen) == 1  # an answer, even an error, is not retried
