"""Drivers of the held-back SpiffWorkflow models under heldback/spiffworkflow/camunda/ (see
heldback/README.md): each file driven over HTTP with its upstream test's inputs."""

from __future__ import annotations

from conformance.harness import Run
from conformance.heldback_registry import SPIFF, held

CAMUNDA = SPIFF + "camunda/data/"


def _key(run: Run, file: str) -> str:
    """Deploy ``file`` and return its only startable process key."""
    keys = [d["key"] for d in run.deploy(file) if d["executable"]]
    assert len(keys) == 1, keys
    return keys[0]


@held(CAMUNDA + "parallel_multiinstance_collection.bpmn")
def parallel_multiinstance_collection(run: Run) -> None:
    """ParseMultiInstanceTest.testCollection: camunda:collection="input_data" with
    camunda:elementVariable="input_item": three children, the collection updated in place."""
    run.start(_key(run, CAMUNDA + "parallel_multiinstance_collection.bpmn"), input_data=[1, 2, 3])
    assert run.ready() == ["any_task"] * 3
    while run.ready():
        item = run.task("any_task")["data"]["input_item"]
        run.complete("any_task", input_item=item * 2)
    assert run.status == "completed"
    assert run.data == {"input_data": [2, 4, 6]}
