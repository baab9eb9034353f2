"""Filters for the decisions of a deploy run, kept out of the playbook's Jinja so that they are read and tested on
their own: deploy_nothing_to_do (the preflight's "nothing to do"), deploy_ledger_entry (what step 6 records) and
deploy_outcome (how the run ended: the event, the message it fails with, the notification's fields)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def deploy_nothing_to_do(servings: Sequence[Mapping[str, Any]], revision: str | None = None,
                         migration_live: Mapping[str, Any] | None = None) -> bool:
    """Whether the run has nothing to change: every host of the run already serves the release (its ledger naming
    it), and the database is at the revision the live release recorded (or the run has no migrations: revision
    None). A database restored to an older revision since must still be migrated."""
    if not servings or not all(s.get("unchanged") for s in servings):
        return False
    if revision is None:
        return True
    return revision == (migration_live or {}).get("schema_revision", "")


def deploy_ledger_entry(run: Mapping[str, Any], result: Mapping[str, Any], failure: str, version: str,
                        repository: str) -> dict[str, Any]:
    """The ledger entry step 6 records on a host: the release live where the host switched, failed where it did
    not (with why; the caller redacts it)."""
    migration = run.get("migration") or {}
    entry: dict[str, Any] = {
        "release_id": (result.get("release_id") if not failure else "") or run.get("release_id", ""),
        "version": version,
        "image": f"{repository}:{version}",
        "digest": run.get("digest", ""),
        "schema_revision_before": migration.get("revision_before", ""),
        "schema_revision": migration.get("revision_after", ""),
        "backup": migration.get("backup", ""),
        "deployed_at": run.get("started_at", ""),
        "deployed_by": run.get("by", ""),
        "ci_run": run.get("ci_run", ""),
    }
    if failure:
        entry.update(status="failed", note=failure)
    else:
        entry.update(status="live", container=result.get("container", ""), image_id=result.get("image_id", ""),
                     ready_seconds=result.get("ready_seconds"), switch_seconds=result.get("seconds"))
    return entry


def ledger_revision_of(live: Mapping[str, Any], digest: str) -> str:
    """The schema revision the live release recorded, when it is exactly this image (its digest): that image
    already migrated the schema there, and has nothing to back up or run again. Empty otherwise."""
    if digest and (live or {}).get("digest") == digest:
        return live.get("schema_revision", "") or ""
    return ""


def _now(run: Mapping[str, Any], hosts: Sequence[Mapping[str, Any]], rolled_back: Sequence[str],
         version: str) -> str:
    """What each host of the run serves now, as far as the run knows."""
    gone = run.get("gone") or []
    said = []
    for host in hosts:
        name = host.get("inventory_hostname", "?")
        result = host.get("rolling_restart_result") or {}
        if host.get("rolling_restart_canary_failed"):
            now = "was switched back after its canary"
        elif host.get("rolling_restart_failure"):
            now = "failed its switch"
        elif name in gone:
            now = "did not answer"
        elif name in rolled_back:
            now = "was rolled back to the release before"
        elif "changed" in result:
            now = f"serves {version}"
        else:
            now = "not touched"
        said.append(f"{name} {now}")
    return "; ".join(said)


def deploy_outcome(run: Mapping[str, Any], hosts: Sequence[Mapping[str, Any]], version: str,
                   verify: Mapping[str, Any] | None = None, rolled_back: Sequence[str] = (),
                   report: str = "", repository: str = "") -> dict[str, Any]:
    """How a deploy ended: `event` (succeeded, rolled_back or failed), `failure` (the message the run fails with,
    empty when it succeeded), `fields` (the notification's) and `summary` (the closing line of a success). `hosts`
    are the run's hosts' variables, `verify` the verification's report when it ran (None when it did not),
    `rolled_back` the hosts step 8 switched back."""
    hosts = list(hosts)
    rolled_back = list(rolled_back)
    verify_failures = list((verify or {}).get("failures") or [])
    verified = verify is not None and not verify_failures
    host_failures = [h["rolling_restart_failure"] for h in hosts if h.get("rolling_restart_failure")]
    failed_names = {h.get("inventory_hostname") for h in hosts if h.get("rolling_restart_failure")}
    gone = [g for g in run.get("gone") or [] if g not in failed_names]
    rollback_failures = [h["rollback_host_failure"] for h in hosts if h.get("rollback_host_failure")]
    step_failure = run.get("failure", "")
    fields: dict[str, Any] = {"rolled_back_hosts": rolled_back,
                              "slo": ((verify or {}).get("slo") or {}).get("summary", "")}
    if host_failures or gone or (step_failure and run.get("rollout_started")):
        said = host_failures + [
            f"{g} stopped answering after its switch: it serves release {run.get('release_id', '')}, unless its "
            "switch was undone before it went away. The next run reads what it serves and records it in its ledger."
            for g in gone]
        if step_failure and step_failure not in said:
            said.append(step_failure)
        said += rollback_failures
        failure = " ".join(said) + f" Now: {_now(run, hosts, rolled_back, version)}."
        return {"event": "failed", "failure": failure, "fields": {**fields, "reason": " ".join(said)}, "summary": ""}
    if step_failure:
        failure = step_failure
        if "no host was switched" not in failure.lower() and "no host was touched" not in failure.lower():
            failure += " No host was switched: every host serves what it served before."
        return {"event": "failed", "failure": failure, "fields": {**fields, "reason": step_failure}, "summary": ""}
    if verify is not None and not verified:
        back = (f"{len(rolled_back)} switched hosts were rolled back to the release before it: "
                f"{', '.join(rolled_back)}." if rolled_back else "No host was switched.")
        failure = (f"Release {run.get('release_id', '')} ({version}) failed its verification: "
                   f"{' | '.join(verify_failures)}. {back}")
        if rollback_failures:
            failure += " The rollback failed: " + " ".join(rollback_failures)
        if report:
            failure += f" Report: {report}"
        return {"event": "rolled_back", "failure": failure, "summary": "",
                "fields": {**fields, "reason": " ".join(verify_failures)}}
    migration = run.get("migration") or {}
    switched = sum(1 for h in hosts if (h.get("rolling_restart_result") or {}).get("changed"))
    summary = (f"Release {run.get('release_id', '')} ({repository}:{version}@{run.get('digest') or '?'}) is live on "
               f"{len(hosts)} hosts. Schema {migration.get('revision_before') or '-'} -> "
               f"{migration.get('revision_after') or '-'}; backup {migration.get('backup') or 'none'}. "
               f"Switched: {switched} hosts.")
    return {"event": "succeeded", "failure": "", "fields": {**fields, "reason": ""}, "summary": summary}


def rollback_outcome(run: Mapping[str, Any], hosts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How a rollback ended: `event` (rolled_back or failed), `failure` (empty when it succeeded), `reason`,
    `versions` (what the hosts went back to) and `summary` (the closing line). `hosts` are every app host's
    variables."""
    hosts = list(hosts)
    failures = [h["rollback_host_failure"] for h in hosts if h.get("rollback_host_failure")]
    if run.get("failure") and run["failure"] not in failures:
        failures.append(run["failure"])
    targets = [h.get("rollback_target_result") or {} for h in hosts]
    versions = list(dict.fromkeys(t["version"] for t in targets if t.get("version")))
    releases = list(dict.fromkeys(t["release_id"] for t in targets if t.get("release_id")))
    switched = sum(1 for h in hosts if (h.get("rolling_restart_result") or {}).get("changed"))
    now = []
    for host, target in zip(hosts, targets):
        if host.get("rollback_host_failure"):
            state = "did not roll back (see above)"
        elif "changed" in (host.get("rolling_restart_result") or {}):
            state = f"serves {target.get('version', '?')}"
        else:
            state = "not touched"
        now.append(f"{host.get('inventory_hostname', '?')} {state}")
    release_id = run.get("release_id", "")
    failure = (f"Rollback {release_id} stopped: {' '.join(failures)} Now: {'; '.join(now)}." if failures else "")
    db = run.get("migration") or {}
    schema = (f" Schema {db['revision_before']} -> {db.get('revision_after', '')}, backup {db.get('backup') or 'none'}"
              if "revision_before" in db else "")
    summary = (f"Rollback {release_id}: {len(hosts)} hosts now serve {', '.join(versions)} (release "
               f"{', '.join(releases)}); switched: {switched}.{schema}")
    return {"event": "failed" if failures else "rolled_back", "failure": failure, "reason": " ".join(failures),
            "versions": versions, "summary": summary}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"deploy_nothing_to_do": deploy_nothing_to_do, "deploy_ledger_entry": deploy_ledger_entry,
                "deploy_outcome": deploy_outcome, "ledger_revision_of": ledger_revision_of,
                "rollback_outcome": rollback_outcome}
