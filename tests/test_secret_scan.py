"""A secret scanner in the test command: Yelp's detect-secrets over every file git tracks. What it finds must be in
the audited baseline (.secrets.baseline: each finding there is an example, a placeholder or a test's canary, marked
is_secret false); anything new fails. Regenerate the baseline only after reading what it adds:

    .venv/bin/detect-secrets scan $(git ls-files) > .secrets.baseline   (then mark each entry's is_secret)
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support.lab import ROOT, VENV_BIN

BASELINE = ROOT / ".secrets.baseline"


def _scan(files: list[str], cwd: Path) -> dict[str, list[dict]]:
    out = subprocess.run([str(VENV_BIN / "detect-secrets"), "scan", *files], cwd=cwd, capture_output=True,
                         text=True, check=True, timeout=300).stdout
    return json.loads(out)["results"]


def _keys(results: dict[str, list[dict]]) -> set[tuple[str, str, str]]:
    return {(name, f["type"], f["hashed_secret"]) for name, found in results.items() for f in found}


def test_the_baseline_holds_only_audited_examples() -> None:
    results = json.loads(BASELINE.read_text())["results"]
    assert results, "an empty baseline: the scan below would prove nothing about what it tolerates"
    assert all(f.get("is_secret") is False for found in results.values() for f in found)


def test_the_repository_holds_no_secret_beyond_the_audited_baseline() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    files = [f for f in files if f != BASELINE.name and (ROOT / f).is_file()]
    new = _keys(_scan(files, ROOT)) - _keys(json.loads(BASELINE.read_text())["results"])
    assert not new, f"secrets not in the audited baseline: {sorted(new)}"


def test_the_scanner_finds_a_planted_secret(tmp_path: Path) -> None:
    planted = tmp_path / "group_vars.yml"
    planted.write_text('app_database_url: "postgresql://app:Xq7vR2mLpW9sKd4T@db.internal:5432/app"\n'
                       'aws_secret_access_key: "AKIAZ7QWERTYUIOPASDF"\n')
    found = _scan([planted.name], tmp_path)
    assert {f["type"] for f in found.get(planted.name, [])} >= {"Basic Auth Credentials", "AWS Access Key"}
