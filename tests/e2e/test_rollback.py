"""rollback.yml and verify.yml on the lab. The tests run in order and share the fleet: each starts from what the one
before left. The faults a rollback must survive (its target gone everywhere, a host that stops answering during it)
and deploy.yml's automatic rollback after a failed SLO gate are rows of the fault matrix, in test_faults.py."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bench.load import Load
from support.lab import Lab, ansible_playbook, ansible_playbook_in_background, ssh
from support.deploy import (APP, balancer_ready, container_ids, containers, deploy, forget_image_on_host, ledger,
                            live_entry, lock_exists, reset_fleet, said, schema_revision, served_version, started_at,
                            end_and_wake, freeze, wait_for_woken_module)
from support.webhook import Webhook

pytestmark = pytest.mark.lab


def rollback(*extra: str) -> subprocess.CompletedProcess[str]:
    return ansible_playbook("playbooks/rollback.yml", *extra, timeout=600)


def verify(*extra: str) -> subprocess.CompletedProcess[str]:
    return ansible_playbook("playbooks/verify.yml", *extra, timeout=300)


@pytest.fixture(scope="module")
def fleet(lab: Lab) -> Lab:
    reset_fleet(lab)
    for version in ("1.0.0", "1.1.0"):
        result = deploy(version)
        assert result.returncode == 0, said(result)[-3000:]
    return lab


def test_rollback_without_arguments_goes_back_one_release_under_load(fleet: Lab) -> None:
    before = {h.name: live_entry(fleet, h) for h in fleet.hosts}
    assert {e["version"] for e in before.values()} == {"1.1.0"}
    # 1.0.0's containers, stopped and kept since the deploy of 1.1.0
    kept = {h.name: [e for e in ledger(fleet, h) if e["version"] == "1.0.0"][-1]["container"] for h in fleet.hosts}
    kept_ids = {h.name: container_ids(fleet, h)[kept[h.name]] for h in fleet.hosts}
    balancer_ready(fleet)
    with Load(f"http://127.0.0.1:{fleet.balancer_port}", rate=100, workers=12, max_seconds=300) as load:
        result = rollback()
    figures = load.result.summary()
    assert result.returncode == 0, said(result)[-3000:]
    assert figures["sent"] > 500 and figures["failed"] == 0, str(figures)
    for host in fleet.hosts:
        assert served_version(fleet, host) == "1.0.0"
        entries = ledger(fleet, host)
        assert [(e["version"], e["status"]) for e in entries] == [("1.0.0", "live"), ("1.1.0", "rolled_back")]
        assert "reinstated by" in entries[0]["note"]
        # the kept container was started again as it was, not created anew
        assert entries[0]["container"] == kept[host.name]
        assert container_ids(fleet, host)[kept[host.name]] == kept_ids[host.name]
        # the bad release's container is kept, stopped: a roll forward is as quick
        assert any(":1.1.0" in v or "@sha256" in v for v in containers(fleet, host, running_only=False).values())
    assert schema_revision(fleet) == "0002", "without rollback_database the schema stays"
    assert not lock_exists(fleet)
    assert "3 hosts now serve 1.0.0" in said(result)
    # Back behind the proxy each host has: the rollback neither pulls the proxy image nor writes its config.
    assert "Pull the proxy image" not in said(result) and "Write the proxy config" not in said(result)


def test_rollback_to_a_named_release(fleet: Lab) -> None:
    target = [e for e in ledger(fleet, fleet.hosts[0]) if e["version"] == "1.1.0"][-1]["release_id"]
    result = rollback("-e", f"rollback_to={target}")
    assert result.returncode == 0, said(result)[-3000:]
    for host in fleet.hosts:
        assert served_version(fleet, host) == "1.1.0"
        assert live_entry(fleet, host)["release_id"] == target
    assert not lock_exists(fleet)


def test_a_live_release_that_changed_after_the_target_was_found_is_not_rolled_back_over(fleet: Lab) -> None:
    """The target is found before the lock; a run that held the lock then may make another release live. Here the
    rollback is stopped (SIGSTOP) as its preflight ends, app1's live release changes, and the rollback goes on: under
    the lock it reads the ledger again, refuses, and switches nothing."""
    app1 = fleet.hosts[0]
    path = f"/var/lib/steady/{APP}/ledger.json"
    original = ssh(fleet, app1, "cat", path).stdout
    changed = json.loads(original)
    live = [e for e in changed["releases"] if e["status"] == "live"][-1]
    before_id, live["release_id"] = live["release_id"], "20991231235959-9.9.9"
    started = {h.name: started_at(fleet, h) for h in fleet.hosts}
    run = ansible_playbook_in_background("playbooks/rollback.yml", "-e", "rollback_to=1.0.0")
    lines, edited = [], False
    try:
        for line in run.stdout:
            lines.append(line)
            if line.startswith("PLAY [1. Preflight: stop here"):
                os.killpg(run.pid, signal.SIGSTOP)
                try:
                    ssh(fleet, app1, "sh", "-c", f"cat > {path}.t && mv {path}.t {path}", input=json.dumps(changed))
                    edited = True
                finally:
                    os.killpg(run.pid, signal.SIGCONT)
        run.wait(timeout=600)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        ssh(fleet, app1, "sh", "-c", f"cat > {path}.t && mv {path}.t {path}", input=original)
    text = "".join(lines)
    assert edited, text[-3000:]
    assert run.returncode != 0
    assert (f"app1: its live release is now 20991231235959-9.9.9, not {before_id} as when the rollback's target was "
            "found") in text, text[-3000:]
    assert {h.name: started_at(fleet, h) for h in fleet.hosts} == started, "no host was switched"
    assert not lock_exists(fleet)


def test_a_rollback_to_a_release_no_ledger_has_is_refused_before_the_lock(fleet: Lab) -> None:
    """Every ledger read that can refuse a rollback runs before the lock: nothing is locked, switched or sent."""
    started = {h.name: started_at(fleet, h) for h in fleet.hosts}
    ledgers = {h.name: ledger(fleet, h) for h in fleet.hosts}
    with Webhook() as hook:
        result = rollback("-e", "rollback_to=9.9.9", "-e", f"deploy_notify_webhook_url={hook.url}")
    text = said(result)
    assert result.returncode != 0
    assert "app1: the ledger has no release '9.9.9' to go back to." in text, text[-3000:]
    assert "The rollback was refused before the lock: no host was switched." in text
    assert "PLAY [1. Preflight: take the deploy lock]" not in text
    assert hook.bodies == [], "no event before the lock"
    assert not lock_exists(fleet)
    assert {h.name: started_at(fleet, h) for h in fleet.hosts} == started
    assert {h.name: ledger(fleet, h) for h in fleet.hosts} == ledgers


def test_an_image_gone_from_the_host_comes_from_the_registry(fleet: Lab) -> None:
    host = fleet.hosts[1]
    forget_image_on_host(fleet, host, "1.0.0")
    gone = ssh(fleet, host, "docker", "image", "ls", "-q", f"{fleet.app_repository}:1.0.0").stdout.strip()
    assert gone == ""
    result = rollback("-e", "rollback_to=1.0.0")
    assert result.returncode == 0, said(result)[-3000:]
    text = said(result)
    pulled = text.split("TASK [steady.deploy.rollback_target : Pull the image from the registry, since the host no longer has it]")[1]
    assert f"changed: [{host.name}]" in pulled.split("TASK [")[0]
    for h in fleet.hosts:
        assert served_version(fleet, h) == "1.0.0"


def test_rollback_with_the_database_goes_to_the_recorded_revision(fleet: Lab) -> None:
    """The live release is 1.0.0 on a 0002 schema: the database option takes it to 1.0.0's recorded 0001, with
    the image that knows 0002 (never a blind -1), after a fresh backup."""
    assert schema_revision(fleet) == "0002"
    result = rollback("-e", "rollback_to=1.0.0", "-e", "rollback_database=true")
    assert result.returncode == 0, said(result)[-3000:]
    assert schema_revision(fleet) == "0001"
    text = said(result)
    assert "Schema 0002 -> 0001" in text
    backups = ssh(fleet, fleet.hosts[0], "ls", f"/var/backups/steady/{APP}").stdout.split()
    assert any(name.endswith("-rollback-schema-0002.dump") for name in backups), backups
    for host in fleet.hosts:
        ready = httpx.get(f"http://127.0.0.1:{host.http_port}/health/ready", timeout=5).json()
        assert ready["status"] == "ready" and ready["schema_revision"] == "0001"
        assert ready["version"] == "1.0.0"
    assert fleet.db_password not in result.stdout + result.stderr


def test_a_migration_host_that_stops_answering_during_the_database_rollback_is_said(fleet: Lab) -> None:
    """app1 (the migration host, which also holds the lock) freezes as the database step starts: the run does not end
    silently with the lock held. The controller names the host, sends "failed", says the lock could not be released
    and fails. Once app1 is back the lock is freed as an operator would (lock.yml's break)."""
    app1 = fleet.hosts[0]
    with Webhook() as hook:
        run = ansible_playbook_in_background("playbooks/rollback.yml", "-e", "rollback_to=1.0.0", "-e",
                                             "rollback_database=true", "-e", f"deploy_notify_webhook_url={hook.url}")
        lines, paused = [], False
        try:
            for line in run.stdout:
                lines.append(line)
                if line.startswith("PLAY [4. Take the database back"):
                    freeze(f"{fleet.name}-{app1.name}")
                    paused = True
            run.wait(timeout=600)
        finally:
            end_and_wake(run, f"{fleet.name}-{app1.name}", paused)
    out = "".join(lines)
    assert paused, out[-3000:]
    assert run.returncode != 0
    assert "app1, the migration host, stopped answering while the database was taken back." in out, out[-3000:]
    assert "the deploy lock could not be released" in out, out[-3000:]
    events = [p["text"] for p in hook.payloads()]
    assert len(events) == 2 and "started" in events[0] and "failed" in events[1], events
    wait_for_woken_module(fleet, app1)
    broken = ansible_playbook("playbooks/lock.yml", "-e", "deploy_lock_action=break", timeout=120)
    assert broken.returncode == 0 and not lock_exists(fleet), said(broken)[-2000:]
    assert {served_version(fleet, h) for h in fleet.hosts} == {"1.0.0"}


def test_verify_with_no_traffic_passes_and_says_no_data(fleet: Lab, tmp_path: Path) -> None:
    report = tmp_path / "verify.json"
    result = verify("-e", "slo_gate_window=30s", "-e", f"verify_report_path={report}")
    assert result.returncode == 0, said(result)[-3000:]
    text = said(result)
    assert "Verification PASSED" in text
    assert "no data:" in text and "pass by the no-data rule (slo_gate_no_data=pass)" in text
    data = json.loads(report.read_text())
    assert data["passed"] is True and data["slo"]["verdict"] == "no_data"
    assert [h["host"] for h in data["hosts"]] == [h.name for h in fleet.hosts]
    for host in data["hosts"]:
        assert host["live_release"]["version"] == "1.0.0"
        assert {c["path"]: c["status"] for c in host["checks"]} == \
            {"/health/live": 200, "/health/ready": 200, "/version": 200}
        assert {d["name"]: d["reachable"] for d in host["health"]["dependencies"]} == \
            {"database": True, "redis": True}
        assert 0 < host["health"]["memory_used_percent"] < 100

    strict = verify("-e", "slo_gate_window=30s", "-e", "slo_gate_no_data=fail", "-e",
                    f"verify_report_path={tmp_path / 'strict.json'}")
    assert strict.returncode != 0
    assert "Verification failed: SLO gate failed: no data:" in said(strict)


def test_verify_judges_real_traffic_and_fails_a_breached_threshold(fleet: Lab, tmp_path: Path) -> None:
    # The load outlasts both runs (each takes longer on a busy machine): a window without traffic is "no data".
    with Load(f"http://127.0.0.1:{fleet.balancer_port}", rate=50, workers=6, max_seconds=180):
        # One window of traffic first (the lab scrapes every second).
        time.sleep(8)
        passing = verify("-e", "slo_gate_window=8s", "-e", f"verify_report_path={tmp_path / 'ok.json'}")
        failing = verify("-e", "slo_gate_window=8s", "-e", "slo_gate_max_p95_seconds=0.0001",
                         "-e", f"verify_report_path={tmp_path / 'bad.json'}")
    assert passing.returncode == 0, said(passing)[-3000:]
    ok = json.loads((tmp_path / "ok.json").read_text())["slo"]
    assert ok["verdict"] == "pass" and ok["requests"] >= 100 and ok["error_ratio"] in (0, 0.0, None)
    assert failing.returncode != 0
    assert "SLO gate failed: FAIL, p95" in said(failing)
    assert json.loads((tmp_path / "bad.json").read_text())["slo"]["verdict"] == "fail"
