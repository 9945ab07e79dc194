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
import reprlib
import warnings
from decimal import Decimal
from functools import lru_cache
from types import CodeType
from typing import Any, NoReturn

from RestrictedPython import (  # type: ignore[attr-defined]
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
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from powerflow.engine.guards import (
    GUARD_FUNCTIONS,
    GUARDED_BUILTINS,
    GUARDED_MATH,
    MAX_WALK_NODES,
    RandomModule,
)
from powerflow.engine.instrument import LimitingTransformer
from powerflow.engine.limits import Budget, ScriptLimitExceeded, acquire, current_budget, release
from powerflow.engine.script_imports import guarded_import, import_problem, is_module


class ScriptRejected(ValueError):
    """A script or expression that RestrictedPython refuses to compile."""


class ScriptRaised(RuntimeError):
    """A script raised something only the server may raise (SystemExit, KeyboardInterrupt, ...);
    it fails the task like any other error instead of stopping a request or a background loop."""


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
    **GUARDED_BUILTINS,
    "math": GUARDED_MATH,
}
for _name in ("getattr", "random", "whrandom"):
    _BUILTINS.pop(_name, None)
_BUILTINS["__import__"] = guarded_import  # the helper modules only (engine/script_imports.py)

GUARDS: dict[str, Any] = {
    "__builtins__": _BUILTINS,
    "__name__": "powerflow_script",
    "__metaclass__": type,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": full_write_guard,
    **GUARD_FUNCTIONS,  # print() output is collected and discarded
    "_tick_": None,  # per evaluation: the step budget's tick
}

# Helpers available to scripts and expressions (module objects are safe: safer_getattr refuses
# underscore names, and nothing in these modules reaches the file system or the network).
# ``random`` is a fresh RandomModule in every evaluation (see ``_per_evaluation``); ``string``
# comes with RestrictedPython's utility built-ins.
HELPERS: dict[str, Any] = {
    "math": GUARDED_MATH,
    "datetime": _dt.datetime,
    "timedelta": _dt.timedelta,
    "date": _dt.date,
    "timezone": _dt.timezone,
    "random": None,
    "locals": None,
}


# Python built-ins a script may call in SpiffWorkflow (unrestricted) that the sandbox withholds:
# a call to one is refused at upload, naming it, rather than failing as a NameError at run time.
# (open() is left to fail at run time: tests/test_engine.py checks that the sandbox refuses it
# there, where a script written to escape would meet it.)
WITHHELD = frozenset(
    {
        "globals",
        "vars",
        "dir",
        "compile",
        "input",
        "breakpoint",
        "help",
        "exit",
        "quit",
        "getattr",
        "setattr",
        "delattr",
        "memoryview",
    }
    - set(_BUILTINS)
    - set(HELPERS)
)


def _per_evaluation(scope: dict[str, Any], budget: Budget) -> None:
    """What each evaluation gets of its own: the step budget's tick, a random generator and
    ``locals()``."""
    scope["_tick_"] = budget.tick
    scope["random"] = RandomModule()
    scope["locals"] = _data_names(scope)


def _data_names(scope: dict[str, Any]) -> Any:
    """``locals()`` as scripts written for SpiffWorkflow use it (``if 'hey' in locals():``): a
    new dict of the task data and the names the script bound so far, never the guards, the
    helpers or the built-ins (a real ``locals()`` would hand out the sandbox's own guards)."""

    def locals() -> dict[str, Any]:
        return {
            name: value
            for name, value in scope.items()
            if not name.startswith("_") and name not in GUARDS and name not in HELPERS
        }

    return locals


_TOO_DEEP = "The script is nested too deeply to compile; split it into simpler statements."


@lru_cache(maxsize=4096)
def compile_script(source: str, mode: str) -> CodeType:
    """Compile a script (mode ``exec``) or an expression (``eval``) under RestrictedPython.

    Raises ScriptRejected with the reasons RestrictedPython gives. Results are cached per source.
    """
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        raise ScriptRejected(f"Line {exc.lineno}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ScriptRejected(_TOO_DEEP) from None
    assigned: set[str] = set()
    withheld: list[ast.Name] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            problem = import_problem(node)
            if problem:
                raise ScriptRejected(problem)
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            assigned.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Lambda | ast.arg):
            assigned.add(getattr(node, "name", None) or getattr(node, "arg", "") or "")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in WITHHELD
        ):
            withheld.append(node.func)
    for name in withheld:
        if name.id not in assigned:
            raise ScriptRejected(
                f"Line {name.lineno}: {name.id}() is not available in scripts (the sandbox "
                "does not offer it); use task data by name and the provided helpers."
            )
    try:
        with warnings.catch_warnings():  # e.g. "Prints, but never reads 'printed'"
            warnings.simplefilter("ignore")
            code: CodeType = compile_restricted(
                source,
                "<bpmn>",
                mode,  # type: ignore[arg-type]
                policy=LimitingTransformer,
            )
    except (RecursionError, MemoryError):
        raise ScriptRejected(_TOO_DEEP) from None
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


INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_DEPTH = 64
MAX_ITEMS = MAX_WALK_NODES


class _Walk:
    __slots__ = ("budget", "items")

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.items = 0


def _unstorable(value: Any, depth: int = 0, walk: _Walk | None = None) -> str | None:
    """What inside ``value`` saved state cannot hold, if anything (a description)."""
    if walk is None:
        walk = _Walk(current_budget())
    walk.items += 1
    if walk.items % 1024 == 0:
        walk.budget.check()  # a huge or self-similar structure is bounded by the CPU limit too
        if walk.items > MAX_ITEMS:
            return f"structure of more than {MAX_ITEMS:,} items"
    if type(value) is int:
        if not INT64_MIN <= value <= INT64_MAX:
            return "number beyond 64 bits"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "non-finite number"
    if isinstance(value, _STORABLE):
        if isinstance(value, int) and not isinstance(value, bool):
            return _unstorable(int(value), depth, walk)
        return None
    if depth > MAX_DEPTH:
        return "structure nested too deeply"
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"dict with a {type(k).__name__} key (keys must be strings)"
            found = _unstorable(v, depth + 1, walk)
            if found:
                return found
        return None
    if isinstance(value, list | tuple | set | frozenset):
        for v in value:
            found = _unstorable(v, depth + 1, walk)
            if found:
                return found
        return None
    return type(value).__name__


def _article(kind: str) -> str:
    return ("an " if kind[:1] in "aeiou" else "a ") + kind


MAX_MESSAGE_CHARS = 500
_MESSAGE_REPR = reprlib.Repr()
_MESSAGE_REPR.maxstring = _MESSAGE_REPR.maxother = MAX_MESSAGE_CHARS
_MESSAGE_REPR.maxlevel = 3


def _message_of(value: Any) -> str:
    """A readable text of at most MAX_MESSAGE_CHARS characters for what a script raised with
    (``raise ValueError([1])``); containers are shown in part, so no huge repr is built."""
    try:
        text = _MESSAGE_REPR.repr(value)
    except Exception:  # a script's __repr__ failed, or an integer too long to show
        text = f"a {type(value).__name__}"
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text


def _raise_converted(exc: BaseException, budget: Budget) -> NoReturn:
    """Re-raise what a script raised as an ordinary error (a passed limit first); an error
    raised with something other than a text gets a short text instead (SpiffWorkflow expects
    one, and its incident would otherwise lose the element)."""
    if isinstance(exc, Exception):
        if not isinstance(exc, ScriptLimitExceeded):
            budget.settle()
            if exc.args and not isinstance(exc.args[0], str):
                exc.args = (_message_of(exc.args[0]), *exc.args[1:])
        raise exc
    budget.settle()
    text = str(exc)
    raise ScriptRaised(
        f"The script raised {type(exc).__name__}{': ' + text if text else ''}, which scripts "
        "may not raise"
    ) from None


class RestrictedEnvironment(TaskDataEnvironment):  # type: ignore[misc]
    """A TaskDataEnvironment that only ever runs RestrictedPython-compiled code, under the step's
    CPU and memory budget; whatever a script raises comes out as an ordinary Exception."""

    def __init__(self) -> None:
        super().__init__({**GUARDS, **HELPERS})

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: Any = None
    ) -> Any:
        code = compile_script(expression, "eval")
        scope = copy.copy(context)
        scope.update(external_context or {})
        scope.update(self.globals)  # guards last, so task data can never shadow them
        budget, own = acquire()
        _per_evaluation(scope, budget)
        budget.enter()
        try:
            result = eval(code, scope)  # noqa: S307 - restricted bytecode with guards
            budget.settle()  # a limit the expression caught still fails it
        except BaseException as exc:  # every script error becomes an incident
            _raise_converted(exc, budget)
        finally:
            budget.leave()
            if own:
                release()
        return result

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        code = compile_script(script, "exec")
        self.check_for_overwrite(context, external_context or {})
        budget, own = acquire()
        try:
            before = dict(context)  # a failed script leaves the names as they were
            context.update(external_context or {})
            context.update(self.globals)
            _per_evaluation(context, budget)
            budget.enter()
            try:
                try:
                    exec(code, context)  # noqa: S102 - restricted bytecode with guards
                    budget.settle()  # a limit the script caught still fails it
                except BaseException as exc:  # every script error: an incident
                    context.clear()
                    context.update(before)
                    _raise_converted(exc, budget)
                finally:
                    self._remove_globals_and_functions_from_context(context, external_context)
                    for name in [n for n, value in context.items() if is_module(value)]:
                        del context[name]
                walk = _Walk(budget)
                bad = {
                    n: kind for n, value in context.items() if (kind := _unstorable(value, 0, walk))
                }
            finally:
                budget.leave()
        finally:
            if own:
                release()
        if bad:  # the task fails, and its data stays as it was (savable)
            context.clear()
            context.update(before)
            name, kind = next(iter(bad.items()))
            raise TypeError(
                f"The script left '{name}' holding {_article(kind)}, which cannot be saved in "
                "task data; keep numbers (within 64 bits), strings, booleans, lists, dicts "
                "with string keys, dates and durations."
            )
        return True

    def call_service(self, context: Any, **kwargs: Any) -> Any:
        """Service connectors are not offered yet; say so instead of failing obscurely."""
        name = kwargs.get("operation_name")
        raise NotImplementedError(f"No service connector named {name!r} is installed.")


RESTRICTED_ENGINE = PythonScriptEngine(environment=RestrictedEnvironment())
