"""The conformance suite: every file of the shared corpus (tests/conformance/corpus, its
manifest.tsv) driven over the HTTP API as the manifest says, on every database, reloading each
instance from its saved state between steps.

* primary: deployed (with its companions, in one bundle upload), started and driven with the
  inputs of the upstream SpiffWorkflow test to the outcome the manifest states
  (tests/conformance/drivers.py).
* companion: deploys on its own (a called process as a startable process, a DMN table as a
  decision that cannot be started); it is driven with its primary.
* negative: refused for running (``purpose=run``) with 422, a body naming the file, the process
  or element and the reason; nothing becomes startable.
* reference (OMG MIWG): stored for viewing (``purpose=view``), the XML returned byte for byte,
  starting refused with 409 and a reason.

Files that cannot pass are strict xfails (drivers.XFAIL says why);
``python tests/conformance/report.py`` prints the counts per role.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.drivers import DRIVERS, XFAIL
from conformance.harness import Row, Run, manifest
from conftest import Api

pytestmark = pytest.mark.usefixtures("reload_every_step")
ROWS = manifest()


def _params(role: str) -> list[Any]:
    return [
        pytest.param(
            row,
            id=row.name,
            marks=[pytest.mark.xfail(strict=True, reason=XFAIL[row.file])]
            if row.file in XFAIL
            else [],
        )
        for row in ROWS
        if row.role == role
    ]


def test_the_manifest_is_covered() -> None:
    """Every primary has a driver, and every xfail names a file of the corpus."""
    files = {row.file for row in ROWS}
    primaries = {row.file for row in ROWS if row.role == "primary"}
    assert primaries == set(DRIVERS)
    assert set(XFAIL) <= files
    assert {row.role for row in ROWS} == {"primary", "companion", "negative", "reference"}


@pytest.mark.parametrize("row", _params("primary"))
def test_primary(api: Api, row: Row) -> None:
    DRIVERS[row.file](Run(api))


@pytest.mark.parametrize("row", _params("companion"))
def test_companion(api: Api, row: Row) -> None:
    """A called process deploys as a startable process; a DMN table as a decision that is
    listed with its table and cannot be started."""
    run = Run(api)
    definitions = run.deploy(row.file)
    assert definitions
    for definition in definitions:
        if row.file.endswith(".dmn"):
            assert definition["kind"] == "decision"
            assert definition["decision"]["rules"] > 0
            refused = run.call(
                "POST",
                "/v1/instances",
                headers=run.user(),
                json={"definition_key": definition["key"]},
            )
            assert refused.status_code == 409, refused.text
            assert "decision table" in refused.json()["detail"]
        else:
            assert definition["kind"] == "process" and definition["executable"]


# What each negative file must be refused for (manifest README, "Negatives").
NEGATIVE_REASONS = {
    "non-executable-process.bpmn": ("Process_14di7kj", "not executable"),
    "No-Start-Event.bpmn20.xml": ("sid-669ddebf-4196-41ee-8b04-bcc90bc5f983", "No start event"),
    "Unsupported-Task.bpmn20.xml": ("Business Rule Task", "business rule task"),
    # Both processes are also marked not executable (an acceptable first reason); powerflow
    # reports the better one: the call activity names no process to call.
    "Subprocess-Not-Found.bpmn20.xml": (
        "sid-617B0E1F-42DB-4D40-9B4C-ED631BF6E43A",
        "names no process to call",
    ),
    "standard_loop_invalid.bpmn": ("any_task", "loopMaximum or loopCondition"),
}


@pytest.mark.parametrize("row", _params("negative"))
def test_negative(api: Api, row: Row) -> None:
    run = Run(api)
    refused = run.upload(row.file, purpose="run")
    assert refused.status_code == 422, refused.text
    body = refused.json()
    named, reason = NEGATIVE_REASONS[row.name]
    assert row.name in body["detail"]
    assert any(
        named in f"{p['message']} {p['element_id']} {p['process_id']}" for p in body["problems"]
    ), body
    assert any(reason.lower() in p["message"].lower() for p in body["problems"]), body
    assert all(p["line"] for p in body["problems"])
    listed = run.call("GET", "/v1/definitions", headers=api.admin)
    assert listed.json()["items"] == []  # nothing deployed, nothing startable


@pytest.mark.parametrize("row", _params("reference"))
def test_reference(api: Api, row: Row) -> None:
    run = Run(api)
    stored = run.upload(row.file, purpose="view")
    assert stored.status_code == 201, stored.text
    definitions = stored.json()["definitions"]
    assert definitions
    original = row.path.read_bytes()
    for definition in definitions:
        assert definition["executable"] is False
        assert definition["not_executable_reason"]
        xml = run.call("GET", f"/v1/definitions/{definition['key']}/xml", headers=api.admin)
        assert xml.status_code == 200
        assert xml.content == original
        refused = run.call(
            "POST", "/v1/instances", headers=run.user(), json={"definition_key": definition["key"]}
        )
        assert refused.status_code == 409, refused.text
        assert definition["key"] in refused.json()["detail"]


@pytest.mark.parametrize("name", ["C.1.0.bpmn", "C.9.1.bpmn"])
def test_foreign_expressions_of_references_are_flagged(api: Api, name: str) -> None:
    """C.1.0's conditions are JUEL and C.9.1 carries Zeebe extensions: the stored definitions
    say so, element by element (C.9.1's bare ISO timers are valid powerflow timers)."""
    stored = Run(api).upload(f"miwg-reference/{name}", purpose="view")
    warnings = [w for d in stored.json()["definitions"] for w in d["warnings"]]
    if name == "C.1.0.bpmn":
        juel = [w for w in warnings if "JUEL" in w["message"]]
        assert len(juel) >= 3
        assert all(w["message"].startswith("The condition of the sequenceFlow") for w in juel)
        assert any(
            "${!approved}" in w["message"] and "'not approved'" in w["message"] for w in juel
        )
    else:
        assert any("zeebe:taskDefinition" in w["message"] for w in warnings)
        # Its bare ISO 8601 timers (R6/P1D, P7D) are read as ISO now: nothing to flag there.
        assert not any("R6/P1D" in w["message"] or "P7D" in w["message"] for w in warnings)
