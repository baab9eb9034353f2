"""No secret leaves where it belongs: a deploy that backs up and migrates, a deploy that fails, and a rollback,
run with known secret values (canaries) in every secret the inventory has, and every place a secret could leak
searched for them: what the runs printed, their reports, every host's ledger, the notifications, the process lists
of the hosts and the controller (and every container's command) sampled while the runs ran, and what the engine
recorded of every container. The one place secrets belong is the service's own environment (its containers'
Config.Env): that alone is left out of the search."""
from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from support.lab import Lab, ansible_playbook, ssh
from support.deploy import APP, FAULTY, deploy, reset_fleet, said, served_version

pytestmark = pytest.mark.lab


class _Webhook(BaseHTTPRequestHandler):
    received: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        type(self).received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


class _Sampler:
    """Snapshots, every 0.2 s for at most `limit` rounds, of each host's process list and its engine's container
    commands, and of the controller's process list: what `ps` and `docker ps` show anyone on those machines."""

    def __init__(self, lab: Lab, limit: int = 3000) -> None:
        self.lab, self.limit, self.text, self.rounds = lab, limit, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set() and self.rounds < self.limit:
            self.rounds += 1
            for host in self.lab.hosts[:1]:  # the migration host: the database clients run there
                self.text.append(ssh(self.lab, host, "sh", "-c",
                                     "ps -eo args; docker ps -a --no-trunc --format '{{.Names}} {{.Command}}'",
                                     check=False).stdout)
            self.text.append(subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True,
                                            check=False).stdout)
            time.sleep(0.2)

    def __enter__(self) -> "_Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def _engine_records(lab: Lab) -> str:
    """`docker inspect` of every container on every host, without the service's own environment."""
    out = []
    for host in lab.hosts:
        ids = ssh(lab, host, "docker", "ps", "-aq").stdout.split()
        for record in json.loads(ssh(lab, host, "docker", "inspect", *ids).stdout) if ids else []:
            if record["Config"].get("Labels", {}).get("io.steady.app") == APP and \
                    record["Config"]["Labels"].get("io.steady.role") != "proxy":
                record["Config"]["Env"] = ["(the service's environment: where its secrets belong)"]
            out.append(json.dumps(record))
    return "\n".join(out)


def test_no_secret_is_found_anywhere_after_a_deploy_a_failed_deploy_and_a_rollback(lab: Lab, tmp_path: Path) -> None:
    # On the fleet as the modules before left it (no reset: the suite's time): a release other than the live one,
    # from the registry, so that the deploy backs up and migrates.
    try:
        before = served_version(lab, lab.hosts[0])
    except httpx.HTTPError:
        before = ""
    if before not in ("1.0.0", "1.1.0", "1.1.1"):  # run on its own: a fleet with a known release first
        reset_fleet(lab)
        assert deploy("1.0.0").returncode == 0
        before = "1.0.0"
    target = "1.1.1" if before == "1.1.0" else "1.1.0"
    canary = f"canary-{secrets.token_hex(8)}"
    hook_token = f"hooktoken{secrets.token_hex(8)}"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Webhook.received = []
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({
        "deploy_notify_webhook_url": f"http://127.0.0.1:{server.server_port}/hooks/{hook_token}",
        "app_secret_env": {
            "DATABASE_URL": "{{ app_database_url }}",
            "REDIS_URL": "redis://:{{ vault_redis_password }}@redis.{{ lab_name }}.lab:6379/0",
            "CANARY_TOKEN": canary},
        "deploy_reports_dir": str(tmp_path / "reports")}))
    found = {"the database password": lab.db_password, "the Redis password": lab.redis_password,
             "a secret of the service": canary, "the webhook's token": hook_token}
    try:
        with _Sampler(lab) as sampler:
            runs = [deploy(target, "-e", f"@{inputs}"),
                    deploy("1.1.91", "-e", f"@{inputs}", "-e", FAULTY % "readiness",
                           "-e", "rolling_restart_ready_timeout=6"),
                    ansible_playbook("playbooks/rollback.yml", "-e", f"@{inputs}", timeout=600)]
    finally:
        server.shutdown()
    assert [r.returncode == 0 for r in runs] == [True, False, True], said(runs[-1])[-2000:]
    assert f"-{target}-schema-" in said(runs[0]), "the deploy backed up the database"
    assert "did not answer 200 on GET /health/ready" in said(runs[1])
    assert served_version(lab, lab.hosts[0]) == before, "the rollback went back to the release before the deploy"
    assert sampler.rounds > 20, "the sampler must have watched the runs"
    assert any(client in snapshot for snapshot in sampler.text for client in ("pg_dump", "psql")), \
        "the sampler must have seen the database clients run"
    assert any("postgresql://app@" in snapshot for snapshot in sampler.text), \
        "the sampler must have seen a client's database URL: the place a password would have been"
    assert len(_Webhook.received) >= 6, "every run posts started and how it ended"

    places = {
        "the runs' output": "\n".join(r.stdout + r.stderr for r in runs),
        "the reports": "\n".join(p.read_text() for p in (tmp_path / "reports").glob("*")),
        "the ledgers": "\n".join(ssh(lab, h, "cat", f"/var/lib/steady/{APP}/ledger.json").stdout for h in lab.hosts),
        "the notifications": "\n".join(_Webhook.received),
        "the process lists": "\n".join(sampler.text),
        "the engine's records": _engine_records(lab),
        "the state folder": ssh(lab, lab.hosts[0], "sh", "-c", f"ls -a /var/lib/steady/{APP}").stdout,
    }
    leaks = [f"{what} in {where}" for where, text in places.items() for what, value in found.items()
             if value in text]
    assert not leaks, leaks
    # And the ordinary values are not masked: the notes of the failed release still say what failed.
    assert "/health/ready" in places["the ledgers"] and "********" not in places["the ledgers"]
    assert ".pgpass" not in places["the state folder"], "the password file lives only while the clients run"
