"""tools/test_durations.py, which makes docs/TESTING.md's table from a run's JUnit XML: module totals, and the
before column."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.lab import ROOT

TOOL = ROOT / "tools" / "test_durations.py"


def _junit(path: Path, cases: list[tuple[str, str, float]]) -> Path:
    body = "".join(f'<testcase classname="{c}" name="{n}" time="{t}"/>' for c, n, t in cases)
    path.write_text(f"<testsuites><testsuite>{body}</testsuite></testsuites>")
    return path


def _table(*files: Path) -> list[str]:
    out = subprocess.run([sys.executable, str(TOOL), *map(str, files)], capture_output=True, text=True, check=True,
                         timeout=30).stdout
    return out.splitlines()


def test_modules_are_summed_and_listed_slowest_first(tmp_path: Path) -> None:
    run = _junit(tmp_path / "run.xml", [("tests.test_repo", "test_c[x]", 1.5), ("tests.e2e.test_faults", "test_a", 60),
                                        ("tests.e2e.test_faults", "test_b", 120)])
    assert _table(run)[2:] == ["| test_faults | 2 | 3.0 | test_b (120) |", "| test_repo | 1 | 0.0 | test_c[x] (2) |",
                               "| all | 3 | 3.0 | |"]


def test_a_before_run_gets_its_own_column_and_a_new_module_a_dash(tmp_path: Path) -> None:
    before = _junit(tmp_path / "before.xml", [("tests.test_setup", "test_s", 300)])
    after = _junit(tmp_path / "after.xml", [("tests.e2e.test_bare_servers", "test_s", 240)])
    rows = _table(after, before)
    assert rows[0] == "| module | tests | minutes | before | slowest test (s) |"
    assert "| test_bare_servers | 1 | 4.0 | - | test_s (240) |" in rows
    assert "| test_setup | - | - | 5.0 | |" in rows
    assert rows[-1] == "| all | 1 | 4.0 | 5.0 | |"
