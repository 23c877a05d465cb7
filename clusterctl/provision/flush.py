"""Telling feature servers to drop cached directory entries after a provisioning change.

FreeSWITCH caches a user's directory XML per node (``cacheable``) and ``reloadxml`` does not
clear it: each feature server of the tenant's shard needs ``xml_flush_cache id <user>
<domain>``. The transport (the event socket) is not this package's business: apply calls a
``CacheFlusher`` with the stale (user, domain) pairs and the shard's hosts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class FlushResult:
    """Per host: None when every entry was flushed, else why not (one line)."""

    failures: dict[str, str] = field(default_factory=dict)


class CacheFlusher(Protocol):
    """Drops cached directory entries on feature servers."""

    def flush(self, entries: Sequence[tuple[str, str]], hosts: Sequence[str]) -> FlushResult:
        """Flush every (user, domain) of ``entries`` on every host; never raises for a host
        that is down (it is reported in the result: its cache died with it, or it will expire).
        """
        ...


class NoFlush:
    """A flusher that does nothing (no feature servers yet; the entries expire by age)."""

    def flush(self, entries: Sequence[tuple[str, str]], hosts: Sequence[str]) -> FlushResult:
        """Nothing to do."""
        return FlushResult()


@dataclass
class RecordingFlusher:
    """Records what it was asked to flush (tests); ``down`` hosts are reported as failed."""

    calls: list[tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = field(default_factory=list)
    down: frozenset[str] = frozenset()

    def flush(self, entries: Sequence[tuple[str, str]], hosts: Sequence[str]) -> FlushResult:
        """Record the call."""
        self.calls.append((tuple(entries), tuple(hosts)))
        return FlushResult({h: "unreachable" for h in hosts if h in self.down})
