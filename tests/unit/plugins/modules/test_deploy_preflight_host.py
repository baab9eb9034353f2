"""deploy_preflight_host's reads against real counterparts: an engine API on a unix socket, a docker CLI on the
PATH, the machine's own file systems and a registry stand-in on 127.0.0.1. No Docker, no Ansible run."""
from __future__ import annotations

import os
import socket
import threading

import pytest

import ansible_collections.steady.deploy.plugins.modules.deploy_preflight_host as preflight
from support.engine_api import cli
from support.http_service import base


def test_an_engine_on_its_socket_answers_with_its_version(engine_api) -> None:
    engine_api.answers["/version"] = (200, {"Version": "27.5.1", "ApiVersion": "1.47"})
    assert preflight.read_engine(timeout=2) == {"answers": True, "version": "27.5.1", "msg": ""}


def test_an_engine_that_answers_an_error_does_not_count(engine_api) -> None:
    engine_api.answers["/version"] = (500, {"message": "starting"})
    found = preflight.read_engine(timeout=2)
    assert found["answers"] is False and "500" in found["msg"] and "starting" in found["msg"]


def test_an_engine_elsewhere_is_asked_through_the_cli(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", cli(tmp_path / "bin", "echo 26.1.4"))
    assert preflight.read_engine(timeout=5) == {"answers": True, "version": "26.1.4", "msg": ""}


def test_a_cli_whose_engine_does_not_answer_says_why(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", cli(tmp_path / "bin", 'echo "Cannot connect to the Docker daemon" >&2; exit 1'))
    assert preflight.read_engine(timeout=5) == {"answers": False, "version": "",
                                                "msg": "Cannot connect to the Docker daemon"}


def test_no_engine_and_no_cli_is_no_engine(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    found = preflight.read_engine(timeout=5)
    assert found["answers"] is False and "docker" in found["msg"]


def test_free_space_is_what_df_calls_available(tmp_path) -> None:
    stats = os.statvfs(tmp_path)
    free, why = preflight.free_mb(str(tmp_path))
    assert why == "" and free == stats.f_bavail * stats.f_frsize // 2**20
    assert free > 0


def test_a_data_root_that_does_not_exist_cannot_be_measured(tmp_path) -> None:
    free, why = preflight.free_mb(str(tmp_path / "no-engine-here"))
    assert free is None
    assert why == f"cannot measure the free space under {tmp_path / 'no-engine-here'}: No such file or directory"


@pytest.mark.parametrize(("path", "status"), [("/open", 200), ("/login", 401), ("/nothing", 404)])
def test_a_registry_answers_with_its_status(server, path, status) -> None:
    assert preflight.read_registry(base(server) + path, timeout=2) == {"status": status, "msg": ""}
    assert server.hits[f"{path}/v2/"] == 1


def test_a_registry_that_does_not_answer_is_status_0_with_the_reason() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    found = preflight.read_registry(f"http://127.0.0.1:{port}/", timeout=2)
    assert found["status"] == 0 and "refused" in found["msg"].lower()


def test_a_python_without_requests_is_named() -> None:
    assert preflight.missing_modules() == [], "this venv has requests"
    assert preflight.missing_modules(("requests", "no_such_module_here")) == ["no_such_module_here"]


def test_an_engine_that_answers_no_http_falls_back_to_the_cli(tmp_path, monkeypatch) -> None:
    """Something on the socket that is no engine (garbage instead of HTTP): the CLI is asked, no traceback."""
    path = tmp_path / "garbage.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()

    def answer_garbage() -> None:
        conn, _ = server.accept()
        conn.recv(1024)
        conn.sendall(b"this is no HTTP\r\n\r\n")
        conn.close()

    threading.Thread(target=answer_garbage, daemon=True).start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    monkeypatch.setenv("PATH", cli(tmp_path / "bin", 'echo "Cannot connect to the Docker daemon" >&2; exit 1'))
    try:
        assert preflight.read_engine(timeout=2) == {"answers": False, "version": "",
                                                    "msg": "Cannot connect to the Docker daemon"}
    finally:
        server.close()
