"""The web console's built files (``static/``, made by ``console/build.mjs``; see docs/console.md).

The bundle is built into this package by the hatchling build hook (``hatch_build.py``) on every
install, so a wheel and an editable install both carry it; a source checkout that was never
installed has none, and the console routes say so instead of failing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class Bundle:
    """The built console: its index page and the hashed assets it may serve."""

    index: bytes
    assets: dict[str, Path]
    gzipped: dict[str, Path]


def load(static: Path = STATIC) -> Bundle | None:
    """Read the built console, or None when it was not built."""
    try:
        manifest = json.loads((static / "manifest.json").read_text())
        index = (static / "index.html").read_bytes()
    except (OSError, ValueError):
        return None
    assets, gzipped = {}, {}
    for name in manifest.get("assets", []):
        path = static / "assets" / name
        if ASSET_NAME.match(name) and path.suffix in MEDIA_TYPES and path.is_file():
            assets[name] = path
            if path.with_name(f"{name}.gz").is_file():
                gzipped[name] = path.with_name(f"{name}.gz")
    return Bundle(index, assets, gzipped)
