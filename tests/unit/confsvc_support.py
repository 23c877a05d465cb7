"""The captured FreeSWITCH requests, a service config and a provisioned in-memory repository."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from provision_support import ACME, cluster

from clusterctl.confsvc.app import ConfigService
from clusterctl.confsvc.config import ServiceConfig
from clusterctl.confsvc.repository import MemoryRepository
from clusterctl.provision import command, spec

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "freeswitch" / "xml_curl_requests.txt"
FS1 = "10.9.0.21"  # fs1, shard s1 (acme)
FS3 = "10.9.0.23"  # fs3, shard s2 (globex)


def captured_bodies() -> list[bytes]:
    """Every raw body in the capture file, in order."""
    bodies = []
    lines = CAPTURES.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line == "-- raw body --":
            bodies.append(lines[i + 1].encode("ascii"))
    return bodies


def capture(index: int, **changes: str) -> bytes:
    """Captured body ``index`` with fields replaced or added (order kept)."""
    pairs = parse_qsl(captured_bodies()[index].decode(), keep_blank_values=True)
    out, done = [], set()
    for name, value in pairs:
        if name not in changes:
            out.append((name, value))
        elif name not in done:
            out.append((name, changes[name]))
            done.add(name)
    out += [(k, v) for k, v in changes.items() if k not in done]
    return urlencode(out).encode()


def config(**overrides: Any) -> ServiceConfig:
    raw: dict[str, Any] = {
        "database": {"hosts": ["127.0.0.1:3307"], "password_file": "/nonexistent"},
        "clients": {"fs1": {"address": FS1, "shard": "s1"},
                    "fs3": {"address": FS3, "shard": "s2"}},
        "edge": {"vip": "10.9.0.10"},
        "directory_cache_ms": 60000,
    }
    raw.update(overrides)
    return ServiceConfig.model_validate(raw)


def acme_repository(tmp_path: Path, text: str = ACME) -> MemoryRepository:
    path = tmp_path / "acme.yml"
    path.write_text(text, encoding="utf-8")
    c = cluster()
    state = spec.load_tenant_file(
        path, spec.Context(command.tenant_rows(c), command.inventory_dids(c), lambda _d: {}))
    globex = spec.Context(command.tenant_rows(c), command.inventory_dids(c), lambda _d: {})
    other = tmp_path / "globex.yml"
    other.write_text('tenant: globex\nusers:\n  - extension: "1001"\n'
                     '    password: "Globex-Unit-Test-1"\n', encoding="utf-8")
    return MemoryRepository({"acme": state, "globex": spec.load_tenant_file(other, globex)})


def call(app: ConfigService, body: bytes, *, address: str = FS1, method: str = "POST",
         path: str = "/freeswitch", content_type: str = "application/x-www-form-urlencoded",
         length: str | None = None, headers: dict[str, str] | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    """Run one WSGI request; (status, headers, body)."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "REMOTE_ADDR": address,
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)) if length is None else length,
        "wsgi.input": io.BytesIO(body),
        **(headers or {}),
    }
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        seen["status"] = int(status.split(maxsplit=1)[0])
        seen["headers"] = dict(response_headers)

    out = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], out
