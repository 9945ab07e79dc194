"""The wheel carries the Alembic history and the example processes, so an installed powerflow
can create its schema and show examples without the source tree."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import ROOT


def test_wheel_contains_migrations_and_examples(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("powerflow-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "powerflow/_migrations/env.py" in names
    revisions = [p.name for p in (ROOT / "migrations" / "versions").glob("*.py")]
    assert revisions
    for revision in revisions:
        assert f"powerflow/_migrations/versions/{revision}" in names
    for example in (ROOT / "processes").glob("*.bpmn"):
        assert f"powerflow/_processes/{example.name}" in names
    assert "powerflow/engine/runtime.py" in names
    # the web console, built by hatch_build.py: its page and every hashed asset it names
    assert "powerflow/console/static/index.html" in names
    manifest = json.loads(zipfile.ZipFile(wheel).read("powerflow/console/static/manifest.json"))
    index = zipfile.ZipFile(wheel).read("powerflow/console/static/index.html").decode()
    assert any(a.endswith(".js") for a in manifest["assets"])
    scripts = {
        a: zipfile.ZipFile(wheel).read(f"powerflow/console/static/assets/{a}").decode()
        for a in manifest["assets"]
        if a.endswith(".js")
    }
    for asset in manifest["assets"]:
        assert f"powerflow/console/static/assets/{asset}" in names
        if asset.endswith((".js", ".css")):
            # named by the page, or a chunk a script loads on demand (bpmn-js: console/build.mjs)
            loaded_by = [name for name, text in scripts.items() if name != asset and asset in text]
            assert f"/console/assets/{asset}" in index or loaded_by, asset
    assert not [n for n in names if "node_modules" in n]
