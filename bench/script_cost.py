#!/usr/bin/env python
"""What the script restriction and limits cost per engine step and per evaluation, in memory.

Runs ``script_gateway.bpmn`` (start, a script task with a short realistic script, an exclusive
gateway whose two conditions are ``amount >= 50000`` and ``amount < 50000``, one user task, end)
with ``amount = 12000``: per instance, two engine steps (start, complete the task), one script
execution and two condition evaluations (counted, not assumed). Three ways:

1. powerflow's engine facade (``powerflow.engine.start``/``complete_task``, saved-state JSON, no
   HTTP, no database) with its RestrictedPython environment and CPU/memory budget (the real one);
2. the same facade with SpiffWorkflow's default, unrestricted ``PythonScriptEngine`` patched in
   (the step budget is still acquired): 1 minus 2 is what the restriction and limits cost;
3. SpiffWorkflow alone with its default ``PythonScriptEngine`` (no saved state at all).

Then per evaluation (timeit loops, the median of ``--rounds`` rounds): the condition and the
script through ``RestrictedEnvironment.evaluate``/``execute`` (inside a step's budget, and alone
with a budget of its own) against plain ``eval``/``exec`` of the same source compiled once, and
against SpiffWorkflow's default ``TaskDataEnvironment`` (which compiles the source on every call,
so way 2 can be slower than way 1). The row "over plain compiled code" therefore also estimates
the restriction's cost against the fastest plain execution: the counted scripts and conditions
times their "in a step - plain" figures.

The differences are also given as a share of the server CPU per instance of
``bench/throughput.py`` (``--server-cpu-ms``, default 4.5 ms: its SQLite figure on the 2-core
development VM; pass your own). That instance makes 4 requests (start and three completions),
so a step's share is taken against a quarter of it.

    python bench/script_cost.py
    python bench/script_cost.py --instances 5000 --rounds 9 --server-cpu-ms 4.5 --json /tmp/c.json

Not a test: nothing here asserts; it exits 1 only if the process does not run as expected.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import timeit
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from throughput import MemoryResult, _timed, cpu_model, package_version

HERE = Path(__file__).resolve().parent
BPMN = HERE / "script_gateway.bpmn"
PROCESS_ID = "script_gateway"
VARIABLES: dict[str, Any] = {"amount": 12000, "applicant": "Li Wei"}
STEPS_PER_INSTANCE = 2  # start (script, gateway, up to the user task), complete the task
CONDITION = "amount >= 50000"
THROUGHPUT_REQUESTS_PER_INSTANCE = 4  # bench/throughput.py: start + three completions
BPMN_NS = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def script_source() -> str:
    """The script task's source, exactly as the process runs it."""
    node = ET.parse(BPMN).getroot().find(f".//{BPMN_NS}scriptTask/{BPMN_NS}script")
    if node is None or not node.text:
        raise RuntimeError(f"no script in {BPMN}")
    return node.text


# --------------------------------------------------------------------------- results


@dataclass
class StepRow:
    """One way of running the process: time per instance and per engine step."""

    label: str
    us_per_instance: float
    us_per_step: float
    scripts_per_instance: int
    conditions_per_instance: int


@dataclass
class MicroRow:
    """One evaluation measured several ways, µs per call (median of the rounds)."""

    label: str
    source: str
    plain_compiled_once_us: float
    spiff_default_env_us: float
    restricted_in_step_us: float
    restricted_alone_us: float


# --------------------------------------------------------------------------- counting


class Counts:
    """Script executions and expression evaluations seen by an environment."""

    def __init__(self) -> None:
        self.execute = 0
        self.evaluate = 0


@contextmanager
def counting(environment: Any) -> Iterator[Counts]:
    """Count the calls to ``environment.evaluate``/``execute`` (instance attributes, removed
    afterwards), to report how many evaluations a step really makes."""
    counts = Counts()
    evaluate, execute = environment.evaluate, environment.execute

    def counted_evaluate(*args: Any, **kwargs: Any) -> Any:
        counts.evaluate += 1
        return evaluate(*args, **kwargs)

    def counted_execute(*args: Any, **kwargs: Any) -> Any:
        counts.execute += 1
        return execute(*args, **kwargs)

    environment.evaluate, environment.execute = counted_evaluate, counted_execute
    try:
        yield counts
    finally:
        del environment.evaluate, environment.execute


# --------------------------------------------------------------------------- per step


def load() -> Any:
    """The process compiled and loaded by powerflow's engine facade."""
    from powerflow import engine

    data = BPMN.read_bytes()
    compiled = engine.compile_bpmn(data, BPMN.name, max_bytes=len(data) + 1)
    if not compiled.ok:
        raise RuntimeError(f"cannot compile {BPMN}: {compiled.problems}")
    catalog = next(p for p in compiled.processes if p.process_id == PROCESS_ID).catalog()
    return engine.load_process(compiled.content_hash, PROCESS_ID, data, catalog)


def engine_instance(process: Any) -> Callable[[], None]:
    """One instance through the facade: start (script + gateway), complete the user task."""
    from powerflow import engine

    def one() -> None:
        step = engine.start(process, dict(VARIABLES))
        if step.status != "running" or [t.element_id for t in step.open_tasks] != ["review"]:
            raise RuntimeError(f"unexpected start: {step.status} {step.open_tasks}")
        step = engine.complete_task(process, step.state, step.open_tasks[0].id, {})
        if step.status != "completed":
            raise RuntimeError(f"engine-layer instance did not complete: {step.status}")

    return one


@contextmanager
def unrestricted_engine() -> Iterator[Any]:
    """Patch SpiffWorkflow's default PythonScriptEngine into powerflow's engine for a while."""
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine  # noqa: TID251

    from powerflow.engine import runtime, serializer

    plain = PythonScriptEngine()
    saved = runtime.RESTRICTED_ENGINE, serializer.RESTRICTED_ENGINE
    runtime.RESTRICTED_ENGINE = serializer.RESTRICTED_ENGINE = plain
    try:
        yield plain
    finally:
        runtime.RESTRICTED_ENGINE, serializer.RESTRICTED_ENGINE = saved


def spiff_instance() -> tuple[Callable[[], None], Any]:
    """One instance by SpiffWorkflow alone with its default engine (and that engine)."""
    from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: TID251 - the point of the comparison
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine  # noqa: TID251
    from SpiffWorkflow.spiff.parser import SpiffBpmnParser  # noqa: TID251
    from SpiffWorkflow.util.task import TaskState  # noqa: TID251

    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(BPMN))
    spec = parser.get_spec(PROCESS_ID)
    subprocess_specs = parser.get_subprocess_specs(PROCESS_ID)
    script_engine = PythonScriptEngine()  # what BpmnWorkflow uses when given none

    def one() -> None:
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine)
        workflow.task_tree.data.update(VARIABLES)
        workflow.do_engine_steps()
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        if [t.task_spec.name for t in ready] != ["review"]:
            raise RuntimeError(f"expected the task 'review' ready, got {ready}")
        ready[0].run()
        workflow.do_engine_steps()
        if not workflow.is_completed():
            raise RuntimeError("in-memory workflow did not complete")

    return one, script_engine


def step_row(label: str, one: Callable[[], None], environment: Any, instances: int) -> StepRow:
    """Count one instance's evaluations, then time ``instances`` instances (median of 3)."""
    with counting(environment) as counts:
        one()
    result: MemoryResult = _timed(label, instances, one)
    us = result.ms_per_instance * 1000
    return StepRow(label, us, us / STEPS_PER_INSTANCE, counts.execute, counts.evaluate)


def measure_steps(instances: int) -> list[StepRow]:
    """The three ways of running the process."""
    from powerflow.engine.scripting import RESTRICTED_ENGINE

    process = load()
    rows = [
        step_row(
            "powerflow engine step, restricted + limited (real)",
            engine_instance(process),
            RESTRICTED_ENGINE.environment,
            instances,
        )
    ]
    with unrestricted_engine() as plain:
        rows.append(
            step_row(
                "powerflow engine step, default PythonScriptEngine patched in",
                engine_instance(process),
                plain.environment,
                instances,
            )
        )
    spiff, spiff_engine = spiff_instance()
    rows.append(
        step_row(
            "SpiffWorkflow alone, default PythonScriptEngine",
            spiff,
            spiff_engine.environment,
            instances,
        )
    )
    return rows


# --------------------------------------------------------------------------- per evaluation


def per_call_us(call: Callable[[], Any], rounds: int) -> float:
    """Median µs per call over ``rounds`` timeit rounds of ~0.2 s each."""
    timer = timeit.Timer(call)
    number, _ = timer.autorange()  # calls making at least 0.2 s
    return statistics.median(timer.repeat(repeat=rounds, number=number)) / number * 1e6


def measure_micro(rounds: int) -> list[MicroRow]:
    """The condition and the script, each through four environments."""
    from SpiffWorkflow.bpmn.script_engine import TaskDataEnvironment  # noqa: TID251

    from powerflow import engine
    from powerflow.engine.limits import acquire, current_limits, release
    from powerflow.engine.scripting import RestrictedEnvironment

    restricted = RestrictedEnvironment()
    default = TaskDataEnvironment()
    script = script_source()
    condition_code = compile(CONDITION, "<condition>", "eval")
    script_code = compile(script, "<script>", "exec")
    data = dict(VARIABLES)
    cases: list[tuple[str, str, dict[str, Callable[[], Any]]]] = [
        (
            "condition",
            CONDITION,
            {
                "plain": lambda: eval(condition_code, dict(data)),
                "spiff": lambda: default.evaluate(CONDITION, data),
                "restricted": lambda: restricted.evaluate(CONDITION, data),
            },
        ),
        (
            "script (20-item loop, dict build)",
            script,
            {
                "plain": lambda: exec(script_code, dict(data)),
                "spiff": lambda: default.execute(script, dict(data)),
                "restricted": lambda: restricted.execute(script, dict(data)),
            },
        ),
    ]
    for _, _, calls in cases:  # each must run, and agree with the plain result
        for call in calls.values():
            call()
    limits = current_limits()
    rows = []
    for label, source, calls in cases:
        plain = per_call_us(calls["plain"], rounds)
        spiff = per_call_us(calls["spiff"], rounds)
        alone = per_call_us(calls["restricted"], rounds)  # a budget of its own per call
        # Inside a step: one budget for all calls, as in an engine step; the CPU limit is raised
        # so that the accumulated loop does not exceed it (the cost of the checks is the same).
        engine.configure_limits(cpu_seconds=3600, memory_mb=limits.memory_mb, step_cpu_seconds=3600)
        acquire()
        try:
            in_step = per_call_us(calls["restricted"], rounds)
        finally:
            release()
            engine.configure_limits(
                cpu_seconds=limits.cpu_seconds,
                memory_mb=limits.memory_mb,
                step_cpu_seconds=limits.step_cpu_seconds,
            )
        rows.append(MicroRow(label, source, plain, spiff, in_step, alone))
    return rows


# --------------------------------------------------------------------------- report


def overhead_over_plain_us(real: StepRow, micro: list[MicroRow]) -> float:
    """µs per instance the restricted environment adds over plain eval/exec of code compiled
    once: the counted scripts and conditions times their "in a step - plain" figures."""
    condition, script = micro
    return real.scripts_per_instance * (
        script.restricted_in_step_us - script.plain_compiled_once_us
    ) + real.conditions_per_instance * (
        condition.restricted_in_step_us - condition.plain_compiled_once_us
    )


def share(us: float, server_cpu_ms: float) -> str:
    return f"{us / (server_cpu_ms * 1000) * 100:.1f} %"


def summary(command: str, steps: list[StepRow], micro: list[MicroRow], server_cpu_ms: float) -> str:
    real, patched, spiff = steps
    server_step_ms = server_cpu_ms / THROUGHPUT_REQUESTS_PER_INSTANCE
    rows = [
        f"`{command}`",
        "",
        f"nproc {os.cpu_count()}, {cpu_model()}, Python {platform.python_version()}, "
        f"SpiffWorkflow {package_version('SpiffWorkflow')}, "
        f"RestrictedPython {package_version('RestrictedPython')}",
        "",
        f"Per instance: {STEPS_PER_INSTANCE} engine steps, {real.scripts_per_instance} script "
        f"execution(s), {real.conditions_per_instance} condition evaluation(s) (counted).",
        "",
        "| way of running (in memory) | µs / instance | µs / step |",
        "| --- | ---: | ---: |",
        *[f"| {r.label} | {r.us_per_instance:.0f} | {r.us_per_step:.0f} |" for r in steps],
        "",
        f"| difference | µs / instance | µs / step | share of {server_cpu_ms:g} ms server CPU "
        f"/ instance | share of {server_step_ms:.3g} ms / request |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    over_plain = overhead_over_plain_us(real, micro)
    diffs = [
        ("restriction + limits (real - patched)", real.us_per_instance - patched.us_per_instance),
        ("restriction + limits over plain compiled code (evaluation figures)", over_plain),
        ("real - SpiffWorkflow alone", real.us_per_instance - spiff.us_per_instance),
    ]
    for label, d_inst in diffs:
        d_step = d_inst / STEPS_PER_INSTANCE
        rows.append(
            f"| {label} | {d_inst:.0f} | {d_step:.0f} | {share(d_inst, server_cpu_ms)} "
            f"| {share(d_step, server_step_ms)} |"
        )
    rows += [
        "",
        "| evaluation (µs / call) | plain eval/exec, compiled once | SpiffWorkflow default "
        "environment | RestrictedEnvironment in a step | RestrictedEnvironment alone "
        "| in a step - plain |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *[
            f"| {m.label} | {m.plain_compiled_once_us:.2f} | {m.spiff_default_env_us:.2f} "
            f"| {m.restricted_in_step_us:.2f} | {m.restricted_alone_us:.2f} "
            f"| {m.restricted_in_step_us - m.plain_compiled_once_us:.2f} |"
            for m in micro
        ],
    ]
    return "\n".join(rows)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--instances", type=int, default=2000, help="instances per timed round (3 rounds)"
    )
    parser.add_argument("--rounds", type=int, default=7, help="timeit rounds per evaluation figure")
    parser.add_argument(
        "--server-cpu-ms",
        type=float,
        default=4.5,
        help="server CPU-ms per instance measured by bench/throughput.py (default 4.5: its "
        "SQLite figure on the 2-core development VM)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.instances < 1 or args.rounds < 1 or args.server_cpu_ms <= 0:
        parser.error("--instances and --rounds must be >= 1, --server-cpu-ms > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    try:
        print(f"measuring {args.instances} instances three ways ...", file=sys.stderr)
        steps = measure_steps(args.instances)
        print("measuring single evaluations ...", file=sys.stderr)
        micro = measure_micro(args.rounds)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary(command, steps, micro, args.server_cpu_ms))
    if args.json:
        real, patched, spiff = steps
        figures = {
            "command": command,
            "server_cpu_ms_per_instance": args.server_cpu_ms,
            "steps": [asdict(r) for r in steps],
            "restriction_us_per_step": real.us_per_step - patched.us_per_step,
            "real_minus_spiff_us_per_step": real.us_per_step - spiff.us_per_step,
            "over_plain_compiled_us_per_step": overhead_over_plain_us(real, micro)
            / STEPS_PER_INSTANCE,
            "evaluations": [asdict(m) for m in micro],
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
