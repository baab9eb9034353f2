"""Writing a small file on a host so that a reader sees the old content or the new, never half of it: a temporary
file in the same folder, flushed to disk, then renamed over the target. Used for the release ledger and the
deploy lock."""
from __future__ import annotations

import os
import tempfile


def write_atomically(path: str, content: str, mode: int = 0o644) -> None:
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
