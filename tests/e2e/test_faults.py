"""The fault matrix: faults a deploy must survive, one row each, on the lab.

Every row asserts the same things (`_assert_survived`): the run fails with a message that names the cause, the
previous release still serves, the deploy lock is free, and every host's ledger names the release that host serves;
where traffic flowed during the run, no request failed (F1, F3; in F8 the failed requests are the bad release's
own, and the report counts them). Then the fault is taken away and the same command run again converges
(`_assert_converges`): every host serves the release and its ledger says so.

The rows run in order and share the fleet: each starts from what the one before left. FAULTS lists every row
and its test; the suite prints the count (conftest.py). The retention row sits among them because it needs a
release that failed its verification, as F8 leaves."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest

from bench.load import Load
from support.lab import ROOT, Lab, ansible_playbook, ansible_playbook_in_background, ssh
from support.webhook import Webhook
from support.deploy import (APP, FAULTY, LOCK, balancer_ready, container_ids, containers, delete_from_registry,
                            deploy, end_and_wake, forget_image_on_host, freeze, ledger, live_entry, lock_exists,
                            fleet_on, read_lock, running_app_containers, said, schema_revision, served_version,
                            started_at, wait_for_woken_module, write_lock)

pytestmark = pytest.mark.lab

# fault -> the test that runs it (module::function)
FAULTS = {
    "F1 a release never gets ready": "test_faults.py::test_f1_a_release_that_never_gets_ready",
    "F2 the migration fails": "test_faults.py::test_f2_the_migration_fails",
    "F3 a host stops answering mid-roll-out": "test_faults.py::test_f3_a_host_that_stops_answering_mid_roll_out",
    "F3 a host stops answering mid-rollback": "test_faults.py::test_f3_a_host_that_stops_answering_mid_rollback",
    "F3 the migration host stops answering during a restore":
        "test_faults.py::test_f3_the_migration_host_stops_answering_during_a_restore",
    "F4 the registry is down": "test_faults.py::test_f4_the_registry_down",
    "F5 the database is down at the preflight": "test_faults.py::test_f5_the_database_down_at_the_preflight",
    "F5 the database goes down during the migration":
        "test_faults.py::test_f5_the_database_down_during_the_migration",
    "F5 the database answers nothing at the preflight":
        "test_faults.py::test_f5_the_database_answers_nothing_at_the_preflight",
    "F5 the database stops answering once the deploy holds the lock":
        "test_faults.py::test_f5_the_database_stops_answering_once_the_deploy_holds_the_lock",
    "F6 two deploys at once": "test_faults.py::test_f6_two_deploys_at_once",
    "F7 killed, then run again from another controller":
        "test_faults.py::test_f7_killed_then_run_again_from_another_controller",
    "F8 the SLO gate fails after the switch": "test_faults.py::test_f8_the_slo_gate_fails_after_the_switch",
    "F8 the SLO fails on the canary batch": "test_faults.py::test_f8_the_slo_fails_on_the_canary_batch",
    "F9 the rollback target is gone everywhere": "test_faults.py::test_f9_the_rollback_target_gone_everywhere",
    "F10 almost no disk under the engine": "test_faults.py::test_f10_almost_no_disk_under_the_engine",
    "F10 almost no disk where the backup goes": "test_faults.py::test_f10_almost_no_disk_where_the_backup_goes",
}

SMALL_DISK = "/dev/shm/steady-backups"  # the host's 64 MiB tmpfs: a real, small file system


@pytest.fixture(scope="module")
def fleet(lab: Lab) -> Lab:
    return fleet_on(lab)


def _assert_survived(lab: Lab, result: subprocess.CompletedProcess[str], cause: str,
                     serving: dict[str, str]) -> None:
    assert result.returncode != 0, "the run must fail"
    assert cause in said(result), said(result)[-3000:]
    assert not lock_exists(lab), "the lock must be free"
    for host in lab.hosts:
        assert served_version(lab, host) == serving[host.name], host.name
        live = [e["version"] for e in ledger(lab, host) if e["status"] == "live"]
        assert live == [serving[host.name]], f"{host.name}'s ledger must name what it serves: {live}"


def _assert_converges(lab: Lab, version: str, *extra: str) -> subprocess.CompletedProcess[str]:
    again = deploy(version, *extra)
    assert again.returncode == 0, said(again)[-3000:]
    assert not lock_exists(lab)
    for host in lab.hosts:
        assert served_version(lab, host) == version
        assert [e["version"] for e in ledger(lab, host) if e["status"] == "live"] == [version], host.name
    return again


def test_every_fault_of_the_matrix_has_its_test() -> None:
    assert len(FAULTS) >= 10 and {f.split()[0] for f in FAULTS} == {f"F{n}" for n in range(1, 11)}
    for where in FAULTS.values():
        assert where.startswith("test_faults.py::"), f"every row in this module: {where}"
        module, function = where.split("::")
        assert f"def {function}(" in (ROOT / "tests" / "e2e" / module).read_text(), where


def test_f10_almost_no_disk_under_the_engine(fleet: Lab) -> None:
    """The engine's data root is the machine's disk here, which a test must not fill: the row asks for more free
    space than it has, which the preflight measures the same way (df of the engine's root)."""
    result = deploy("1.1.0", "-e", "deploy_preflight_min_free_mb=100000000")
    _assert_survived(fleet, result, "MB free under /var/lib/docker, less than deploy_preflight_min_free_mb=100000000",
                     {h.name: "1.0.0" for h in fleet.hosts})
    assert "PLAY [1. Preflight: take the deploy lock]" not in said(result), "refused before the lock"
    assert schema_revision(fleet) == "0001"


def test_f10_almost_no_disk_where_the_backup_goes(fleet: Lab) -> None:
    """The backup folder on a 64 MiB tmpfs filled to its last MiB: the dump is refused before it starts."""
    ssh(fleet, fleet.hosts[0], "sh", "-c", f"mkdir -p {SMALL_DISK} && fallocate -l 63M /dev/shm/filler")
    try:
        result = deploy("1.1.0", "-e", f"db_migrate_backup_dir={SMALL_DISK}", "-e", "db_migrate_backup_min_free_mb=0")
        _assert_survived(fleet, result, f"the backup folder {SMALL_DISK} has", {h.name: "1.0.0" for h in fleet.hosts})
        assert "Nothing was backed up or migrated, and no host was switched" in said(result)
        assert schema_revision(fleet) == "0001"
        assert ssh(fleet, fleet.hosts[0], "ls", "-A", SMALL_DISK).stdout.strip() == "", "no dump, no leftover"
    finally:
        ssh(fleet, fleet.hosts[0], "rm", "-f", "/dev/shm/filler")


def test_f4_the_registry_down(fleet: Lab) -> None:
    subprocess.run(["docker", "stop", f"{fleet.name}-registry"], check=True, capture_output=True, timeout=120)
    try:
        result = deploy("1.1.0")
    finally:
        subprocess.run(["docker", "start", f"{fleet.name}-registry"], check=True, capture_output=True, timeout=120)
    _assert_survived(fleet, result, "cannot reach the registry at http://", {h.name: "1.0.0" for h in fleet.hosts})
    assert "PLAY [1. Preflight: take the deploy lock]" not in said(result), "refused before the lock"


def _postgres(action: str, lab: Lab) -> None:
    subprocess.run(["docker", action, f"{lab.name}-postgres"], check=True, capture_output=True, timeout=120)


def _wait_database(lab: Lab) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            schema_revision(lab)
            return
        except Exception:  # noqa: BLE001 (any connection error: not up yet)
            time.sleep(1)
    raise AssertionError("the database did not come back")


def test_f5_the_database_down_at_the_preflight(fleet: Lab) -> None:
    _postgres("stop", fleet)
    try:
        result = deploy("1.1.0")
    finally:
        _postgres("start", fleet)
        _wait_database(fleet)
    # The hosts serve 1.0.0 all along; their readiness failed while the database was down, not the release.
    _assert_survived(fleet, result, "app1 cannot reach the database at postgres.", {h.name: "1.0.0" for h in fleet.hosts})
    assert "PLAY [1. Preflight: take the deploy lock]" not in said(result), "refused before the lock"


# A paused container is a server that accepts connections (the kernel completes the handshake) and answers nothing,
# as an overloaded or wedged one does. Without a bound, the run waited on it until it was killed, holding the lock.
SILENT_DATABASE = "accepted the connection but did not answer within 10 s (db_migrate_connect_timeout)"


def test_f5_the_database_answers_nothing_at_the_preflight(fleet: Lab) -> None:
    """The preflight's real query gives up after db_migrate_connect_timeout: refused before the lock and any
    notification (the run is bounded by the subprocess's timeout: it used to hang)."""
    with Webhook() as hook:
        _postgres("pause", fleet)
        try:
            result = deploy("1.1.0", "-e", f"deploy_notify_webhook_url={hook.url}", timeout=240)
        finally:
            _postgres("unpause", fleet)
    _assert_survived(fleet, result, "app1: could not read the schema revision: the database at postgres.",
                     {h.name: "1.0.0" for h in fleet.hosts})
    assert SILENT_DATABASE in said(result)
    assert "PLAY [1. Preflight: take the deploy lock]" not in said(result), "refused before the lock"
    assert hook.bodies == [], "no event before the lock"


def _deploy_and_once_locked(lab: Lab, fault: str, heal: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Deploys 1.1.0, and does `docker <fault>` to the database the moment the deploy holds the lock (after its
    preflight's query); `docker <heal>` once the run ended."""
    run = ansible_playbook_in_background("playbooks/deploy.yml", "-e", "app_version=1.1.0", *extra)
    try:
        deadline = time.monotonic() + 300
        while not lock_exists(lab) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lock_exists(lab), "the deploy never took the lock"
        _postgres(fault, lab)
        out, _ = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
        _postgres(heal, lab)
        _wait_database(lab)
    return subprocess.CompletedProcess(run.args, run.returncode, out, "")


def test_f5_the_database_stops_answering_once_the_deploy_holds_the_lock(fleet: Lab) -> None:
    """The database freezes the moment the deploy holds the lock: the migration step's own read of the revision
    gives up within its bound, the lock is released once, and one "failed" event names the database. No host is
    switched."""
    with Webhook() as hook:
        result = _deploy_and_once_locked(fleet, "pause", "unpause", "-e", f"deploy_notify_webhook_url={hook.url}")
    _assert_survived(fleet, result, SILENT_DATABASE, {h.name: "1.0.0" for h in fleet.hosts})
    assert "No host was switched" in said(result)
    events = [p["text"] for p in hook.payloads()]
    assert len(events) == 2 and "started" in events[0] and "failed" in events[1], events
    assert "did not answer within 10 s" in events[1], events
    assert schema_revision(fleet) == "0001"


def test_f5_the_database_down_during_the_migration(fleet: Lab) -> None:
    """The database stops the moment the deploy holds the lock (after its preflight reached the database): the
    backup and the migration find it gone, and no host is switched."""
    result = _deploy_and_once_locked(fleet, "stop", "start")
    _assert_survived(fleet, result, "could not read the schema revision", {h.name: "1.0.0" for h in fleet.hosts})
    assert "No host was switched" in said(result) or "no host was switched" in said(result)
    assert schema_revision(fleet) == "0001"
    # F10 and F5 left nothing behind: the same deploy, run again, goes through (with rows to back up first).
    with _database(fleet, "app") as conn:
        conn.execute("INSERT INTO items (name) SELECT 'restore-check-' || n FROM generate_series(1, 37) AS n")
    _assert_converges(fleet, "1.1.0")
    assert schema_revision(fleet) == "0002"


def test_the_documented_restore_brings_a_dump_back_into_a_scratch_database(fleet: Lab) -> None:
    """The backup the converging deploy took (schema 0001, before its migration), restored with the playbook the
    operations guide documents, into a scratch database of the same server: the rows and the revision come back."""
    backup = ledger(fleet, fleet.hosts[0])[-1]["backup"]
    assert backup.endswith("-1.1.0-schema-0001.dump"), backup
    with _database(fleet, "postgres") as conn:
        conn.execute("DROP DATABASE IF EXISTS app_restore_check WITH (FORCE)")
        conn.execute("CREATE DATABASE app_restore_check")
    refused = ansible_playbook("playbooks/restore.yml", "-e", f"db_restore_file={backup.rsplit('/', 1)[1]}",
                               "-e", "db_restore_database=app_restore_check", timeout=120)
    assert refused.returncode != 0
    assert "confirm with -e db_restore_confirm=app_restore_check" in said(refused)
    restored = ansible_playbook("playbooks/restore.yml", "-e", f"db_restore_file={backup.rsplit('/', 1)[1]}",
                                "-e", "db_restore_database=app_restore_check",
                                "-e", "db_restore_confirm=app_restore_check", timeout=300)
    assert restored.returncode == 0, said(restored)[-3000:]
    assert "into the database app_restore_check: schema revision 0001" in said(restored)
    assert fleet.db_password not in restored.stdout + restored.stderr
    with _database(fleet, "app") as conn:
        live = conn.execute("SELECT count(*) FROM items WHERE name LIKE 'restore-check-%'").fetchone()[0]
    with _database(fleet, "app_restore_check") as conn:
        back = conn.execute("SELECT count(*) FROM items WHERE name LIKE 'restore-check-%'").fetchone()[0]
        total = conn.execute("SELECT count(*) FROM items").fetchone()[0]
    assert live == back == 37 and total >= 37
    assert not lock_exists(fleet)
    with _database(fleet, "postgres") as conn:
        conn.execute("DROP DATABASE app_restore_check WITH (FORCE)")


def test_f3_the_migration_host_stops_answering_during_a_restore(fleet: Lab) -> None:
    """app1 (the migration host, which also holds the lock) freezes the moment the restore holds the lock: the run
    does not end silently with the lock held. The controller notices, sends one "failed" naming the host, says the
    lock could not be released (its host is gone) and fails. Once app1 is back its lock is the restore's own,
    freed here as an operator would (lock.yml's break), and nothing else is left."""
    app1 = fleet.hosts[0]
    backup = ledger(fleet, app1)[-1]["backup"].rsplit("/", 1)[1]
    with _database(fleet, "postgres") as conn:
        conn.execute("DROP DATABASE IF EXISTS app_restore_gone WITH (FORCE)")
        conn.execute("CREATE DATABASE app_restore_gone")
    with Webhook() as hook:
        run = ansible_playbook_in_background("playbooks/restore.yml", "-e", f"db_restore_file={backup}", "-e",
                                             "db_restore_database=app_restore_gone", "-e",
                                             "db_restore_confirm=app_restore_gone", "-e",
                                             f"deploy_notify_webhook_url={hook.url}")
        paused = False
        try:
            deadline = time.monotonic() + 300
            while not lock_exists(fleet) and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert lock_exists(fleet), "the restore never took the lock"
            freeze(f"{fleet.name}-{app1.name}")
            paused = True
            out, _ = run.communicate(timeout=600)
        finally:
            end_and_wake(run, f"{fleet.name}-{app1.name}", paused)
    assert run.returncode != 0
    assert "app1, the migration host, stopped answering during the restore of" in out, out[-3000:]
    assert "the deploy lock could not be released" in out, out[-3000:]
    events = [p["text"] for p in hook.payloads()]
    assert len(events) == 2 and "started" in events[0] and "failed" in events[1], events
    assert "stopped answering during the restore" in events[1], events
    wait_for_woken_module(fleet, app1)
    broken = ansible_playbook("playbooks/lock.yml", "-e", "deploy_lock_action=break", timeout=120)
    assert broken.returncode == 0 and not lock_exists(fleet), said(broken)[-2000:]
    with _database(fleet, "postgres") as conn:
        conn.execute("DROP DATABASE app_restore_gone WITH (FORCE)")


def _database(lab: Lab, name: str) -> psycopg.Connection:
    return psycopg.connect(host="127.0.0.1", port=lab.postgres_port, user="app", dbname=name,
                           password=lab.db_password, autocommit=True, connect_timeout=5)


def _freeze_app2_once_app1_serves(lab: Lab, version: str, playbook: str,
                                  *extra: str) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    """Runs `playbook` under load straight at app1 and app3 (app2's freeze is no fault of the run's), each request
    on its own connection (bench/load.py, keep_alive: what a host serves, without nginx's close of idle connections
    at a reload), and freezes app2's machine (its container paused) the moment app1 serves `version`; app2 is
    woken once the run ended. Returns the run and the two loads' figures."""
    app1, app2, app3 = lab.hosts
    loads = [Load(f"http://127.0.0.1:{h.http_port}", rate=25, workers=4, max_seconds=600, keep_alive=False)
             for h in (app1, app3)]
    for load in loads:
        load.start()
    run = ansible_playbook_in_background(playbook, *extra)
    paused = False
    try:
        deadline = time.monotonic() + 400
        while run.poll() is None and time.monotonic() < deadline:
            if served_version(lab, app1) == version:
                freeze(f"{lab.name}-{app2.name}")
                paused = True
                break
            time.sleep(0.1)
        assert paused, f"app1 never served {version}"
        out, _ = run.communicate(timeout=900)
    finally:
        end_and_wake(run, f"{lab.name}-{app2.name}", paused)
        figures = [load.stop().summary() for load in loads]
    return subprocess.CompletedProcess(run.args, run.returncode, out, ""), figures


def test_f3_a_host_that_stops_answering_mid_roll_out(fleet: Lab) -> None:
    """app2's machine freezes (its container paused) right after app1 switched to 1.1.1: the roll-out stops at
    app2, the run names it and what each host serves, releases the lock and reports; app1, switched, is rolled back
    with the verification that app2 failed. Once app2 is back, the same deploy converges, and app2's ledger is
    brought in line with what it serves (its switch may have finished after it came back)."""
    app1, app2, app3 = fleet.hosts
    before = served_version(fleet, app1)
    result, figures = _freeze_app2_once_app1_serves(fleet, "1.1.1", "playbooks/deploy.yml", "-e", "app_version=1.1.1")
    text = said(result)
    assert result.returncode != 0
    assert "app2 stopped answering" in text, text[-3000:]
    # Frozen before its switch (the usual case) or right after it (the pause came late): either way said as such.
    assert re.search(r"Now: app1 was rolled back to the release before; app2 (failed its switch|did not answer); "
                     r"app3 (not touched|was rolled back to the release before)\.", text), text[-3000:]
    assert all(f["failed"] == 0 and f["sent"] > 100 for f in figures), json.dumps(figures)
    assert not lock_exists(fleet)
    for host in (app1, app3):
        assert served_version(fleet, host) == before
        assert [e["version"] for e in ledger(fleet, host) if e["status"] == "live"] == [before]
    # app2 was frozen mid-run: whatever its switch did when it woke, the next run finds it and records it.
    wait_for_woken_module(fleet, app2)
    _assert_converges(fleet, "1.1.1")


def test_f3_a_host_that_stops_answering_mid_rollback(fleet: Lab) -> None:
    """The same freeze during a rollback, host by host: app2's machine stops answering right after app1 switched
    back. The rollback stops at app2, names it and what each host serves, releases the lock and reports; no
    request to app1 or app3 fails. Once app2 is back, the same rollback converges and every ledger is true."""
    app1, app2, app3 = fleet.hosts
    if not all(served_version(fleet, h) == "1.1.1" for h in fleet.hosts):  # run on its own: F3's end state first
        _assert_converges(fleet, "1.1.1")
    # Where the rollback goes: the release each ledger has as the one before the live one.
    target = [e for e in ledger(fleet, app1) if e["status"] == "superseded"][-1]["version"]
    assert target != "1.1.1"
    result, figures = _freeze_app2_once_app1_serves(fleet, target, "playbooks/rollback.yml",
                                                    "-e", "rollback_batch_size=1")
    text = said(result)
    assert result.returncode != 0
    assert re.search(r"app2 stopped answering (during|after) its switch back to release", text), text[-3000:]
    assert f"Now: app1 serves {target}; app2 did not roll back (see above); app3 not touched." in text, text[-3000:]
    assert all(f["failed"] == 0 and f["sent"] > 100 for f in figures), json.dumps(figures)
    assert not lock_exists(fleet)
    for host, version in ((app1, target), (app3, "1.1.1")):
        assert served_version(fleet, host) == version
        assert [e["version"] for e in ledger(fleet, host) if e["status"] == "live"] == [version], host.name
    # app2 was frozen mid-switch: whatever its switch did when it woke, the same rollback again brings every host
    # to the target and every ledger in line.
    wait_for_woken_module(fleet, app2)
    again = ansible_playbook("playbooks/rollback.yml", timeout=600)
    assert again.returncode == 0, said(again)[-3000:]
    assert not lock_exists(fleet)
    for host in fleet.hosts:
        assert served_version(fleet, host) == target, host.name
        assert [e["version"] for e in ledger(fleet, host) if e["status"] == "live"] == [target], host.name


# The rows below start from what the F3 rows leave: every host serves the same good release on schema 0002.

def _serving_everywhere(lab: Lab) -> str:
    """The one release every host serves (each row starts from a converged fleet)."""
    versions = {served_version(lab, h) for h in lab.hosts}
    assert len(versions) == 1, versions
    return versions.pop()


def test_f1_a_release_that_never_gets_ready(fleet: Lab) -> None:
    """1.1.91 never answers ready: under load through the balancer, the first host gives its new container up after
    the timeout and keeps serving, and no other host is touched. The good release again converges."""
    app1, *others = fleet.hosts
    before = _serving_everywhere(fleet)
    others_before = {h.name: started_at(fleet, h) for h in others}
    balancer_ready(fleet)
    with Load(f"http://127.0.0.1:{fleet.balancer_port}", rate=100, workers=12, max_seconds=400) as load:
        result = deploy("1.1.91", "-e", FAULTY % "readiness", "-e", "rolling_restart_ready_timeout=6")
    figures = load.result.summary()
    _assert_survived(fleet, result, "did not answer 200 on GET /health/ready within 6 s",
                     {h.name: before for h in fleet.hosts})
    text = said(result)
    assert "app1: release " in text and "the new container app-" in text and "keeps serving" in text
    assert figures["failed"] == 0 and figures["sent"] > 500, str(figures)
    assert not any("1.1.91" in v for v in containers(fleet, app1, running_only=False).values())
    assert {h.name: started_at(fleet, h) for h in others} == others_before, "other hosts untouched"
    assert ledger(fleet, app1)[-1]["status"] == "failed"
    _assert_converges(fleet, before)


def test_f2_the_migration_fails(fleet: Lab) -> None:
    """1.1.92's migration fails after the backup: no host is switched, the schema stays, and the failure names
    the backup taken before it. The good release again converges."""
    before = _serving_everywhere(fleet)
    revision = schema_revision(fleet)
    started = {h.name: started_at(fleet, h) for h in fleet.hosts}
    result = deploy("1.1.92", "-e", FAULTY % "migration")
    _assert_survived(fleet, result, "the migration of release", {h.name: before for h in fleet.hosts})
    text = said(result)
    assert "No host was switched" in text
    # The run ends at the migration, once: the other hosts do not go on to be prepared (the play matches none).
    assert re.search(r"PLAY \[5\. Roll out: prepare[^]]*\] \**\s*skipping: no hosts matched", text), text[-3000:]
    assert "backed up before it to app1:/var/backups/steady/app/app-" in text
    assert f"-1.1.92-schema-{revision}.dump" in text
    assert {h.name: started_at(fleet, h) for h in fleet.hosts} == started
    assert schema_revision(fleet) == revision
    assert fleet.db_password not in result.stdout + result.stderr
    _assert_converges(fleet, before)


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


def test_f8_the_slo_gate_fails_after_the_switch(fleet: Lab) -> None:
    """1.1.96 answers ready but 500 on its item routes: every host switches and passes its own checks, then the
    SLO gate at the end of the deploy sees the 5xx ratio and every switched host goes back. The requests the bad
    release failed are the fault itself, so they are counted in the report, not asserted to be 0."""
    before = _serving_everywhere(fleet)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Webhook.received = []
    balancer_ready(fleet)
    try:
        with Load(f"http://127.0.0.1:{fleet.balancer_port}", rate=60, workers=8, max_seconds=400):
            result = deploy("1.1.96", "-e", FAULTY % "errors", "-e",
                            f"deploy_notify_webhook_url=http://127.0.0.1:{server.server_port}/hook")
    finally:
        server.shutdown()
    _assert_survived(fleet, result, "failed its verification: SLO gate failed: FAIL, 5xx ratio",
                     {h.name: before for h in fleet.hosts})
    assert "3 switched hosts were rolled back to the release before it: app1, app2, app3" in said(result)
    for host in fleet.hosts:
        statuses = {e["version"]: e["status"] for e in ledger(fleet, host)}
        assert statuses["1.1.96"] == "rolled_back" and statuses[before] == "live"
    release_id = [e for e in ledger(fleet, fleet.hosts[0]) if e["version"] == "1.1.96"][-1]["release_id"]
    report = json.loads((ROOT / "reports" / f"deploy-{release_id}.json").read_text())
    assert report["passed"] is False and report["slo"]["error_ratio"] > 0.05
    assert report["slo"]["p95_seconds"] is not None
    # the webhook heard the start and the rollback, and never a secret
    events = [p["text"] for p in _Webhook.received]
    assert any("started" in t for t in events) and any("rolled_back" in t for t in events), events
    for secret in (fleet.db_password, fleet.redis_password):
        assert all(secret not in t for t in events)
        assert secret not in result.stdout + result.stderr
    _assert_converges(fleet, before)


def test_f8_the_slo_fails_on_the_canary_batch(fleet: Lab) -> None:
    """With deploy_canary, 1.1.96 (500 on its item routes) serves on app1 alone for the canary window, is judged on
    app1's series alone and fails there: app1 goes back to its old container, which never stopped, and app2 and app3
    never start it. The requests the canary failed are the fault itself: counted, not asserted to be 0."""
    app1, *others = fleet.hosts
    before = _serving_everywhere(fleet)
    serving_on_app1 = started_at(fleet, app1)
    others_before = {h.name: started_at(fleet, h) for h in others}
    balancer_ready(fleet)
    with Load(f"http://127.0.0.1:{fleet.balancer_port}", rate=60, workers=8, max_seconds=400) as load:
        result = deploy("1.1.96", "-e", FAULTY % "errors", "-e", "deploy_canary=true", "-e", "deploy_canary_seconds=20")
    figures = load.result.summary()
    _assert_survived(fleet, result, "as the canary for 20 s and failed its canary: SLO gate failed: FAIL, 5xx ratio",
                     {h.name: before for h in fleet.hosts})
    text = said(result)
    assert "no other host was switched" in text and "app1 was switched back after its canary" in text, text[-3000:]
    # One batch only: the roll-out ended at the canary, and nothing served the release to verify or roll back.
    assert text.count("PLAY [5. Roll out batch by batch") == 1, text[-3000:]
    assert "rolled back to the release before it" not in text
    # app1's old container never stopped, and the canary's is gone; the others started nothing: what runs there
    # runs since before, and no container of this release exists (preparing may prune old releases' containers).
    failed = [e for e in ledger(fleet, app1) if e["version"] == "1.1.96"][-1]
    assert failed["status"] == "failed" and "failed its canary" in failed["note"]
    assert started_at(fleet, app1) == serving_on_app1
    assert not any(failed["release_id"] in name for name in containers(fleet, app1, running_only=False))
    assert {h.name: started_at(fleet, h) for h in others} == others_before
    for host in others:
        assert not any(failed["release_id"] in name for name in containers(fleet, host, running_only=False))
        assert all(e["release_id"] != failed["release_id"] for e in ledger(fleet, host)), host.name
    # The bad release's own 500s, and nothing else: no request fell between the switch and the switch back.
    assert figures["failed"] > 0 and set(figures["errors"]) <= {"HTTP 500"}, str(figures)
    print(f"canary abort: {figures}")
    _assert_converges(fleet, before)


def _running_app_env(lab: Lab, host) -> list[str]:
    """The environment of each running app container of a host (its proxy left out)."""
    return [_environment(lab, host, n) for n in sorted(running_app_containers(lab, host))]


def test_a_canary_that_passes_lets_the_other_batches_go_on(fleet: Lab) -> None:
    """A good change with deploy_canary, under load: app1 serves it alone for the window, passes on its own
    series, and then app2 and app3 switch; app1's old container, kept running until then, is drained and stopped
    with the others. No request fails."""
    before = _serving_everywhere(fleet)
    balancer_ready(fleet)
    with Load(f"http://127.0.0.1:{fleet.balancer_port}", rate=60, workers=8, max_seconds=400) as load:
        result = deploy(before, "-e", '{"app_env": {"RUN": "canary"}, %s}' % NO_MIGRATIONS,
                        "-e", "deploy_canary=true", "-e", "deploy_canary_seconds=20")
    figures = load.result.summary()
    assert result.returncode == 0, said(result)[-3000:]
    text = said(result)
    assert re.search(r"SLO gate: pass, \d+ requests in the last 20s", text), text[-3000:]
    assert text.count("PLAY [5. Roll out batch by batch") == 3
    for host in fleet.hosts:
        envs = _running_app_env(fleet, host)
        assert len(envs) == 1 and '"RUN=canary"' in envs[0], (host.name, envs)
    assert figures["failed"] == 0 and figures["sent"] > 500, str(figures)
    assert not lock_exists(fleet)


def test_a_canary_that_saw_no_traffic_stops_the_deploy(fleet: Lab) -> None:
    """With no traffic at all, the canary judges nothing: by default (deploy_canary_no_data: fail) that stops the
    deploy at the canary, which goes back to what it served, and says what to do."""
    before = _serving_everywhere(fleet)
    serving = {h.name: _running_app_env(fleet, h) for h in fleet.hosts}
    result = deploy(before, "-e", '{"app_env": {"RUN": "quiet"}, %s}' % NO_MIGRATIONS,
                    "-e", "deploy_canary=true", "-e", "deploy_canary_seconds=20")
    _assert_survived(fleet, result, "failed its canary: SLO gate failed: no data: ",
                     {h.name: before for h in fleet.hosts})
    assert "or set deploy_canary_no_data to pass" in said(result)
    assert {h.name: _running_app_env(fleet, h) for h in fleet.hosts} == serving


# The rows below change the service's configuration only (an environment value), on a schema that is already
# the release's: they skip the migrations and their backup, which keeps each run short.
NO_MIGRATIONS = '"app_migration_command": []'


def _deploy_in_background(version: str, *extra: str) -> subprocess.Popen[str]:
    return ansible_playbook_in_background("playbooks/deploy.yml", "-e", f"app_version={version}", *extra)


def _environment(lab: Lab, host, container: str) -> str:
    return ssh(lab, host, "docker", "inspect", "-f", "{{json .Config.Env}}", container).stdout


def test_f6_two_deploys_at_once(fleet: Lab) -> None:
    """A second deploy while the first holds the lock is refused before it changes anything, naming the holder;
    the first completes, and what it deployed (its environment) is what every host serves."""
    before = _serving_everywhere(fleet)
    first = _deploy_in_background(before, "-e", '{"app_env": {"RUN": "first"}, %s}' % NO_MIGRATIONS)
    try:
        deadline = time.monotonic() + 120
        while not lock_exists(fleet) and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.2)
        assert lock_exists(fleet), "the first deploy never took the lock"
        second = deploy(before, "-e", '{"app_env": {"RUN": "second"}, %s}' % NO_MIGRATIONS)
        out, _ = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert first.returncode == 0, out[-3000:]
    _assert_survived(fleet, second, f"The deploy lock on app1:{LOCK} is held by",
                     {h.name: before for h in fleet.hosts})
    for host in fleet.hosts:
        env = _environment(fleet, host, live_entry(fleet, host)["container"])
        assert "RUN=first" in env and "RUN=second" not in env


def test_f7_killed_then_run_again_from_another_controller(fleet: Lab) -> None:
    """A deploy killed in its second batch leaves its lock; another controller (a new CI runner) cannot check the
    killed process, so it honours the lease until it ends; then it takes the lock over and converges."""
    before = _serving_everywhere(fleet)
    killed = _deploy_in_background(before, "-e", '{"app_env": {"RUN": "killed"}, %s}' % NO_MIGRATIONS)
    try:
        deadline = time.monotonic() + 300
        started = False
        while time.monotonic() < deadline and killed.poll() is None:
            # the new container runs beside the old one on the second host: the run is in its second batch
            if len(running_app_containers(fleet, fleet.hosts[1])) > 1:
                started = True
                break
            time.sleep(0.2)
        assert started, "the roll-out never reached the second host"
    finally:
        if killed.poll() is None:
            os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    assert lock_exists(fleet), "the killed run left its lock"

    left = read_lock(fleet)
    assert left["expires_at_epoch"] - left["renewed_at_epoch"] == 1800
    write_lock(fleet, {**left, "controller": "killed-runner"})
    refused = deploy(before, "-e", '{"app_env": {"RUN": "killed"}, %s}' % NO_MIGRATIONS)
    assert refused.returncode != 0
    assert f"for release {left['release_id']}" in said(refused) and "Its lease ends" in said(refused)
    write_lock(fleet, {**left, "controller": "killed-runner", "expires_at_epoch": int(time.time()) - 1})
    again = _assert_converges(fleet, before, "-e", '{"app_env": {"RUN": "killed"}, %s}' % NO_MIGRATIONS)
    assert f"Took over the expired deploy lock of {left['holder']} for release {left['release_id']}" in said(again)
    for host in fleet.hosts:
        running = running_app_containers(fleet, host)
        assert running == {live_entry(fleet, host)["container"]}, running
        assert "RUN=killed" in _environment(fleet, host, running.pop())


def test_retention_keeps_the_rollback_target_after_a_rolled_back_release(fleet: Lab) -> None:
    """Keeping 2 releases, after a release that failed its verification and was rolled back: the host keeps the
    live release and its rollback target, and removes the known-bad release although its container is newer (by
    creation time it would have kept the bad one and pruned the target)."""
    before = _serving_everywhere(fleet)
    good = deploy(before, "-e", "{%s}" % NO_MIGRATIONS)
    assert good.returncode == 0, said(good)[-3000:]
    # The rollback target: the release live before this one (ledger_previous).
    target = {h.name: [e for e in ledger(fleet, h) if e["status"] == "superseded"][-1]["container"] for h in fleet.hosts}
    balancer_ready(fleet)
    with Load(f"http://127.0.0.1:{fleet.balancer_port}", rate=60, workers=8, max_seconds=400):
        bad = deploy("1.1.96", "-e", FAULTY % "errors", "-e", "{%s}" % NO_MIGRATIONS, "-e",
                     "rolling_restart_keep_releases=2")
    assert bad.returncode != 0 and "failed its verification" in said(bad), said(bad)[-3000:]
    for host in fleet.hosts:
        entries = ledger(fleet, host)
        assert live_entry(fleet, host)["version"] == before
        kept = set(container_ids(fleet, host))
        bad_container = [e for e in entries if e["version"] == "1.1.96"][-1]["container"]
        assert target[host.name] in kept, f"{host.name} pruned its rollback target: {sorted(kept)}"
        assert bad_container not in kept, f"{host.name} kept the rolled-back release: {sorted(kept)}"
        assert len(kept - {f"{APP}-proxy"}) == 2, sorted(kept)
    assert not lock_exists(fleet)


def test_f9_the_rollback_target_gone_everywhere(fleet: Lab) -> None:
    """The release a rollback names (1.1.1, superseded since the F3 rows) is deleted from the registry and from
    app3: the rollback is refused before any change, naming the host and the release. Once the release is built
    and pushed again (a deploy of it), the fleet converges on it. Last row: it deletes an image."""
    app3 = fleet.hosts[2]
    entry = [e for e in ledger(fleet, app3) if e["version"] == "1.1.1"][-1]
    assert entry["status"] != "live" and entry["digest"], entry
    delete_from_registry(fleet, entry["digest"])
    forget_image_on_host(fleet, app3, "1.1.1")
    before = _serving_everywhere(fleet)
    started = {h.name: started_at(fleet, h) for h in fleet.hosts}
    ledgers = {h.name: ledger(fleet, h) for h in fleet.hosts}
    result = ansible_playbook("playbooks/rollback.yml", "-e", f"rollback_to={entry['release_id']}", timeout=600)
    _assert_survived(fleet, result, "is no longer on the host, and the registry does not have it either",
                     {h.name: before for h in fleet.hosts})
    text = said(result)
    assert re.search(rf"app\d: the image of release {entry['release_id']}", text), text[-3000:]
    assert "Nothing was changed" in text
    assert "PLAY [1. Preflight: take the deploy lock]" not in text, "refused before the lock"
    assert {h.name: started_at(fleet, h) for h in fleet.hosts} == started
    assert {h.name: ledger(fleet, h) for h in fleet.hosts} == ledgers
    _assert_converges(fleet, "1.1.1")
