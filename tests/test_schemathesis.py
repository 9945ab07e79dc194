"""A bounded schemathesis run over every operation of the published contract.

Every operation is called with generated input (valid and invalid, including the boundary
values of each parameter), authenticated as the administrator, against the application on a
fresh SQLite file with the example processes deployed and a few instances started, so real
definition keys, instance ids and task ids exist. A stateful run then chains operations through
the links schemathesis infers (start an instance, read it, complete its task, ...).

Each response must: not be a 5xx, use a status code the operation documents, carry the content
type documented for that status, and match the schema documented for that status.

Run alone with ``pytest tests/test_schemathesis.py``. A failure names the operation (the test id
``[METHOD /path]``) and prints the failing check, the response and a curl command that
reproduces it.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from schemathesis.python.asgi import shutdown_lifespans

from conftest import ADMIN_TOKEN, DB_PARAMS, _fresh_postgres, make_settings
from powerflow.app import create_app
from powerflow.services import auth
from powerflow.settings import Settings

SEED = 20261206
MAX_EXAMPLES = 20
STATEFUL_EXAMPLES = 30
STATEFUL_STEPS = 8
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "suppress-health-check": ["all"],
        "headers": ADMIN,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        "checks": {
            "enabled": False,
            **{name: {"enabled": True} for name in CHECKS},
            "response_schema_conformance": {"enabled": True, "validate-formats": True},
        },
        "phases": {"stateful": {"max-steps": STATEFUL_STEPS}},
        "operations": [
            {
                # A stream never ends: keep what it sends within a moment, then validate that.
                "include-path-regex": "/stream$",
                "request-timeout": 0.3,
                "max-stream-events": 3,
                "generation": {"max-examples": 3},
            }
        ],
    }
)
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings()).openapi(), config=CONFIG)


USER_NAME = auth.NAME_PATTERN
SERIAL = itertools.count()


def _fitting(form: list[dict[str, Any]]) -> dict[str, Any]:
    """Start variables that fit a start form: a value of each field's type within its limits."""
    values: dict[str, Any] = {}
    for field in form:
        if field["readonly"]:
            continue
        kind, limits = field["type"], field["limits"]
        if kind == "long":
            values[field["id"]] = int(max(limits.get("min", 1), 1))
        elif kind == "boolean":
            values[field["id"]] = True
        elif kind == "date":
            values[field["id"]] = "2026-01-31"
        elif kind == "enum":
            values[field["id"]] = field["options"][0]["id"]
        else:
            values[field["id"]] = "x" * int(max(limits.get("minlength", 1), 1))
    return values


@pytest.fixture(scope="module", params=DB_PARAMS)
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastAPI]:
    """The application on a fresh database, examples deployed, some instances started."""
    if request.param == "postgres":
        url = _fresh_postgres()
    else:
        path: Path = tmp_path_factory.mktemp("schemathesis") / "powerflow.db"
        url = f"sqlite:///{path}"
    application = create_app(make_settings(url, deploy_examples=True), run_workers=False)
    with schemathesis.python.asgi.get_client(application) as client:  # starts the lifespan
        store = application.state.store
        clerk = {"Authorization": f"Bearer {auth.add_user(store, 'st-clerk', 'clerk')}"}
        auth.add_user(store, "st-spare", "clerk")
        keys = [d["key"] for d in client.get("/v1/definitions", headers=ADMIN).json()["items"]]
        assert keys, "the example processes were not deployed"
        for key in keys:
            [latest, *_] = client.get(f"/v1/definitions/{key}", headers=ADMIN).json()
            variables = _fitting(latest["start_form"])
            started = client.post(
                "/v1/instances",
                headers=clerk,
                json={"definition_key": key, "variables": variables},
            )
            assert started.status_code == 201, started.text
        application.state.schemathesis_clerk = clerk
    yield application
    shutdown_lifespans()


@SCHEMA.parametrize()
def test_operation_honours_its_contract(case: schemathesis.Case, app: FastAPI) -> None:
    case.call_and_validate(app=app)


@pytest.mark.parametrize("caller", ["admin", "clerk"])
def test_stateful_sequences_honour_the_contract(app: FastAPI, caller: str) -> None:
    """Chains of calls along the inferred links (list -> read -> claim -> complete -> ...)."""
    headers = ADMIN if caller == "admin" else app.state.schemathesis_clerk
    statuses: Counter[int] = Counter()

    class Machine(SCHEMA.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"app": app, "headers": headers}

        def before_call(self, case: schemathesis.Case) -> None:
            # A user name is unique: a replayed example must create a new user again (else its
            # links appear in one run and not the next, which hypothesis calls flaky).
            # The callers themselves are not to be rotated or disabled mid-run (every later call
            # would be 401, again a different run each time): such calls go to a spare user.
            params = case.path_parameters or {}
            if params.get("name") in ("admin", "st-clerk"):
                params["name"] = "st-spare"
            body = case.body
            if case.method == "POST" and case.path == "/v1/users" and isinstance(body, dict):
                name = body.get("name")
                if isinstance(name, str) and USER_NAME.match(name):
                    body["name"] = f"{name[:80]}-{next(SERIAL)}"
            super().before_call(case)

        def after_call(self, response: schemathesis.Response, case: schemathesis.Case) -> None:
            super().after_call(response, case)
            statuses[response.status_code] += 1

    Machine.run(
        settings=hypothesis.settings(
            max_examples=STATEFUL_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            stateful_step_count=STATEFUL_STEPS,
            suppress_health_check=list(HealthCheck),
        )
    )
    assert statuses[200] > 0, f"no call succeeded: {dict(statuses)}"
