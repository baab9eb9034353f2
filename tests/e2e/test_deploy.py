"""deploy.yml on the lab: first deploy, idempotence, a migrated upgrade under load, a held lock, check mode and a
host that fails its checks after its switch. The tests run in order and share the fleet: each starts from what the
one before left. The faults a deploy must survive are the rows of the fault matrix, in test_faults.py."""
from __future__ import annotations

import re
import time

import psycopg
import pytest

from bench.load import Load
from support.lab import Lab, ssh
from support.deploy import (LOCK, balancer_ready, containers, deploy, ledger, lock_exists, lock_playbook, read_lock,
                            recap, reset_fleet, said, schema_revision, served_version, started_at, write_lock)

pytestmark = pytest.mark.lab

@pytest.fixture(scope="module")
def fleet(lab: Lab) -> Lab:
    reset_fleet(lab)
    return lab


def _balancer_load(lab: Lab, rate: float = 100) -> Load:
    return Load(f"http://127.0.0.1:{lab.balancer_port}", rate=rate, workers=12, max_seconds=400)


def test_first_deploy_to_empty_hosts(fleet: Lab) -> None:
    result = deploy("1.0.0")
    assert result.returncode == 0, said(result)[-3000:]
    for host in fleet.hosts:
        assert served_version(fleet, host) == "1.0.0"
        entries = ledger(fleet, host)
        assert [(e["version"], e["status"]) for e in entries] == [("1.0.0", "live")]
        assert entries[0]["digest"].startswith("sha256:")
        assert entries[0]["schema_revision"] == "0001"
        assert entries[0]["deployed_by"] and entries[0]["container"].startswith("app-")
    assert schema_revision(fleet) == "0001"
    assert not lock_exists(fleet)


def test_the_same_version_again_stops_at_the_preflight_and_changes_nothing(fleet: Lab) -> None:
    before = {h.name: started_at(fleet, h) for h in fleet.hosts}
    ledgers = {h.name: ledger(fleet, h) for h in fleet.hosts}
    result = deploy("1.0.0")
    assert result.returncode == 0, said(result)[-3000:]
    assert {host: counts["changed"] for host, counts in recap(result).items()} == \
        {"localhost": 0, **{h.name: 0 for h in fleet.hosts}}
    assert {h.name: started_at(fleet, h) for h in fleet.hosts} == before, "nothing may restart"
    assert {h.name: ledger(fleet, h) for h in fleet.hosts} == ledgers
    text = said(result)
    release_id = ledgers["app1"][-1]["release_id"]
    assert re.search(rf"Nothing to do: release {release_id} \(\S+:1\.0\.0@sha256:[0-9a-f]{{64}}\) already serves on "
                     r"app1, app2, app3, with this configuration, and the ledger of every host names it; the "
                     r"schema is at 0001\. No lock was taken", text), text[-3000:]
    # Every play after the preflight ran on no host: no lock, no pull, no report.
    for play in ("1. Preflight: take the deploy lock", "5. Roll out: prepare every host at once",
                 "10. Release the deploy lock and report"):
        after = result.stdout.split(f"PLAY [{play}")[1]
        assert after.split("\n", 2)[1].strip() == "skipping: no hosts matched", after[:300]
    assert "Pull the release image" not in text and "Take the lock" not in text


def test_a_ledger_that_does_not_name_what_serves_is_no_reason_to_stop(fleet: Lab) -> None:
    """app2's ledger loses its live entry (as when a run died after the switch): the same version again does not
    stop at the preflight; the run records what app2 serves, switches nothing, and every ledger is true again."""
    app2 = fleet.hosts[1]
    path = "/var/lib/steady/app/ledger.json"
    entries = ledger(fleet, app2)
    ssh(fleet, app2, "sh", "-c", f"cp {path} {path}.bak && python3 -c \"import json; d = json.load(open('{path}')); "
        f"d['releases'] = [e for e in d['releases'] if e['status'] != 'live']; json.dump(d, open('{path}', 'w'))\"")
    before = {h.name: started_at(fleet, h) for h in fleet.hosts}
    result = deploy("1.0.0")
    assert result.returncode == 0, said(result)[-3000:]
    assert "Nothing to do" not in said(result)
    assert {h.name: started_at(fleet, h) for h in fleet.hosts} == before, "nothing may restart"
    live = [e for e in ledger(fleet, app2) if e["status"] == "live"]
    assert [(e["version"], e["container"]) for e in live] == \
        [(entries[-1]["version"], entries[-1]["container"])], live
    assert "found serving by" in live[0]["note"]


def test_a_schema_other_than_the_live_releases_is_no_reason_to_stop(fleet: Lab) -> None:
    """The database is at a revision the live release did not record (a restore, or a change by hand): the same
    version again does not stop at the preflight; its backup and migration run (here the migration cannot know the
    revision, so it fails, and no host is switched)."""
    with psycopg.connect(host="127.0.0.1", port=fleet.postgres_port, user="app", dbname="app",
                         password=fleet.db_password, autocommit=True, connect_timeout=5) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff'")
        try:
            result = deploy("1.0.0")
        finally:
            conn.execute("UPDATE alembic_version SET version_num = '0001'")
    assert result.returncode != 0
    text = said(result)
    assert "Nothing to do" not in text
    assert "the migration of release" in text and "No host was switched" in text, text[-3000:]
    assert not lock_exists(fleet)


def test_upgrade_with_migration_under_load_drops_nothing(fleet: Lab) -> None:
    balancer_ready(fleet)
    with _balancer_load(fleet) as load:
        result = deploy("1.1.0")
        time.sleep(1)
    figures = load.result.summary()
    assert result.returncode == 0, said(result)[-3000:]
    assert figures["sent"] > 1000
    assert figures["failed"] == 0, str(figures)
    for host in fleet.hosts:
        assert served_version(fleet, host) == "1.1.0"
        assert [(e["version"], e["status"]) for e in ledger(fleet, host)] == \
            [("1.0.0", "superseded"), ("1.1.0", "live")]
        running = containers(fleet, host)
        assert sum(1 for v in running.values() if ":1.1.0 " in v) == 1
        kept = containers(fleet, host, running_only=False)
        assert any(":1.0.0 exited" in v for v in kept.values()), "the old container is kept for rollback"
    assert schema_revision(fleet) == "0002"
    assert result.stdout.count("TASK [steady.deploy.db_migrate : Run the migration command in a container of the new image]") == 1
    migrations = [line for line in result.stdout.splitlines() if "Schema 0001 -> 0002" in line]
    assert len(migrations) >= 1
    backups = ssh(fleet, fleet.hosts[0], "ls", "/var/backups/steady/app").stdout.split()
    assert any(name.endswith("-1.1.0-schema-0001.dump") for name in backups), backups
    entry = ledger(fleet, fleet.hosts[1])[-1]
    assert entry["schema_revision_before"] == "0001" and entry["schema_revision"] == "0002"
    assert entry["backup"].endswith("-1.1.0-schema-0001.dump")


def test_a_held_lock_refuses_a_second_deploy_and_names_the_holder(fleet: Lab) -> None:
    now = int(time.time())
    alice = {"holder": "alice@ci", "message": "deploy 9.9.9", "release_id": "20260101000000-9.9.9",
             "taken_at": "2026-01-01T00:00:00Z", "taken_at_epoch": now - 600, "controller": "runner-7", "pid": "4242",
             "ci_run": "https://ci.example/runs/7", "expires_at": "in 50 minutes", "expires_at_epoch": now + 3000}
    write_lock(fleet, alice)
    try:
        before = {h.name: started_at(fleet, h) for h in fleet.hosts}
        result = deploy("1.0.0")
        assert result.returncode != 0
        text = said(result)
        assert "held by alice@ci since 2026-01-01T00:00:00Z" in text and "Its lease ends in 50 minutes (in 50 min)" in text
        assert '"deploy 9.9.9"' in text and "-e deploy_lock_break=true" in text
        assert "PLAY [2. Build" not in text, "a refused deploy stops before the build"
        assert read_lock(fleet) == alice, "a refused deploy must not touch someone else's lock"
        assert {h.name: started_at(fleet, h) for h in fleet.hosts} == before

        shown = lock_playbook()
        assert shown.returncode == 0, said(shown)[-2000:]
        assert "is held by alice@ci since 2026-01-01T00:00:00Z for release 20260101000000-9.9.9" in said(shown)
        assert "from runner-7 (pid 4242)" in said(shown) and "(in 50 min)" in said(shown)

        # what a cancelled CI job's cleanup does: another run's lock stays, its own goes
        other = lock_playbook("-e", '{"deploy_lock_action": "release_ci_run", "deploy_lock_ci_run": "https://ci.example/runs/8"}')
        assert other.returncode == 0 and "left alone" in said(other)
        assert read_lock(fleet) == alice
        own = lock_playbook("-e", '{"deploy_lock_action": "release_ci_run", "deploy_lock_ci_run": "https://ci.example/runs/7"}')
        assert own.returncode == 0 and "Released the deploy lock that CI run https://ci.example/runs/7 held" in said(own)
        assert not lock_exists(fleet)

        write_lock(fleet, alice)
        broken = lock_playbook("-e", "deploy_lock_action=break")
        assert broken.returncode == 0 and "Broke the deploy lock held by alice@ci" in said(broken)
        assert not lock_exists(fleet)
        refused = lock_playbook("-e", "deploy_lock_action=steal")
        assert refused.returncode != 0 and 'deploy_lock_action: "steal" must be show, break or release_ci_run' in said(refused)

        # (A lease that ended is taken over by the next deploy: test_rollback's killed run, run again from another
        # controller, and the deploy_lock molecule scenario.)
    finally:
        ssh(fleet, fleet.hosts[0], "rm", "-f", LOCK)


def test_check_mode_changes_nothing_and_says_what_would(fleet: Lab) -> None:
    before = {h.name: started_at(fleet, h) for h in fleet.hosts}
    ledgers = {h.name: ledger(fleet, h) for h in fleet.hosts}
    result = deploy("1.0.0", "--check")
    assert result.returncode == 0, said(result)[-3000:]
    assert "app1 would start app-" in said(result)
    assert {h.name: started_at(fleet, h) for h in fleet.hosts} == before
    assert {h.name: ledger(fleet, h) for h in fleet.hosts} == ledgers
    for host in fleet.hosts:
        assert served_version(fleet, host) == "1.1.0"


def test_a_host_that_fails_its_checks_after_the_switch_is_switched_back(fleet: Lab) -> None:
    """The host's checks run while the old container still runs: a failed check is one nginx reload from undone."""
    others_before = {h.name: started_at(fleet, h) for h in fleet.hosts[1:]}
    live_before = {n for n, v in containers(fleet, fleet.hosts[0]).items() if "proxy" not in n}
    balancer_ready(fleet)
    with _balancer_load(fleet) as load:
        # A release that starts and answers ready, but whose running version is not the one expected.
        result = deploy("1.1.93", "-e", "rolling_restart_expected_version=9.9.9", "-e", "rolling_restart_check_timeout=2")
    figures = load.result.summary()
    assert result.returncode != 0
    text = said(result)
    assert re.search(r"app1: release \S+: check GET /version through the proxy answered 200 \(version '1\.1\.93', "
                     r"expected '9\.9\.9'\)", text), text[-3000:]
    assert re.search(r"Switched back to app-\S+ and removed the new container app-\S+-1\.1\.93\.", text)
    assert figures["failed"] == 0, str(figures)
    assert served_version(fleet, fleet.hosts[0]) == "1.1.0"
    assert {n for n, v in containers(fleet, fleet.hosts[0]).items() if "proxy" not in n} == live_before
    assert not any("1.1.93" in v for v in containers(fleet, fleet.hosts[0], running_only=False).values())
    assert {h.name: started_at(fleet, h) for h in fleet.hosts[1:]} == others_before
    entries = ledger(fleet, fleet.hosts[0])
    assert (entries[-1]["version"], entries[-1]["status"]) == ("1.1.93", "failed")
    assert [e["version"] for e in entries if e["status"] == "live"] == ["1.1.0"]
    assert not lock_exists(fleet)
