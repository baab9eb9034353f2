"""Fixtures of the plugins' unit tests: no test reaches the machine's own Docker engine, and a fake docker CLI
to install (tests/support/fake_docker.py), and a stand-in service on 127.0.0.1 (tests/support/http_service.py)."""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

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


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.hits = Counter()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)
