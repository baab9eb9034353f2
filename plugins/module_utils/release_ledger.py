"""The release ledger's rules: recording an entry, reinstating one after a rollback, finding the live and the
previous release, and which releases' containers a host keeps.

One file for both sides: the module release_ledger_update applies them on the host (read, change and write the
ledger in one call), and the filters in plugins/filter/ledger.py use them on the controller. Kept in Python
because "replace by id, demote the old live entry, keep order, trim" is one readable function here and an
unreadable Jinja expression in YAML."""
from __future__ import annotations

from typing import Any

Entry = dict[str, Any]
STATUSES = ("live", "superseded", "failed", "rolled_back")


def ledger_record(entries: list[Entry], entry: Entry, keep: int = 100) -> list[Entry]:
    """Return the ledger with `entry` recorded.

    An entry with the same release_id is replaced in place; otherwise the entry is appended. A new `live` entry
    turns every other `live` entry into `superseded`, so there is exactly one live release per host.
    Only the newest `keep` entries are kept."""
    if not entry.get("release_id"):
        raise ValueError("a ledger entry needs a release_id")
    if entry.get("status") not in STATUSES:
        raise ValueError(f"a ledger entry's status must be one of {', '.join(STATUSES)}: {entry.get('status')!r}")
    if keep < 1:
        raise ValueError("keep must be at least 1")
    out: list[Entry] = []
    replaced = False
    for old in entries:
        if old.get("release_id") == entry["release_id"]:
            out.append(dict(entry))
            replaced = True
            continue
        if entry["status"] == "live" and old.get("status") == "live":
            old = {**old, "status": "superseded"}
        out.append(old)
    if not replaced:
        out.append(dict(entry))
    return out[-keep:]


def ledger_live(entries: list[Entry]) -> Entry:
    """The live entry, or {} when none is."""
    live = [e for e in entries if e.get("status") == "live"]
    return live[-1] if live else {}


def ledger_previous(entries: list[Entry]) -> Entry:
    """The release that was live before the current live one: the newest `superseded` entry older than it.

    Failed and rolled-back releases never count as "previous": going back to them would go back to a release
    that was never good."""
    live = ledger_live(entries)
    cut = entries.index(live) if live else len(entries)
    older = [e for e in entries[:cut] if e.get("status") == "superseded"]
    return older[-1] if older else {}


def ledger_retain(entries: list[Entry]) -> list[str]:
    """The containers of the ledger's releases in the order a host keeps them when it prunes: the live release, the
    rollback target (ledger_previous), the other releases that served (superseded, newest first), then the
    rolled-back ones (newest first). Failed releases never served and are left out.

    Retention by this order, not by container creation time: after failed or rolled-back deploys, a creation-time
    order keeps the known-bad releases (they are the newest) and prunes the release a rollback would need."""
    ranked = [ledger_live(entries), ledger_previous(entries)]
    ranked += [e for e in reversed(entries) if e.get("status") == "superseded"]
    ranked += [e for e in reversed(entries) if e.get("status") == "rolled_back"]
    names: list[str] = []
    for entry in ranked:
        name = entry.get("container")
        if name and name not in names:
            names.append(name)
    return names


def ledger_find(entries: list[Entry], ref: str) -> Entry:
    """The newest entry whose release_id or version is `ref`, failed ones excepted (they never served), or {}."""
    found = [e for e in entries if ref in (e.get("release_id"), str(e.get("version")))
             and e.get("status") != "failed"]
    return found[-1] if found else {}


def ledger_reinstate(entries: list[Entry], release_id: str, note: str = "",
                     fields: dict[str, Any] | None = None) -> list[Entry]:
    """Return the ledger after a rollback to `release_id`: that entry is live again (in its place, so that
    "previous" keeps meaning the release before it), and the entry that was live becomes `rolled_back`, so that
    no later rollback goes back to it. `fields` (e.g. the new container's ready_seconds) are merged into the entry."""
    if not any(e.get("release_id") == release_id for e in entries):
        raise ValueError(f"the ledger has no release {release_id!r}")
    live = ledger_live(entries)
    out: list[Entry] = []
    for old in entries:
        if old.get("release_id") == release_id:
            old = {**old, **(fields or {}), "status": "live"}
            if note:
                old["note"] = note
        elif old is live:
            old = {**old, "status": "rolled_back"}
        out.append(old)
    return out
