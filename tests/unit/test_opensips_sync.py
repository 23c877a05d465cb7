"""clusterctl-opensips-sync (the OpenSIPS unit's ExecStartPost) against a fake management
interface on loopback that behaves like OpenSIPS 3.6's clusterer: replies shaped like the
recordings in tests/fixtures/opensips/3.6.8-lab, and a seed node that reports the contact
capability synced with nothing received when its sync request finds no peer in time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "roles/sip_edge/templates/usr/local/libexec/clusterctl-opensips-sync.j2"
FIXTURES = ROOT / "tests/fixtures/opensips/3.6.8-lab"


class FakeClusterer:
    """The peer's link comes up ``link_after_s`` after the start. A sync request is kept
    pending until the link is up and answered ``sync_s`` after that (contacts received); as on
    the seed node, a request still pending ``seed_fallback_s`` after it was made is given up:
    the capability reads Ok although nothing came."""

    def __init__(self, link_after_s: float | None, sync_s: float = 0.3,
                 seed_fallback_s: float = 2.0) -> None:
        self.start = time.monotonic()
        self.link_after_s = link_after_s
        self.sync_s = sync_s
        self.seed_fallback_s = seed_fallback_s
        self.requests: list[tuple[float, bool]] = []  # (time, link up when asked)
        self.lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.start

    def link_up(self) -> bool:
        return self.link_after_s is not None and self.now() >= self.link_after_s

    def _answered_at(self, asked: float) -> float | None:
        """When a request made at ``asked`` got its data, None when the seed gave it up."""
        if self.link_after_s is None:
            return None
        answered = max(asked, self.link_after_s) + self.sync_s
        return answered if answered - asked < self.seed_fallback_s else None

    def received(self) -> bool:
        """True once a sync request has been answered with the peer's contacts."""
        return any(
            (at := self._answered_at(asked)) is not None and self.now() >= at
            for asked, _ in self.requests
        )

    def cap_state(self) -> str:
        if not self.requests:
            return "Ok"  # registered synced: usrloc asks nothing at start-up by itself
        asked, _ = self.requests[-1]
        answered = self._answered_at(asked)
        done = asked + self.seed_fallback_s if answered is None else answered
        return "Ok" if self.now() >= done else "not synced"

    def reply(self, method: str) -> dict[str, Any]:
        with self.lock:
            if method == "clusterer_list":
                doc = json.loads((FIXTURES / "clusterer_list.json").read_text())
                node = doc["result"]["Clusters"][0]["Nodes"][0]
                node["link_state"] = "Up" if self.link_up() else "Down"
                return doc
            if method == "clusterer_list_cap":
                doc = json.loads((FIXTURES / "clusterer_list_cap.json").read_text())
                doc["result"]["Clusters"][0]["Capabilities"][0]["state"] = self.cap_state()
                return doc
            if method == "ul_cluster_sync":
                self.requests.append((self.now(), self.link_up()))
                return json.loads((FIXTURES / "ul_cluster_sync.json").read_text())
        return {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}}


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(fake: FakeClusterer) -> int:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                data = json.dumps(fake.reply(json.loads(body)["method"])).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()


def script(tmp_path: Path, port: int, deadline_s: float = 20) -> Path:
    constants = yaml.safe_load((ROOT / "roles/sip_edge/vars/main.yml").read_text())
    templar = Templar(loader=DataLoader(), variables={
        **constants, "__sip_edge_opensips_sync_deadline_s": deadline_s,
        "ansible_managed": "managed", "sip_edge_listen_address": "127.0.0.1",
        "sip_edge_management_port": port,
    })
    text = str(templar.template(trust_as_template(TEMPLATE.read_text())))
    path = tmp_path / "clusterctl-opensips-sync"
    path.write_text(text)
    return path


def run(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=30, check=False)


def test_the_sync_is_asked_at_once_and_waited_for(serve: Any, tmp_path: Path) -> None:
    # The link comes up a second after the request: the script waits for the data, not just
    # for the request to be taken.
    fake = FakeClusterer(link_after_s=1.0)
    result = run(script(tmp_path, serve(fake)))
    assert result.returncode == 0, result.stderr
    assert len(fake.requests) == 1
    assert fake.requests[0][0] < 1.0  # asked before the link was up: nothing is lost waiting
    assert fake.received()
    assert "contacts synced from the peer" in result.stdout


def test_a_lone_node_starts_without_waiting_past_the_deadline(serve: Any,
                                                              tmp_path: Path) -> None:
    fake = FakeClusterer(link_after_s=None, seed_fallback_s=30)
    began = time.monotonic()
    result = run(script(tmp_path, serve(fake), deadline_s=1))
    assert result.returncode == 0
    assert time.monotonic() - began < 5
    assert "gave up waiting for the contact sync" in result.stderr


def test_no_management_interface_never_fails_the_start(tmp_path: Path) -> None:
    # Nothing listens on the port: the unit must still start (bounded by the deadline).
    result = run(script(tmp_path, 9, deadline_s=1))
    assert result.returncode == 0
    assert "gave up" in result.stderr
