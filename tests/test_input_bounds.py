"""Integers beyond their column, text with NUL, bodies in the wrong media type: a clear 4xx,
documented in the contract, on SQLite and PostgreSQL (each was a 500 before)."""

from __future__ import annotations

import pytest

from conftest import Api

INT32_OVER = 2**31
INT64_OVER = 2**63
BEYOND_64_BITS = 2**70


def assert_problem(response, status: int, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    for word in words:
        assert word in body["detail"], body["detail"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/v1/instances?offset={INT32_OVER}", "offset"),
        (f"/v1/tasks?offset={INT32_OVER}", "offset"),
        (f"/v1/definitions?offset={INT32_OVER}", "offset"),
        (f"/v1/events?after={INT64_OVER}", "after"),
        (f"/v1/events/stream?after={INT64_OVER}", "after"),
        (f"/v1/instances/some-id/events?after={INT32_OVER}", "after"),
        (f"/v1/instances/some-id/events/stream?after={INT64_OVER}", "after"),
        (f"/v1/definitions/expense/xml?version={INT32_OVER}", "version"),
        (f"/v1/webhooks/{INT64_OVER}/deliveries", "webhook_id"),
        (f"/v1/webhooks/{BEYOND_64_BITS}/deliveries", "webhook_id"),
        ("/v1/webhooks/0/deliveries", "webhook_id"),
    ],
)
def test_integer_parameters_out_of_range_are_422(api: Api, path: str, field: str) -> None:
    response = api.client.get(path, headers=api.admin)
    assert_problem(response, 422, field, "less than or equal" if "/0/" not in path else "greater")


def test_webhook_ids_out_of_range_are_422_for_every_method(api: Api) -> None:
    for method, body in (("PATCH", {"active": False}), ("DELETE", None)):
        response = api.client.request(
            method, f"/v1/webhooks/{BEYOND_64_BITS}", headers=api.admin, json=body
        )
        assert_problem(response, 422, "webhook_id")


def test_the_largest_values_in_range_are_answered(api: Api) -> None:
    """The bounds are where the databases stop, not sooner: the maxima answer 200 or 404."""
    assert api.client.get("/v1/instances?offset=2147483647", headers=api.admin).status_code == 200
    after = api.client.get(f"/v1/events?after={INT64_OVER - 1}", headers=api.admin)
    assert after.status_code == 200, after.text
    assert after.json()["items"] == []
    missing = api.client.delete(f"/v1/webhooks/{INT32_OVER - 1}", headers=api.admin)
    assert_problem(missing, 404)


def test_last_event_id_beyond_64_bits_is_422(api: Api) -> None:
    response = api.client.get(
        "/v1/events/stream", headers={**api.admin, "Last-Event-ID": str(BEYOND_64_BITS)}
    )
    assert_problem(response, 422, "Last-Event-ID")


def test_start_version_beyond_32_bits_is_422(api: Api) -> None:
    assert api.deploy("gateway.bpmn").status_code == 201
    response = api.client.post(
        "/v1/instances",
        headers=api.user("clerk,employee"),
        json={"definition_key": "expense", "version": BEYOND_64_BITS},
    )
    assert_problem(response, 422, "version")


def test_integers_beyond_64_bits_in_submitted_data_are_422_naming_the_field(api: Api) -> None:
    assert api.deploy("gateway.bpmn").status_code == 201
    clerk = api.user("clerk,employee")
    started = api.client.post(
        "/v1/instances",
        headers=clerk,
        json={"definition_key": "expense", "variables": {"amount": BEYOND_64_BITS}},
    )
    assert_problem(started, 422, "variables.amount", "64 bits")
    assert api.client.get("/v1/instances", headers=api.admin).json()["items"] == []

    instance = api.client.post("/v1/instances", headers=clerk, json={"definition_key": "expense"})
    assert instance.status_code == 201, instance.text
    task = instance.json()["tasks"][0]
    for amount in (BEYOND_64_BITS, -BEYOND_64_BITS, INT64_OVER):
        response = api.client.post(
            f"/v1/tasks/{task['id']}/complete", headers=clerk, json={"data": {"amount": amount}}
        )
        assert_problem(response, 422, "data.amount", "64 bits")
    fine = api.client.post(
        f"/v1/tasks/{task['id']}/complete", headers=clerk, json={"data": {"amount": INT64_OVER - 1}}
    )
    assert fine.status_code == 200, fine.text

    message = api.client.post(
        f"/v1/instances/{instance.json()['id']}/messages",
        headers=api.admin,
        json={"name": "anything", "payload": {"n": [1, {"deep": BEYOND_64_BITS}]}},
    )
    assert_problem(message, 422, "payload.n[1].deep", "64 bits")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/instances?definition_key=%00",
        "/v1/instances?business_key=a%00b",
        "/v1/instances/%00",
        "/v1/tasks/%00",
        "/v1/tasks?role=%00",
        "/v1/definitions/a%00b",
        "/v1/events?instance_id=%00",
    ],
)
def test_nul_in_the_url_is_422(api: Api, path: str) -> None:
    assert_problem(api.client.get(path, headers=api.admin), 422, "NUL")


def test_nul_in_body_text_is_422_naming_the_field(api: Api) -> None:
    assert api.deploy("gateway.bpmn").status_code == 201
    clerk = api.user("clerk,employee")
    for body, field in (
        ({"definition_key": "exp\x00ense"}, "definition_key"),
        ({"definition_key": "expense", "business_key": "case\x00"}, "business_key"),
        ({"definition_key": "expense", "variables": {"reason": "a\x00b"}}, "variables.reason"),
    ):
        assert_problem(api.client.post("/v1/instances", headers=clerk, json=body), 422, field)
    hook = api.client.post(
        "/v1/webhooks", headers=api.admin, json={"url": "https://example.org/\x00"}
    )
    assert_problem(hook, 422, "url")
    assert api.client.get("/v1/instances", headers=api.admin).json()["items"] == []


def test_a_json_operation_given_another_media_type_is_415(api: Api) -> None:
    response = api.client.post(
        "/v1/instances",
        headers={**api.user("clerk"), "Content-Type": "text/plain"},
        content=b'{"definition_key": "expense"}',
    )
    assert_problem(response, 415, "application/json")


def test_a_body_that_is_not_utf8_is_400_with_a_sentence(api: Api) -> None:
    response = api.client.post(
        "/v1/instances",
        headers={**api.user("clerk"), "Content-Type": "application/json"},
        content=b"\xff\xfe{",
    )
    assert_problem(response, 400, "UTF-8")
    huge = api.client.post(
        "/v1/instances",
        headers={**api.user("clerk"), "Content-Type": "application/json"},
        content=b'{"definition_key": "expense", "variables": {"a": ' + b"9" * 5000 + b"}}",
    )
    assert_problem(huge, 400, "4300 digits")


def test_every_error_status_is_documented_as_problem_json() -> None:
    """Every operation documents 401 (except /health and /public/), 422, 503 with Retry-After,
    and the body statuses (400, 413, 415) where it takes a body; every error is problem+json."""
    from powerflow.app import create_app
    from powerflow.settings import Settings

    spec = create_app(Settings()).openapi()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            name = f"{method.upper()} {path}"
            responses = op["responses"]
            assert "Retry-After" in responses["503"]["headers"], name
            if path != "/health" and not path.startswith("/public/"):
                assert "401" in responses, name
            if op.get("parameters") or "requestBody" in op:
                assert "422" in responses, name
            if "requestBody" in op:
                assert {"400", "413", "415"} <= set(responses), name
            for code, response in responses.items():
                if code >= "400":
                    assert list(response["content"]) == ["application/problem+json"], (name, code)
