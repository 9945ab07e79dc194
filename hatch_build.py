"""Hatchling build hook: bundle the web console (console/) into the package on install.

Runs for wheels and editable installs alike (``pip install -e .`` builds an editable wheel). The
bundle (``src/powerflow/console/static/``) is rebuilt only when it is missing or older than the
console's sources; ``npm ci`` runs only when ``console/node_modules`` is missing or older than the
lock file. Node.js and npm come from the PATH; without them the install stops with a sentence
saying so (docs/console.md).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCES = ("src", "package.json", "package-lock.json", "build.mjs")


def _newest(paths: list[Path]) -> float:
    newest = 0.0
    for path in paths:
        if path.is_dir():
            newest = max([newest, *(p.stat().st_mtime for p in path.rglob("*") if p.is_file())])
        elif path.exists():
            newest = max(newest, path.stat().st_mtime)
    return newest


class ConsoleBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        console = root / "console"
        static = root / "src" / "powerflow" / "console" / "static"
        stamp = static / "manifest.json"
        if not console.is_dir():  # building from a tree without the console's sources
            if not stamp.exists():
                raise RuntimeError("powerflow: console/ is missing and no console bundle is built.")
            return
        built = stamp.stat().st_mtime if stamp.exists() else 0.0
        if built and built >= _newest([console / name for name in SOURCES]):
            return
        npm = shutil.which("npm")
        missing = [name for name in ("node", "npm") if shutil.which(name) is None]
        if missing or npm is None:
            raise RuntimeError(
                "powerflow: building the web console needs Node.js (18 or newer) and npm on the "
                f"PATH, and {' and '.join(missing)} {'was' if len(missing) == 1 else 'were'} not "
                "found. Install them (on Debian: apt-get install nodejs npm) and run the install "
                "again."
            )
        modules = console / "node_modules" / ".package-lock.json"
        lock = console / "package-lock.json"
        if not modules.exists() or modules.stat().st_mtime < lock.stat().st_mtime:
            self._run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], console)
        self._run([npm, "run", "--silent", "build"], console)

    def _run(self, command: list[str], cwd: Path) -> None:
        try:
            subprocess.run(command, cwd=cwd, check=True)  # noqa: S603 - fixed npm commands
        except subprocess.CalledProcessError as error:
            raise RuntimeError(
                f"powerflow: building the web console failed ({' '.join(command[1:])} in "
                f"{cwd} exited with {error.returncode}); see the output above."
            ) from error
