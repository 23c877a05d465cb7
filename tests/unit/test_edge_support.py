"""Shared helpers (no tests) for the edge client tests: recorded replies and a fake transport."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clusterctl.edge import Endpoint, HttpReply

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"


def fixture(engine: str, name: str) -> bytes:
    return (FIXTURES / engine / name).read_bytes()


@dataclass
class Sent:
    endpoint: Endpoint
    request: dict[str, Any]
    headers: dict[str, str]
    timeout: float


@dataclass
class FakePost:
    """Answers each method with the next queued reply, re-id'd to match the request.

    The recorded files all carry ``"id":1``; the client checks ids, so the fake rewrites the
    id the way a real engine would echo it.
    """

    replies: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)

    def queue(self, method: str, body: bytes, status: int = 200) -> FakePost:
        self.replies.setdefault(method, []).append((status, body))
        return self

    def __call__(
        self, endpoint: Endpoint, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> HttpReply:
        request = json.loads(body)
        self.sent.append(Sent(endpoint, request, dict(headers), timeout))
        status, reply = self.replies[request["method"]].pop(0)
        try:
            doc = json.loads(reply)
        except json.JSONDecodeError:
            return HttpReply(status, reply)
        if isinstance(doc, dict) and "id" in doc:
            doc["id"] = request["id"]
            reply = json.dumps(doc).encode()
        return HttpReply(status, reply)

    def methods(self) -> list[str]:
        return [s.request["method"] for s in self.sent]
