"""The held-back models (tests/conformance/heldback/README.md): SpiffWorkflow test models beyond
the corpus, each driven over the HTTP API with its upstream test's inputs to the outcome that
test asserts, reloading each instance from its saved state between steps."""

from __future__ import annotations

from typing import Any

import pytest

from conformance import heldback_bpmn, heldback_camunda, heldback_spiff  # noqa: F401
from conformance.harness import HELDBACK, Run
from conformance.heldback_registry import HELD_DRIVERS, HELD_XFAIL
from conftest import Api

pytestmark = pytest.mark.usefixtures("reload_every_step")


def _params() -> list[Any]:
    return [
        pytest.param(
            file,
            id=file.removeprefix("spiffworkflow/"),
            marks=[pytest.mark.xfail(strict=True, reason=HELD_XFAIL[file])]
            if file in HELD_XFAIL
            else [],
        )
        for file in sorted(HELD_DRIVERS)
    ]


def test_every_driven_file_is_vendored() -> None:
    missing = [f for f in HELD_DRIVERS if not (HELDBACK / f).is_file()]
    assert missing == []
    assert len(HELD_DRIVERS) >= 1


@pytest.mark.parametrize("file", _params())
def test_held_back_model(api: Api, file: str) -> None:
    HELD_DRIVERS[file](Run(api, root=HELDBACK))
