"""Stub connectors for service tasks, installed as pip would install a package: a module and
its dist-info declaring entry points in the group ``powerflow.connectors``. They answer what
SpiffWorkflow's ServiceTaskTest answers for ``bamboohr/GetPayRate`` and
``weather/CurrentTemp`` and record every call (``CALLS``)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from powerflow.engine import connectors

MODULE = "pf_test_connectors"
CODE = """
CALLS = []


def get_pay_rate(params):
    CALLS.append(("bamboohr/GetPayRate", params))
    return {"amount": "65000.00", "currency": "USD", "id": "4", "payRate": "65000.00 USD"}


def current_temp(params):
    CALLS.append(("weather/CurrentTemp", params))
    return {"temp": "72F"}


def broken(params):
    raise RuntimeError("the bank is closed")


def not_json(params):
    return {"when": object()}


def spin(params):
    import time

    end = time.thread_time() + params.get("seconds", 0.5)
    while time.thread_time() < end:
        pass
    return {}
"""
ENTRY_POINTS = f"""[powerflow.connectors]
bamboohr/GetPayRate = {MODULE}:get_pay_rate
weather/CurrentTemp = {MODULE}:current_temp
"""


def install(root: Path, entry_points: str) -> None:
    """Write the test distribution: a module and its dist-info with entry points."""
    (root / f"{MODULE}.py").write_text(CODE)
    info = root / "pf_test_connectors-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pf-test-connectors\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(entry_points)


@contextmanager
def stub_connectors(root: Path, entry_points: str = ENTRY_POINTS) -> Iterator[ModuleType]:
    """Install the stub distribution under ``root`` (an empty directory) for the duration of
    the block, put it on ``sys.path`` and make powerflow look its connectors up again; yield
    the imported stub module (its ``CALLS``). Everything is undone on leaving."""
    install(root, entry_points)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    connectors.refresh()
    try:
        yield importlib.import_module(MODULE)
    finally:
        sys.path.remove(str(root))
        sys.modules.pop(MODULE, None)
        importlib.invalidate_caches()
        connectors.refresh()
