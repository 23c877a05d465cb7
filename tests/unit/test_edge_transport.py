"""The real HTTP transport against small servers on 127.0.0.1: fixtures, faults, hangs."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from test_edge_support import fixture

from clusterctl.edge import DestinationState, EdgeManagementError, client_for
from clusterctl.errors import BadInput, ClusterctlError

# Every misbehaving server gives up after this long, so a broken client cannot hang the run.
SERVER_LIMIT_S = 6.0


class FixtureServer(ThreadingHTTPServer):
    """Serves OpenSIPS fixtures by method and behaves like OpenSIPS 3.6.8 without the header."""

    daemon_threads = True
    seen: list[tuple[str, dict[str, str], dict[str, object]]]


class FixtureHandler(BaseHTTPRequestHandler):
    server: FixtureServer
    protocol_version = "HTTP/1.1"
    FILES: ClassVar[dict[str, str]] = {
        "which": "which.json",
        "ds_list": "ds_list.json",
        "get_statistics": "3.6.8-lab/get_statistics_contacts.json",
    }

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = json.loads(body)
        self.server.seen.append((self.path, dict(self.headers), request))
        if self.headers.get("Content-Type") != "application/json":
            # What OpenSIPS 3.6.8 mi_http does: 400 and a chunked body it never ends.
            self.send_response(400)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5\r\nerror\r\n")
            self.wfile.flush()
            time.sleep(SERVER_LIMIT_S)
            return
        doc = json.loads(fixture("opensips", self.FILES[request["method"]]))
        doc["id"] = request["id"]
        reply = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fixture_server() -> Iterator[FixtureServer]:
    server = FixtureServer(("127.0.0.1", 0), FixtureHandler)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_end_to_end_over_http(fixture_server: FixtureServer) -> None:
    port = fixture_server.server_address[1]
    client = client_for("opensips", "127.0.0.1", port, timeout=2.0)
    sets = client.dispatcher_sets()
    assert [(s.id, s.destinations[0].uri) for s in sets] == [
        (2, "sip:127.0.0.1:5098"),
        (1, "sip:127.0.0.1:5099"),
    ]
    assert sets[0].destinations[0].state is DestinationState.ACTIVE
    assert client.registration_count() == 1
    assert [(path, req["method"]) for path, _, req in fixture_server.seen] == [
        ("/mi", "which"),
        ("/mi", "ds_list"),
        ("/mi", "get_statistics"),
    ]
    assert all(h["Content-Type"] == "application/json" for _, h, _ in fixture_server.seen)


def test_the_fixture_server_really_hangs_without_the_header(fixture_server: FixtureServer) -> None:
    """Proves the hang the client avoids: without Content-Type the body never completes."""
    sock = socket.create_connection(("127.0.0.1", fixture_server.server_address[1]), timeout=1.0)
    body = b'{"jsonrpc":"2.0","method":"which","id":1}'
    sock.sendall(
        b"POST /mi HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    received = b""
    with pytest.raises(TimeoutError):
        while True:
            chunk = sock.recv(4096)
            assert chunk, "server closed: the chunked body was ended after all"
            received += chunk
    sock.close()
    assert received.startswith(b"HTTP/1.1 400")
    assert b"0\r\n\r\n" not in received


Script = Callable[[socket.socket, threading.Event], None]


class RawServer:
    """One-connection TCP server whose reply is scripted; bounded by SERVER_LIMIT_S."""

    def __init__(self, script: Script) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(SERVER_LIMIT_S)
        self.port = self.listener.getsockname()[1]
        self.script = script
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except TimeoutError:
            return
        with conn:
            conn.settimeout(SERVER_LIMIT_S)
            try:
                conn.recv(65536)
                self.script(conn, self.stop)
            except OSError:
                pass  # the client hung up, which is what the timeout tests want

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(SERVER_LIMIT_S + 1)


def reply(status: str, body: bytes) -> Script:
    def send(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(
            b"HTTP/1.1 %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (status.encode(), len(body), body)
        )

    return send


def silent(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait(SERVER_LIMIT_S)


def endless_chunked(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nerror\r\n")
    stop.wait(SERVER_LIMIT_S)


def trickle(conn: socket.socket, stop: threading.Event) -> None:
    """A body that keeps coming, one small chunk every 0.1 s, so no single read times out."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    deadline = time.monotonic() + SERVER_LIMIT_S
    while time.monotonic() < deadline and not stop.is_set():
        conn.sendall(b"1\r\n \r\n")
        stop.wait(0.1)


def call_against(script: Script, timeout: float = 0.5) -> tuple[str, float]:
    server = RawServer(script)
    client = client_for("kamailio", "127.0.0.1", server.port, timeout=timeout)
    start = time.monotonic()
    try:
        with pytest.raises(EdgeManagementError) as err:
            client.dispatcher_sets()
    finally:
        elapsed = time.monotonic() - start
        server.close()
    message = err.value.message
    assert "\n" not in message
    assert message.startswith(
        f"kamailio management at 127.0.0.1:{server.port}/RPC: dispatcher.list: "
    )
    return message, elapsed


def test_connection_refused() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = client_for("opensips", "127.0.0.1", port, timeout=0.5)
    with pytest.raises(EdgeManagementError) as err:
        client.version()
    assert (
        err.value.message
        == f"opensips management at 127.0.0.1:{port}/mi: version: connection refused"
    )
    assert isinstance(err.value, ClusterctlError)


def test_silent_server_times_out() -> None:
    message, elapsed = call_against(silent)
    assert message.endswith("no complete reply within 0.5 s")
    assert 0.45 < elapsed < 1.0


def test_never_ending_chunked_body_does_not_hang() -> None:
    message, elapsed = call_against(endless_chunked)
    assert message.endswith("no complete reply within 0.5 s")
    assert elapsed < 1.0


def test_trickling_body_is_cut_at_the_total_deadline() -> None:
    message, elapsed = call_against(trickle)
    assert message.endswith("no complete reply within 0.5 s")
    assert elapsed < 1.0


def test_http_400_without_json() -> None:
    message, _ = call_against(reply("400 Bad Request", b"bad request"))
    assert message.endswith("HTTP 400: 'bad request'")


def test_http_500_with_empty_body() -> None:
    message, _ = call_against(reply("500 Internal Server Error", b""))
    assert message.endswith("HTTP 500: ''")


def test_http_500_with_json_but_no_error_object() -> None:
    message, _ = call_against(reply("500 Internal Server Error", b'{"jsonrpc":"2.0","id":1}'))
    assert message.endswith("HTTP 500")


def test_json_rpc_error_object() -> None:
    body = b'{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}'
    message, _ = call_against(reply("200 OK", body))
    assert message.endswith("JSON-RPC error -32601: Method not found")


def test_malformed_json() -> None:
    message, _ = call_against(reply("200 OK", b'{"jsonrpc":"2.0","result":{'))
    assert message.endswith("""malformed JSON reply: '{"jsonrpc":"2.0","result":{'""")


def test_reply_without_result() -> None:
    message, _ = call_against(reply("200 OK", b'{"jsonrpc":"2.0","id":1}'))
    assert message.endswith("reply has neither result nor error")


def test_reply_for_another_request() -> None:
    message, _ = call_against(reply("200 OK", b'{"jsonrpc":"2.0","result":{},"id":99}'))
    assert message.endswith("reply id 99 != request id 1")


def test_reply_of_wrong_shape() -> None:
    message, _ = call_against(reply("200 OK", b'{"jsonrpc":"2.0","result":{"NRSETS":1},"id":1}'))
    assert message.endswith("unexpected reply shape: missing 'RECORDS'")


def test_ipv6_host_is_bracketed_in_messages() -> None:
    client = client_for("kamailio", "::1", 1, timeout=0.5)
    with pytest.raises(EdgeManagementError, match=r"^kamailio management at \[::1\]:1/RPC: "):
        client.version()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"engine": "asterisk", "host": "h"}, "unknown edge engine 'asterisk'"),
        ({"engine": "kamailio", "host": "h", "port": 70000}, "port 70000 is out of range"),
        ({"engine": "opensips", "host": "h", "timeout": 0}, "timeout must be positive"),
    ],
)
def test_bad_input(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(BadInput, match=words):
        client_for(**kwargs)  # type: ignore[arg-type]


def test_empty_statistics_request_is_bad_input() -> None:
    with pytest.raises(BadInput, match="at least one"):
        client_for("kamailio", "127.0.0.1", 1).statistics([])
