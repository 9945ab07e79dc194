"""CPU and memory limits for the scripts and expressions of one engine step.

Every engine call (start, complete a task, fire timers, deliver a message) runs under a
per-thread budget (``acquire``/``release``): CPU time (``time.thread_time``, so other threads
and waiting do not count) spent inside scripts and expressions; a larger CPU budget for the whole
step (SpiffWorkflow's own work included: a diagram that loops without waiting); and memory
growth (the process's resident size above what it was when the step's first script began).
Restricted code calls the budget's ``tick`` before every statement and at the top of every
lambda and comprehension clause. A tick reads only the cheap monotonic clock; once
``CHECK_INTERVAL`` of wall time has passed since the last check it reads the thread's CPU time
and the process's resident size (``check``), so one slow statement is noticed at the next tick.
``settle`` checks again when a script or expression ends, and ``check_step`` when a step ends.
Operator and method guards (``engine.guards``) estimate large results before computing them and
``charge`` them, which reads the memory sooner. Once a limit is exceeded the budget stays
exceeded: every later tick raises again, so a script cannot catch its way past it.

The limits are set once at start-up with ``configure_limits`` (the engine reads no settings).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

_monotonic = time.monotonic  # vDSO: tens of nanoseconds

CHECK_INTERVAL = 0.005  # wall seconds between checks: a tick costs ~0.1 µs, a check ~2.5 µs
SMALL_BYTES = 64 * 1024  # results below this are not charged


@dataclass(frozen=True)
class ScriptLimits:
    """The CPU seconds and megabytes one engine step's scripts may use."""

    cpu_seconds: float = 0.5
    memory_mb: int = 64
    step_cpu_seconds: float = 5.0


_limits = ScriptLimits()


def configure_limits(*, cpu_seconds: float, memory_mb: int, step_cpu_seconds: float) -> None:
    """Set the limits for every later engine step (called once at start-up): CPU seconds inside
    scripts and expressions, megabytes they may allocate, CPU seconds of a whole step."""
    global _limits
    if cpu_seconds <= 0 or memory_mb <= 0 or step_cpu_seconds <= 0:
        raise ValueError("script limits must be positive")
    _limits = ScriptLimits(
        cpu_seconds=cpu_seconds, memory_mb=memory_mb, step_cpu_seconds=step_cpu_seconds
    )


def current_limits() -> ScriptLimits:
    """The limits in force."""
    return _limits


class ScriptLimitExceeded(Exception):
    """A script or expression went over a limit; ``reason`` completes "The script task 'X' ..."."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _open_statm() -> int | None:
    try:
        return os.open("/proc/self/statm", os.O_RDONLY)
    except OSError:  # not Linux: memory is bounded by the guards only
        return None


def _reopen_statm() -> None:  # /proc/self was resolved when opened: a forked child reopens
    global _STATM
    _STATM = _open_statm()


_STATM = _open_statm()
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reopen_statm)


def resident_bytes() -> int:
    """The process's resident set size in bytes (0 where /proc is not available)."""
    if _STATM is None:
        return 0
    return int(os.pread(_STATM, 64, 0).split()[1]) * _PAGE


class Budget:
    """What one engine step's scripts may still use; see the module docstring."""

    __slots__ = (
        "charged",
        "completed",
        "deadline",
        "depth",
        "entered",
        "exceeded",
        "limits",
        "max_bytes",
        "next_check",
        "rss_base",
        "script_left",
        "step_deadline",
    )

    def __init__(self, limits: ScriptLimits) -> None:
        now = time.thread_time()
        self.limits = limits
        self.next_check = _monotonic() + CHECK_INTERVAL
        self.completed = 0
        self.script_left = limits.cpu_seconds
        self.deadline = now + limits.cpu_seconds  # of the evaluation running now
        self.step_deadline = now + limits.step_cpu_seconds
        self.depth = 0
        self.entered = now
        self.max_bytes = limits.memory_mb * 1024 * 1024
        self.rss_base = -1  # taken when the first script starts (steps without scripts pay none)
        self.charged = 0
        self.exceeded: str | None = None

    def enter(self) -> None:
        """A script or expression starts: its CPU time counts against the script budget."""
        if self.depth == 0:
            if self.rss_base < 0:
                self.rss_base = resident_bytes()
            self.entered = time.thread_time()
            self.deadline = self.entered + self.script_left
        self.depth += 1

    def leave(self) -> None:
        """The script or expression ended."""
        self.depth -= 1
        if self.depth == 0:
            self.script_left -= time.thread_time() - self.entered

    def tick(self) -> bool:
        """Called by restricted code before every statement, lambda and comprehension clause;
        checks the limits once CHECK_INTERVAL has passed since the last check. Returns True."""
        if _monotonic() >= self.next_check:
            self.check()
        return True

    def check(self) -> None:
        """Read the clocks; raise ScriptLimitExceeded (again) if a limit is or was exceeded."""
        if self.exceeded is None:
            self.next_check = _monotonic() + CHECK_INTERVAL
            self.charged = 0
            if self.depth and time.thread_time() > self.deadline:
                self.exceeded = (
                    f"used more than {self.limits.cpu_seconds:g} s of CPU "
                    "(POWERFLOW_SCRIPT_CPU_SECONDS)"
                )
            elif self.rss_base >= 0 and resident_bytes() - self.rss_base > self.max_bytes:
                self.exceeded = self._memory_reason()
        if self.exceeded is not None:
            self.next_check = float("-inf")  # every later tick checks, and raises, again
            raise ScriptLimitExceeded(self.exceeded)

    def settle(self) -> None:
        """At the end of a script or expression: check the CPU time and memory (a script that
        went over fails even if nothing ticked since), and raise if a limit was exceeded before
        (so a script that caught the error still fails)."""
        self.check()

    def check_step(self, *, final: bool = False) -> None:
        """After each completed task (the clock is read every 8th) and at the end of the step
        (``final``): stop a step that has run too long (a diagram that loops through automatic
        tasks without ever waiting)."""
        self.completed += 1
        if (
            (final or self.completed % 8 == 0)
            and self.exceeded is None
            and time.thread_time() > self.step_deadline
        ):
            self.exceeded = (
                f"ran more than {self.limits.step_cpu_seconds:g} s of CPU without reaching a "
                "user task, timer or message (POWERFLOW_STEP_CPU_SECONDS); does the diagram "
                "loop through automatic steps only"
            )
        if self.exceeded is not None:
            raise ScriptLimitExceeded(self.exceeded)

    def charge(self, nbytes: int) -> None:
        """Account for a result of about ``nbytes`` before it is made; refuse one over the limit."""
        if nbytes > self.max_bytes:
            self.refuse(self._memory_reason("would use"))
        self.charged += nbytes
        if self.charged > self.max_bytes // 4:
            self.check()

    def refuse(self, reason: str) -> None:
        """Fail the step for ``reason`` (sticky, like the other limits)."""
        self.exceeded = reason
        self.check()

    def _memory_reason(self, verb: str = "used") -> str:
        mb = self.max_bytes // (1024 * 1024)
        return f"{verb} more than {mb} MB of memory (POWERFLOW_SCRIPT_MEMORY_MB)"


class _Local(threading.local):
    budget: Budget | None = None


_local = _Local()


def acquire() -> tuple[Budget, bool]:
    """The step's budget, or a new one installed for this thread (then ``True``: release it)."""
    budget = _local.budget
    if budget is not None:
        return budget, False
    budget = _local.budget = Budget(_limits)
    return budget, True


def release() -> None:
    """Forget the budget ``acquire`` installed."""
    _local.budget = None


def current_budget() -> Budget:
    """The budget of the step running on this thread, or a fresh one outside any step."""
    budget = _local.budget
    return budget if budget is not None else Budget(_limits)
