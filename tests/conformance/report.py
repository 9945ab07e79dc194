"""Run the conformance suite and print pass / xfail / fail counts per manifest role.

Usage (from the repository root): ``.venv/bin/python tests/conformance/report.py [-k sqlite]``.
Extra arguments go to pytest. The counts are per test (one per manifest row and database).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[2]


def outcome(case: ElementTree.Element) -> str:
    """pass, xfail, skip or fail for one junit test case."""
    if case.find("failure") is not None or case.find("error") is not None:
        return "fail"
    skipped = case.find("skipped")
    if skipped is not None:
        return (
            "xfail"
            if "xfail" in (skipped.get("type") or "") + (skipped.get("message") or "")
            else "skip"
        )
    return "pass"


def main(args: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "conformance.xml"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/test_conformance.py",
                f"--junitxml={junit}",
                *args,
            ],
            cwd=ROOT,
            check=False,
        )
        cases = ElementTree.parse(junit).getroot().iter("testcase")
        counts: dict[str, Counter[str]] = {}
        for case in cases:
            name = case.get("name") or ""
            role = name.split("[")[0].removeprefix("test_")
            counts.setdefault(role, Counter())[outcome(case)] += 1
    print(f"\n{'role':<48} {'pass':>5} {'xfail':>6} {'fail':>5} {'skip':>5}")
    for role, c in counts.items():
        print(f"{role:<48} {c['pass']:>5} {c['xfail']:>6} {c['fail']:>5} {c['skip']:>5}")
    return 0 if all(c["fail"] == 0 for c in counts.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
