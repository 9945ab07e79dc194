"""Python connectors for service tasks, found through the entry-point group powerflow.connectors.

A connector is trusted code installed by the operator of powerflow (docs/security.md): a package
declares, in its ``pyproject.toml``::

    [project.entry-points."powerflow.connectors"]
    "weather/CurrentTemp" = "my_connectors.weather:current_temp"

The entry point's name is the operator id a model names (``spiffworkflow:serviceTaskOperator
id="weather/CurrentTemp"``); the object is a callable taking the evaluated parameters as one
dict (``{"zipcode": 22980}``) and returning a plain JSON value, which becomes the operator's
result variable. It runs synchronously inside the engine step, under the step's CPU budget
(checked when it returns). Whatever it raises becomes an incident naming the operator.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from powerflow.engine.limits import ScriptLimitExceeded, current_budget

GROUP = "powerflow.connectors"

Connector = Callable[[dict[str, Any]], Any]


class ConnectorFailed(Exception):
    """A connector is missing, failed, or returned something other than plain JSON."""


_lock = threading.Lock()
_found: dict[str, Any] | None = None  # operator id -> entry point
_loaded: dict[str, Connector] = {}


def _entry_points() -> dict[str, Any]:
    global _found
    with _lock:
        if _found is None:
            _found = {ep.name: ep for ep in entry_points(group=GROUP)}
        return _found


def refresh() -> None:
    """Forget what was found, so that connectors installed since are seen (tests, reloads)."""
    global _found
    with _lock:
        _found = None
        _loaded.clear()


def names() -> list[str]:
    """The operator ids of the installed connectors."""
    return sorted(_entry_points())


def known(name: str) -> bool:
    """Whether a connector of this operator id is installed."""
    return name in _entry_points()


def _connector(name: str) -> Connector:
    hit = _loaded.get(name)
    if hit is not None:
        return hit
    entry = _entry_points().get(name)
    if entry is None:
        raise ConnectorFailed(
            f"The operator '{name}' has no connector: none of that name is installed in the "
            f"entry-point group {GROUP}; install it and retry."
        )
    try:
        loaded = entry.load()
    except Exception as exc:
        raise ConnectorFailed(
            f"The connector of the operator '{name}' cannot be loaded: {type(exc).__name__}: {exc}"
        ) from exc
    if not callable(loaded):
        raise ConnectorFailed(f"The connector of the operator '{name}' is not callable.")
    _loaded[name] = loaded
    return loaded  # type: ignore[no-any-return]


def call(name: str, params: dict[str, Any]) -> Any:
    """Run the connector of operator ``name`` with evaluated parameters; its JSON result."""
    connector = _connector(name)
    budget = current_budget()
    try:
        result = connector(dict(params))
    except ScriptLimitExceeded:
        raise
    except Exception as exc:
        raise ConnectorFailed(
            f"The connector of the operator '{name}' failed: {type(exc).__name__}: {exc}"
        ) from exc
    if time.thread_time() > budget.step_deadline:  # it counts against the step's CPU budget
        budget.refuse(
            f"ran past the step's CPU budget of {budget.limits.step_cpu_seconds:g} s in the "
            f"connector of the operator '{name}' (POWERFLOW_STEP_CPU_SECONDS)"
        )
    from powerflow.engine.serializer import DataRejected, check_plain_json  # import cycle

    try:
        check_plain_json({"result": result}, where="its result")
    except DataRejected as exc:
        raise ConnectorFailed(
            f"The connector of the operator '{name}' returned what is not plain JSON: {exc}"
        ) from None
    return result
