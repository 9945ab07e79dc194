"""/docs and /redoc work without internet access: every script, style and icon they load is
served by powerflow itself from an installed package (issue 7, item 8)."""

from __future__ import annotations

import re

import pytest

from conftest import Api

REFERENCE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_documentation_pages_load_only_local_assets(sqlite_api: Api, page: str) -> None:
    response = sqlite_api.client.get(page)
    assert response.status_code == 200
    html = response.text
    assert "://" not in html  # no CDN, no font service, no public validator
    assert '"validatorUrl": null' in html or page == "/redoc"
    urls = [a or b for a, b in REFERENCE.findall(html)]
    assert len(urls) >= 3, urls  # a script, the OpenAPI document, an icon (and a style)
    for url in urls:
        assert url.startswith("/"), url
        asset = sqlite_api.client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts and all(u.startswith("/docs-assets/") for u in scripts)
