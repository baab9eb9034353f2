"""The reference service on real PostgreSQL and Redis: readiness names what is down, metrics are exposed,
and the migrations round-trip. Each test makes its own containers on the controller's engine."""
from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import docker
import httpx
import psycopg
import pytest

from support.lab import ROOT, Lab

pytestmark = pytest.mark.lab

SERVICE = ROOT / "examples" / "service"


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    return docker.from_env(timeout=120)


def _build(client: docker.DockerClient, version: str) -> str:
    """A release of the service from examples/service, built the way the lab builds it."""
    tag = f"steady-test/app:{version}"
    client.images.build(path=str(SERVICE), tag=tag, rm=True, pull=False,
                        buildargs={"APP_VERSION": version, "BASE_IMAGE": "steady-lab/debian:bookworm"})
    return tag


@pytest.fixture(scope="module")
def image_100(lab: Lab, client: docker.DockerClient) -> str:
    return _build(client, "1.0.0")


@pytest.fixture(scope="module")
def image_110(lab: Lab, client: docker.DockerClient) -> str:
    """Release 1.1.0 of the service: its image carries revision 0002."""
    return _build(client, "1.1.0")


def _lab_image(client: docker.DockerClient, lab: Lab, part: str) -> str:
    return client.containers.get(f"{lab.name}-{part}").image.tags[0]


@dataclass
class Stack:
    base_url: str
    postgres: docker.models.containers.Container
    redis: docker.models.containers.Container
    app: docker.models.containers.Container


@pytest.fixture()
def stack(lab: Lab, client: docker.DockerClient, image_100: str) -> Iterator[Stack]:
    """The 1.0.0 service with a PostgreSQL and a Redis of its own, on a network of its own."""
    suffix = uuid.uuid4().hex[:8]
    network = client.networks.create(f"steady-test-{suffix}", labels={"io.steady.test": suffix})
    made = []
    try:
        postgres = client.containers.run(
            _lab_image(client, lab, "postgres"), name=f"steady-test-pg-{suffix}", detach=True,
            environment={"POSTGRES_USER": "app", "POSTGRES_DB": "app", "POSTGRES_PASSWORD": "test-pw-" + suffix},
            network=network.name, labels={"io.steady.test": suffix})
        made.append(postgres)
        cache = client.containers.run(
            _lab_image(client, lab, "redis"), name=f"steady-test-redis-{suffix}", detach=True,
            environment={"REDIS_PASSWORD": "test-redis-" + suffix}, network=network.name,
            labels={"io.steady.test": suffix})
        made.append(cache)
        _wait_healthy(postgres)
        _wait_healthy(cache)
        migrate = client.containers.run(
            image_100, ["alembic", "upgrade", "head"], network=network.name,
            environment={"DATABASE_URL": f"postgresql+psycopg://app:test-pw-{suffix}@{postgres.name}:5432/app",
                         "REDIS_URL": f"redis://:test-redis-{suffix}@{cache.name}:6379/0"},
            remove=True, stderr=True)
        assert migrate is not None
        app = client.containers.run(
            image_100, name=f"steady-test-app-{suffix}", detach=True,
            network=network.name, ports={"8000/tcp": ("127.0.0.1", None)}, labels={"io.steady.test": suffix},
            environment={"DATABASE_URL": f"postgresql+psycopg://app:test-pw-{suffix}@{postgres.name}:5432/app",
                         "REDIS_URL": f"redis://:test-redis-{suffix}@{cache.name}:6379/0"})
        made.append(app)
        app.reload()
        port = app.attrs["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"]
        stack = Stack(f"http://127.0.0.1:{port}", postgres, cache, app)
        _wait_status(stack, 200)
        yield stack
    finally:
        for container in reversed(made):
            container.remove(force=True)
        network.remove()


def _wait_healthy(container: docker.models.containers.Container, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.attrs["State"].get("Health", {}).get("Status") == "healthy":
            return
        time.sleep(0.5)
    raise AssertionError(f"{container.name} never became healthy")


def _wait_status(stack: Stack, status: int, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(f"{stack.base_url}/health/ready", timeout=5)
            if last.status_code == status:
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"/health/ready never answered {status}; last: {last and last.text}")


def _dependency_up(stack: Stack) -> dict[str, str]:
    """app_dependency_up by dependency, as /metrics says it after the last readiness call (the database alert of
    monitoring/alerts.yml reads it)."""
    metrics = httpx.get(f"{stack.base_url}/metrics", timeout=5).text
    return dict(re.findall(r'^app_dependency_up\{dependency="(\w+)"\} (\S+)$', metrics, re.M))


def test_ready_names_redis_when_redis_stops(stack: Stack) -> None:
    ready = _wait_status(stack, 200).json()
    assert ready["checks"] == {"database": "ok", "redis": "ok"}
    assert ready["schema_revision"] == "0001"
    assert _dependency_up(stack) == {"database": "1.0", "redis": "1.0"}
    stack.redis.stop(timeout=5)
    down = _wait_status(stack, 503).json()
    assert down["failed"] == ["redis"]
    assert down["checks"]["database"] == "ok"
    assert _dependency_up(stack) == {"database": "1.0", "redis": "0.0"}
    assert httpx.get(f"{stack.base_url}/health/live", timeout=5).status_code == 200
    stack.redis.start()
    assert _wait_status(stack, 200).json()["checks"]["redis"] == "ok"
    assert _dependency_up(stack) == {"database": "1.0", "redis": "1.0"}


def test_ready_names_the_database_when_postgres_stops(stack: Stack) -> None:
    stack.postgres.stop(timeout=10)
    down = _wait_status(stack, 503).json()
    assert down["failed"] == ["database"]
    assert down["checks"]["redis"] == "ok"
    assert _dependency_up(stack) == {"database": "0.0", "redis": "1.0"}
    assert "test-pw" not in httpx.get(f"{stack.base_url}/health/ready", timeout=5).text, "no secret in the answer"


def test_metrics_count_requests_by_route_template_and_time_them(stack: Stack) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=5) as http:
        created = http.post("/items", json={"name": "widget"})
        assert created.status_code == 201
        item_id = created.json()["id"]
        assert http.get(f"/items/{item_id}").json()["name"] == "widget"
        assert http.get("/items/999999").status_code == 404
        metrics = http.get("/metrics").text
    assert 'http_requests_total{method="POST",route="/items",status="201"} 1.0' in metrics
    assert 'http_requests_total{method="GET",route="/items/{item_id}",status="200"} 1.0' in metrics
    assert 'http_requests_total{method="GET",route="/items/{item_id}",status="404"} 1.0' in metrics
    assert f'/items/{item_id}"' not in metrics, "raw paths would explode the label set"
    assert 'http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/items"} 1.0' in metrics


def _schema(lab: Lab, dbname: str) -> tuple[str | None, list[str]]:
    with psycopg.connect(host="127.0.0.1", port=lab.postgres_port, user="app", dbname=dbname,
                         password=lab.db_password, connect_timeout=5) as conn:
        version = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()[0] and \
            conn.execute("SELECT max(version_num) FROM alembic_version").fetchone()[0]
        columns = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'items' ORDER BY 1")]
    return (version or None), columns


def test_migrations_round_trip_on_the_real_database(lab: Lab, client: docker.DockerClient, image_110: str) -> None:
    dbname = f"roundtrip_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(host="127.0.0.1", port=lab.postgres_port, user="app", dbname="app",
                            password=lab.db_password, autocommit=True, connect_timeout=5)
    admin.execute(f"CREATE DATABASE {dbname}")
    url = f"postgresql+psycopg://app:{lab.db_password}@postgres.{lab.name}.lab:5432/{dbname}"

    def alembic(*argv: str) -> None:
        client.containers.run(image_110, ["alembic", *argv], network=f"{lab.name}-net", remove=True,
                              environment={"DATABASE_URL": url, "REDIS_URL": "redis://unused:6379/0"})
    try:
        assert _schema(lab, dbname) == (None, [])
        alembic("upgrade", "head")
        assert _schema(lab, dbname) == ("0002", ["created_at", "id", "name", "note"])
        alembic("downgrade", "0001")
        assert _schema(lab, dbname) == ("0001", ["created_at", "id", "name"])
        alembic("downgrade", "base")
        assert _schema(lab, dbname) == (None, [])
        alembic("upgrade", "head")
        assert _schema(lab, dbname)[0] == "0002"
    finally:
        admin.execute(f"DROP DATABASE {dbname} WITH (FORCE)")
        admin.close()
