"""The ``import`` statements a script may use: the helper modules, and nothing else.

Scripts written for SpiffWorkflow (spiff-arena, its own test models) often begin with
``import time`` or ``from datetime import datetime``. Inside the sandbox ``import`` reaches only
the modules below, each a namespace of the same safe objects the helpers already offer (``math``
with its size guards, ``random`` on the evaluation's own generator); anything else is refused at
upload, naming the module or name, rather than failing when the step runs. An imported module is
never left in task data (it could not be saved): the names bound to one are dropped when the
script ends, so ``del time`` is not needed.
"""

from __future__ import annotations

import ast
import builtins
import datetime as _dt
import string as _string
import time as _time
import types
from decimal import Decimal
from typing import Any

from powerflow.engine.guards import GUARDED_MATH, RANDOM_FUNCTIONS, RandomModule


class ScriptModule(types.SimpleNamespace):
    """A module as a script imports it: only the attributes listed for it."""


def _module(name: str, **attributes: Any) -> ScriptModule:
    module = ScriptModule(**attributes)
    module.__name__ = name
    return module


_DATETIME = _module(
    "datetime",
    datetime=_dt.datetime,
    date=_dt.date,
    time=_dt.time,
    timedelta=_dt.timedelta,
    timezone=_dt.timezone,
    MINYEAR=_dt.MINYEAR,
    MAXYEAR=_dt.MAXYEAR,
)
# Clocks and conversions; not sleep(), which would hold a worker without spending the budget.
_TIME = _module(
    "time",
    **{
        n: getattr(_time, n)
        for n in (
            "time",
            "time_ns",
            "monotonic",
            "perf_counter",
            "gmtime",
            "localtime",
            "mktime",
            "strftime",
            "strptime",
            "asctime",
            "ctime",
        )
    },
)
_MATH = _module("math", **vars(GUARDED_MATH))
_DECIMAL = _module("decimal", Decimal=Decimal)

# ``string`` is the module the ``string`` helper already is (RestrictedPython's utility
# built-in), so its guards apply unchanged (string.Formatter is refused by safer_getattr).
_FIXED: dict[str, Any] = {
    "datetime": _DATETIME,
    "time": _TIME,
    "math": _MATH,
    "string": _string,
    "decimal": _DECIMAL,
}
IMPORTABLE = ("datetime", "decimal", "math", "random", "string", "time")
# What the standard library's own C functions import on first use while a script runs them
# (``datetime.strptime`` and ``time.strptime`` import ``_strptime``): C code imports through
# the running frame's ``__import__``, which is this one. A script cannot name these itself
# (an import of a name starting with '_' is refused at compile time).
_INTERNAL = frozenset({"_strptime"})


def _names(module: str) -> set[str]:
    if module == "random":
        return set(RANDOM_FUNCTIONS) | {"Random"}
    names = {n for n in vars(_FIXED[module]) if not n.startswith("_")}
    return names - {"Formatter"} if module == "string" else names  # RestrictedPython refuses it


def import_problem(node: ast.Import | ast.ImportFrom) -> str | None:
    """Why an import statement cannot run in a script, or None when it can."""
    allowed = ", ".join(IMPORTABLE)
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name not in IMPORTABLE:
                return (
                    f"Line {node.lineno}: the module '{alias.name}' cannot be imported in "
                    f"scripts; only {allowed} can."
                )
        return None
    module = node.module or ""
    if node.level or module not in IMPORTABLE:
        return (
            f"Line {node.lineno}: the module '{'.' * node.level}{module}' cannot be imported in "
            f"scripts; only {allowed} can."
        )
    offered = _names(module)
    for alias in node.names:
        if alias.name != "*" and alias.name not in offered:
            return (
                f"Line {node.lineno}: scripts cannot use {module}.{alias.name}; the module "
                f"offers {', '.join(sorted(offered))}."
            )
    return None


def guarded_import(
    name: str,
    globals: dict[str, Any] | None = None,
    locals: Any = None,
    fromlist: Any = (),
    level: int = 0,
) -> Any:
    """``__import__`` inside the sandbox: one of the helper modules, else ImportError."""
    if level == 0 and name == "random":
        own = (globals or {}).get("random")
        return own if isinstance(own, RandomModule) else RandomModule()
    if level == 0 and name in _FIXED:
        return _FIXED[name]
    if level == 0 and name in _INTERNAL:
        return builtins.__import__(name, None, None, fromlist, 0)
    raise ImportError(f"The module '{name}' cannot be imported in scripts.")


def is_module(value: Any) -> bool:
    """Whether ``value`` is a module a script imported (dropped from task data at its end)."""
    return isinstance(value, ScriptModule | RandomModule | types.ModuleType)
