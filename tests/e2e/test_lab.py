"""The local lab is real: every part answers, and the app hosts are separate engines reached over SSH."""
from __future__ import annotations

import time

import httpx
import psycopg
import pytest
import redis

from support.lab import Lab, ssh

pytestmark = pytest.mark.lab


def test_registry_answers_v2(lab: Lab) -> None:
    response = httpx.get(f"http://{lab.registry}/v2/", timeout=5)
    assert response.status_code == 200
    assert response.headers.get("Docker-Distribution-Api-Version") == "registry/2.0"


def test_postgres_accepts_a_query(lab: Lab) -> None:
    with psycopg.connect(host="127.0.0.1", port=lab.postgres_port, user="app", dbname="app",
                         password=lab.db_password, connect_timeout=5) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    assert version.startswith("15")


def test_postgres_refuses_a_wrong_password(lab: Lab) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host="127.0.0.1", port=lab.postgres_port, user="app", dbname="app",
                        password="not-the-password", connect_timeout=5)


def test_redis_answers_ping_with_its_password_only(lab: Lab) -> None:
    assert redis.Redis(port=lab.redis_port, password=lab.redis_password, socket_timeout=5).ping() is True
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=lab.redis_port, password="wrong", socket_timeout=5).ping()


def test_prometheus_reports_every_app_host_healthy(lab: Lab) -> None:
    wanted = {h.name for h in lab.hosts}
    deadline = time.monotonic() + 30
    healthy: set[str] = set()
    while time.monotonic() < deadline:
        targets = httpx.get(f"http://127.0.0.1:{lab.prometheus_port}/api/v1/targets", timeout=5).json()
        active = targets["data"]["activeTargets"]
        healthy = {t["labels"]["host"] for t in active if t["labels"].get("job") == "app" and t["health"] == "up"}
        if healthy == wanted:
            break
        time.sleep(1)
    assert healthy == wanted


def test_each_app_host_runs_its_own_engine_over_ssh(lab: Lab) -> None:
    engine_ids = set()
    for host in lab.hosts:
        result = ssh(lab, host, "docker", "info", "--format", "{{.ID}} {{.Name}}")
        engine_id, name = result.stdout.split()
        assert name == host.name
        engine_ids.add(engine_id)
    assert len(engine_ids) == len(lab.hosts), "every app host must have an engine of its own"


def test_ssh_refuses_an_unknown_key(lab: Lab, tmp_path) -> None:
    import subprocess
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    host = lab.hosts[0]
    result = subprocess.run(
        ["ssh", "-p", str(host.ssh_port), "-i", str(key), "-o", "IdentitiesOnly=yes",
         "-o", f"UserKnownHostsFile={lab.state_dir / 'ssh' / 'known_hosts'}", "-o", "BatchMode=yes",
         "root@127.0.0.1", "true"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


def test_each_app_host_pulled_the_service_image_from_the_registry(lab: Lab) -> None:
    name = lab.app_repository.split("/", 1)[1]
    for host in lab.hosts:
        version = httpx.get(f"http://127.0.0.1:{host.http_port}/version", timeout=5).json()["version"]
        manifest = httpx.head(
            f"http://{lab.registry}/v2/{name}/manifests/{version}", timeout=5,
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
        assert manifest.status_code == 200
        digest = manifest.headers["Docker-Content-Digest"]
        # By digest: a release deployed by digest (app_image_digest) has no tag on the host.
        result = ssh(lab, host, "docker", "image", "inspect", "--format", "{{json .RepoDigests}}",
                     f"{lab.app_repository}@{digest}")
        assert f"{lab.app_repository}@{digest}" in result.stdout, host.name
        # A healthy container runs that image (pulled by tag, or by digest after a rollback or a digest deploy).
        image_id = ssh(lab, host, "docker", "image", "inspect", "--format", "{{.Id}}",
                       f"{lab.app_repository}@{digest}").stdout.strip()
        # Docker checks health every 10 s (the image's HEALTHCHECK): a container a test before this one started
        # may still be "starting", so the engine is asked again for up to 30 s.
        deadline = time.monotonic() + 30
        while True:
            healthy = ssh(lab, host, "docker", "ps", "-q", "--filter", "health=healthy").stdout.split()
            running = ssh(lab, host, "docker", "inspect", "--format", "{{.Image}}", *healthy).stdout.split() \
                if healthy else []
            if image_id in running or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert image_id in running, host.name


def test_balancer_spreads_requests_across_every_host(lab: Lab) -> None:
    seen = set()
    with httpx.Client(timeout=5) as client:
        for _ in range(30):
            response = client.get(f"http://127.0.0.1:{lab.balancer_port}/health/ready")
            assert response.status_code == 200
            seen.add(response.json()["instance"])
    assert len(seen) == len(lab.hosts)


def test_each_host_publishes_its_own_port_on_loopback(lab: Lab) -> None:
    instances = set()
    for host in lab.hosts:
        response = httpx.get(f"http://127.0.0.1:{host.http_port}/health/live", timeout=5)
        assert response.status_code == 200
        instances.add(response.json()["instance"])
    assert len(instances) == len(lab.hosts)
