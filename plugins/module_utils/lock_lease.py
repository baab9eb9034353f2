"""The deploy lock as a lease: a JSON file on one host that says who holds it and until when.

Every change happens under an exclusive flock(2) on a guard file beside the lock, so reading the holder,
deciding and writing the new holder is one atomic step: of two runs that find the same expired lease, exactly one
takes it (no rm-then-mkdir race). The new holder is written to a temporary file and renamed over the lock, so a
reader never sees half of it. Expiry is judged on the lock host's clock alone, so controllers' clocks do not
matter.

Kept apart from the module (plugins/modules/deploy_lock_lease.py) so that the rules and the races are tested on
their own."""
from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

from ansible_collections.steady.deploy.plugins.module_utils.atomic_file import write_atomically

Holder = dict[str, Any]


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@contextmanager
def _guarded(path: str) -> Iterator[None]:
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd = os.open(path + ".guard", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor drops the flock


def lease_read(path: str) -> Holder:
    """The holder, or {} when the lock is free. A file that is not a JSON object (edited by hand) counts as held
    by nobody known, with a lease already over, so that the next run takes it and says so."""
    try:
        with open(path, encoding="utf-8") as handle:
            holder = json.load(handle)
    except FileNotFoundError:
        return {}
    except ValueError:
        holder = None
    if not isinstance(holder, dict):
        return {"holder": "unknown (the lock file is not valid JSON)", "release_id": "", "expires_at_epoch": 0}
    return holder


def _write(path: str, holder: Holder) -> None:
    write_atomically(path, json.dumps(holder, indent=2, sort_keys=True) + "\n")


def _stamp(holder: Holder, taken_at: float, now: float, lease_seconds: int) -> Holder:
    return {**holder, "taken_at_epoch": int(taken_at), "taken_at": _iso(taken_at),
            "renewed_at_epoch": int(now), "expires_at_epoch": int(now + lease_seconds),
            "expires_at": _iso(now + lease_seconds), "lease_seconds": lease_seconds}


def expires_in(holder: Holder, now: Optional[float] = None) -> int:
    """Seconds until the holder's lease is over (negative once it is)."""
    now = time.time() if now is None else now
    return int(float(holder.get("expires_at_epoch", 0)) - now)


def lease_take(path: str, holder: Holder, lease_seconds: int, take_over: str = "",
               now: Optional[float] = None) -> dict[str, Any]:
    """Take the lock for holder["release_id"].

    Taken when it is free, already this run's, past its lease, or held by the release `take_over` names (the
    caller judged that run dead, or the operator said break). Returns acquired, reason (free, ours, expired,
    taken_over or held), the holder after the call and the holder it replaced."""
    if not holder.get("release_id"):
        raise ValueError("the lock's holder needs a release_id")
    if lease_seconds < 1:
        raise ValueError("lease_seconds must be at least 1")
    with _guarded(path):
        now = time.time() if now is None else now
        current = lease_read(path)
        if not current:
            reason = "free"
        elif _same_run(current, holder["release_id"], holder.get("run_id", "")):
            reason = "ours"
        elif expires_in(current, now) <= 0:
            reason = "expired"
        elif take_over and current.get("release_id") == take_over:
            reason = "taken_over"
        else:
            return {"acquired": False, "reason": "held", "holder": current, "replaced": {}}
        taken_at = float(current.get("taken_at_epoch", now)) if reason == "ours" else now
        new = _stamp(holder, taken_at, now, lease_seconds)
        _write(path, new)
        return {"acquired": True, "reason": reason, "holder": new,
                "replaced": current if reason in ("expired", "taken_over") else {}}


def _same_run(current: Holder, release_id: str, run_id: str) -> bool:
    """Whether the lock is held by this run. Two controllers that deploy the same version in the same second have
    the same release id: the run id, unique per run, tells them apart (a lock written without one has "")."""
    return bool(release_id) and current.get("release_id") == release_id and current.get("run_id", "") == run_id


class LeaseLost(Exception):
    """The run's lease is gone: broken by an operator, or expired and taken by another run."""

    def __init__(self, holder: Holder) -> None:
        super().__init__(holder)
        self.holder = holder


def lease_renew(path: str, release_id: str, lease_seconds: int, now: Optional[float] = None,
                run_id: str = "") -> Holder:
    """Push the lease of the run (`release_id`, `run_id`) on by lease_seconds from now. Raises LeaseLost when the
    lock is not this run's any more: a run that lost its lock must stop, not take it back."""
    with _guarded(path):
        now = time.time() if now is None else now
        current = lease_read(path)
        if not _same_run(current, release_id, run_id):
            raise LeaseLost(current)
        new = _stamp(current, float(current.get("taken_at_epoch", now)), now, lease_seconds)
        _write(path, new)
        return new


def lease_release(path: str, release_id: str = "", ci_run: str = "", run_id: str = "") -> dict[str, Any]:
    """Free the lock when it is held by the run (`release_id`, `run_id`), or by the CI run `ci_run` (a cancelled
    job releases what its run took). Any other holder's lock stays."""
    with _guarded(path):
        current = lease_read(path)
        mine = bool(current) and (_same_run(current, release_id, run_id)
                                  or bool(ci_run and current.get("ci_run") == ci_run))
        if mine:
            os.unlink(path)
        return {"released": bool(mine), "holder": current}


def lease_break(path: str, release_id: str = "") -> dict[str, Any]:
    """Remove the lock whoever holds it, or only when `release_id` (the holder the operator looked at) still
    does: a lock taken by a new run in the meantime is not broken by mistake."""
    with _guarded(path):
        current = lease_read(path)
        broken = bool(current) and (not release_id or current.get("release_id") == release_id)
        if broken:
            os.unlink(path)
        return {"broken": broken, "holder": current}
