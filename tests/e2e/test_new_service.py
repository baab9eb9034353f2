"""A new user's whole path, from a folder outside this repository, for a service that is not the reference one:
build the collection's tarball, install it, `init` the service's deploy configuration, edit only that
inventory, `setup` two bare servers, deploy v1 and then v2 under constant load with 0 failed requests, roll back
under load, verify.

The service (examples/second_service) listens on 9000, answers /livez and /readyz, has no version endpoint, uses no
database and no Redis (its lab has a PostgreSQL of its own and no Redis), and names its metrics
notes_requests_total{path,code} and notes_request_seconds. Its images are built "elsewhere" (by this test, as the
service's CI would) and deployed with no build context."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import docker
import httpx
import pytest
import yaml

from bench.load import Load
from support.lab import LAB_STATE, ROOT, ansible_playbook, labelled, require
from support.user_path import Steps, install_collection, point_inventory_at_lab, wait_balancer, said

pytestmark = [pytest.mark.lab, pytest.mark.slow]

LAB = "steadynew"
REGISTRY = "127.0.0.1:15098"
BALANCER = 18101
PROMETHEUS = 19098
HOSTS = {"notes1": (2301, 18102), "notes2": (2302, 18103)}
PUBLIC_PORT = 8080
SETTINGS = [
    "-e", f"lab_name={LAB}", "-e", f"lab_registry={REGISTRY}",
    "-e", "local_lab_postgres_port=15498", "-e", "local_lab_redis_port=16398",
    # A database of its own (this lab's PostgreSQL, its own name and owner), and no Redis: it uses none.
    "-e", "local_lab_db_name=notes", "-e", "local_lab_db_user=notes", "-e", "local_lab_redis=false",
    "-e", f"local_lab_prometheus_port={PROMETHEUS}", "-e", f"local_lab_balancer_port={BALANCER}",
    # The lab serves whatever service it is given: its port, health path and metrics path.
    "-e", f"local_lab_app_port={PUBLIC_PORT}", "-e", "local_lab_balancer_health_path=/readyz",
    "-e", "local_lab_metrics_path=/metrics", "-e", '{"local_lab_prometheus_rules": []}',
    "-e", json.dumps({"local_lab_app_hosts": [{"name": n, "ssh_port": s, "http_port": h, "bare": True}
                                              for n, (s, h) in HOSTS.items()]}),
]
SSH_DIR = LAB_STATE / LAB / "ssh"
IMAGE = f"{REGISTRY}/notes/api"
# What the load reads: this service has no /items and takes no writes.
READS = {"path": "/", "write_ratio": 0}


def _build_elsewhere(version: str) -> None:
    """The service's own CI: build and push the image; the deploy never sees a build context."""
    client = docker.from_env(timeout=600)
    client.images.build(path=str(ROOT / "examples" / "second_service"), tag=f"{IMAGE}:{version}", rm=True,
                        buildargs={"APP_VERSION": version, "BASE_IMAGE": "steady-lab/debian:bookworm"})
    for line in client.images.push(IMAGE, tag=version, stream=True, decode=True):
        assert "error" not in line, line


def _release(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/", timeout=5).json()["release"]


def _edit_inventory(deploy_dir: Path) -> None:
    """What a user fills in after init: their servers, their registry, their service's contract."""
    point_inventory_at_lab(deploy_dir, HOSTS, SSH_DIR)

    app_file = deploy_dir / "inventories" / "staging" / "group_vars" / "all" / "app.yml"
    app = yaml.safe_load(app_file.read_text())
    app |= {
        "app_image_repository": IMAGE, "app_build_context": "", "app_container_port": 9000,
        "app_public_port": PUBLIC_PORT, "app_health_live_path": "/livez", "app_health_ready_path": "/readyz",
        "app_version_path": "", "app_migration_command": [], "app_database_url": "", "app_secret_env": {},
        "app_env": {"READY_DELAY": "1"}, "app_dependencies": [],
        # The lab registry speaks plain HTTP on each host's loopback and needs no login.
        "registry_username": "", "registry_password": "", "deploy_preflight_registry_url": f"http://{REGISTRY}",
        "app_balancer_url": f"http://127.0.0.1:{BALANCER}", "app_prometheus_url": f"http://127.0.0.1:{PROMETHEUS}",
        "slo_gate_settle_seconds": 10,
        # This service's metric names.
        "slo_gate_requests_metric": "notes_requests_total", "slo_gate_status_label": "code",
        "slo_gate_duration_metric": "notes_request_seconds", "slo_gate_route_label": "path",
        "slo_gate_ignore_routes": "/livez|/readyz|/metrics",
        # No Docker Hub here: the lab registry's copy of nginx.
        "rolling_restart_proxy_image": f"{REGISTRY}/steady-lab/nginx:bookworm",
        "server_setup_proxy_image": f"{REGISTRY}/steady-lab/nginx:bookworm",
    }
    app_file.write_text(yaml.safe_dump(app, sort_keys=False))


def test_a_new_service_from_init_to_rollback_on_bare_servers(tmp_path: Path) -> None:
    engine = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode == 0
    require(engine, "no Docker engine answers")
    steps = Steps()

    try:
        up = ansible_playbook("lab/playbooks/lab_up.yml", "--limit", "localhost", *SETTINGS)
        assert up.returncode == 0, up.stdout[-3000:]
        # The lab serves this service, not the reference one: its own database, and no Redis it does not use.
        ours = {c.name: c for c in docker.from_env().containers.list(filters={"label": f"io.steady.lab={LAB}"})}
        assert f"{LAB}-redis" not in ours, sorted(ours)
        databases = ours[f"{LAB}-postgres"].exec_run(
            ["psql", "-h", "/run/postgresql", "-U", "notes", "-d", "notes", "-Atc",
             "select current_database(), current_user"])
        assert databases.exit_code == 0 and databases.output.decode().strip() == "notes|notes", databases.output

        # 1. The collection, built and installed as a user installs it.
        env = install_collection(tmp_path)
        service = tmp_path / "notes"
        service.mkdir()

        # 2. init, from the service's own folder; then only the scaffolded inventory is edited.
        deploy_dir = steps.init(service, env, "-e", "init_service=notes", "-e", "service_init_container_port=9000",
                                "-e", "service_init_health_live_path=/livez",
                                "-e", "service_init_health_ready_path=/readyz", "-e", "service_init_version_path=")
        _edit_inventory(deploy_dir)

        def playbook(name: str, *extra: str) -> subprocess.CompletedProcess[str]:
            return steps.playbook(name, deploy_dir, env, *extra)

        # 3. setup: two bare servers become Docker hosts.
        playbook("setup")
        for version in ("1.0.0", "2.0.0"):
            _build_elsewhere(version)

        # 4. The first deploy, then v2 under constant load through the front balancer.
        playbook("deploy-1", "-e", "app_version=1.0.0")
        assert {_release(http) for _, http in HOSTS.values()} == {"1.0.0"}
        wait_balancer(BALANCER, READS)
        with Load(f"http://127.0.0.1:{BALANCER}", rate=60, workers=6, max_seconds=400, **READS) as load:
            playbook("deploy-2", "-e", "app_version=2.0.0")
            time.sleep(1)
        figures = load.result.summary()
        assert figures["sent"] > 300 and figures["failed"] == 0, str(figures)
        assert {_release(http) for _, http in HOSTS.values()} == {"2.0.0"}
        # The SLO gate read this service's own metric names and judged real traffic (reports/ in the user's folder).
        report = json.loads(max((deploy_dir / "reports").glob("deploy-*-2.0.0.json")).read_text())
        assert report["passed"] is True and report["slo"]["verdict"] == "pass", report["slo"]
        assert "5xx ratio" in report["slo"]["summary"], report["slo"]

        # 5. The per-host proxy passes the Host the client asked for, with its port, and the forwarded headers.
        port = HOSTS["notes1"][1]
        seen = httpx.get(f"http://127.0.0.1:{port}/whoami", headers={"Host": "notes.example.test:8443"},
                         timeout=5).json()
        assert seen["host"] == "notes.example.test:8443"
        assert seen["x-forwarded-host"] == "notes.example.test:8443" and seen["x-forwarded-proto"] == "http"
        assert seen["x-forwarded-for"] and seen["x-real-ip"]

        # 6. Roll back under load, then verify (no version endpoint: the engine says which image serves).
        with Load(f"http://127.0.0.1:{BALANCER}", rate=60, workers=6, max_seconds=300, **READS) as load:
            playbook("rollback")
            time.sleep(1)
        figures = load.result.summary()
        assert figures["sent"] > 100 and figures["failed"] == 0, str(figures)
        assert {_release(http) for _, http in HOSTS.values()} == {"1.0.0"}
        verified = playbook("verify")
        assert "Verification PASSED" in said(verified)
        assert (deploy_dir / "reports").is_dir() and list((deploy_dir / "reports").glob("verify-*.json"))
        print("new service timings (s):", json.dumps(steps.timings))
    finally:
        down = ansible_playbook("lab/playbooks/lab_down.yml", *SETTINGS)
        assert down.returncode == 0, down.stdout[-2000:]
        assert labelled("container", LAB) == []
