"""The only script environment powerflow lets SpiffWorkflow use.

Every script, gateway condition, timer expression and other expression in an uploaded BPMN file is
compiled with RestrictedPython's ``compile_restricted`` and run with its guards, so imports,
``open()``, dunder attribute walks and writes to foreign objects are refused. The engine is
re-attached on every load (SpiffWorkflow forgets it when it deserializes a workflow).
"""

from __future__ import annotations

import ast
import copy
import datetime as _dt
import math
import warnings
from decimal import Decimal
from functools import lru_cache
from types import CodeType
from typing import Any

from RestrictedPython import (  # type: ignore[attr-defined]
    PrintCollector,
    compile_restricted,
    limited_builtins,
    safe_builtins,
    utility_builtins,
)
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment


class ScriptRejected(ValueError):
    """A script or expression that RestrictedPython refuses to compile."""


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    ops = {
        "+=": lambda a, b: a + b,
        "-=": lambda a, b: a - b,
        "*=": lambda a, b: a * b,
        "/=": lambda a, b: a / b,
        "//=": lambda a, b: a // b,
        "%=": lambda a, b: a % b,
        "**=": lambda a, b: a**b,
        "|=": lambda a, b: a | b,
        "&=": lambda a, b: a & b,
    }
    if op not in ops:
        raise ScriptRejected(f"The operator {op} is not allowed in scripts.")
    return ops[op](x, y)


_BUILTINS: dict[str, Any] = {
    **safe_builtins,
    **limited_builtins,
    **utility_builtins,
    "sum": sum,
    "min": min,
    "max": max,
    "any": any,
    "all": all,
    "dict": dict,
    "list": list,
    "enumerate": enumerate,
    "map": map,
    "filter": filter,
    "reversed": reversed,
    "sorted": sorted,
}
_BUILTINS.pop("__import__", None)
_BUILTINS.pop("getattr", None)

GUARDS: dict[str, Any] = {
    "__builtins__": _BUILTINS,
    "__name__": "powerflow_script",
    "__metaclass__": type,
    "_getattr_": safer_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
    "_print_": PrintCollector,  # print() output is collected and discarded
}

# Helpers available to scripts and expressions (module objects are safe: safer_getattr refuses
# underscore names, and nothing in these modules reaches the file system or the network).
HELPERS: dict[str, Any] = {
    "math": math,
    "datetime": _dt.datetime,
    "timedelta": _dt.timedelta,
    "date": _dt.date,
    "timezone": _dt.timezone,
}


@lru_cache(maxsize=4096)
def compile_script(source: str, mode: str) -> CodeType:
    """Compile a script (mode ``exec``) or an expression (``eval``) under RestrictedPython.

    Raises ScriptRejected with the reasons RestrictedPython gives. Results are cached per source.
    """
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        raise ScriptRejected(f"Line {exc.lineno}: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            raise ScriptRejected(
                f"Line {node.lineno}: imports are not allowed in scripts; use the provided "
                "helpers (math, datetime, timedelta, date, timezone)."
            )
    try:
        with warnings.catch_warnings():  # e.g. "Prints, but never reads 'printed'"
            warnings.simplefilter("ignore")
            code: CodeType = compile_restricted(source, "<bpmn>", mode)  # type: ignore[arg-type]
    except SyntaxError as exc:
        reasons = exc.args[0] if exc.args else str(exc)
        if isinstance(reasons, tuple | list):
            reasons = "; ".join(str(r) for r in reasons)
        raise ScriptRejected(str(reasons)) from None
    return code


_STORABLE = (
    type(None),
    bool,
    int,
    float,
    str,
    _dt.datetime,
    _dt.date,
    _dt.time,
    _dt.timedelta,
    Decimal,
)


def _unstorable(value: Any, depth: int = 0) -> str | None:
    """The type name of the first value inside ``value`` that saved state cannot hold, if any."""
    if isinstance(value, float) and not math.isfinite(value):
        return "non-finite number"
    if isinstance(value, _STORABLE):
        return None
    if depth > 64:
        return "structure nested too deeply"
    if isinstance(value, dict):
        for k, v in value.items():
            found = _unstorable(k, depth + 1) or _unstorable(v, depth + 1)
            if found:
                return found
        return None
    if isinstance(value, list | tuple | set | frozenset):
        for v in value:
            found = _unstorable(v, depth + 1)
            if found:
                return found
        return None
    return type(value).__name__


class RestrictedEnvironment(TaskDataEnvironment):  # type: ignore[misc]
    """A TaskDataEnvironment that only ever runs RestrictedPython-compiled code."""

    def __init__(self) -> None:
        super().__init__({**GUARDS, **HELPERS})

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: Any = None
    ) -> Any:
        code = compile_script(expression, "eval")
        scope = copy.copy(context)
        scope.update(external_context or {})
        scope.update(self.globals)  # guards last, so task data can never shadow them
        return eval(code, scope)  # noqa: S307 - restricted bytecode with guards

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        code = compile_script(script, "exec")
        self.check_for_overwrite(context, external_context or {})
        context.update(external_context or {})
        context.update(self.globals)
        try:
            exec(code, context)  # noqa: S102 - restricted bytecode with guards
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
        bad = {name: kind for name, value in context.items() if (kind := _unstorable(value))}
        if bad:
            for name in bad:  # the task fails; its data must still be savable
                del context[name]
            name, kind = next(iter(bad.items()))
            raise TypeError(
                f"The script left '{name}' holding a {kind}, which cannot be saved in task "
                "data; keep numbers, strings, booleans, lists, dicts, dates and durations."
            )
        return True

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        """Service connectors are not offered yet; say so instead of failing obscurely."""
        name = kwargs.get("operation_name")
        raise NotImplementedError(f"No service connector named {name!r} is installed.")


RESTRICTED_ENGINE = PythonScriptEngine(environment=RestrictedEnvironment())
