#!/usr/bin/env python3
"""Module totals of a pytest run, from its JUnit XML (`pytest --junitxml=FILE`): tests, minutes, and the slowest
test of each module, as docs/TESTING.md keeps them. Usage: tools/test_durations.py FILE [BEFORE_FILE]

With a second file, a column for it too (a before/after table). The times are pytest's (setup, call and
teardown of each test), summed per module; with `-n 2` two modules run at once, so the sum is more than the wall."""
from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path


def module_of(classname: str) -> str:
    """`tests.e2e.test_faults` (pytest's classname: the module's dotted path, then any class) -> `test_faults`."""
    parts = classname.split(".")
    return next((p for p in reversed(parts) if p.startswith("test_")), parts[-1])


def totals(path: Path) -> dict[str, tuple[int, float, str, float]]:
    """module -> (tests, seconds, slowest test, its seconds)."""
    count: dict[str, int] = defaultdict(int)
    seconds: dict[str, float] = defaultdict(float)
    slowest: dict[str, tuple[str, float]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        module, took = module_of(case.get("classname", "")), float(case.get("time", 0))
        count[module] += 1
        seconds[module] += took
        if took > slowest.get(module, ("", -1))[1]:
            slowest[module] = (case.get("name", ""), took)
    return {m: (count[m], seconds[m], *slowest[m]) for m in count}


def main(argv: list[str]) -> int:
    if not 2 <= len(argv) <= 3:
        print(__doc__, file=sys.stderr)
        return 2
    after = totals(Path(argv[1]))
    before = totals(Path(argv[2])) if len(argv) == 3 else {}
    head = "| module | tests | minutes |" + (" before |" if before else "") + " slowest test (s) |"
    print(head)
    print("|" + " --- |" * (head.count("|") - 1))
    for module in sorted(set(after) | set(before), key=lambda m: -after.get(m, (0, 0.0))[1]):
        tests, secs, name, took = after.get(module, (0, 0.0, "", 0.0))
        row = f"| {module} | {tests} | {secs / 60:.1f} |" if module in after else f"| {module} | - | - |"
        if before:
            row += f" {before[module][1] / 60:.1f} |" if module in before else " - |"
        print(row + (f" {name} ({took:.0f}) |" if name else " |"))
    total = sum(v[1] for v in after.values())
    print(f"| all | {sum(v[0] for v in after.values())} | {total / 60:.1f} |"
          + (f" {sum(v[1] for v in before.values()) / 60:.1f} |" if before else "") + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
