"""The event-socket client against replies recorded from FreeSWITCH 1.10.12.

A tiny ESL server on loopback replays the recorded bytes (tests/fixtures/freeswitch/esl/,
written by record.py against the Molecule scenario's FreeSWITCH): the client parses exactly
what the real daemon sent.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from clusterctl.freeswitch.esl import (
    EslAuthError,
    EslCommandError,
    EslConnection,
    EslError,
    FreeSwitchClient,
    parse_calls_count,
    parse_profile_status,
)

REC = Path(__file__).resolve().parents[1] / "fixtures" / "freeswitch" / "esl"
PASSWORD = "molecule-esl-only"


def rec(name: str) -> bytes:
    return (REC / f"{name}.raw").read_bytes()


class FakeEsl:
    """Serves one connection at a time: greeting, auth, then recorded api replies."""

    def __init__(self, replies: dict[str, bytes], greeting: bytes | None = None, silent=False):
        self.replies = replies
        self.greeting = rec("greeting") if greeting is None else greeting
        self.silent = silent
        self.commands: list[str] = []
        self.finished = threading.Semaphore(0)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self._session(conn)
            self.finished.release()

    def _session(self, conn):
        if self.silent:
            conn.recv(1)
            return
        conn.sendall(self.greeting)
        if b"rude-rejection" in self.greeting:
            return
        buf = b""
        while True:
            while b"\n\n" not in buf:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
            line, _, buf = buf.partition(b"\n\n")
            text = line.decode()
            self.commands.append(text)
            if text.startswith("auth "):
                ok = text == f"auth {PASSWORD}"
                conn.sendall(rec("auth_ok" if ok else "auth_refused"))
                if not ok:
                    return
            elif text == "exit":
                conn.sendall(rec("exit"))
                return
            elif text.startswith("api "):
                conn.sendall(self.replies[text[4:]])

    def close(self):
        self.sock.close()


@pytest.fixture
def serve():
    servers = []

    def start(replies=None, **kw):
        server = FakeEsl(replies or {}, **kw)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def client(server, password=PASSWORD, timeout=2.0):
    return FreeSwitchClient("127.0.0.1", password, server.port, timeout)


def test_calls_count_idle_and_with_a_call(serve):
    server = serve({"show calls count": rec("show_calls_count_idle")})
    assert client(server).calls_count() == 0
    server.replies["show calls count"] = rec("show_calls_count_one")
    assert client(server).calls_count() == 1
    # One connection per operation: greeting, auth, command, exit.
    assert server.finished.acquire(timeout=5) and server.finished.acquire(timeout=5)
    assert server.commands == [f"auth {PASSWORD}", "api show calls count", "exit"] * 2


def test_channels_count_counts_legs(serve):
    server = serve({"show channels count": rec("show_channels_count_one")})
    assert client(server).channels_count() == 1


def test_profile_status_of_the_edge_profile(serve):
    server = serve({"sofia status profile edge": rec("sofia_status_profile_edge")})
    status = client(server).profile_status("edge")
    assert status.name == "edge"
    assert status.context == "edge_in"
    assert status.url.startswith("sip:mod_sofia@172.29.53.21:5060")
    assert status.calls_in >= 1 and status.failed_calls_in >= 0
    assert status.fields["Dialplan"] == "XML"


def test_an_unknown_profile_is_an_error_naming_it(serve):
    server = serve({"sofia status profile nosuch": rec("sofia_status_profile_nosuch")})
    expected = r"127.0.0.1:.*sofia status profile nosuch: no sofia profile 'nosuch'"
    with pytest.raises(EslError, match=expected):
        client(server).profile_status("nosuch")


def test_pause_check_resume(serve):
    server = serve({
        "fsctl pause inbound": rec("fsctl_pause_inbound"),
        "fsctl pause_check inbound": rec("fsctl_pause_check_inbound_true"),
        "fsctl resume inbound": rec("fsctl_resume_inbound"),
    })
    fs = client(server)
    fs.pause_inbound()
    assert fs.inbound_paused() is True
    fs.resume_inbound()
    server.replies["fsctl pause_check inbound"] = rec("fsctl_pause_check_inbound_false")
    assert fs.inbound_paused() is False


def test_flush_xml_cache_all_or_one_user(serve):
    server = serve({
        "xml_flush_cache": rec("xml_flush_cache"),
        "xml_flush_cache id 1001 mol.clusterctl.test": rec("xml_flush_cache_user"),
    })
    client(server).flush_xml_cache()
    client(server).flush_xml_cache("1001", "mol.clusterctl.test")
    with pytest.raises(EslError, match="both user and domain"):
        client(server).flush_xml_cache("1001")


def test_an_unknown_command_raises_the_daemons_words(serve):
    server = serve({"nosuchcommand": rec("unknown_command")})
    with pytest.raises(EslCommandError, match=r"nosuchcommand: -ERR nosuchcommand Command not"):
        client(server).api("nosuchcommand")


def test_a_wrong_password_is_an_auth_error(serve):
    server = serve()
    with pytest.raises(EslAuthError, match="auth: password refused"):
        client(server, password="wrong-password").calls_count()


def test_a_source_outside_the_acl_is_told_so(serve):
    server = serve(greeting=rec("rude_rejection"))
    with pytest.raises(EslAuthError, match=r"refused by its ACL \(Access Denied, go away\.\)"):
        client(server).calls_count()


def test_a_closed_port_is_connection_refused():
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(EslError, match=rf"127\.0\.0\.1:{port}: connect: connection refused"):
        FreeSwitchClient("127.0.0.1", PASSWORD, port, 1.0).calls_count()


def test_a_silent_server_times_out(serve):
    server = serve(silent=True)
    with pytest.raises(EslError, match=r"connect: no reply within 0\.3 s"):
        client(server, timeout=0.3).calls_count()


def test_a_command_must_be_one_line(serve):
    server = serve()
    with EslConnection("127.0.0.1", PASSWORD, server.port, 2.0) as conn, pytest.raises(
        EslError, match="one non-empty line"
    ):
        conn.api("status\n\napi fsctl shutdown")


def test_parsers_reject_what_they_do_not_know():
    with pytest.raises(ValueError, match=r"no 'N total\.'"):
        parse_calls_count("-ERR no reply\n")
    with pytest.raises(ValueError, match="no URL"):
        parse_profile_status("edge", "garbage\n")
