"""The benchmark scripts that docs/performance.md tells people to run still run.

They are not tests (they print figures), but a script that no longer starts is a documented
command that fails. ``bench/statistics.py`` once shadowed the standard library's ``statistics``
for every script beside it, and ``bench/long_instances.py`` failed at its first figure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_no_bench_script_shadows_a_standard_library_module() -> None:
    names = {path.stem for path in BENCH.glob("*.py")}
    assert names, "no benchmark scripts found"
    assert not names & set(sys.stdlib_module_names), names & set(sys.stdlib_module_names)


def test_long_instances_benchmark_runs_all_its_scenarios(tmp_path: Path) -> None:
    """A small run of every scenario, against a real server (as documented, with small sizes)."""
    run = subprocess.run(
        [
            sys.executable,
            str(BENCH / "long_instances.py"),
            "--iterations",
            "12",
            "--parallel-iterations",
            "12",
            "--items",
            "6",
            "--rounds",
            "1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for scenario in ("long_loop", "long_loop_parallel", "large_mi"):
        assert scenario in run.stdout, run.stdout
    assert "completed, 6" in run.stdout, run.stdout
