"""A real third-party application, deployed by the collection with inventory changes only: Prefect server.

Prefect's server is a FastAPI + SQLAlchemy + Alembic application on PostgreSQL (asyncpg), written by people who
never heard of steady.deploy. Its image is what a Prefect user builds (examples/third_party/prefect/Dockerfile:
the `prefect` package from PyPI, `prefect server start --no-services`), built and pushed "elsewhere" by this test
as the user's CI would. The path is tests/e2e/test_bare_servers.py's: build and install the collection, `init` from a
folder outside this repository, edit only the scaffolded inventory, `setup` two bare lab servers, deploy
3.7.8, then 3.9.1 under load through the front balancer (six real Alembic migrations: v1 -> v2), roll back to
3.7.8 under load (the schema stays at 3.9.1's: the migrations only add), verify.

What the contract maps, and from where in Prefect's source (3.9.1):
- port 4200 (PREFECT_SERVER_API_HOST/PORT), liveness `/api/health` (returns true, touches nothing), readiness
  `/api/ready` (503 unless `db.is_db_connectable()`), no version endpoint in the contract's form
  (`/api/admin/version` answers a bare JSON string, not an object): app_version_path "".
- migrations: `prefect server database upgrade -y` (Alembic; revision in `alembic_version`). The server must NOT
  migrate on start (PREFECT_API_DATABASE_MIGRATE_ON_START defaults to true): the deploy migrates once, before any
  traffic moves, and a rolled-back 3.7.8 would otherwise try to "upgrade" a schema from a revision it does not
  know and refuse to start.
- the database URL: a SQLAlchemy URL (postgresql+asyncpg://) in PREFECT_API_DATABASE_CONNECTION_URL, beside the
  libpq app_database_url the deploy's pg_dump uses: both from the same vault password.
- shutdown: uvicorn in the server's own process (`_run_in_foreground`): SIGTERM drains and exits in about 4 s.
  Keep-alive PREFECT_SERVER_API_KEEPALIVE_TIMEOUT 5 s by default, above nginx's 4 s; set to 10 s anyway.
- metrics: PREFECT_SERVER_METRICS_ENABLED serves `/api/metrics` (prometheus_client's default registry: process
  and GC only, no request counter or latency histogram), so the SLO gate has no data and says so
  (slo_gate_no_data: pass, the default).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import docker
import httpx
import pytest
import yaml

from bench.load import Load
from support.lab import LAB_STATE, ROOT, ansible_playbook, labelled, require
from support.user_path import Steps, install_collection, point_inventory_at_lab, wait_balancer, run, said

pytestmark = [pytest.mark.lab, pytest.mark.slow, pytest.mark.acceptance]

LAB = "steadythird"
REGISTRY = "127.0.0.1:15099"
BALANCER = 18111
PROMETHEUS = 19099
HOSTS = {"third1": (2311, 18112), "third2": (2312, 18113)}
PUBLIC_PORT = 8080
CONTAINER_PORT = 4200
DB = "prefect"
SETTINGS = [
    "-e", f"lab_name={LAB}", "-e", f"lab_registry={REGISTRY}",
    "-e", "local_lab_postgres_port=15499", "-e", "local_lab_redis_port=16399",
    # A database of its own, and no Redis: Prefect's API on PostgreSQL needs none.
    "-e", f"local_lab_db_name={DB}", "-e", f"local_lab_db_user={DB}", "-e", "local_lab_redis=false",
    "-e", f"local_lab_prometheus_port={PROMETHEUS}", "-e", f"local_lab_balancer_port={BALANCER}",
    "-e", f"local_lab_app_port={PUBLIC_PORT}", "-e", "local_lab_balancer_health_path=/api/ready",
    "-e", "local_lab_metrics_path=/api/metrics", "-e", '{"local_lab_prometheus_rules": []}',
    "-e", json.dumps({"local_lab_app_hosts": [{"name": n, "ssh_port": s, "http_port": h, "bare": True}
                                              for n, (s, h) in HOSTS.items()]}),
]
SSH_DIR = LAB_STATE / LAB / "ssh"
IMAGE = f"{REGISTRY}/prefect/server"
V1, V2 = "3.7.8", "3.9.1"
# The newest Alembic revision each release ships (prefect/server/database/_migrations/versions/postgresql).
HEADS = {V1: "bad1e352c597", V2: "91e2b8f3d6a4"}
# The user's pins: Prefect 3.7.8 asks for fastapi>=0.139 with no cap, and FastAPI 0.151+ dropped the **extra
# that Prefect 3.7.8's `Body(..., min_items=1)` relies on (the server dies on import: "Body() got an unexpected
# keyword argument 'min_items'").
CONSTRAINTS = {V1: "fastapi<0.151\n", V2: ""}
# Per machine, like the lab's images: the wheels of each release (kept across labs, never in the repository).
WHEELS = LAB_STATE / "cache" / "prefect-wheels"
DOCKERFILE = ROOT / "examples" / "third_party" / "prefect" / "Dockerfile"
PROBE_VARIABLE = "steady_probe"
# A real read of Prefect's API that goes to its database (GET /api/variables/name/{name}); no writes.
READS = {"path": f"/api/variables/name/{PROBE_VARIABLE}", "write_ratio": 0}


def _wheels(version: str, constraints: Path) -> Path:
    """prefect==version and its dependencies, for the image's Python (Debian's 3.11), fetched on this machine."""
    folder = WHEELS / version
    folder.mkdir(parents=True, exist_ok=True)
    argv = ["/usr/bin/python3", "-m", "pip", "download", "--quiet", "--only-binary=:all:", "-d", str(folder),
            "-c", str(constraints), f"prefect=={version}"]
    for attempt in range(3):
        fetched = run(argv, ROOT, timeout=600)
        if fetched.returncode == 0:
            return folder
        time.sleep(5 * (attempt + 1))
    raise AssertionError(f"pip download prefect=={version}: {said(fetched)[-2000:]}")


def _build_elsewhere(version: str, workdir: Path) -> None:
    """The user's CI: build Prefect's image from the user's Dockerfile and push it; the deploy never builds."""
    context = workdir / f"context-{version}"
    context.mkdir()
    shutil.copy(DOCKERFILE, context / "Dockerfile")
    (context / "constraints.txt").write_text(CONSTRAINTS[version])
    shutil.copytree(_wheels(version, context / "constraints.txt"), context / "wheels")
    client = docker.from_env(timeout=900)
    client.images.build(path=str(context), tag=f"{IMAGE}:{version}", rm=True,
                        buildargs={"APP_VERSION": version, "BASE_IMAGE": "steady-lab/debian:bookworm"})
    for line in client.images.push(IMAGE, tag=version, stream=True, decode=True):
        assert "error" not in line, line
    shutil.rmtree(context, ignore_errors=True)


def _release(port: int) -> str:
    """Which Prefect answers on a host's public port (its own endpoint: a bare JSON string)."""
    return httpx.get(f"http://127.0.0.1:{port}/api/admin/version", timeout=10).json()


def _psql(sql: str) -> str:
    postgres = docker.from_env().containers.get(f"{LAB}-postgres")
    answer = postgres.exec_run(["psql", "-h", "/run/postgresql", "-U", DB, "-d", DB, "-Atc", sql])
    assert answer.exit_code == 0, answer.output
    return answer.output.decode().strip()


def _edit_inventory(deploy_dir: Path, db_password: str) -> None:
    """What a Prefect user fills in after init: their servers, their registry, Prefect's side of the contract."""
    staging = deploy_dir / "inventories" / "staging"
    point_inventory_at_lab(deploy_dir, HOSTS, SSH_DIR)

    # The secrets file init documents (vault.yml.example); a real one is encrypted with ansible-vault.
    (staging / "group_vars" / "all" / "vault.yml").write_text(
        yaml.safe_dump({"vault_db_password": db_password}, sort_keys=False))

    db_host = f"postgres.{LAB}.lab:5432"
    app_file = staging / "group_vars" / "all" / "app.yml"
    app = yaml.safe_load(app_file.read_text())
    app |= {
        "app_image_repository": IMAGE, "app_build_context": "", "deploy_build": "never",
        "app_container_port": CONTAINER_PORT, "app_public_port": PUBLIC_PORT,
        "app_health_live_path": "/api/health", "app_health_ready_path": "/api/ready", "app_version_path": "",
        "app_metrics_path": "/api/metrics",
        # Prefect's own Alembic migrations, run once per deploy in a container of the new image.
        "app_migration_command": ["prefect", "server", "database", "upgrade", "-y"],
        # For rollback_database=true: the collection appends the target revision, which lands after `-r`.
        "app_migration_downgrade_command": ["prefect", "server", "database", "downgrade", "-y", "-r"],
        "app_database_url": f"postgresql://{DB}:{{{{ vault_db_password }}}}@{db_host}/{DB}",
        "app_secret_env": {
            "PREFECT_API_DATABASE_CONNECTION_URL":
                f"postgresql+asyncpg://{DB}:{{{{ vault_db_password }}}}@{db_host}/{DB}",
        },
        "app_env": {
            "PREFECT_SERVER_API_HOST": "0.0.0.0", "PREFECT_SERVER_API_PORT": str(CONTAINER_PORT),
            "PREFECT_SERVER_UI_ENABLED": "false", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_API_DATABASE_MIGRATE_ON_START": "false", "PREFECT_SERVER_API_KEEPALIVE_TIMEOUT": "10",
            "PREFECT_SERVER_METRICS_ENABLED": "true", "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        },
        "app_dependencies": [{"name": "database", "host": f"postgres.{LAB}.lab", "port": 5432}],
        # The lab registry speaks plain HTTP on each host's loopback and needs no login.
        "registry_username": "", "registry_password": "", "deploy_preflight_registry_url": f"http://{REGISTRY}",
        "app_balancer_url": f"http://127.0.0.1:{BALANCER}", "app_prometheus_url": f"http://127.0.0.1:{PROMETHEUS}",
        "slo_gate_settle_seconds": 10,
        # Prefect counts no requests: the SLO gate has no data, and passes saying so.
        "slo_gate_no_data": "pass",
        # Prefect's startup (settings, block registration) is slow on a busy 2-core machine.
        "rolling_restart_ready_timeout": 180,
        # No Docker Hub here: the lab registry's copies of nginx and of PostgreSQL's client tools.
        "rolling_restart_proxy_image": f"{REGISTRY}/steady-lab/nginx:bookworm",
        "server_setup_proxy_image": f"{REGISTRY}/steady-lab/nginx:bookworm",
        "db_migrate_client_image": f"{REGISTRY}/steady-lab/postgres:bookworm",
    }
    app_file.write_text(yaml.safe_dump(app, sort_keys=False))


def test_prefect_server_from_init_to_rollback_on_bare_servers(tmp_path: Path) -> None:
    engine = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode == 0
    require(engine, "no Docker engine answers")
    require(Path("/usr/bin/python3").exists(), "no Debian python3 to fetch the image's wheels with")
    steps = Steps()
    timings = steps.timings
    started = time.monotonic()

    try:
        start = time.monotonic()
        up = ansible_playbook("lab/playbooks/lab_up.yml", "--limit", "localhost", *SETTINGS)
        timings["lab_up"] = round(time.monotonic() - start, 1)
        assert up.returncode == 0, up.stdout[-3000:]
        ours = {c.name for c in docker.from_env().containers.list(filters={"label": f"io.steady.lab={LAB}"})}
        assert f"{LAB}-redis" not in ours, sorted(ours)
        assert _psql("select current_database(), current_user") == f"{DB}|{DB}"
        db_password = (LAB_STATE / LAB / "secrets" / "db_password").read_text().strip()

        # 1. The collection, built and installed as a user installs it.
        env = install_collection(tmp_path)
        service = tmp_path / "prefect"
        service.mkdir()

        # 2. init, from the user's own folder; then only the scaffolded inventory is edited.
        deploy_dir = steps.init(service, env, "-e", "init_service=prefect",
                                "-e", f"service_init_container_port={CONTAINER_PORT}",
                                "-e", "service_init_health_live_path=/api/health",
                                "-e", "service_init_health_ready_path=/api/ready", "-e", "service_init_version_path=")
        _edit_inventory(deploy_dir, db_password)

        def playbook(name: str, *extra: str) -> subprocess.CompletedProcess[str]:
            return steps.playbook(name, deploy_dir, env, *extra)

        # 3. setup: two bare servers become Docker hosts, while the user's CI builds both releases.
        build_errors: list[BaseException] = []

        def build_both() -> None:
            try:
                start = time.monotonic()
                for version in (V1, V2):
                    _build_elsewhere(version, tmp_path)
                timings["build_and_push_both"] = round(time.monotonic() - start, 1)
            except BaseException as error:  # reported on the test's thread
                build_errors.append(error)

        builder = threading.Thread(target=build_both, daemon=True)
        builder.start()
        playbook("setup")
        builder.join(timeout=1500)
        assert not builder.is_alive(), "the image builds did not finish"
        assert not build_errors, build_errors

        # 4. The first deploy: the migrations create Prefect's whole schema.
        playbook(f"deploy-{V1}", "-e", f"app_version={V1}")
        assert {_release(http) for _, http in HOSTS.values()} == {V1}
        assert _psql("select version_num from alembic_version") == HEADS[V1]
        # The variable the load reads, created first (through one host): until then the read answers 404.
        created = httpx.post(f"http://127.0.0.1:{HOSTS['third1'][1]}/api/variables/",
                             json={"name": PROBE_VARIABLE, "value": "steady"}, timeout=10)
        assert created.status_code == 201, created.text
        wait_balancer(BALANCER, READS, rate=20, burst=2, timeout=90)

        # 5. v2 under constant load through the front balancer: six real migrations, then the roll-out.
        with Load(f"http://127.0.0.1:{BALANCER}", rate=30, workers=6, max_seconds=600, **READS) as load:
            playbook(f"deploy-{V2}", "-e", f"app_version={V2}")
            time.sleep(1)
        figures = load.result.summary()
        timings["load_during_deploy"] = figures
        assert figures["sent"] > 300 and figures["failed"] == 0, str(figures)
        assert {_release(http) for _, http in HOSTS.values()} == {V2}
        assert _psql("select version_num from alembic_version") == HEADS[V2]
        report = json.loads(max((deploy_dir / "reports").glob(f"deploy-*-{V2}.json")).read_text())
        assert report["passed"] is True, report
        timings["slo_v2"] = report["slo"]

        # 6. Roll back under load: 3.7.8 serves again, on the schema 3.9.1 left (additive migrations only).
        with Load(f"http://127.0.0.1:{BALANCER}", rate=30, workers=6, max_seconds=400, **READS) as load:
            playbook("rollback")
            time.sleep(1)
        figures = load.result.summary()
        timings["load_during_rollback"] = figures
        assert figures["sent"] > 100 and figures["failed"] == 0, str(figures)
        assert {_release(http) for _, http in HOSTS.values()} == {V1}
        assert _psql("select version_num from alembic_version") == HEADS[V2]
        assert httpx.get(f"http://127.0.0.1:{BALANCER}{READS['path']}", timeout=10).json()["value"] == "steady"
        verified = playbook("verify")
        assert "Verification PASSED" in said(verified)
        assert list((deploy_dir / "reports").glob("verify-*.json"))
    finally:
        start = time.monotonic()
        down = ansible_playbook("lab/playbooks/lab_down.yml", *SETTINGS)
        timings["lab_down"] = round(time.monotonic() - start, 1)
        timings["total"] = round(time.monotonic() - started, 1)
        print("third-party app (prefect) timings (s):", json.dumps(timings, default=str))
        assert down.returncode == 0, down.stdout[-2000:]
        assert labelled("container", LAB) == []
