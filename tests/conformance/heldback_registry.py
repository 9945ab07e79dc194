"""The registry of the held-back models' drivers (tests/conformance/heldback/README.md).

A driver module registers one function per file with ``held``; the files are paths under
``tests/conformance/heldback/`` and are driven with ``Run(api, root=HELDBACK)``.
"""

from __future__ import annotations

from collections.abc import Callable

from conformance.harness import Run

SPIFF = "spiffworkflow/"
Driver = Callable[[Run], None]
HELD_DRIVERS: dict[str, Driver] = {}
# Files that cannot pass, and why (strict expected failures).
HELD_XFAIL: dict[str, str] = {}


def held(file: str, *, xfail: str | None = None) -> Callable[[Driver], Driver]:
    """Register the driver of ``file`` (a path under heldback/); ``xfail`` says why it cannot
    pass yet."""

    def register(driver: Driver) -> Driver:
        assert file not in HELD_DRIVERS, file
        HELD_DRIVERS[file] = driver
        if xfail:
            HELD_XFAIL[file] = xfail
        return driver

    return register
