"""The published contract: the error statuses every operation shares, documented once.

Routes document what is particular to them (``errors.documented``: 403, 404, 409, ...). The
statuses any operation can answer, whatever route it is, are added here so that no route can
forget one: 401 (every secured operation), 422 (every operation with parameters or a body, as
problem+json instead of FastAPI's default validation schema), 400, 413 and 415 (every operation
with a body) and 503 (the database is busy: every operation). Every error response is documented as
``application/problem+json``, the media type the handlers in ``errors.py`` send.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
    }
}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": "The scheme to authenticate with",
        "schema": {"type": "string"},
    }
}
SHARED: dict[str, tuple[str, dict[str, Any] | None]] = {
    "400": ("The body cannot be read (not UTF-8, huge numbers or nesting, broken multipart)", None),
    "401": ("No or invalid bearer token", WWW_AUTHENTICATE),
    "413": ("The request body is larger than the limit", None),
    "415": ("The body is not sent in a media type the operation accepts", None),
    "422": ("A parameter or the body is invalid or out of its documented range", None),
    "503": ("The database is busy with other changes; retry after Retry-After", RETRY_AFTER),
}
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so /openapi.json and api/openapi.json) the completed document."""

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = complete(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    openapi_version=app.openapi_version,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                    servers=app.servers,
                    separate_input_output_schemas=app.separate_input_output_schemas,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add the shared error statuses to every operation; errors are problem+json."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            _complete_operation(operation)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _ensure_problem_schema(schemas)
    for name in FASTAPI_VALIDATION_SCHEMAS:
        others = {key: value for key, value in schemas.items() if key != name}
        if f"/{name}'" not in repr((document["paths"], others)):
            schemas.pop(name, None)
    return document


def _complete_operation(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    wanted = ["503"]
    if "security" in operation:
        wanted.append("401")
    if operation.get("parameters") or "requestBody" in operation:
        wanted.append("422")
        validation = responses.get("422", {})
        if "HTTPValidationError" in repr(validation):
            del responses["422"]
    if "requestBody" in operation:
        wanted += ["400", "413", "415"]
    for code in wanted:
        description, headers = SHARED[code]
        entry = responses.setdefault(code, {"description": description})
        if headers:
            entry.setdefault("headers", headers)
    for code, response in responses.items():
        if code[0] in "45":
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}
    operation["responses"] = dict(sorted(responses.items()))


def _ensure_problem_schema(schemas: dict[str, Any]) -> None:
    from powerflow.api.schemas import Problem

    generated = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, schema in generated.pop("$defs", {}).items():
        schemas.setdefault(name, schema)
    schemas.setdefault("Problem", generated)
