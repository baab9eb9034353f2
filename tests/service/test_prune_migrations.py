"""Unit tests of examples/service/tools/prune_migrations.py (stdlib only, no Docker)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SERVICE = Path(__file__).resolve().parents[2] / "examples" / "service"
SCRIPT = SERVICE / "tools" / "prune_migrations.py"
VERSIONS = SERVICE / "migrations" / "versions"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("prune_migrations", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


pm = _load()


def _revision(tmp: Path, name: str, revision: str, down: str | None, release: str | None) -> Path:
    lines = [f'revision = "{revision}"', f"down_revision = {down!r}"]
    if release is not None:
        lines.append(f'release = "{release}"')
    path = tmp / name
    path.write_text("\n".join(lines) + "\n\ndef upgrade() -> None:\n    pass\n", encoding="utf-8")
    return path


@pytest.fixture
def real_versions(tmp_path: Path) -> Path:
    """A throwaway copy of the service's real revision files."""
    dest = tmp_path / "versions"
    shutil.copytree(VERSIONS, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.mark.parametrize(
    ("low", "high"),
    [("1.9.0", "1.10.0"), ("1.0.0", "1.1.0"), ("1.1.0", "2.0"), ("0.9.9", "1"), ("1.0.9", "1.0.10")],
)
def test_versions_compare_numerically(low: str, high: str) -> None:
    assert pm.parse_version(low) < pm.parse_version(high)


def test_trailing_zeros_are_equal() -> None:
    assert pm.parse_version("1.1") == pm.parse_version("1.1.0") == pm.parse_version("1.1.0.0")


@pytest.mark.parametrize("bad", ["", "v1.0.0", "1.0.0-rc1", "1..0", "1.0.", "latest", " 1.0.0"])
def test_bad_version_is_rejected(bad: str) -> None:
    with pytest.raises(pm.PruneError, match="invalid version"):
        pm.parse_version(bad)


def test_real_revisions_declare_their_release() -> None:
    found = {r.revision: r.release for r in (pm.read_revision(p) for p in sorted(VERSIONS.glob("*.py")))}
    assert found == {"0001": "1.0.0", "0002": "1.1.0"}


def test_release_1_0_0_keeps_only_0001(real_versions: Path) -> None:
    assert pm.main(["--version", "1.0.0", str(real_versions)]) == 0
    assert sorted(p.name for p in real_versions.glob("*.py")) == ["0001_create_items.py"]


@pytest.mark.parametrize("version", ["1.1.0", "1.1", "1.10.0", "2.0.0"])
def test_release_1_1_0_and_later_keep_both(real_versions: Path, version: str) -> None:
    assert pm.main(["--version", version, str(real_versions)]) == 0
    assert sorted(p.name for p in real_versions.glob("*.py")) == ["0001_create_items.py", "0002_add_item_note.py"]


def test_dry_run_deletes_nothing(real_versions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert pm.main(["--dry-run", "--version", "1.0.0", str(real_versions)]) == 0
    assert len(list(real_versions.glob("*.py"))) == 2
    out = capsys.readouterr().out
    assert "keep 0001_create_items.py" in out and "drop 0002_add_item_note.py" in out


def test_version_older_than_every_revision_is_an_error(real_versions: Path) -> None:
    assert pm.main(["--version", "0.9.0", str(real_versions)]) == 2
    assert len(list(real_versions.glob("*.py"))) == 2  # nothing deleted on error


def test_missing_release_marker_is_an_error(tmp_path: Path) -> None:
    _revision(tmp_path, "0001_a.py", "0001", None, "1.0.0")
    _revision(tmp_path, "0002_b.py", "0002", "0001", None)
    with pytest.raises(pm.PruneError, match="0002_b.py: no module-level string `release"):
        pm.plan(tmp_path, "1.0.0")


def test_invalid_release_marker_is_an_error(tmp_path: Path) -> None:
    _revision(tmp_path, "0001_a.py", "0001", None, "1.0.0-beta")
    with pytest.raises(pm.PruneError, match="0001_a.py: invalid version"):
        pm.plan(tmp_path, "1.0.0")


def test_kept_revision_on_top_of_dropped_one_is_an_error(tmp_path: Path) -> None:
    # 0003 claims an older release than the 0002 it builds on: markers out of order.
    _revision(tmp_path, "0001_a.py", "0001", None, "1.0.0")
    _revision(tmp_path, "0002_b.py", "0002", "0001", "1.2.0")
    _revision(tmp_path, "0003_c.py", "0003", "0002", "1.1.0")
    with pytest.raises(pm.PruneError, match="0003_c.py .* revises 0002"):
        pm.plan(tmp_path, "1.1.0")


def test_annotated_assignments_are_read(tmp_path: Path) -> None:
    (tmp_path / "0001_a.py").write_text('revision: str = "0001"\ndown_revision = None\nrelease: str = "1.0.0"\n')
    kept, dropped = pm.plan(tmp_path, "1.0.0")
    assert [r.revision for r in kept] == ["0001"] and dropped == []


def test_cli_bad_version_exits_2_with_clear_message(real_versions: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--version", "v1.1.0", str(real_versions)],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert "invalid version 'v1.1.0'" in proc.stderr
    assert len(list(real_versions.glob("*.py"))) == 2


def test_cli_requires_version(real_versions: Path) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), str(real_versions)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "--version" in proc.stderr
