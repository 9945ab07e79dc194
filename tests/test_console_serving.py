"""How powerflow serves the console (docs/console.md): the page never cached and under a strict
Content-Security-Policy, hashed assets cached for a year, nothing else from the folder, and a
sentence (not a 500) when the console was not built into the installation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import Api, make_settings
from powerflow import console
from powerflow.app import create_app


def test_the_console_page_and_its_assets(sqlite_api: Api) -> None:
    client = sqlite_api.client
    root = client.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/console/"
    bare = client.get("/console", follow_redirects=False)
    assert bare.status_code == 308 and bare.headers["location"] == "/console/"

    page = client.get("/console/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp and "://" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "://" not in page.text  # no CDN
    assets = re.findall(r'(?:src|href)="(/console/assets/[^"]+)"', page.text)
    assert {Path(a).suffix for a in assets} == {".js", ".css"}
    for asset in assets:
        got = client.get(asset)
        assert got.status_code == 200, asset
        assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert got.headers["content-type"].startswith(
            "text/javascript" if asset.endswith(".js") else "text/css"
        )
        assert re.search(r"-[A-Z0-9]{8}\.(js|css)$", asset), "asset names carry their hash"
        assert got.headers["content-encoding"] == "gzip"  # the client accepts it: smaller
        plain = client.get(asset, headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200 and "content-encoding" not in plain.headers
        assert plain.content == got.content  # the same file, decompressed by the client


@pytest.mark.parametrize(
    "name", ["nope.js", "..%2F..%2Fmanifest.json", "manifest.json", "index.html", "x" * 129]
)
def test_only_the_bundles_assets_are_served(sqlite_api: Api, name: str) -> None:
    got = sqlite_api.client.get(f"/console/assets/{name}")
    assert got.status_code in (404, 422), got.text
    assert got.headers["content-type"] == "application/problem+json"


def test_an_installation_without_the_console_says_so(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "STATIC", tmp_path / "missing")
    with TestClient(create_app(make_settings(sqlite_url), run_workers=False)) as client:
        got = client.get("/console/")
        assert got.status_code == 503
        assert "not built" in got.json()["detail"] and "npm" in got.json()["detail"]
        assert "retry-after" not in got.headers
        assert client.get("/console/assets/main.js").status_code == 404
        assert client.get("/health").status_code == 200
