"""Unit tests of powerflow.engine: pure functions over saved state, no database."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

from powerflow import engine
from powerflow.engine.scripting import RESTRICTED_ENGINE, ScriptRejected, compile_script
from powerflow.engine.serializer import StateMismatch, load_state

DATA = Path(__file__).resolve().parent / "data"

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="urn:test">\n'
)
TAIL = "</bpmn:definitions>\n"


def bpmn(process_id: str, body: str) -> bytes:
    """A one-process BPMN document."""
    return (
        HEAD + f'  <bpmn:process id="{process_id}" isExecutable="true">\n{body}\n'
        "  </bpmn:process>\n" + TAIL
    ).encode()


def load(xml: bytes, process_id: str) -> engine.LoadedProcess:
    """Compile (for the catalog) and load a process, even one the upload lint would refuse."""
    result = engine.compile_bpmn(xml, f"{process_id}.bpmn", max_bytes=len(xml) + 1)
    compiled = [p for p in result.processes if p.process_id == process_id]
    catalog = compiled[0].catalog() if compiled else {"process": {}, "elements": {}, "flows": {}}
    return engine.load_process(result.content_hash, process_id, xml, catalog)


def load_file(name: str, process_id: str) -> engine.LoadedProcess:
    xml = (DATA / name).read_bytes()
    result = engine.compile_bpmn(xml, name, max_bytes=len(xml) + 1)
    assert result.ok, result.problems
    (compiled,) = [p for p in result.processes if p.process_id == process_id]
    return engine.load_process(result.content_hash, process_id, xml, compiled.catalog())


END = "<end event>"


def kinds(step: engine.StepResult) -> list[tuple[str, str | None]]:
    """(type, element id) of each step event. ``instance.completed`` may or may not name the end
    event that was reached; either way it is shown as END, and checked by ``ended_at``."""
    return [(e.type, END if e.type == "instance.completed" else e.element_id) for e in step.events]


def ended_at(step: engine.StepResult, end_id: str) -> None:
    """The step's last event is instance.completed, naming ``end_id`` if it names anything."""
    last = step.events[-1]
    assert last.type == "instance.completed"
    assert last.element_id in (None, end_id), last


def task_ids_by_spec(state: str) -> dict[str, list[tuple[str, int]]]:
    """Task ids of the saved state by task spec name, with their (SpiffWorkflow) state."""
    out: dict[str, list[tuple[str, int]]] = {}
    for tid, task in json.loads(state)["tasks"].items():
        out.setdefault(task["task_spec"], []).append((tid, task["state"]))
    return out


# --------------------------------------------------------------------------- script engine

FORBIDDEN_SCRIPTS = {
    "import": "import os\nleak = os.getcwd()",
    "from-import": "from os import path\nleak = path.sep",
    "open": "leak = open('/etc/hostname').read()",
    "dunder-walk": "leak = len(().__class__.__base__.__subclasses__())",
    "dunder-import": "leak = __import__('os').getcwd()",
    "getattr-walk": "leak = getattr((), '__class__')",
    "format-walk": "leak = '{0.__class__}'.format(())",
    "imported-formatter": "import string\nleak = str(string.Formatter().get_field('0', [()], {}))",
    "imported-module-walk": "import time\nleak = str(time.time.__self__)",
}


@pytest.mark.parametrize("script", FORBIDDEN_SCRIPTS.values(), ids=FORBIDDEN_SCRIPTS.keys())
def test_restricted_engine_blocks_forbidden_scripts(script: str) -> None:
    context: dict[str, Any] = {"amount": 1}
    refused = (ScriptRejected, ImportError, NameError, AttributeError, NotImplementedError)
    with pytest.raises(refused):
        RESTRICTED_ENGINE.environment.execute(script, context)
    assert "leak" not in context
    assert "os" not in context and "path" not in context


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').getcwd()",
        "open('/etc/hostname').read()",
        "().__class__.__base__.__subclasses__()",
        "[c for c in ().__class__.__mro__]",
    ],
)
def test_restricted_engine_blocks_forbidden_expressions(expression: str) -> None:
    with pytest.raises((ScriptRejected, NameError)):
        RESTRICTED_ENGINE.environment.evaluate(expression, {"amount": 1})


def test_scripts_import_the_helper_modules_and_never_keep_them() -> None:
    """What scripts written for SpiffWorkflow begin with (``import time`` ...) runs; the modules
    are the helpers' namespaces and no name bound to one is left in task data."""
    context: dict[str, Any] = {}
    script = (
        "import time\n"
        "import datetime as dt\n"
        "import math, string, random\n"
        "from datetime import timedelta\n"
        "from decimal import Decimal\n"
        "from math import pi\n"
        "stamp = time.time()\n"
        "day = dt.date(2026, 1, 2) + timedelta(days=1)\n"
        "root = math.sqrt(16)\n"
        "letters = string.ascii_lowercase[:3]\n"
        "roll = random.randint(1, 6)\n"
        "price = Decimal('1.10') * 2\n"
    )
    assert RESTRICTED_ENGINE.environment.execute(script, context) is True
    assert set(context) == {"stamp", "day", "root", "letters", "roll", "price", "pi"}
    assert context["stamp"] > 1.7e9 and context["day"] == dt.date(2026, 1, 3)
    assert (context["root"], context["letters"]) == (4.0, "abc")
    assert 1 <= context["roll"] <= 6 and str(context["price"]) == "2.20"


def test_strptime_runs_in_the_sandbox() -> None:
    """datetime.strptime imports _strptime from C on first use, through the script's own
    __import__: it failed with a bare KeyError('__import__'), then with an ImportError."""
    context: dict[str, Any] = {}
    script = (
        "day = datetime.strptime('2026-01-02', '%Y-%m-%d')\n"
        "import time\n"
        "year = time.strptime('2026', '%Y').tm_year\n"
    )
    assert RESTRICTED_ENGINE.environment.execute(script, context) is True
    assert context == {"day": dt.datetime(2026, 1, 2), "year": 2026}


@pytest.mark.parametrize("script", ["import time\ntime.time = 5", "import time\ndel time.time"])
def test_an_imported_module_cannot_be_changed(script: str) -> None:
    """The modules are shared by every script of the process: none may alter one."""
    with pytest.raises(TypeError):
        RESTRICTED_ENGINE.environment.execute(script, {})
    context: dict[str, Any] = {}
    RESTRICTED_ENGINE.environment.execute("import time\nnow = time.time()", context)
    assert isinstance(context["now"], float)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("import os", "the module 'os' cannot be imported"),
        ("import os.path", "the module 'os.path' cannot be imported"),
        ("import time, sys", "the module 'sys' cannot be imported"),
        ("from time import sleep", "scripts cannot use time.sleep"),
        ("from string import Formatter", "scripts cannot use string.Formatter"),
        ("from . import x", "cannot be imported"),
        ("from datetime import *", "imports are not allowed"),
    ],
)
def test_other_imports_are_refused_at_compile_time(script: str, message: str) -> None:
    with pytest.raises(ScriptRejected, match=re.escape(message)):
        compile_script(script, "exec")


def test_dunder_walk_is_refused_at_compile_time_with_reasons() -> None:
    with pytest.raises(ScriptRejected, match="__subclasses__"):
        compile_script("x = ().__class__.__base__.__subclasses__()", "exec")


def test_task_data_cannot_shadow_the_guards() -> None:
    """An expression sees the guards, not task data that happens to use their names."""
    env = RESTRICTED_ENGINE.environment
    assert env.evaluate("amount > 100 and math.floor(2.5) == 2", {"amount": 150}) is True
    assert env.evaluate("open", {"open": "harmless"}) == "harmless"
    with pytest.raises(NameError):
        env.evaluate("open('/etc/hostname')", {"_getattr_": getattr, "__builtins__": __builtins__})


def test_a_legal_script_runs() -> None:
    context: dict[str, Any] = {"items": [1, 2, 3], "amount": 1500}
    script = (
        "total = sum([x * 2 for x in items])\n"
        "count = 0\n"
        "count += len(items)\n"
        "label = 'n=%d' % count\n"
        "big = amount > 1000\n"
        "first, *rest = items\n"
        "ordered = sorted(items, reverse=True)\n"
        "due = (datetime(2026, 1, 31) + timedelta(days=2)).isoformat()\n"
    )
    assert RESTRICTED_ENGINE.environment.execute(script, context) is True
    assert context["total"] == 12
    assert context["count"] == 3
    assert context["label"] == "n=3"
    assert context["big"] is True
    assert (context["first"], context["rest"]) == (1, [2, 3])
    assert context["ordered"] == [3, 2, 1]
    assert context["due"] == "2026-02-02T00:00:00"
    assert "_getattr_" not in context and "__builtins__" not in context


def _forbidden_after_wait(script: str) -> bytes:
    return bpmn(
        "forbidden",
        f"""
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="wait" name="Wait">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:scriptTask id="evil" name="Evil">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>{escape(script)}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="evil"/>
    <bpmn:sequenceFlow id="f3" sourceRef="evil" targetRef="end"/>""",
    )


@pytest.mark.parametrize(
    "script",
    [
        FORBIDDEN_SCRIPTS["import"],
        FORBIDDEN_SCRIPTS["open"],
        FORBIDDEN_SCRIPTS["dunder-walk"],
    ],
    ids=["import", "open", "dunder-walk"],
)
def test_engine_is_reattached_after_a_save_load_round_trip(script: str) -> None:
    """The forbidden script runs only after the state was saved and loaded again: it must fail as
    an incident on the script task (SpiffWorkflow alone would load the unrestricted engine)."""
    process = load(_forbidden_after_wait(script), "forbidden")
    started = engine.start(process, {})
    assert started.status == "running"
    (wait,) = started.open_tasks
    restored = load_state(process, started.state)
    assert restored.script_engine is RESTRICTED_ENGINE
    step = engine.complete_task(process, started.state, wait.id, {})
    assert step.status == "failed"
    assert step.incident is not None
    assert step.incident.element_id == "evil"
    assert step.incident.message
    assert "leak" not in step.data
    assert "leak" not in step.state
    assert kinds(step)[-1] == ("instance.failed", "evil")
    assert "instance.completed" not in [e.type for e in step.events]


def test_legal_script_after_a_round_trip_runs() -> None:
    script = "doubled = [x * 2 for x in range(3)]\nn = 1\nn += 4"
    process = load(_forbidden_after_wait(script), "forbidden")
    started = engine.start(process, {})
    step = engine.complete_task(process, started.state, started.open_tasks[0].id, {})
    assert step.status == "completed", step.incident
    assert step.data["doubled"] == [0, 2, 4]
    assert step.data["n"] == 5


def _wait_then_script(script: str) -> bytes:
    """start -> user task -> script task -> user task -> end."""
    return bpmn(
        "rich",
        f"""
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="first" name="First">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:scriptTask id="compute" name="Compute">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>{escape(script)}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="second" name="Second">
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first"/>
    <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="compute"/>
    <bpmn:sequenceFlow id="f3" sourceRef="compute" targetRef="second"/>
    <bpmn:sequenceFlow id="f4" sourceRef="second" targetRef="end"/>""",
    )


def test_saved_state_is_spiffworkflows_own_document_and_keeps_script_values() -> None:
    """powerflow writes saved state with orjson; it must be the document SpiffWorkflow's own
    serializer writes (dates and durations tagged by its registry, not turned into strings), and
    a script's datetime must come back as a datetime after a load that bypasses the cache."""
    from powerflow.engine import serializer

    script = (
        "deadline = datetime(2026, 1, 31, 9, 30)\n"
        "grace = timedelta(days=2)\n"
        "day = date(2026, 2, 1)\n"
        "amounts = {'a': 1.5, 'b': [1, 2, None, True]}\n"
        "label = 'Z\u00fcrich \u2713'\n"
    )
    process = load(_wait_then_script(script), "rich")
    started = engine.start(process, {"n": 1})
    step = engine.complete_task(process, started.state, started.open_tasks[0].id, {"x": "y"})
    assert step.status == "running", step.incident
    serializer._CURRENT.set(process)
    restored = serializer._deserialize(step.state)  # not from the workflow cache
    own = serializer.SERIALIZER.serialize_json(restored)
    assert json.loads(step.state) == json.loads(own)
    doc = json.loads(step.state)
    (compute,) = [t for t in doc["tasks"].values() if t["task_spec"] == "compute"]
    written = compute["delta"]["updates"]  # SpiffWorkflow stores what each task changed
    assert written["deadline"] == {"typename": "datetime", "value": "2026-01-31T09:30:00"}
    assert written["grace"] == {"typename": "timedelta", "days": 2, "seconds": 0}
    assert written["day"] == {"typename": "date", "value": "2026-02-01"}
    (task,) = [t for t in restored.get_tasks() if t.task_spec.name == "second"]
    assert task.data["deadline"] == dt.datetime(2026, 1, 31, 9, 30)
    assert task.data["grace"] == dt.timedelta(days=2)
    assert task.data["day"] == dt.date(2026, 2, 1)
    assert task.data["label"] == "Z\u00fcrich \u2713"


@pytest.mark.parametrize(
    ("script", "name", "kind"),
    [
        ("r = range(3)", "r", "range"),
        ("b = b'x'", "b", "bytes"),
        ("c = 1j", "c", "complex"),
        ("ratio = float('nan')", "ratio", "non-finite number"),
        ("nested = {'a': [1, {'b': range(2)}]}", "nested", "range"),
    ],
    ids=["range", "bytes", "complex", "nan", "nested"],
)
def test_a_script_value_that_cannot_be_saved_fails_the_task_clearly(
    script: str, name: str, kind: str
) -> None:
    """The step fails with an incident naming the variable; the state is still saved and loads."""
    process = load(_wait_then_script(script), "rich")
    started = engine.start(process, {"n": 1})
    step = engine.complete_task(process, started.state, started.open_tasks[0].id, {})
    assert step.status == "failed"
    assert step.incident is not None and step.incident.element_id == "compute"
    assert f"'{name}' holding a {kind}" in step.incident.message
    assert name not in step.data
    assert [t.element_id for t in engine.open_tasks(process, step.state)] == []


# --------------------------------------------------------------------------- data guards


@pytest.mark.parametrize(
    "data",
    [
        {"typename": "invoice"},
        {"order": {"typename": "invoice", "n": 1}},
        {"order": {"lines": [{"sku": "a"}, {"typename": "x"}]}},
        {"_secret": 1},
        {"order": {"_hidden": 1}},
        {"amount": float("nan")},
        {"amount": float("inf")},
        {"tags": {"a", "b"}},
        {"order": {1: "x"}},
        {"bad key": 1},
        {"deep": json.loads("[" * 40 + "]" * 40)},
    ],
    ids=[
        "typename",
        "nested-typename",
        "typename-in-list",
        "underscore",
        "nested-underscore",
        "nan",
        "inf",
        "set",
        "int-key",
        "not-identifier",
        "too-deep",
    ],
)
def test_check_plain_json_rejects(data: dict[str, Any]) -> None:
    with pytest.raises(engine.DataRejected):
        engine.check_plain_json(data)


@pytest.mark.parametrize("value", [[1, 2], "text", 3, None])
def test_check_plain_json_rejects_non_objects(value: Any) -> None:
    with pytest.raises(engine.DataRejected, match="object"):
        engine.check_plain_json(value, where="variables")


def test_check_plain_json_accepts_plain_data() -> None:
    engine.check_plain_json(
        {
            "amount": 12,
            "rate": 0.5,
            "ok": True,
            "note": None,
            "order": {"type_name": "x", "lines": [{"sku": "a", "qty": 2}], "typename_x": 1},
            "name_": "trailing underscore is fine",
        }
    )


def test_start_and_complete_refuse_typename_data_without_changing_anything() -> None:
    process = load_file("three_tasks.bpmn", "three_tasks")
    with pytest.raises(engine.DataRejected, match="typename"):
        engine.start(process, {"order": {"typename": "invoice"}})
    started = engine.start(process, {})
    (first,) = started.open_tasks
    with pytest.raises(engine.DataRejected, match="typename"):
        engine.complete_task(process, started.state, first.id, {"payload": {"typename": "x"}})
    assert [t.id for t in engine.open_tasks(process, started.state)] == [first.id]
    step = engine.complete_task(process, started.state, first.id, {"ok": 1})
    assert [t.element_id for t in step.open_tasks] == ["second"]
    assert "payload" not in step.open_tasks[0].data


# --------------------------------------------------------------------------- saved state


def test_saved_state_references_the_spec_instead_of_containing_it() -> None:
    process = load_file("gateway.bpmn", "expense")
    step = engine.start(process, {"origin": "test"})
    state = step.state
    doc = json.loads(state)
    assert process.ref == f"{process.content_hash}:expense"
    assert doc["spec"] == process.ref
    assert doc["subprocess_specs"] == {}
    assert doc["serializer_version"] == engine.FORMAT_VERSION
    assert len(state) < 10_000, len(state)
    # No task spec definitions: no spec table, no script source, no condition, no lane names.
    assert '"task_specs"' not in state
    assert "needs_approval = amount" not in state
    assert "Approve claim" not in state
    assert "Manager" not in state
    # The state still round-trips into a runnable workflow.
    assert [t.element_id for t in engine.open_tasks(process, state)] == ["submit"]


def test_saved_state_of_another_definition_is_refused() -> None:
    expense = load_file("gateway.bpmn", "expense")
    three = load_file("three_tasks.bpmn", "three_tasks")
    state = engine.start(expense, {}).state
    with pytest.raises(StateMismatch):
        engine.open_tasks(three, state)


# --------------------------------------------------------------------------- complete_task


def test_complete_task_on_unknown_or_non_ready_task_changes_nothing() -> None:
    process = load_file("three_tasks.bpmn", "three_tasks")
    started = engine.start(process, {"case": 1})
    state = started.state
    (first,) = started.open_tasks
    specs = task_ids_by_spec(state)
    ((second_id, _),) = specs["second"]
    ((start_id, _),) = specs["start"]
    attempts: list[tuple[str, type[Exception]]] = [
        (str(uuid.uuid4()), engine.TaskNotFound),
        ("not-a-uuid", engine.TaskNotFound),
        (second_id, engine.TaskNotReady),  # a human task that is not ready yet (FUTURE)
        (start_id, engine.TaskNotReady),  # a completed, automatic element
    ]
    for task_id, error in attempts:
        with pytest.raises(error):
            engine.complete_task(process, state, task_id, {"leaked": task_id})
        assert [(t.id, t.element_id) for t in engine.open_tasks(process, state)] == [
            (first.id, "first")
        ]
    step = engine.complete_task(process, state, first.id, {"note": "ok"})
    assert [t.element_id for t in step.open_tasks] == ["second"]
    assert step.open_tasks[0].id == second_id
    (second,) = engine.open_tasks(process, step.state)  # open_tasks carries the task data
    assert "leaked" not in second.data
    assert second.data == {"case": 1, "note": "ok"}

    # Completing the same task again from the new state: not ready, and nothing changes.
    with pytest.raises(engine.TaskNotReady):
        engine.complete_task(process, step.state, first.id, {"again": True})
    assert [t.id for t in engine.open_tasks(process, step.state)] == [second_id]

    # An ended instance refuses every completion.
    step = engine.complete_task(process, step.state, second_id, {})
    step = engine.complete_task(process, step.state, step.open_tasks[0].id, {})
    assert step.status == "completed"
    with pytest.raises(engine.InstanceNotRunning):
        engine.complete_task(process, step.state, first.id, {})


# --------------------------------------------------------------------------- gateways

LOOP = bpmn(
    "loop",
    """
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="init" name="Init">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>i = 0</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="merge">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:incoming>f_back</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:userTask id="work" name="Work">
      <bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:scriptTask id="inc" name="Count">
      <bpmn:incoming>f4</bpmn:incoming>
      <bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:script>i += 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="again" name="Again?" default="f_done">
      <bpmn:incoming>f5</bpmn:incoming>
      <bpmn:outgoing>f_back</bpmn:outgoing>
      <bpmn:outgoing>f_done</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f_done</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="init"/>
    <bpmn:sequenceFlow id="f2" sourceRef="init" targetRef="merge"/>
    <bpmn:sequenceFlow id="f3" sourceRef="merge" targetRef="work"/>
    <bpmn:sequenceFlow id="f4" sourceRef="work" targetRef="inc"/>
    <bpmn:sequenceFlow id="f5" sourceRef="inc" targetRef="again"/>
    <bpmn:sequenceFlow id="f_back" sourceRef="again" targetRef="merge">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >i &lt; 300</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_done" sourceRef="again" targetRef="end"/>""",
)


def test_gateway_loop_of_300_iterations_completes_correctly() -> None:
    """Regression for SpiffWorkflow's depth-1000 iterator limit (spiffworkflow.md §5.1 E1): without
    the patch the instance "completes" after 250 iterations with i == 249."""
    result = engine.compile_bpmn(LOOP, "loop.bpmn", max_bytes=len(LOOP) + 1)
    assert result.ok, result.problems
    process = load(LOOP, "loop")
    step = engine.start(process, {})
    iterations = 0
    taken: list[str | None] = []
    while step.status == "running":
        assert [t.element_id for t in step.open_tasks] == ["work"], iterations
        step = engine.complete_task(process, step.state, step.open_tasks[0].id, {})
        iterations += 1
        taken += [
            flow["flow_id"]
            for e in step.events
            if e.type == "gateway.decided" and e.element_id == "again"
            for flow in e.payload["taken"]
        ]
        assert iterations <= 300, "the loop did not stop"
    assert step.status == "completed", step.incident
    assert iterations == 300
    assert step.data["i"] == 300
    assert taken == ["f_back"] * 299 + ["f_done"]
    ended_at(step, "end")


def test_automatic_loop_of_300_iterations_in_one_step_completes_correctly() -> None:
    """The same loop without the user task runs all 300 iterations inside one engine call."""
    automatic = LOOP.replace(b"<bpmn:userTask", b"<bpmn:scriptTask").replace(
        b"</bpmn:userTask>", b"<bpmn:script>last = i</bpmn:script></bpmn:scriptTask>"
    )
    assert automatic != LOOP
    process = load(automatic.replace(b'id="loop"', b'id="auto_loop"'), "auto_loop")
    step = engine.start(process, {})
    assert step.status == "completed", step.incident
    assert (step.data["i"], step.data["last"]) == (300, 299)
    decided = [e for e in step.events if e.type == "gateway.decided" and e.element_id == "again"]
    assert [e.payload["taken"][0]["flow_id"] for e in decided] == ["f_back"] * 299 + ["f_done"]


NO_DEFAULT = bpmn(
    "nodefault",
    """
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="gw" name="Which way?">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f_big</bpmn:outgoing>
      <bpmn:outgoing>f_neg</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:userTask id="big" name="Big">
      <bpmn:incoming>f_big</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="negative" name="Negative">
      <bpmn:incoming>f_neg</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:incoming>f3</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw"/>
    <bpmn:sequenceFlow id="f_big" sourceRef="gw" targetRef="big">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >amount &gt; 100</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_neg" sourceRef="gw" targetRef="negative">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >amount &lt; 0</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f2" sourceRef="big" targetRef="end"/>
    <bpmn:sequenceFlow id="f3" sourceRef="negative" targetRef="end"/>""",
)


def test_exclusive_gateway_without_a_true_condition_or_default_fails_with_incident() -> None:
    result = engine.compile_bpmn(NO_DEFAULT, "nodefault.bpmn", max_bytes=len(NO_DEFAULT) + 1)
    assert result.ok
    assert any(w.element_id == "gw" for w in result.processes[0].warnings)
    process = load(NO_DEFAULT, "nodefault")

    step = engine.start(process, {"amount": 5})
    assert step.status == "failed"
    assert step.incident is not None
    assert step.incident.element_id == "gw"
    assert step.incident.element_name == "Which way?"
    assert "gw" in step.incident.message or "condition" in step.incident.message.lower()
    assert step.open_tasks == ()
    assert kinds(step) == [("instance.started", None), ("instance.failed", "gw")]

    # The same definition takes a branch when a condition holds.
    step = engine.start(process, {"amount": 500})
    assert step.status == "running" and step.incident is None
    assert [t.element_id for t in step.open_tasks] == ["big"]
    (decided,) = [e for e in step.events if e.type == "gateway.decided"]
    assert [f["flow_id"] for f in decided.payload["taken"]] == ["f_big"]


# --------------------------------------------------------------------------- events


def test_events_come_out_in_order() -> None:
    process = load_file("gateway.bpmn", "expense")
    started = engine.start(process, {})
    (submit,) = started.open_tasks
    assert kinds(started) == [("instance.started", None), ("task.ready", "submit")]
    assert started.events[1].task_id == submit.id
    assert started.events[1].payload["roles"] == ["employee"]

    # Small amount: the gateway takes its default flow and the instance ends.
    small = engine.complete_task(process, started.state, submit.id, {"amount": 5})
    assert kinds(small) == [
        ("task.completed", "submit"),
        ("task.completed", "classify"),
        ("gateway.decided", "gw"),
        ("instance.completed", END),
    ]
    assert small.events[0].task_id == submit.id
    assert small.events[0].payload["data"] == {"amount": 5}
    assert small.events[1].payload == {"kind": "scriptTask", "automatic": True}
    (flow,) = small.events[2].payload["taken"]
    assert (flow["flow_id"], flow["flow_name"], flow["target"]) == ("f_no", "no", "end")
    assert small.status == "completed"
    ended_at(small, "end")
    assert small.data["needs_approval"] is False

    # Large amount: the conditional flow is taken and the approval becomes ready.
    large = engine.complete_task(process, started.state, submit.id, {"amount": 5000})
    assert kinds(large) == [
        ("task.completed", "submit"),
        ("task.completed", "classify"),
        ("gateway.decided", "gw"),
        ("task.ready", "approve"),
    ]
    (flow,) = large.events[2].payload["taken"]
    assert (flow["flow_id"], flow["target"]) == ("f_yes", "approve")
    assert flow["condition"] == "needs_approval"
    (approve,) = large.open_tasks
    assert large.events[3].task_id == approve.id
    assert large.events[3].payload["roles"] == ["manager", "deputy"]
    assert large.closed_task_ids == (submit.id,)

    done = engine.complete_task(process, large.state, approve.id, {"approved": True})
    assert kinds(done) == [("task.completed", "approve"), ("instance.completed", END)]
    ended_at(done, "end")
    assert done.status == "completed"
    assert done.data == {"amount": 5000, "needs_approval": True, "approved": True}


def test_print_in_a_script_is_harmless() -> None:
    from powerflow.engine.scripting import RESTRICTED_ENGINE

    context: dict[str, object] = {"a": 1}
    RESTRICTED_ENGINE.environment.execute("b = a + 1\nprint('checked', b)", context)
    assert context == {"a": 1, "b": 2}
