"""The test loop's figures (docs/TESTING.md): how long a developer waits for `make check`, and, with --test, for
the README's test command `make test` with the lab up, with pytest's module totals. Prints; never judges.

    .venv/bin/python -m bench.test_loop_bench              # make check, 3 runs: min, median, max
    .venv/bin/python -m bench.test_loop_bench --test       # and make test once, with the module table

The targets it is read against: make check at most 3 minutes, make test at most 30 (issue 22)."""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, int]:
    """Wall seconds and exit status of one run of `argv` from the repository root, its output into `log`."""
    started = time.monotonic()
    with log.open("w") as out:
        code = subprocess.run(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                              check=False, timeout=7200).returncode
    return time.monotonic() - started, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-runs", type=int, default=3, help="runs of make check (default 3)")
    parser.add_argument("--test", action="store_true", help="also time make test once (the lab must be up)")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="test-loop-bench-"))
    env = {**os.environ}

    walls = []
    for run in range(1, args.check_runs + 1):
        wall, code = timed(["make", "check"], env, logs / f"check-{run}.log")
        print(f"make check run {run}: {wall:.0f} s, exit {code} ({logs / f'check-{run}.log'})", flush=True)
        walls.append(wall)
    if walls:
        print(f"make check: min {min(walls):.0f} s, median {statistics.median(walls):.0f} s, max {max(walls):.0f} s "
              f"(target: at most 180 s)")

    if args.test:
        junit = logs / "test.xml"
        env_test = {**env, "PYTEST_ADDOPTS": f"{env.get('PYTEST_ADDOPTS', '')} --junitxml={junit}".strip()}
        wall, code = timed(["make", "test"], env_test, logs / "test.log")
        print(f"make test: {wall / 60:.1f} min, exit {code} ({logs / 'test.log'}; target: at most 30 min)")
        if junit.exists():
            subprocess.run([sys.executable, str(ROOT / "tools" / "test_durations.py"), str(junit)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
