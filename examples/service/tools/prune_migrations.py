#!/usr/bin/env python3
"""Delete Alembic revision files that belong to releases newer than the one being built.

Each revision file declares, at module level, the release that first ships it:

    revision = "0002"
    down_revision = "0001"
    release = "1.1.0"

The image for version X must only carry revisions with release <= X, so that its
`alembic upgrade head` stops at that release's schema. Files are read with `ast`
(never imported), so this runs with the standard library only, before any
dependency is installed.

Usage: prune_migrations.py --version 1.0.0 [--dry-run] migrations/versions
Exit codes: 0 ok, 2 bad input (bad version, missing/invalid `release`, broken chain).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

_VERSION_RE = re.compile(r"^\d+(\.\d+)*$")


class PruneError(ValueError):
    """Input that makes pruning unsafe; reported as a clear message, exit 2."""


def parse_version(text: str) -> tuple[int, ...]:
    """Numeric dotted version -> comparable tuple with trailing zeros stripped, so
    1.10.0 > 1.9.0 and 1.1 == 1.1.0. Anything else (v1.0, 1.0.0-rc1, "") is rejected
    rather than guessed at: a wrong order would ship the wrong schema."""
    if not _VERSION_RE.match(text):
        raise PruneError(f"invalid version {text!r}: expected numeric dotted form like 1.10.0")
    parts = [int(p) for p in text.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


@dataclass(frozen=True)
class Revision:
    path: Path
    revision: str
    down_revision: str | None
    release: str


def _module_strings(path: Path) -> dict[str, str | None]:
    """Module-level `name = "literal"` / `name = None` assignments of a file."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as exc:
        raise PruneError(f"{path}: cannot parse: {exc}") from None
    found: dict[str, str | None] = {}
    for node in tree.body:
        target: ast.expr
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
            if value.value is None or isinstance(value.value, str):
                found[target.id] = value.value
    return found


def read_revision(path: Path) -> Revision:
    values = _module_strings(path)
    revision, release = values.get("revision"), values.get("release")
    if not revision:
        raise PruneError(f"{path}: no module-level string `revision = ...`")
    if not release:
        raise PruneError(f"{path}: no module-level string `release = \"X.Y.Z\"`")
    try:
        parse_version(release)
    except PruneError as exc:
        raise PruneError(f"{path}: {exc}") from None
    return Revision(path, revision, values.get("down_revision"), release)


def plan(versions_dir: Path, version: str) -> tuple[list[Revision], list[Revision]]:
    """(kept, dropped) revisions for building `version`; raises PruneError if unsafe."""
    target = parse_version(version)
    if not versions_dir.is_dir():
        raise PruneError(f"{versions_dir}: not a directory")
    revisions = [read_revision(p) for p in sorted(versions_dir.glob("*.py")) if p.name != "__init__.py"]
    kept = [r for r in revisions if parse_version(r.release) <= target]
    dropped = [r for r in revisions if parse_version(r.release) > target]
    if not kept:
        raise PruneError(f"no revision has release <= {version}; refusing to leave an empty history")
    # A kept revision built on a dropped one means the `release` markers are out
    # of order; the image would have a broken chain, so stop the build instead.
    kept_ids = {r.revision for r in kept}
    for r in kept:
        if r.down_revision is not None and r.down_revision not in kept_ids:
            raise PruneError(
                f"{r.path.name} (release {r.release}) revises {r.down_revision}, "
                f"which is not kept for {version}: check the `release` markers"
            )
    return kept, dropped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", required=True, help="release being built, e.g. 1.1.0")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, delete nothing")
    parser.add_argument("versions_dir", type=Path, help="Alembic versions/ directory")
    args = parser.parse_args(argv)
    try:
        kept, dropped = plan(args.versions_dir, args.version)
    except PruneError as exc:
        print(f"prune_migrations: error: {exc}", file=sys.stderr)
        return 2
    for r in kept:
        print(f"keep {r.path.name} (revision {r.revision}, release {r.release})")
    for r in dropped:
        print(f"drop {r.path.name} (revision {r.revision}, release {r.release})")
        if not args.dry_run:
            r.path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
