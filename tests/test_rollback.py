"""rollback.yml, verify.yml and deploy.yml's automatic rollback on the lab, and what happens when runs collide or
die. The tests run in order and share the fleet: each starts from what the one before left."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bench.load import Load
from conftest import ROOT, VENV_BIN, Lab, ansible_playbook, ssh
from deploy_helpers import (APP, containers, deploy, ledger, lock_exists, read_lock, reset_fleet, said,
                            schema_revision, served_version, started_at, write_lock)

pytestmark = pytest.mark.lab

FAULTY = '{"app_build_args": {"BASE_IMAGE": "steady-lab/debian:bookworm", "APP_FAULT": "%s"}}'


def rollback(*extra: str) -> subprocess.CompletedProcess[str]:
    return ansible_playbook("playbooks/rollback.yml", *extra, timeout=600)


def verify(*extra: str) -> subprocess.CompletedProcess[str]:
    return ansible_playbook("playbooks/verify.yml", *extra, timeout=300)


def live_entry(lab: Lab, host) -> dict:
    return [e for e in ledger(lab, host) if e["status"] == "live"][-1]


def running_app_containers(lab: Lab, host) -> set[str]:
    return {n for n in containers(lab, host) if not n.endswith("-proxy")}


def balancer_ready(lab: Lab) -> None:
    """HAProxy marks a host up two checks after it answers: wait until a short burst goes through clean."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        probe = Load(f"http://127.0.0.1:{lab.balancer_port}", rate=40, workers=4, max_seconds=1).start()
        time.sleep(1)
        if probe.stop().failed == 0:
            return
    raise AssertionError("the balancer never served every request")


def delete_from_registry(lab: Lab, digest: str) -> None:
    """The lab registry allows deletes: the release's manifest (and every tag on it) is gone after this."""
    url = f"http://{lab.registry}/v2/steady/app/manifests/{digest}"
    assert httpx.delete(url, timeout=10).status_code == 202
    assert httpx.head(url, timeout=10, headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                                                          "application/vnd.oci.image.manifest.v1+json"}
                      ).status_code == 404


def forget_image_on_host(lab: Lab, host, version: str) -> None:
    """Remove every container of that version and its image from one host."""
    ssh(lab, host, "sh", "-c",
        f"ids=$(docker ps -aq --filter label=io.steady.version={version} --filter label=io.steady.app={APP});"
        f" [ -z \"$ids\" ] || docker rm -f $ids >/dev/null;"
        f" img=$(docker image ls -q {lab.app_repository}:{version}); [ -z \"$img\" ] || docker rmi -f $img >/dev/null;"
        f" true")


@pytest.fixture(scope="module")
def fleet(lab: Lab) -> Lab:
    reset_fleet(lab)
    for version in ("1.0.0", "1.1.0"):
        result = deploy(version)
        assert result.returncode == 0, said(result)[-3000:]
    return lab


def container_ids(lab: Lab, host) -> dict[str, str]:
    """name -> id of every service container on a host, stopped ones too."""
    out = ssh(lab, host, "docker", "ps", "-a", "--no-trunc", "--filter", f"label=io.steady.app={APP}", "--format",
              "{{.Names}}\t{{.ID}}").stdout
    return dict(line.split("\t") for line in out.splitlines())


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


def test_rollback_is_refused_before_any_change_when_the_image_is_gone_everywhere(fleet: Lab) -> None:
    host = fleet.hosts[2]
    entry = [e for e in ledger(fleet, host) if e["version"] == "1.1.0"][-1]
    delete_from_registry(fleet, entry["digest"])
    forget_image_on_host(fleet, host, "1.1.0")
    before = {h.name: started_at(fleet, h) for h in fleet.hosts}
    ledgers = {h.name: ledger(fleet, h) for h in fleet.hosts}
    result = rollback("-e", "rollback_to=1.1.0")
    assert result.returncode != 0
    text = said(result)
    assert f"{host.name}: the image of release {entry['release_id']}" in text
    assert "is no longer on the host, and the registry does not have it either" in text
    assert "Nothing was changed" in text
    assert {h.name: started_at(fleet, h) for h in fleet.hosts} == before
    assert {h.name: ledger(fleet, h) for h in fleet.hosts} == ledgers
    assert not lock_exists(fleet)


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
        time.sleep(15)
        passing = verify("-e", "slo_gate_window=15s", "-e", f"verify_report_path={tmp_path / 'ok.json'}")
        failing = verify("-e", "slo_gate_window=15s", "-e", "slo_gate_max_p95_seconds=0.0001",
                         "-e", f"verify_report_path={tmp_path / 'bad.json'}")
    assert passing.returncode == 0, said(passing)[-3000:]
    ok = json.loads((tmp_path / "ok.json").read_text())["slo"]
    assert ok["verdict"] == "pass" and ok["requests"] >= 100 and ok["error_ratio"] in (0, 0.0, None)
    assert failing.returncode != 0
    assert "SLO gate failed: FAIL, p95" in said(failing)
    assert json.loads((tmp_path / "bad.json").read_text())["slo"]["verdict"] == "fail"


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


def test_a_release_that_fails_the_slo_is_rolled_back_on_every_switched_host(fleet: Lab) -> None:
    """1.1.96 answers ready but 500 on its item routes: every host switches and passes its own checks, then the
    SLO gate at the end of the deploy sees the 5xx ratio and every switched host goes back."""
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
    assert result.returncode != 0
    text = said(result)
    assert "failed its verification: SLO gate failed: FAIL, 5xx ratio" in text
    assert "3 switched hosts were rolled back to the release before it: app1, app2, app3" in text
    for host in fleet.hosts:
        assert served_version(fleet, host) == "1.0.0"
        statuses = {e["version"]: e["status"] for e in ledger(fleet, host)}
        assert statuses["1.1.96"] == "rolled_back" and statuses["1.0.0"] == "live"
    release_id = [e for e in ledger(fleet, fleet.hosts[0]) if e["version"] == "1.1.96"][-1]["release_id"]
    report = json.loads((ROOT / "reports" / f"deploy-{release_id}.json").read_text())
    assert report["passed"] is False and report["slo"]["error_ratio"] > 0.05
    assert report["slo"]["p95_seconds"] is not None
    assert not lock_exists(fleet)
    # the webhook heard the start and the rollback, and never a secret
    events = [p["text"] for p in _Webhook.received]
    assert any("started" in t for t in events) and any("rolled_back" in t for t in events), events
    for secret in (fleet.db_password, fleet.redis_password):
        assert all(secret not in t for t in events)
        assert secret not in result.stdout + result.stderr


# 1.0.0 serves on a schema 1.1.96 migrated to 0002, which 1.0.0's own migrations do not know: these runs change
# the service's configuration only, so they skip the migrations (as a redeploy of an older release must).
NO_MIGRATIONS = '"app_migration_command": []'


def _deploy_in_background(*extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.Popen([str(VENV_BIN / "ansible-playbook"), "playbooks/deploy.yml", "-e", "app_version=1.0.0",
                             *extra], cwd=ROOT, env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def test_two_deploys_at_once_the_second_is_refused_and_the_first_completes(fleet: Lab) -> None:
    first = _deploy_in_background("-e", '{"app_env": {"RUN": "first"}, %s}' % NO_MIGRATIONS)
    try:
        deadline = time.monotonic() + 120
        while not lock_exists(fleet) and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.2)
        assert lock_exists(fleet), "the first deploy never took the lock"
        second = deploy("1.0.0", "-e", '{"app_env": {"RUN": "second"}, %s}' % NO_MIGRATIONS)
        out, _ = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert second.returncode != 0
    assert "The deploy lock on app1:/var/lib/steady/app/deploy-lock.json is held by" in said(second)
    assert first.returncode == 0, out[-3000:]
    for host in fleet.hosts:
        env = ssh(fleet, host, "docker", "inspect", "-f", "{{json .Config.Env}}",
                  live_entry(fleet, host)["container"]).stdout
        assert "RUN=first" in env and "RUN=second" not in env
    assert not lock_exists(fleet)


def test_a_deploy_killed_halfway_converges_when_run_again(fleet: Lab) -> None:
    killed = _deploy_in_background("-e", '{"app_env": {"RUN": "killed"}, %s}' % NO_MIGRATIONS)
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

    # Run again from another controller (a new CI runner): the killed run's process cannot be checked from there,
    # so its lease is honoured until it ends; the killed run renews nothing, so it ends.
    left = read_lock(fleet)
    assert left["expires_at_epoch"] - left["renewed_at_epoch"] == 1800
    write_lock(fleet, {**left, "controller": "killed-runner"})
    refused = deploy("1.0.0", "-e", '{"app_env": {"RUN": "killed"}, %s}' % NO_MIGRATIONS)
    assert refused.returncode != 0
    assert f"for release {left['release_id']}" in said(refused) and "Its lease ends" in said(refused)
    write_lock(fleet, {**left, "controller": "killed-runner", "expires_at_epoch": int(time.time()) - 1})
    again = deploy("1.0.0", "-e", '{"app_env": {"RUN": "killed"}, %s}' % NO_MIGRATIONS)
    assert again.returncode == 0, said(again)[-3000:]
    assert f"Took over the expired deploy lock of {left['holder']} for release {left['release_id']}" in said(again)
    for host in fleet.hosts:
        running = running_app_containers(fleet, host)
        assert running == {live_entry(fleet, host)["container"]}, running
        env = ssh(fleet, host, "docker", "inspect", "-f", "{{json .Config.Env}}", running.pop()).stdout
        assert "RUN=killed" in env
        assert served_version(fleet, host) == "1.0.0"
    assert not lock_exists(fleet)


def test_retention_keeps_the_rollback_target_after_a_rolled_back_release(fleet: Lab) -> None:
    """Keeping 2 releases, after a release that failed its verification and was rolled back: the host keeps the
    live release and its rollback target, and removes the known-bad release although its container is newer (by
    creation time it would have kept the bad one and pruned the target)."""
    good = deploy("1.1.0", "-e", "{%s}" % NO_MIGRATIONS)
    assert good.returncode == 0, said(good)[-3000:]
    # The rollback target: the release live before 1.1.0 (ledger_previous).
    target = {h.name: [e for e in ledger(fleet, h) if e["status"] == "superseded"][-1]["container"] for h in fleet.hosts}
    balancer_ready(fleet)
    with Load(f"http://127.0.0.1:{fleet.balancer_port}", rate=60, workers=8, max_seconds=400):
        bad = deploy("1.1.96", "-e", FAULTY % "errors", "-e", "{%s}" % NO_MIGRATIONS, "-e",
                     "rolling_restart_keep_releases=2")
    assert bad.returncode != 0 and "failed its verification" in said(bad), said(bad)[-3000:]
    for host in fleet.hosts:
        entries = ledger(fleet, host)
        assert live_entry(fleet, host)["version"] == "1.1.0"
        kept = set(container_ids(fleet, host))
        bad_container = [e for e in entries if e["version"] == "1.1.96"][-1]["container"]
        assert target[host.name] in kept, f"{host.name} pruned its rollback target: {sorted(kept)}"
        assert bad_container not in kept, f"{host.name} kept the rolled-back release: {sorted(kept)}"
        assert len(kept - {f"{APP}-proxy"}) == 2, sorted(kept)
    assert not lock_exists(fleet)
