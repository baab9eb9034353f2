"""Fixtures of the plugins' unit tests: no test reaches the machine's own Docker engine, and a fake docker CLI
to install (tests/support/fake_docker.py), a stand-in service on 127.0.0.1 (tests/support/http_service.py) and a
stand-in engine API on a unix socket (tests/support/engine_api.py)."""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from http.server import ThreadingHTTPServer

import pytest

from support.engine_api import EngineServer
from support.fake_docker import FakeDocker, use_docker
from support.http_service import Handler


@pytest.fixture(autouse=True)
def no_engine_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine not on a local socket: the module uses the docker CLI (which the tests replace), never the
    machine's own engine."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    def install(*tops: str) -> FakeDocker:
        docker = FakeDocker(list(tops))
        use_docker(monkeypatch, docker)
        return docker
    return install


@contextmanager
def _serving(srv: ThreadingHTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.hits = Counter()
    with _serving(srv):
        yield srv


@pytest.fixture
def engine_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineServer]:
    """A stand-in engine on a unix socket, where DOCKER_HOST points."""
    path = tmp_path / "docker.sock"
    srv = EngineServer(str(path))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    with _serving(srv):
        yield srv
