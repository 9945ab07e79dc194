"""Saved state: SpiffWorkflow's JSON format without the process spec, plus data guards.

An instance's saved state references its spec by ``<content hash>:<process id>`` (``spec``) and
the specs it calls from other deployments by the same kind of reference, keyed by called process
id (``subprocess_specs``; empty when everything it runs comes from its own file); the specs live
once in the definitions table and in the spec cache. The serializer format version is stored in
the state (``serializer_version``) so stored instances can be upgraded explicitly later.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import math
import threading
from collections import OrderedDict
from decimal import Decimal
from types import ModuleType
from typing import Any

import orjson
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task

from powerflow.engine.compiler import LoadedProcess
from powerflow.engine.scripting import RESTRICTED_ENGINE
from powerflow.engine.service_tasks import SPEC_CONVERTERS
from powerflow.engine.task_converter import (
    FastSubWorkflowConverter,
    FastTaskConverter,
    FastTaskMapping,
)

_CURRENT: contextvars.ContextVar[LoadedProcess] = contextvars.ContextVar("pf_current_process")


class StateMismatch(Exception):
    """Saved state that belongs to another definition than the one supplied."""


class SpecRefWorkflowConverter(FastTaskMapping, BpmnWorkflowConverter):  # type: ignore[misc]
    """Writes a spec reference instead of the spec; restores the cached spec objects."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        process = _CURRENT.get()
        # spec and subprocess_specs first: calls.bound_refs reads them from the state's start
        dct: dict[str, Any] = {"spec": process.ref, "subprocess_specs": dict(process.bound)}
        dct.update(WorkflowConverter.to_dict(self, workflow))
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> Any:
        process = _CURRENT.get()
        if dct.get("spec") != process.ref:
            raise StateMismatch(f"state references {dct.get('spec')!r}, not {process.ref!r}")
        if (dct.get("subprocess_specs") or {}) != dict(process.bound):
            raise StateMismatch(
                f"state is bound to {dct.get('subprocess_specs')!r}, not {dict(process.bound)!r}"
            )
        dct["spec"] = process.spec
        dct["subprocess_specs"] = dict(process.subprocess_specs)
        return super().from_dict(dct)


def _build_serializer(reference: type | None = None) -> BpmnWorkflowSerializer:
    fast = {BpmnSubWorkflow: FastSubWorkflowConverter, Task: FastTaskConverter}
    registry = BpmnWorkflowSerializer.configure(
        {
            **SPIFF_CONFIG,
            **SPEC_CONVERTERS,  # powerflow's service tasks, for migration's diff_workflow
            BpmnWorkflow: reference or SpecRefWorkflowConverter,
            **({} if reference else fast),
        }
    )
    registry.register(Decimal, lambda d: {"value": str(d)}, lambda dct: Decimal(dct["value"]))
    # SpiffWorkflow registers datetime and timedelta only; scripts can also make dates and times.
    registry.register(
        dt.date, lambda d: {"value": d.isoformat()}, lambda dct: dt.date.fromisoformat(dct["value"])
    )
    registry.register(
        dt.time, lambda t: {"value": t.isoformat()}, lambda dct: dt.time.fromisoformat(dct["value"])
    )
    return BpmnWorkflowSerializer(registry)


def reference_serializer() -> BpmnWorkflowSerializer:
    """The same serializer with SpiffWorkflow's own task and subprocess writers: what the faster
    ones in task_converter.py are checked against (tests/test_long_instances.py)."""

    class StockSpecRef(BpmnWorkflowConverter):  # type: ignore[misc]
        to_dict = SpecRefWorkflowConverter.to_dict
        from_dict = SpecRefWorkflowConverter.from_dict

    return _build_serializer(reference=StockSpecRef)


SERIALIZER = _build_serializer()
_SERIALIZE_LOCK = threading.Lock()
FORMAT_VERSION: str = str(SERIALIZER.VERSION)
# Dates go through the registry (as SpiffWorkflow's own encoder does) instead of orjson's
# native ISO strings, so a datetime a script leaves in task data comes back as a datetime.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _encode_other(obj: Any) -> Any:
    """What SpiffWorkflow's JSON encoder does with values JSON has no type for."""
    registry = SERIALIZER.registry
    typename = registry.typenames.get(type(obj))
    if typename is not None:
        return registry.convert_to_dict[typename](obj)
    if callable(obj) or isinstance(obj, ModuleType):
        return None
    if isinstance(obj, set | frozenset):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} cannot be saved in task data")


def _serialize(workflow: Any) -> str:
    """``SERIALIZER.serialize_json`` with orjson (the same document, several times faster)."""
    SERIALIZER.registry._encoder_mode = True
    try:
        dct = SERIALIZER.to_dict(workflow)
    finally:
        SERIALIZER.registry._encoder_mode = False
    dct[SERIALIZER.VERSION_KEY] = SERIALIZER.VERSION
    return orjson.dumps(dct, default=_encode_other, option=_ORJSON_OPTIONS).decode()


def _deserialize(state: str) -> Any:
    """``SERIALIZER.deserialize_json`` with orjson."""
    dct = orjson.loads(state)
    SERIALIZER.migrate(dct)
    return SERIALIZER.from_dict(dct)


class _WorkflowCache:
    """Workflows just serialized, keyed by (process ref, state text): a step that continues from
    the state it produced skips deserialization. An entry is taken out when used, so no two
    callers ever share a workflow object; a state that was never saved (rolled back) is simply
    never asked for again and ages out."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def put(self, ref: str, state: str, workflow: Any) -> None:
        with self._lock:
            self._items[(ref, state)] = workflow
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def take(self, ref: str, state: str) -> Any | None:
        with self._lock:
            return self._items.pop((ref, state), None)


WORKFLOWS = _WorkflowCache(size=512)


def dump_state(process: LoadedProcess, workflow: Any) -> str:
    """Serialize a workflow to its saved-state JSON (without the spec).

    The workflow object is kept for a following ``load_state`` of exactly this state.
    """
    token = _CURRENT.set(process)
    try:
        with _SERIALIZE_LOCK:  # SpiffWorkflow flips a flag on the shared registry meanwhile
            state = _serialize(workflow)
    finally:
        _CURRENT.reset(token)
    WORKFLOWS.put(process.ref, state, workflow)
    return state


def load_state(process: LoadedProcess, state: str) -> Any:
    """Restore a workflow from saved state and attach the restricted script engine.

    SpiffWorkflow forgets the script engine on deserialization; this is the one place that loads
    state, so the unrestricted default can never run a script.
    """
    workflow = WORKFLOWS.take(process.ref, state)
    if workflow is None:
        token = _CURRENT.set(process)
        try:
            workflow = _deserialize(state)
        finally:
            _CURRENT.reset(token)
    attach_engine(workflow)
    return workflow


def attach_engine(workflow: Any) -> None:
    """Point the workflow, and with it all its subprocesses, at the restricted script engine.

    Only the top workflow holds an engine: in SpiffWorkflow 3.2 ``BpmnSubWorkflow.script_engine``
    is a read-only property returning ``top_workflow.script_engine``, so every script, condition
    and expression inside an embedded subprocess, event subprocess, transaction or call activity
    runs with the engine set here.
    """
    workflow.script_engine = RESTRICTED_ENGINE


class DataRejected(ValueError):
    """Submitted data that cannot be stored as task data."""


MAX_DEPTH = 32
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def check_plain_json(data: Any, *, where: str = "data") -> None:
    """Accept only plain JSON: string keys (not 'typename', not starting with '_'), finite numbers,
    integers within 64 bits and text without NUL (what saved state and both databases hold).

    SpiffWorkflow's serializer mistakes any dict with a 'typename' key for one of its own objects,
    and names starting with '_' collide with the script guards; both are refused up front.
    """
    if not isinstance(data, dict):
        raise DataRejected(f"{where} must be a JSON object.")
    _check(data, where, 0)


def _check(value: Any, path: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise DataRejected(f"{path} is nested more than {MAX_DEPTH} levels deep.")
    if isinstance(value, str):
        if "\x00" in value:
            raise DataRejected(f"{path} holds the NUL character (U+0000); remove it.")
        return
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise DataRejected(
                f"{path} is an integer beyond 64 bits; integers must lie between "
                f"{INT64_MIN} and {INT64_MAX}."
            )
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DataRejected(f"{path} is not a finite number.")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise DataRejected(f"{path} has a key that is not a string.")
            if "\x00" in key:
                raise DataRejected(f"{path} has a name holding the NUL character (U+0000).")
            if key == "typename":
                raise DataRejected(f"{path} has a key named 'typename', which is reserved.")
            if key.startswith("_"):
                raise DataRejected(
                    f"{path}.{key}: names starting with '_' are reserved; rename the field."
                )
            if depth == 0 and not key.isidentifier():
                raise DataRejected(
                    f"{path}.{key}: top-level names must be valid identifiers "
                    "(letters, digits and '_', not starting with a digit), "
                    "because scripts and conditions refer to them."
                )
            _check(item, f"{path}.{key}", depth + 1)
        return
    raise DataRejected(f"{path} holds a value of type {type(value).__name__}, not JSON.")


def to_plain(value: Any) -> Any:
    """Task data as plain JSON values (dates as ISO strings, Decimals as numbers)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    return json.loads(json.dumps(str(value)))
