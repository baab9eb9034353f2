"""The deploy lock's lease rules (plugins/module_utils/lock_lease.py), and its races run for real: processes
that take the same lock at the same moment."""
from __future__ import annotations

import json
import multiprocessing
import sys
import time
from pathlib import Path

import pytest

from support.lab import ROOT

sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))
from lock_lease import (LeaseLost, expires_in, lease_break, lease_read, lease_release, lease_renew,  # noqa: E402
                        lease_take)

NOW = 1_800_000_000.0


def holder(release_id: str, **extra: str) -> dict:
    return {"holder": f"{release_id}@ci", "message": "deploy", "release_id": release_id, **extra}


def test_a_free_lock_is_taken_with_its_lease(tmp_path: Path) -> None:
    path = str(tmp_path / "app" / "deploy-lock.json")
    taken = lease_take(path, holder("a"), 600, now=NOW)
    assert (taken["acquired"], taken["reason"], taken["replaced"]) == (True, "free", {})
    on_disk = json.loads(Path(path).read_text())
    assert on_disk["release_id"] == "a" and on_disk["expires_at_epoch"] == NOW + 600
    assert on_disk["taken_at"] == "2027-01-15T08:00:00Z" and on_disk["expires_at"] == "2027-01-15T08:10:00Z"


def test_a_live_lease_is_refused_and_named(tmp_path: Path) -> None:
    path = str(tmp_path / "deploy-lock.json")
    lease_take(path, holder("a"), 600, now=NOW)
    refused = lease_take(path, holder("b"), 600, now=NOW + 599)
    assert (refused["acquired"], refused["reason"]) == (False, "held")
    assert refused["holder"]["release_id"] == "a" and expires_in(refused["holder"], NOW + 599) == 1
    assert lease_read(path)["release_id"] == "a"


def test_an_expired_lease_is_taken_over_and_the_old_holder_returned(tmp_path: Path) -> None:
    path = str(tmp_path / "deploy-lock.json")
    lease_take(path, holder("a"), 600, now=NOW)
    taken = lease_take(path, holder("b"), 600, now=NOW + 600)
    assert (taken["acquired"], taken["reason"]) == (True, "expired")
    assert taken["replaced"]["release_id"] == "a"
    assert lease_read(path)["release_id"] == "b"


def test_take_over_replaces_only_the_holder_it_names(tmp_path: Path) -> None:
    path = str(tmp_path / "deploy-lock.json")
    lease_take(path, holder("a"), 600, now=NOW)
    assert not lease_take(path, holder("b"), 600, take_over="someone-else", now=NOW)["acquired"]
    taken = lease_take(path, holder("b"), 600, take_over="a", now=NOW)
    assert (taken["acquired"], taken["reason"], taken["replaced"]["release_id"]) == (True, "taken_over", "a")


def test_renewal_pushes_the_lease_on_and_keeps_when_it_was_taken(tmp_path: Path) -> None:
    path = str(tmp_path / "deploy-lock.json")
    lease_take(path, holder("a"), 600, now=NOW)
    renewed = lease_renew(path, "a", 900, now=NOW + 500)
    assert renewed["expires_at_epoch"] == NOW + 1400 and renewed["taken_at_epoch"] == NOW
    # taking again with the same release id (a retried step) is a renewal too
    again = lease_take(path, holder("a"), 600, now=NOW + 700)
    assert (again["reason"], again["holder"]["taken_at_epoch"]) == ("ours", NOW)


def test_a_run_that_lost_its_lease_cannot_renew_it(tmp_path: Path) -> None:
    path = str(tmp_path / "deploy-lock.json")
    lease_take(path, holder("a"), 600, now=NOW)
    lease_take(path, holder("b"), 600, now=NOW + 601)  # a died; b took the expired lease
    with pytest.raises(LeaseLost) as lost:
        lease_renew(path, "a", 600, now=NOW + 602)
    assert lost.value.holder["release_id"] == "b"
    lease_break(path)
    with pytest.raises(LeaseLost) as broken:
        lease_renew(path, "b", 600, now=NOW + 603)
    assert broken.value.holder == {}


def test_release_frees_only_the_runs_own_lock_or_its_ci_runs(tmp_path: Path) -> None:
    path = str(tmp_path / "deploy-lock.json")
    lease_take(path, holder("a", ci_run="https://ci/runs/1"), 600, now=NOW)
    assert not lease_release(path, release_id="b")["released"]
    assert not lease_release(path, ci_run="https://ci/runs/2")["released"]
    assert not lease_release(path)["released"], "no id and no CI run must release nothing"
    assert lease_read(path)["release_id"] == "a"
    assert lease_release(path, ci_run="https://ci/runs/1")["released"]
    assert lease_read(path) == {}
    assert not lease_release(path, release_id="a")["released"]


def test_break_removes_any_holder_or_only_the_one_named(tmp_path: Path) -> None:
    path = str(tmp_path / "deploy-lock.json")
    lease_take(path, holder("a"), 600, now=NOW)
    assert not lease_break(path, release_id="b")["broken"]
    broken = lease_break(path)
    assert broken["broken"] and broken["holder"]["release_id"] == "a"
    assert not lease_break(path)["broken"]


def test_a_lock_file_that_is_not_json_counts_as_expired(tmp_path: Path) -> None:
    path = tmp_path / "deploy-lock.json"
    path.write_text("garbage")
    taken = lease_take(str(path), holder("a"), 600, now=NOW)
    assert (taken["acquired"], taken["reason"]) == (True, "expired")
    assert "not valid JSON" in taken["replaced"]["holder"]


def test_bad_arguments_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / "deploy-lock.json"
    with pytest.raises(ValueError, match="release_id"):
        lease_take(str(path), {"holder": "x"}, 600)
    with pytest.raises(ValueError, match="lease_seconds"):
        lease_take(str(path), holder("a"), 0)
    assert not path.exists()


def test_one_release_id_is_two_runs_when_their_run_ids_differ(tmp_path: Path) -> None:
    """Two controllers that deploy the same version in the same second compute the same release id: the run id,
    unique per run, keeps the second out of the first's lock (it used to take it as "ours"), and neither renews nor
    releases the other's lease."""
    path = str(tmp_path / "deploy-lock.json")
    assert lease_take(path, holder("same", run_id="first"), 600, now=NOW)["acquired"]
    refused = lease_take(path, holder("same", run_id="second"), 600, now=NOW)
    assert (refused["acquired"], refused["reason"]) == (False, "held")
    with pytest.raises(LeaseLost):
        lease_renew(path, "same", 600, now=NOW + 1, run_id="second")
    assert not lease_release(path, release_id="same", run_id="second")["released"]
    assert lease_read(path)["run_id"] == "first"
    # The run itself goes on as before: a retried take is "ours", a renewal and a release work.
    assert lease_take(path, holder("same", run_id="first"), 600, now=NOW + 2)["reason"] == "ours"
    assert lease_renew(path, "same", 600, now=NOW + 3, run_id="first")["run_id"] == "first"
    assert lease_release(path, release_id="same", run_id="first")["released"]
    # A lock written without a run id (by an older collection) is not the run's own either.
    assert lease_take(path, holder("old"), 600, now=NOW)["acquired"]
    assert lease_take(path, holder("old", run_id="new"), 600, now=NOW + 1)["reason"] == "held"
    with pytest.raises(LeaseLost):
        lease_renew(path, "old", 600, now=NOW + 2, run_id="new")


def _race(path: str, release_id: str, take_over: str, start: multiprocessing.synchronize.Event,
          results: multiprocessing.Queue, run_id: str = "") -> None:
    start.wait(10)
    taken = lease_take(path, holder(release_id, run_id=run_id), 600, take_over=take_over)["acquired"]
    results.put((run_id or release_id, taken))


@pytest.mark.parametrize("case", ["free", "expired", "taken over", "same release id"])
def test_of_runs_taking_the_same_lock_at_once_exactly_one_gets_it(tmp_path: Path, case: str) -> None:
    """16 processes released at the same instant: free lock, an expired lease, and a take-over of the same dead
    holder (the race rm-then-mkdir lost: every racer removed and recreated the lock, and several held it)."""
    path = str(tmp_path / "deploy-lock.json")
    if case == "expired":
        lease_take(path, holder("dead"), 1, now=time.time() - 60)
    if case == "taken over":
        lease_take(path, holder("dead"), 3600)
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    # "same release id": controllers that deploy the same version in the same second, each with its own run id.
    same = case == "same release id"
    racers = [context.Process(target=_race, args=(path, "same" if same else f"run-{n}",
                                                  "dead" if case == "taken over" else "", start, results,
                                                  f"run-{n}" if same else "")) for n in range(16)]
    for racer in racers:
        racer.start()
    start.set()
    outcome = dict(results.get(timeout=30) for _ in racers)
    for racer in racers:
        racer.join(timeout=30)
    winners = [run for run, acquired in outcome.items() if acquired]
    assert len(winners) == 1, outcome
    assert lease_read(path)["run_id" if same else "release_id"] == winners[0]
