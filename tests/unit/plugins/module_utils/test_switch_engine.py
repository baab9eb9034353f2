# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rolling_restart_switch's engine client (module_utils/switch_engine): the Engine API on the local unix socket,
served by a stand-in, and the fall back to the docker CLI (replaced by a fake). No Docker, no Ansible run."""
from __future__ import annotations

import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler

import pytest

from ansible_collections.steady.deploy.plugins.module_utils import switch_engine, switch_proxy
from support.fake_docker import P, TOP_MID_RELOAD, FakeDocker, use_docker

# --- the Engine API on the local socket ---------------------------------------------------------------------------

class _Engine(BaseHTTPRequestHandler):
    """A stand-in Docker engine: answers from the server's `answers` ({(method, path): (status, body)}), 404
    otherwise, and records each request."""

    def _answer(self) -> None:
        self.server.seen.append((self.command, self.path))
        status, body = self.server.answers.get((self.command, self.path), (404, {"message": "No such container"}))
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def engine(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """A stand-in engine on a unix socket, as DOCKER_HOST; the CLI replaced by a fake that must not be called."""
    path = str(tmp_path / "docker.sock")
    server = socketserver.UnixStreamServer(path, _Engine)
    server.answers, server.seen = {}, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    cli = FakeDocker(["PID COMMAND"])
    use_docker(monkeypatch, cli)
    yield server, cli
    server.shutdown()
    server.server_close()


def test_workers_are_read_from_the_engine_api_without_the_cli(engine) -> None:
    server, cli = engine
    server.answers[("GET", "/containers/steady-proxy/top?ps_args=-eo%20pid%2Cargs")] = (200, {
        "Titles": ["PID", "COMMAND"],
        "Processes": [["14339", "nginx: master process nginx -c /etc/nginx/steady/nginx.conf"],
                      ["16053", "nginx: worker process"], ["16054", "nginx: worker process is shutting down"]]})
    assert switch_proxy.proxy_workers(P) == {"16053": False, "16054": True}
    assert cli.calls == []


@pytest.mark.parametrize("status", [404, 409])
def test_a_proxy_the_engine_says_is_missing_or_stopped_has_no_workers(engine, status: int) -> None:
    server, cli = engine
    server.answers[("GET", "/containers/steady-proxy/top?ps_args=-eo%20pid%2Cargs")] = (status, {"message": "no"})
    assert switch_proxy.proxy_workers(P) == {}
    assert cli.calls == []


def test_a_process_list_the_engine_does_not_give_is_not_an_empty_one(engine) -> None:
    server, _ = engine
    server.answers[("GET", "/containers/steady-proxy/top?ps_args=-eo%20pid%2Cargs")] = (500, {"message": "busy"})
    with pytest.raises(switch_engine.SwitchError, match="did not list the processes of steady-proxy: 500"):
        switch_proxy.proxy_workers(P)
    assert switch_proxy.wait_old_workers_gone(P, timeout=0.2) is False


def test_inspect_through_the_engine_api_and_a_missing_container(engine) -> None:
    server, cli = engine
    server.answers[("GET", "/containers/app-1/json")] = (200, {"State": {"Running": True}})
    assert switch_engine.inspect("app-1") == {"State": {"Running": True}}
    assert switch_engine.inspect("app-2") == {}
    assert cli.calls == []


def test_start_through_the_engine_api_accepts_started_and_already_running_and_says_why_not(engine) -> None:
    server, cli = engine
    server.answers[("POST", "/containers/app-1/start")] = (204, None)
    server.answers[("POST", "/containers/app-2/start")] = (304, None)
    server.answers[("POST", "/containers/app-3/start")] = (500, {"message": "network app not found"})
    switch_engine.start("app-1")
    switch_engine.start("app-2")
    with pytest.raises(switch_engine.SwitchError, match="docker start app-3 failed.*network app not found"):
        switch_engine.start("app-3")
    assert [path for _, path in server.seen] == [f"/containers/app-{n}/start" for n in (1, 2, 3)]
    assert cli.calls == []


def test_stop_through_the_engine_api_waits_for_the_engine_and_says_why_not(engine) -> None:
    server, cli = engine
    server.answers[("POST", "/containers/app-1/stop?t=25")] = (204, None)
    server.answers[("POST", "/containers/app-2/stop?t=25")] = (304, None)
    switch_engine.stop("app-1", 25)
    switch_engine.stop("app-2", 25)
    with pytest.raises(switch_engine.SwitchError, match="docker stop app-3 failed.*No such container"):
        switch_engine.stop("app-3", 25)
    switch_engine.stop("app-3", 25, check=False)
    assert cli.calls == []


def test_an_engine_socket_that_is_not_there_falls_back_to_the_cli(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    cli = FakeDocker([TOP_MID_RELOAD])
    use_docker(monkeypatch, cli)
    assert switch_proxy.proxy_workers(P) == {"16053": False, "16054": True, "16055": False, "15001": True}
    assert cli.calls == [(("top", "steady-proxy", "-eo", "pid,args"), {"check": True})]


@pytest.mark.parametrize("how", ["env", "config"])
def test_a_docker_context_other_than_the_default_leaves_the_engine_to_the_cli(tmp_path, monkeypatch, how) -> None:
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert switch_engine.engine_socket() == "unix:///var/run/docker.sock"
    if how == "env":
        monkeypatch.setenv("DOCKER_CONTEXT", "rootless")
    else:
        (tmp_path / "config.json").write_text(json.dumps({"currentContext": "rootless"}))
    assert switch_engine.engine_socket() == ""
    cli = FakeDocker([TOP_MID_RELOAD])
    use_docker(monkeypatch, cli)
    assert switch_proxy.proxy_workers(P)["16054"] is True
    assert [args[0] for args, _ in cli.calls] == ["top"]
