"""Pure measurements on an :class:`Observations` stream (no cluster, no clock).

Every function takes the stream and the marks it needs and returns numbers or None when the
thing was never observed; the drills turn them into checks.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from clusterctl.drills.observe import CallRecord, DestSample, VipSample


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (None for no values): p99 of 20 calls is the worst one."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def selectable_series(samples: Iterable[DestSample], host: str) -> list[tuple[float, bool]]:
    """(poll time, selectable) of ``host``: selectable while any set would still pick it."""
    per_poll: dict[float, bool] = {}
    for sample in samples:
        if sample.host == host:
            per_poll[sample.t] = per_poll.get(sample.t, False) or sample.selectable
    return sorted(per_poll.items())


def first_change(series: list[tuple[float, bool]], after: float, to: bool) -> float | None:
    """Time of the first poll at or after ``after`` where the value is ``to``."""
    return next((t for t, value in series if t >= after and value is to), None)


def transitions(series: list[tuple[float, bool]]) -> list[tuple[float, bool]]:
    """(time, new value) of every change in ``series``."""
    return [(t, v) for (_, before), (t, v) in itertools.pairwise(series) if v != before]


def hosts_excluded(samples: Iterable[DestSample], but: str) -> list[str]:
    """Hosts other than ``but`` that were ever unselectable (a healthy server dropped)."""
    return sorted({s.host or s.uri for s in samples if s.host != but and not s.selectable})


def calls_between(calls: Iterable[CallRecord], start: float, end: float) -> list[CallRecord]:
    """Calls placed in ``[start, end)``."""
    return [c for c in calls if start <= c.start < end]


def answered_by(calls: Iterable[CallRecord]) -> dict[str, int]:
    """How many calls each server answered (``none`` for calls nobody answered)."""
    return dict(Counter(c.answered_by or "none" for c in calls))


@dataclass(frozen=True)
class Ownership:
    """What the VIP samples say about a takeover."""

    takeover_at: float | None  # first sample with exactly the new owner
    new_owner: str | None
    longest_dual_s: float  # longest time two nodes held the VIP at once
    longest_none_s: float  # longest time nobody held it (after the fault)


def vip_ownership(samples: Sequence[VipSample], fault_at: float, old_owner: str) -> Ownership:
    """Takeover time, new owner and split-brain / no-owner stretches after ``fault_at``.

    A stretch is measured from its first sample to the first sample that ends it (or the last
    sample), so a single dual sample counts 0 s: one poll cannot prove two owners at once.
    """
    after = [s for s in samples if s.t >= fault_at]
    takeover = next((s for s in after if len(s.owners) == 1 and s.owners[0] != old_owner), None)
    return Ownership(
        takeover_at=takeover.t if takeover else None,
        new_owner=takeover.owners[0] if takeover else None,
        longest_dual_s=_longest(samples, lambda s: len(s.owners) >= 2),
        longest_none_s=_longest(after, lambda s: not s.owners),
    )


def _longest(samples: Sequence[VipSample], test: Callable[[VipSample], bool]) -> float:
    longest, start = 0.0, None
    for sample in samples:
        if test(sample):
            start = sample.t if start is None else start
            longest = max(longest, sample.t - start)
        elif start is not None:
            longest = max(longest, sample.t - start)
            start = None
    return longest
