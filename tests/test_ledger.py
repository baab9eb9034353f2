"""The ledger's rules: one live release per host, replace by id, trim, and what "previous" means."""
from __future__ import annotations

import importlib.util

import pytest

from conftest import ROOT

_spec = importlib.util.spec_from_file_location("ledger", ROOT / "roles/release_ledger/filter_plugins/ledger.py")
ledger = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ledger)


def entry(rid: str, status: str, version: str = "1.0.0") -> dict:
    return {"release_id": rid, "status": status, "version": version}


def test_a_new_live_release_supersedes_the_old_one() -> None:
    entries = ledger.ledger_record([entry("1", "live")], entry("2", "live", "1.1.0"))
    assert [(e["release_id"], e["status"]) for e in entries] == [("1", "superseded"), ("2", "live")]


def test_a_failed_release_leaves_the_live_one_live() -> None:
    entries = ledger.ledger_record([entry("1", "live")], entry("2", "failed"))
    assert [(e["release_id"], e["status"]) for e in entries] == [("1", "live"), ("2", "failed")]


def test_the_same_release_id_is_replaced_in_place() -> None:
    entries = ledger.ledger_record([entry("1", "superseded"), entry("2", "live")], entry("1", "rolled_back"))
    assert [(e["release_id"], e["status"]) for e in entries] == [("1", "rolled_back"), ("2", "live")]


def test_only_the_newest_entries_are_kept() -> None:
    entries: list[dict] = []
    for i in range(5):
        entries = ledger.ledger_record(entries, entry(str(i), "live"), keep=3)
    assert [e["release_id"] for e in entries] == ["2", "3", "4"]
    assert [e["status"] for e in entries] == ["superseded", "superseded", "live"]


@pytest.mark.parametrize(("bad", "message"), [
    ({"status": "live"}, "needs a release_id"),
    ({"release_id": "1", "status": "weird"}, "status must be one of"),
])
def test_bad_entries_are_refused(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ledger.ledger_record([], bad)


def test_previous_skips_failed_and_rolled_back_releases() -> None:
    entries = [entry("1", "superseded", "1.0.0"), entry("2", "rolled_back", "1.0.5"), entry("3", "failed", "1.0.9"),
               entry("4", "live", "1.1.0")]
    assert ledger.ledger_live(entries)["version"] == "1.1.0"
    assert ledger.ledger_previous(entries)["version"] == "1.0.0"


def test_previous_of_a_first_release_is_nothing() -> None:
    assert ledger.ledger_previous([entry("1", "live")]) == {}
    assert ledger.ledger_live([]) == {}
