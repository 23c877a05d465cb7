"""A drill and its runs, in Chaos Toolkit's shape.

check the steady state -> inject the fault -> observe with timestamps -> restore -> check the
steady state again -> verdict. The restore step runs whatever happens after the fault was
attempted (an exception, Ctrl-C); a restore that fails is reported, never swallowed.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from clusterctl.drills.observe import Observations
from clusterctl.drills.thresholds import Limit
from clusterctl.errors import ClusterctlError

if TYPE_CHECKING:
    from clusterctl.drills.live import Probes

Verdict = Literal["pass", "fail", "aborted"]


@dataclass(frozen=True)
class Check:
    """One measured value against its limit.

    ``measured`` None means it could not be measured (never observed): the check fails.
    ``higher_is_worse`` False is for ratios like "BYE torn down: 100 %".
    """

    name: str
    measured: float | None
    limit: Limit
    unit: str
    note: str = ""
    higher_is_worse: bool = True

    @property
    def passed(self) -> bool:
        """Within the limit (a value that could not be measured never passes)."""
        if self.measured is None:
            return False
        if self.higher_is_worse:
            return self.measured <= self.limit.value
        return self.measured >= self.limit.value


@dataclass
class Phase:
    """A step of the run with when it started and ended and what went wrong."""

    name: str
    started: float
    ended: float = 0.0
    ok: bool = True
    detail: str = ""


@dataclass
class DrillRun:
    """One run of a drill."""

    number: int
    phases: list[Phase] = field(default_factory=list)
    obs: Observations = field(default_factory=Observations)
    checks: list[Check] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    restore_error: str | None = None
    steady_after: list[str] = field(default_factory=list)
    aborted: bool = False
    error: str | None = None

    @property
    def verdict(self) -> Verdict:
        """aborted on Ctrl-C; fail on any failed check, error, restore or steady-state problem."""
        if self.aborted:
            return "aborted"
        bad = self.error or self.restore_error or self.steady_after
        if bad or not self.checks or not all(c.passed for c in self.checks):
            return "fail"
        return "pass"


class SteadyStateBroken(ClusterctlError):
    """The cluster is not healthy before the drill: nothing was touched."""


class Drill(abc.ABC):
    """A drill: subclasses say what steady state, fault, observation and checks mean."""

    name: str
    # The live observers; ``probes.registered`` are the AORs its traffic registered.
    probes: Probes

    @abc.abstractmethod
    def plan(self) -> list[tuple[str, str]]:
        """(host, what would be done to it), in order, for ``--dry-run``."""

    @abc.abstractmethod
    def steady_state(self) -> list[str]:
        """Problems with the cluster's health now (empty: steady)."""

    @abc.abstractmethod
    def start_observing(self, obs: Observations) -> None:
        """Start the pollers and the background traffic."""

    @abc.abstractmethod
    def stop_observing(self, obs: Observations) -> None:
        """Stop pollers and traffic and collect what they recorded into ``obs``."""

    @abc.abstractmethod
    def inject(self, obs: Observations) -> None:
        """Inject the fault and mark ``fault`` with the time it took effect."""

    @abc.abstractmethod
    def await_effect(self, obs: Observations) -> None:
        """Observe until the cluster reacted to the fault, or a bounded timeout."""

    @abc.abstractmethod
    def restore(self, obs: Observations) -> None:
        """Undo the fault and mark ``restore`` with the time it took effect."""

    @abc.abstractmethod
    def await_recovery(self, obs: Observations) -> None:
        """Observe until the cluster recovered, or a bounded timeout."""

    @abc.abstractmethod
    def analyze(self, obs: Observations) -> tuple[list[Check], dict[str, Any]]:
        """Checks and descriptive facts (mechanism, who answered) from the observations."""

    # Seconds of traffic before the fault, so "before" in the report is not empty.
    baseline_s: float = 3.0


def mark_fault(obs: Observations, clock: Callable[[], float], inject: Callable[[], float]
               ) -> None:
    """Run ``inject`` and mark ``fault`` with the time it reported the fault in place (a
    netcut's rules go in at the end of its script, 0.3-0.7 s after it was issued in the lab)
    and ``fault_issued`` with when it was issued."""
    issued = clock()
    obs.mark("fault", inject())
    obs.mark("fault_issued", issued)


def run_once(
    drill: Drill,
    number: int = 1,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> DrillRun:
    """Run ``drill`` once. Raises SteadyStateBroken (nothing touched) when it is not steady.

    Ctrl-C during the fault or observation still restores and then returns a result with
    ``aborted`` set; the caller writes the report and exits 130.
    """
    result = DrillRun(number)
    phase = Phase("steady state (before)", clock())
    problems = drill.steady_state()
    phase.ended, phase.ok = clock(), not problems
    if problems:
        raise SteadyStateBroken(
            f"{drill.name}: steady state does not hold, nothing was touched: " + "; ".join(problems)
        )
    result.phases.append(phase)
    injected = False
    try:
        result.phases.append(phase := Phase("observe baseline", clock()))
        drill.start_observing(result.obs)
        sleep(drill.baseline_s)
        phase.ended = clock()
        result.phases.append(phase := Phase("inject fault", clock()))
        injected = True
        drill.inject(result.obs)
        phase.ended = clock()
        result.phases.append(phase := Phase("observe fault", clock()))
        drill.await_effect(result.obs)
        phase.ended = clock()
    except KeyboardInterrupt:
        phase.ended, phase.ok, phase.detail = clock(), False, "interrupted (Ctrl-C)"
        result.aborted = True
    except Exception as exc:
        phase.ended, phase.ok, phase.detail = clock(), False, f"{type(exc).__name__}: {exc}"
        result.error = f"{phase.name}: {exc}"
    finally:
        if injected:
            _restore(drill, result, clock)
    try:
        if not result.aborted and result.restore_error is None and result.error is None:
            result.phases.append(phase := Phase("observe recovery", clock()))
            drill.await_recovery(result.obs)
            phase.ended = clock()
    except KeyboardInterrupt:
        phase.ended, phase.ok, phase.detail = clock(), False, "interrupted (Ctrl-C)"
        result.aborted = True
    finally:
        _stop(drill, result, clock)
    result.phases.append(phase := Phase("steady state (after)", clock()))
    result.steady_after = drill.steady_state()
    phase.ended, phase.ok = clock(), not result.steady_after
    phase.detail = "; ".join(result.steady_after)
    # Nothing to measure when the run broke before its fault (result.error says where).
    if "fault" in result.obs.marks:
        result.checks, result.facts = drill.analyze(result.obs)
    return result


def _restore(drill: Drill, result: DrillRun, clock: Callable[[], float]) -> None:
    phase = Phase("restore", clock())
    result.phases.append(phase)
    try:
        drill.restore(result.obs)
    except KeyboardInterrupt:
        # A second Ctrl-C must not leave the host broken silently.
        result.restore_error = "restore interrupted (Ctrl-C): restore the host by hand"
        result.aborted = True
    except Exception as exc:
        result.restore_error = f"{type(exc).__name__}: {exc}"
    phase.ended = clock()
    if result.restore_error:
        phase.ok, phase.detail = False, result.restore_error


def _stop(drill: Drill, result: DrillRun, clock: Callable[[], float]) -> None:
    phase = Phase("stop observing", clock())
    try:
        drill.stop_observing(result.obs)
    except Exception as exc:
        phase.ok, phase.detail = False, f"{type(exc).__name__}: {exc}"
        result.error = result.error or f"stop observing: {exc}"
    phase.ended = clock()
    result.phases.append(phase)


def run_drill(
    drill: Drill,
    runs: int = 1,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    pause_s: float = 5.0,
) -> list[DrillRun]:
    """Up to ``runs`` runs; stops after an aborted run or a failed restore (unsafe to go on)."""
    results: list[DrillRun] = []
    for number in range(1, runs + 1):
        if number > 1:
            sleep(pause_s)
        try:
            result = run_once(drill, number, clock, sleep)
        except SteadyStateBroken as exc:
            if number == 1:
                raise
            # A later run found the cluster broken: report it as that run's failure.
            result = DrillRun(number, error=exc.message)
        results.append(result)
        if result.aborted or result.restore_error or (result.error and not result.phases):
            break
    return results
