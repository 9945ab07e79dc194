"""The one mapping from domain errors to HTTP problem responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from powerflow.db.engine import DatabaseBusy, TextNotStorable
from powerflow.services import errors as e

STATUS: dict[type[e.DomainError], int] = {
    e.Unauthenticated: 401,
    e.Forbidden: 403,
    e.RuleViolated: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.Gone: 410,
    e.PayloadTooLarge: 413,
    e.UnsupportedMediaType: 415,
    e.InvalidDefinition: 422,
    e.InvalidInput: 422,
    e.RateLimited: 429,
    e.Busy: 503,
}
TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Archived",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    503: "Service busy",
}


def documented(
    *,
    not_found: str,
    forbidden: str = "Caller lacks the role",
    conflict: str | None = None,
    invalid: str | None = None,
    busy: bool = False,
    gone: str | None = None,
) -> dict[int | str, dict[str, Any]]:
    """The error responses a route declares in the OpenAPI document, all problem+json."""
    from powerflow.api.schemas import Problem

    described: dict[int, str | None] = {
        401: "No or invalid bearer token",
        403: forbidden,
        404: not_found,
        409: conflict,
        410: gone,
        422: invalid,
        503: "Database busy; retry" if busy else None,
    }
    return {
        code: {"model": Problem, "description": text} for code, text in described.items() if text
    }


def problem(status: int, detail: str, code: str, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"Retry-After": "1"} if status == 503 else None
    if status == 429:
        headers = {"Retry-After": str(extra.get("retry_after") or 1)}
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


def _status_of(exc: e.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _validation_message(exc: RequestValidationError) -> tuple[str, list[str]]:
    fields = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            where = err.get("loc", ("body", 0))[-1]
            reason = (err.get("ctx") or {}).get("error", "malformed")
            fields.append(f"body: not valid JSON at character {where} ({reason})")
            continue
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        fields.append(f"{loc or 'body'}: {err.get('msg')}")
    return "The request is not valid: " + "; ".join(fields[:5]), fields


def _not_json(request: Request, exc: RequestValidationError) -> str | None:
    """The media type of a body sent to a JSON operation in another type, if that is the case.

    FastAPI reads a body as JSON only when it is declared as JSON (or not declared at all);
    anything else fails validation as "not an object", which would hide the real mistake.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not media_type or media_type == "application/json" or media_type.endswith("+json"):
        return None
    if any(tuple(err.get("loc", ()))[:1] == ("body",) for err in exc.errors()):
        return media_type
    return None


def install(app: FastAPI) -> None:
    """Register the handlers on an application."""

    @app.exception_handler(e.DomainError)
    async def _domain(_: Request, exc: e.DomainError) -> JSONResponse:
        return problem(_status_of(exc), exc.message, exc.code, **exc.detail)

    @app.exception_handler(DatabaseBusy)
    async def _busy(_: Request, exc: DatabaseBusy) -> JSONResponse:
        return problem(503, "The database is busy with other changes; retry in a moment.", "busy")

    @app.exception_handler(TextNotStorable)
    async def _nul(_: Request, exc: TextNotStorable) -> JSONResponse:
        return problem(
            422,
            "The request holds the NUL character (U+0000) in a text; remove it.",
            "invalid_text",
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        media_type = _not_json(request, exc)
        if media_type is not None:
            return problem(
                415,
                f"Unsupported content type '{media_type}': send the body as application/json.",
                "unsupported_media_type",
            )
        detail, fields = _validation_message(exc)
        return problem(422, detail, "invalid_request", fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        if exc.status_code == 404 and detail == "Not Found":
            detail = "There is no such resource."
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = (
                "The request body cannot be read as JSON: send UTF-8 text, with numbers of at "
                "most 4300 digits and nesting of moderate depth."
            )
        if exc.status_code == 405:
            detail = "This method is not allowed on this resource."
        return problem(exc.status_code, detail, "http_error")
