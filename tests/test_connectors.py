"""Python connectors through entry points: SpiffWorkflow's own service-task model
(``spiff/data/service_task.bpmn``, ServiceTaskTest) runs over HTTP with connectors that a tiny
test distribution installs in the entry-point group ``powerflow.connectors`` (a dist-info
directory on sys.path, as pip would write it). An operator without a connector is a warning at
upload and an incident naming it at run time; a connector that fails or returns what is not
plain JSON is an incident too."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import DATA, Api
from connector_stubs import MODULE, install, stub_connectors
from powerflow.engine import connectors
from powerflow.engine.limits import configure_limits, current_limits


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[Any]:
    """The test connectors, installed for this test only."""
    root = tmp_path / "site"
    root.mkdir()
    with stub_connectors(root) as module:
        yield module


def _start(api: Api, key: str = "service_task_example1") -> dict[str, Any]:
    started = api.client.post(
        "/v1/instances", headers=api.user("clerk"), json={"definition_key": key}
    )
    assert started.status_code == 201, started.text
    return dict(started.json())


def test_spiff_service_task_model_runs_with_installed_connectors(
    api: Api, installed: Any, reload_every_step: None
) -> None:
    deployed = api.deploy(DATA / "corpus" / "service_task.bpmn")
    assert deployed.status_code == 201, deployed.text
    assert deployed.json()["definitions"][0]["warnings"] == []  # both operators are installed
    body = _start(api)
    assert body["status"] == "completed", body
    # what ServiceTaskTest asserts: both results, the first under Spiff's default name
    assert body["data"]["spiff__Activity_1inxqgx_result"] == {
        "amount": "65000.00",
        "currency": "USD",
        "id": "4",
        "payRate": "65000.00 USD",
    }
    assert body["data"]["waynesboroWeatherResult"] == {"temp": "72F"}
    assert installed.CALLS == [
        (
            "bamboohr/GetPayRate",
            {"api_key": "secret:BAMBOOHR_API_KEY", "employee_id": 4, "subdomain": "ServiceTask"},
        ),
        ("weather/CurrentTemp", {"zipcode": 22980}),
    ]
    events = api.client.get(f"/v1/instances/{body['id']}/events", headers=api.admin).json()
    automatic = [
        (e["element_id"], e["payload"].get("kind"))
        for e in events["items"]
        if e["type"] == "task.completed"
    ]
    assert automatic == [("Activity-1inxqgx", "serviceTask"), ("Activity_12erefa", "serviceTask")]


def test_unknown_operator_warns_at_upload_and_stops_with_an_incident(api: Api) -> None:
    connectors.refresh()
    deployed = api.deploy(DATA / "corpus" / "service_task.bpmn")
    assert deployed.status_code == 201, deployed.text
    warnings = deployed.json()["definitions"][0]["warnings"]
    assert [w["element_id"] for w in warnings] == ["Activity-1inxqgx", "Activity_12erefa"]
    assert "'bamboohr/GetPayRate'" in warnings[0]["message"]
    assert "no connector of that name is installed" in warnings[0]["message"]
    body = _start(api)
    assert body["status"] == "failed"
    assert body["incident"]["element_id"] == "Activity-1inxqgx"
    assert "'bamboohr/GetPayRate'" in body["incident"]["message"]
    assert "powerflow.connectors" in body["incident"]["message"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [("broken", "the bank is closed"), ("not_json", "not plain JSON")],
)
def test_a_failing_connector_is_an_incident_naming_its_operator(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, expected: str
) -> None:
    root = tmp_path / "site"
    root.mkdir()
    install(
        root,
        f"[powerflow.connectors]\nbamboohr/GetPayRate = {MODULE}:{target}\n"
        f"weather/CurrentTemp = {MODULE}:current_temp\n",
    )
    monkeypatch.syspath_prepend(str(root))
    connectors.refresh()
    try:
        assert api.deploy(DATA / "corpus" / "service_task.bpmn").status_code == 201
        body = _start(api)
    finally:
        sys.modules.pop(MODULE, None)
        connectors.refresh()
    assert body["status"] == "failed"
    assert "'bamboohr/GetPayRate'" in body["incident"]["message"]
    assert expected in body["incident"]["message"]


def test_a_connector_counts_against_the_step_cpu_budget(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "site"
    root.mkdir()
    install(
        root,
        f"[powerflow.connectors]\nbamboohr/GetPayRate = {MODULE}:spin\n"
        f"weather/CurrentTemp = {MODULE}:current_temp\n",
    )
    monkeypatch.syspath_prepend(str(root))
    connectors.refresh()
    before = current_limits()
    configure_limits(
        cpu_seconds=before.cpu_seconds, memory_mb=before.memory_mb, step_cpu_seconds=0.2
    )
    try:
        assert api.deploy(DATA / "corpus" / "service_task.bpmn").status_code == 201
        body = _start(api)
    finally:
        configure_limits(
            cpu_seconds=before.cpu_seconds,
            memory_mb=before.memory_mb,
            step_cpu_seconds=before.step_cpu_seconds,
        )
        sys.modules.pop(MODULE, None)
        connectors.refresh()
    assert body["status"] == "failed"
    assert body["incident"]["element_id"] == "Activity-1inxqgx"
    assert "CPU budget of 0.2 s" in body["incident"]["message"]
    assert "'bamboohr/GetPayRate'" in body["incident"]["message"]
