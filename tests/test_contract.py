"""The published contract in api/ matches the code."""

from __future__ import annotations

import json

from conftest import ROOT
from powerflow.app import create_app
from powerflow.settings import Settings


def test_openapi_file_is_in_sync_with_the_code() -> None:
    generated = create_app(Settings()).openapi()
    published = json.loads((ROOT / "api" / "openapi.json").read_text())
    assert published == json.loads(json.dumps(generated)), (
        "api/openapi.json is stale: run `powerflow openapi -o api/openapi.json`"
    )


def test_every_route_except_health_requires_a_bearer_token() -> None:
    spec = create_app(Settings()).openapi()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if path == "/health":
                assert "security" not in op
                continue
            assert op.get("security") == [{"HTTPBearer": []}], f"{method.upper()} {path}"
            assert "401" in op["responses"], f"{method.upper()} {path} does not document 401"
