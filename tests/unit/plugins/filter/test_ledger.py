"""The ledger's rules: one live release per host, replace by id, trim, and what "previous" means."""
from __future__ import annotations

import pytest

import ansible_collections.steady.deploy.plugins.filter.ledger as ledger


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


# --- ledger_find -------------------------------------------------------------------------------------------------

def test_find_by_release_id() -> None:
    entries = [entry("20240101-1", "superseded", "1.0.0"), entry("20240102-1", "live", "1.1.0")]
    assert ledger.ledger_find(entries, "20240101-1") == entry("20240101-1", "superseded", "1.0.0")


def test_find_by_version() -> None:
    entries = [entry("1", "superseded", "1.0.0"), entry("2", "live", "1.1.0")]
    assert ledger.ledger_find(entries, "1.0.0")["release_id"] == "1"
    assert ledger.ledger_find(entries, "1.1.0")["release_id"] == "2"


def test_find_matches_a_version_that_is_not_a_string() -> None:
    entries = [{"release_id": "1", "status": "superseded", "version": 7}, entry("2", "live", "8")]
    assert ledger.ledger_find(entries, "7")["release_id"] == "1"


def test_find_returns_the_newest_match() -> None:
    entries = [entry("1", "superseded", "1.0.0"), entry("2", "superseded", "1.0.0"), entry("3", "live", "1.1.0")]
    assert ledger.ledger_find(entries, "1.0.0")["release_id"] == "2"


def test_find_never_returns_a_failed_entry() -> None:
    entries = [entry("1", "superseded", "1.0.0"), entry("2", "failed", "1.0.0"), entry("3", "live", "1.1.0")]
    # The failed 1.0.0 is newer, but it never served: the older good one is found.
    assert ledger.ledger_find(entries, "1.0.0")["release_id"] == "1"
    # Asked for by its own release_id, a failed entry is not found either.
    assert ledger.ledger_find(entries, "2") == {}


def test_find_of_an_unknown_ref_is_nothing() -> None:
    entries = [entry("1", "superseded", "1.0.0"), entry("2", "live", "1.1.0")]
    assert ledger.ledger_find(entries, "9.9.9") == {}
    assert ledger.ledger_find([], "1") == {}


# --- ledger_reinstate --------------------------------------------------------------------------------------------

def statuses(entries: list[dict]) -> list[tuple[str, str]]:
    return [(e["release_id"], e["status"]) for e in entries]


def test_reinstate_makes_the_entry_live_in_place_and_rolls_back_the_live_one() -> None:
    entries = [entry("0", "superseded", "1.0.0"), entry("1", "superseded", "1.1.0"), entry("2", "live", "1.2.0")]
    out = ledger.ledger_reinstate(entries, "1")
    assert statuses(out) == [("0", "superseded"), ("1", "live"), ("2", "rolled_back")]
    # Everything but the status is kept, and the entry that was not involved is unchanged.
    assert out[0] == entries[0]
    assert out[1] == {**entries[1], "status": "live"}
    assert out[2] == {**entries[2], "status": "rolled_back"}
    assert "note" not in out[1]


def test_reinstate_does_not_modify_its_input() -> None:
    entries = [entry("1", "superseded"), entry("2", "live")]
    ledger.ledger_reinstate(entries, "1", note="rollback")
    assert statuses(entries) == [("1", "superseded"), ("2", "live")]
    assert "note" not in entries[0]


def test_reinstate_records_the_note_on_the_reinstated_entry() -> None:
    out = ledger.ledger_reinstate([entry("1", "superseded"), entry("2", "live")], "1", note="5xx spike after 2")
    assert out[0]["note"] == "5xx spike after 2"
    assert "note" not in out[1]


def test_reinstate_of_an_unknown_release_is_refused() -> None:
    with pytest.raises(ValueError, match="no release '7'"):
        ledger.ledger_reinstate([entry("1", "superseded"), entry("2", "live")], "7")


def test_after_a_reinstate_previous_skips_the_rolled_back_release() -> None:
    entries = [entry("0", "superseded", "1.0.0"), entry("1", "superseded", "1.1.0"), entry("2", "live", "1.2.0")]
    entries = ledger.ledger_reinstate(entries, "1")
    assert ledger.ledger_live(entries)["release_id"] == "1"
    assert ledger.ledger_previous(entries)["release_id"] == "0"

    entries = ledger.ledger_record(entries, entry("3", "live", "1.3.0"))
    assert statuses(entries) == [("0", "superseded"), ("1", "superseded"), ("2", "rolled_back"), ("3", "live")]
    # The release before 3 is 1, the one that was live, not 2, which was rolled back.
    assert ledger.ledger_previous(entries)["release_id"] == "1"


def _served(rid: str, status: str) -> dict:
    return {**entry(rid, status), "container": f"app-{rid}"}


def test_retention_keeps_the_rollback_target_before_newer_known_bad_releases() -> None:
    """The issue's case: P served, L is live, then B and C failed their verification and were rolled back (their
    containers are newer than P's). A host keeping 3 keeps L, P (the rollback target) and only then C."""
    entries = [_served("P", "superseded"), _served("L", "live"), _served("B", "rolled_back"),
               _served("C", "rolled_back"), entry("F", "failed")]
    assert ledger.ledger_retain(entries) == ["app-L", "app-P", "app-C", "app-B"]
    assert ledger.ledger_retain(entries)[:3] == ["app-L", "app-P", "app-C"]


def test_retention_ranks_good_releases_newest_first_after_the_target_and_never_a_failed_one() -> None:
    entries = [_served("1", "superseded"), _served("2", "superseded"), _served("3", "superseded"),
               {**_served("4", "failed")}, _served("5", "live")]
    assert ledger.ledger_retain(entries) == ["app-5", "app-3", "app-2", "app-1"]


def test_retention_after_a_rollback_keeps_the_reinstated_release_and_its_own_previous() -> None:
    entries = ledger.ledger_reinstate([_served("1", "superseded"), _served("2", "superseded"), _served("3", "live")],
                                      "2")
    assert [e["status"] for e in entries] == ["superseded", "live", "rolled_back"]
    assert ledger.ledger_retain(entries) == ["app-2", "app-1", "app-3"]


def test_retention_of_an_empty_ledger_names_nothing() -> None:
    assert ledger.ledger_retain([]) == []

