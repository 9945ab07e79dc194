"""The web console (docs/console.md): its page and hashed assets, served from the package.

Only HTTP here: the files are built into ``powerflow/console/static`` at install time."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse

from powerflow import console
from powerflow.api.errors import problem

router = APIRouter(include_in_schema=False)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
"""Nothing inline, nothing from another origin; the diagrams' icons are data: images."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
NOT_BUILT = (
    "The web console is not built into this installation: install powerflow again with "
    "node and npm on the PATH (or run `npm ci && npm run build` in console/)."
)


def _bundle(request: Request) -> console.Bundle | None:
    state = request.app.state
    if getattr(state, "console", None) is None:
        state.console = console.load(console.STATIC)
    bundle: console.Bundle | None = state.console
    return bundle


@router.get("/")
async def root() -> Response:
    """Nothing else lives at /: send visitors to the console."""
    return RedirectResponse("/console/", status_code=307)


@router.get("/console")
async def console_no_slash() -> Response:
    return RedirectResponse("/console/", status_code=308)


@router.get("/console/")
async def console_index(request: Request) -> Response:
    """The console's page; never cached, so a new install's assets are picked up at once."""
    bundle = _bundle(request)
    if bundle is None:
        response = problem(503, NOT_BUILT, "console_not_built")
        del response.headers["Retry-After"]  # a retry will not build it
        return response
    return Response(
        bundle.index,
        media_type="text/html; charset=utf-8",
        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"},
    )


@router.get("/console/assets/{name}")
async def console_asset(
    request: Request, name: str = PathParam(min_length=1, max_length=128)
) -> Response:
    """A hashed asset: its name changes with its content, so it may be cached for a year."""
    bundle = _bundle(request)
    path = bundle.assets.get(name) if bundle else None
    headers = {
        **SECURITY_HEADERS,
        "Cache-Control": "public, max-age=31536000, immutable",
        "Vary": "Accept-Encoding",
    }
    gzipped = bundle.gzipped.get(name) if bundle else None
    if gzipped and "gzip" in request.headers.get("accept-encoding", ""):
        path, headers["Content-Encoding"] = gzipped, "gzip"
    try:
        content = path.read_bytes() if path else None
    except OSError:  # rebuilt under a running server: read the new bundle next time
        request.app.state.console = content = None
    if path is None or content is None:
        return problem(404, "No console asset has this name.", "not_found")
    return Response(content, media_type=console.MEDIA_TYPES[Path(name).suffix], headers=headers)
