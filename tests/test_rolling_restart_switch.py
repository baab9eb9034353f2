"""rolling_restart_switch's pure helpers: reading the proxy's nginx workers from `docker top` (with the docker
CLI replaced by a fake, or from the Engine API served by a stand-in on a unix socket) and writing upstream.conf
atomically. No Docker, no Ansible run."""
from __future__ import annotations

import json
import os
import socketserver
import stat
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from conftest import load_role_module

switch = load_role_module("rolling_restart", "rolling_restart_switch")

P = {"proxy_name": "steady-proxy"}
# `docker top steady-proxy -eo pid,args` after one reload: the master, two new workers and two old ones
# finishing their requests. The docker() helper strips the output, as the real one does.
TOP_MID_RELOAD = """\
PID                 COMMAND
14339               nginx: master process nginx -c /etc/nginx/steady/nginx.conf -g daemon off;
16053               nginx: worker process
16054               nginx: worker process is shutting down
16055               nginx: worker process
15001               nginx: worker process is shutting down
16060               nginx: cache manager process"""


class FakeDocker:
    """Stands in for switch.docker: answers `docker top` from a list of outputs (the last repeats) and records
    every call."""

    def __init__(self, tops: list[str]) -> None:
        self.tops = list(tops)
        self.calls: list[tuple[tuple[str, ...], dict]] = []

    def __call__(self, *args: str, env: dict | None = None, check: bool = True) -> str:
        self.calls.append((args, {"check": check}))
        if args[0] == "top":
            out = self.tops.pop(0) if len(self.tops) > 1 else self.tops[0]
            if out.startswith("Error") and check:  # as the real helper: a failed command raises
                raise switch.SwitchError(f"docker top {args[1]} failed: {out}")
            return out
        return ""


@pytest.fixture(autouse=True)
def no_engine_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine not on a local socket: the module uses the docker CLI (which the tests replace), never the
    machine's own engine."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    def install(*tops: str) -> FakeDocker:
        docker = FakeDocker(list(tops))
        monkeypatch.setattr(switch, "docker", docker)
        return docker
    return install


# --- proxy_workers -----------------------------------------------------------------------------------------------

def test_workers_are_read_with_their_shutting_down_state(fake) -> None:
    docker = fake(TOP_MID_RELOAD)
    assert switch.proxy_workers(P) == {"16053": False, "16054": True, "16055": False, "15001": True}
    assert docker.calls == [(("top", "steady-proxy", "-eo", "pid,args"), {"check": True})]


def test_the_master_and_helper_processes_are_not_workers(fake) -> None:
    fake("PID                 COMMAND\n"
         "14339               nginx: master process nginx -c /etc/nginx/steady/nginx.conf -g daemon off;\n"
         "16060               nginx: cache manager process")
    assert switch.proxy_workers(P) == {}


def test_single_space_separated_top_output_is_read(fake) -> None:
    fake("PID COMMAND\n14339  nginx: master process nginx -c /etc/nginx/steady/nginx.conf\n"
         "16053  nginx: worker process\n16054  nginx: worker process is shutting down")
    assert switch.proxy_workers(P) == {"16053": False, "16054": True}


@pytest.mark.parametrize("out", ["", "Error: No such container: steady-proxy", "PID                 COMMAND",
                                 "Error response from daemon: container 5f2a is not running"])
def test_a_missing_stopped_or_empty_proxy_has_no_workers(fake, out: str) -> None:
    fake(out)
    assert switch.proxy_workers(P) == {}


def test_a_process_list_the_cli_does_not_give_is_not_an_empty_one(fake) -> None:
    fake("Error response from daemon: i/o timeout")
    with pytest.raises(switch.SwitchError, match="i/o timeout"):
        switch.proxy_workers(P)


# --- reload_proxy ------------------------------------------------------------------------------------------------

OLD_ONLY = "PID COMMAND\n100  nginx: master process nginx\n101  nginx: worker process\n102  nginx: worker process"
NEW_UP = "PID COMMAND\n100  nginx: master process nginx\n101  nginx: worker process is shutting down\n" \
         "201  nginx: worker process"


def test_reload_tests_the_config_and_reloads_in_one_exec_then_waits_for_a_new_worker(fake) -> None:
    docker = fake(OLD_ONLY, OLD_ONLY, NEW_UP)
    switch.reload_proxy(P, timeout=5)
    commands = [args for args, _ in docker.calls]
    conf = switch.CONF_IN_PROXY
    assert commands[0] == ("top", "steady-proxy", "-eo", "pid,args")
    assert commands[1] == ("exec", "steady-proxy", "sh", "-c", f"nginx -t -q -c {conf} && nginx -s reload -c {conf}")
    assert commands[2:] == [("top", "steady-proxy", "-eo", "pid,args")] * 2


def test_reload_uses_the_workers_it_is_given_as_the_old_generation(fake) -> None:
    # 101 is known as old: only 201 counts as new, so the first `top` (old workers only) does not end the wait.
    docker = fake(OLD_ONLY, NEW_UP)
    switch.reload_proxy(P, timeout=5, before={"101", "102"})
    assert [args[0] for args, _ in docker.calls] == ["exec", "top", "top"]


def test_reload_asks_again_when_the_process_list_is_not_given_once(fake) -> None:
    docker = fake(OLD_ONLY, "Error response from daemon: i/o timeout", NEW_UP)
    assert switch.reload_proxy(P, timeout=5) == {"101", "102"}
    assert [args[0] for args, _ in docker.calls] == ["top", "exec", "top", "top"]


def test_reload_without_new_workers_fails(fake) -> None:
    fake(OLD_ONLY)
    with pytest.raises(switch.SwitchError, match="did not start new workers within 0.2 s"):
        switch.reload_proxy(P, timeout=0.2)


def test_reload_names_the_workers_of_the_generation_before_it(fake) -> None:
    fake(OLD_ONLY, NEW_UP)
    assert switch.reload_proxy(P, timeout=5) == {"101", "102"}


# --- wait_old_workers_gone ---------------------------------------------------------------------------------------

# Right after a reload the master has started the new worker (201) but not yet told the old one (101) to quit:
# 101 still takes requests for the old upstream, and does not say so.
OLD_NOT_TOLD_YET = "PID COMMAND\n100  nginx: master process nginx\n101  nginx: worker process\n" \
                   "201  nginx: worker process"
NEW_ONLY = "PID COMMAND\n100  nginx: master process nginx\n201  nginx: worker process"


def test_an_old_worker_not_yet_told_to_quit_is_waited_for(fake) -> None:
    docker = fake(OLD_NOT_TOLD_YET, NEW_UP, NEW_ONLY)
    assert switch.wait_old_workers_gone(P, timeout=5, old={"101", "102"}) is True
    assert len(docker.calls) == 3


def test_workers_still_there_when_the_time_is_up_are_said_so(fake) -> None:
    fake(OLD_NOT_TOLD_YET)
    assert switch.wait_old_workers_gone(P, timeout=0.2, old={"101"}) is False


def test_a_switch_back_removes_the_new_container_only_once_the_old_workers_are_gone(fake, monkeypatch,
                                                                                     tmp_path) -> None:
    """The workers that sent requests to the new container finish them before it goes (a removal while they
    still ran was a 502 under load)."""
    master = "PID COMMAND\n100  nginx: master process nginx\n"
    docker = fake(master + "201  nginx: worker process",  # before the reload: 201 sends to the new container
                  master + "201  nginx: worker process\n301  nginx: worker process",  # 301: the reload is done
                  master + "201  nginx: worker process\n301  nginx: worker process",  # 201 not told to quit yet
                  master + "201  nginx: worker process is shutting down\n301  nginx: worker process",
                  master + "301  nginx: worker process")
    monkeypatch.setattr(switch, "inspect", lambda name: {"State": {"Running": True}})
    p = {**P, "name": "app-new", "previous": "app-old", "existing": "absent", "stop_timeout": 1,
         "proxy_dir": str(tmp_path), "upstream_previous": UPSTREAM_OLD}
    back = switch.reverted(p)
    assert back["new_container"] == "removed" and back["note"] == "" and "warnings" not in back
    commands = [args[:2] for args, _ in docker.calls]
    assert commands[-1] == ("rm", "-f")
    assert commands.count(("top", "steady-proxy")) == 5  # the last one was the first without 201
    assert (tmp_path / "upstream.conf").read_text() == UPSTREAM_OLD


def test_a_switch_back_says_when_the_old_workers_outlived_its_wait(fake, monkeypatch, tmp_path) -> None:
    fake(NEW_ONLY, NEW_ONLY + "\n301  nginx: worker process")  # 301: the switch back's reload is done
    monkeypatch.setattr(switch, "inspect", lambda name: {"State": {"Running": True}})
    waits = []
    monkeypatch.setattr(switch, "wait_old_workers_gone", lambda p, timeout, old: waits.append((timeout, old)) or False)
    p = {**P, "name": "app-new", "previous": "app-old", "existing": "absent", "stop_timeout": 45,
         "proxy_dir": str(tmp_path), "upstream_previous": UPSTREAM_OLD}
    back = switch.reverted(p)
    said = "nginx's workers from before the switch back still ran after 45 s: requests they were still sending " \
           "to app-new were cut."
    assert back["new_container"] == "removed" and back["note"] == " " + said and back["warnings"] == [said]
    assert waits == [(45.0, {"201"})]  # the stop timeout, when longer than 30 s; the workers before the reload


def test_a_config_that_does_not_load_is_never_reloaded(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The exec's shell line run by a real sh, with an nginx that fails its config test and logs every call."""
    log = tmp_path / "calls"
    nginx = tmp_path / "nginx"
    nginx.write_text(f'#!/bin/sh\necho "$*" >> {log}\n[ "$1" = "-t" ] && exit 1\nexit 0\n')
    nginx.chmod(0o755)

    def docker(*args: str, env: dict | None = None, check: bool = True) -> str:
        if args[0] == "top":
            return OLD_ONLY
        assert args[:4] == ("exec", "steady-proxy", "sh", "-c")
        proc = subprocess.run(["sh", "-c", args[4]], env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, check=False)
        if proc.returncode != 0:
            raise switch.SwitchError("docker exec steady-proxy failed: nginx: [emerg] unexpected end of file")
        return ""

    monkeypatch.setattr(switch, "docker", docker)
    with pytest.raises(switch.SwitchError, match="emerg"):
        switch.reload_proxy(P, timeout=1)
    assert log.read_text().splitlines() == [f"-t -q -c {switch.CONF_IN_PROXY}"]


def test_a_running_proxy_is_reloaded_without_asking_the_engine_to_inspect_it(fake) -> None:
    docker = fake(OLD_ONLY, NEW_UP)
    switch.start_or_reload_proxy({**P, "network": "app"})
    commands = [args[0] for args, _ in docker.calls]
    assert commands == ["top", "exec", "top"]


def test_a_leftover_container_of_the_same_name_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []

    def docker(*args: str, env: dict | None = None, check: bool = True) -> str:
        calls.append(args[:2])
        if args[0] == "run" and sum(1 for c in calls if c[0] == "run") == 1:
            raise switch.SwitchError('docker run -d failed: Conflict. The container name "/app-1" is already in use')
        if args[0] == "run":
            raise RuntimeError("stop here: the second run is what this test is about")
        return ""

    monkeypatch.setattr(switch, "docker", docker)
    params = {"name": "app-1", "network": "app", "stop_timeout": 25, "labels": {}, "env": {}, "image": "app:1",
              "existing": "absent"}
    with pytest.raises(RuntimeError, match="stop here"):
        switch.switched(None, params)
    assert calls == [("run", "-d"), ("rm", "-f"), ("run", "-d")]


def _first_engine_calls(monkeypatch: pytest.MonkeyPatch, existing: str, start_fails: bool = False) -> list:
    """The docker calls switched() makes for a container that `existing` says the host has, up to the moment it
    asks for the new container's address."""
    calls: list[tuple[str, ...]] = []

    def docker(*args: str, env: dict | None = None, check: bool = True) -> str:
        calls.append(args[:2])
        if args[0] == "start" and start_fails:
            raise switch.SwitchError('docker start app-1 failed: network app not found')
        if args[:2] == ("container", "inspect"):
            raise RuntimeError("stop here: started")
        return ""

    monkeypatch.setattr(switch, "docker", docker)
    params = {"name": "app-1", "network": "app", "stop_timeout": 25, "labels": {}, "env": {}, "image": "app:1",
              "existing": existing}
    with pytest.raises(RuntimeError, match="stop here"):
        switch.switched(None, params)
    return calls


def test_a_kept_release_with_the_wanted_configuration_is_started_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _first_engine_calls(monkeypatch, "reusable") == [("start", "app-1"), ("container", "inspect")]


def test_a_kept_release_that_does_not_start_is_created_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _first_engine_calls(monkeypatch, "reusable", start_fails=True) == [
        ("start", "app-1"), ("rm", "-f"), ("run", "-d"), ("container", "inspect")]


def test_a_stale_copy_is_removed_before_the_new_container_is_created(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _first_engine_calls(monkeypatch, "stale") == [("rm", "-f"), ("run", "-d"), ("container", "inspect")]


def test_a_started_kept_release_that_fails_is_stopped_and_kept_not_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(switch, "docker", lambda *args, **_: calls.append(args[:2]) or "")
    kept = {"name": "app-1", "existing": "reusable", "stop_timeout": 25}
    assert switch.set_aside(kept) == "stopped (kept, as before)"
    assert switch.set_aside({"name": "app-2", "existing": "absent", "stop_timeout": 25}) == "removed"
    assert calls == [("stop", "-t"), ("rm", "-f")]  # no engine socket here: the CLI


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
    monkeypatch.setattr(switch, "docker", cli)
    yield server, cli
    server.shutdown()
    server.server_close()


def test_workers_are_read_from_the_engine_api_without_the_cli(engine) -> None:
    server, cli = engine
    server.answers[("GET", "/containers/steady-proxy/top?ps_args=-eo%20pid%2Cargs")] = (200, {
        "Titles": ["PID", "COMMAND"],
        "Processes": [["14339", "nginx: master process nginx -c /etc/nginx/steady/nginx.conf"],
                      ["16053", "nginx: worker process"], ["16054", "nginx: worker process is shutting down"]]})
    assert switch.proxy_workers(P) == {"16053": False, "16054": True}
    assert cli.calls == []


@pytest.mark.parametrize("status", [404, 409])
def test_a_proxy_the_engine_says_is_missing_or_stopped_has_no_workers(engine, status: int) -> None:
    server, cli = engine
    server.answers[("GET", "/containers/steady-proxy/top?ps_args=-eo%20pid%2Cargs")] = (status, {"message": "no"})
    assert switch.proxy_workers(P) == {}
    assert cli.calls == []


def test_a_process_list_the_engine_does_not_give_is_not_an_empty_one(engine) -> None:
    server, _ = engine
    server.answers[("GET", "/containers/steady-proxy/top?ps_args=-eo%20pid%2Cargs")] = (500, {"message": "busy"})
    with pytest.raises(switch.SwitchError, match="did not list the processes of steady-proxy: 500"):
        switch.proxy_workers(P)
    assert switch.wait_old_workers_gone(P, timeout=0.2) is False


def test_inspect_through_the_engine_api_and_a_missing_container(engine) -> None:
    server, cli = engine
    server.answers[("GET", "/containers/app-1/json")] = (200, {"State": {"Running": True}})
    assert switch.inspect("app-1") == {"State": {"Running": True}}
    assert switch.inspect("app-2") == {}
    assert cli.calls == []


def test_start_through_the_engine_api_accepts_started_and_already_running_and_says_why_not(engine) -> None:
    server, cli = engine
    server.answers[("POST", "/containers/app-1/start")] = (204, None)
    server.answers[("POST", "/containers/app-2/start")] = (304, None)
    server.answers[("POST", "/containers/app-3/start")] = (500, {"message": "network app not found"})
    switch.start("app-1")
    switch.start("app-2")
    with pytest.raises(switch.SwitchError, match="docker start app-3 failed.*network app not found"):
        switch.start("app-3")
    assert [path for _, path in server.seen] == [f"/containers/app-{n}/start" for n in (1, 2, 3)]
    assert cli.calls == []


def test_stop_through_the_engine_api_waits_for_the_engine_and_says_why_not(engine) -> None:
    server, cli = engine
    server.answers[("POST", "/containers/app-1/stop?t=25")] = (204, None)
    server.answers[("POST", "/containers/app-2/stop?t=25")] = (304, None)
    switch.stop("app-1", 25)
    switch.stop("app-2", 25)
    with pytest.raises(switch.SwitchError, match="docker stop app-3 failed.*No such container"):
        switch.stop("app-3", 25)
    switch.stop("app-3", 25, check=False)
    assert cli.calls == []


def test_an_engine_socket_that_is_not_there_falls_back_to_the_cli(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    cli = FakeDocker([TOP_MID_RELOAD])
    monkeypatch.setattr(switch, "docker", cli)
    assert switch.proxy_workers(P) == {"16053": False, "16054": True, "16055": False, "15001": True}
    assert cli.calls == [(("top", "steady-proxy", "-eo", "pid,args"), {"check": True})]


# --- write_upstream ----------------------------------------------------------------------------------------------

UPSTREAM_NEW = "upstream app {\n    server steady-app-20240102:8000;\n}\n"
UPSTREAM_OLD = "upstream app {\n    server steady-app-20240101:8000;\n}\n"


def test_write_upstream_creates_the_file(tmp_path) -> None:
    switch.write_upstream(str(tmp_path), UPSTREAM_NEW)
    assert (tmp_path / "upstream.conf").read_text() == UPSTREAM_NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upstream.conf"]  # no .tmp left behind


def test_write_upstream_replaces_the_file_rather_than_rewriting_it(tmp_path) -> None:
    path = tmp_path / "upstream.conf"
    path.write_text(UPSTREAM_OLD)
    before = path.stat().st_ino
    with open(path, encoding="utf-8") as reader:  # what nginx would hold open while the file changes
        switch.write_upstream(str(tmp_path), UPSTREAM_NEW)
        # A reader of the old file still sees it whole: the new content went to a new inode, swapped in by rename.
        assert reader.read() == UPSTREAM_OLD
    assert path.read_text() == UPSTREAM_NEW
    assert path.stat().st_ino != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upstream.conf"]


def test_write_upstream_makes_the_file_readable_whatever_the_umask(tmp_path) -> None:
    old = os.umask(0o077)
    try:
        switch.write_upstream(str(tmp_path), UPSTREAM_NEW)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "upstream.conf").stat().st_mode) == 0o644


def test_write_upstream_into_a_missing_folder_raises_oserror(tmp_path) -> None:
    # switched() catches OSError and points the proxy back at the previous container.
    with pytest.raises(OSError):
        switch.write_upstream(str(tmp_path / "missing"), UPSTREAM_NEW)


# --- run_checks and describe: the checks through the proxy, against a real HTTP server on 127.0.0.1 ----------------

from test_release_checks_probe import base, server  # noqa: E402,F401 (the fixture, shared)


def test_checks_through_the_proxy_pass_when_every_path_answers_and_the_version_matches(server) -> None:
    checks = [{"path": "/version"}, {"path": "/version", "json_key": "version", "expect": "1.2.3"}]
    results = switch.run_checks(base(server), checks, timeout=2, interval=0.01)
    assert [r["passed"] for r in results] == [True, True]
    assert results[1]["got"] == "1.2.3"


def test_checks_are_retried_until_a_warming_path_answers(server) -> None:
    results = switch.run_checks(base(server), [{"path": "/warming/3"}], timeout=5, interval=0.01)
    assert results[0]["passed"]
    assert server.hits["/warming/3"] == 4


def test_a_wrong_version_fails_after_the_timeout_and_says_what_it_got(server) -> None:
    check = {"path": "/version", "json_key": "version", "expect": "9.9.9"}
    began = time.monotonic()
    results = switch.run_checks(base(server), [check], timeout=0.3, interval=0.05)
    assert 0.3 <= time.monotonic() - began < 3
    assert not results[0]["passed"]
    assert switch.describe(results[0], check).startswith(
        "GET /version through the proxy answered 200 (version '1.2.3', expected '9.9.9')")


def test_a_path_that_answers_503_is_described_with_its_status_and_body(server) -> None:
    results = switch.run_checks(base(server), [{"path": "/down"}], timeout=0, interval=0.01)
    assert switch.describe(results[0], {"path": "/down"}) == \
        "GET /down through the proxy answered 503: upstream not ready"


# --- the old container's retire in a process of its own, and its collection ----------------------------------------

def retire_params(tmp_path, previous: str = "app-1") -> dict:
    (tmp_path / "proxy").mkdir(exist_ok=True)
    return {"name": "app-2", "previous": previous, "proxy_dir": str(tmp_path / "proxy"), "proxy_name": "app-proxy",
            "stop_timeout": 1, "drain_until": time.time()}


def test_a_background_retire_runs_in_its_own_process_and_is_collected(tmp_path, monkeypatch) -> None:
    def retire_now(p: dict) -> dict:  # runs in the detached process: it proves so by its pid
        time.sleep(0.3)
        return {"changed": True, "container": p["name"], "previous": p["previous"],
                "seconds": {"drain": 0.0, "worker_pid": os.getpid()}}

    monkeypatch.setattr(switch, "retire_now", retire_now)
    params = retire_params(tmp_path)
    began = time.monotonic()
    assert switch.spawn_retire(params) is True
    assert time.monotonic() - began < 0.25, "spawning must not wait for the retire"
    status = json.loads((tmp_path / "retire-app-1.json").read_text())
    assert status["state"] == "running" and status["pid"] != os.getpid()
    result = switch.retired(params)
    assert result["changed"] and result["previous"] == "app-1"
    assert result["seconds"]["worker_pid"] == status["pid"]
    assert not (tmp_path / "retire-app-1.json").exists()


def test_a_background_retire_that_failed_fails_its_collection(tmp_path) -> None:
    params = retire_params(tmp_path)
    (tmp_path / "retire-app-1.json").write_text(json.dumps({"state": "failed", "msg": "docker stop timed out"}))
    with pytest.raises(switch.SwitchError, match="retiring app-1 in the background failed: docker stop timed out"):
        switch.retired(params)


def test_without_a_living_background_retire_the_collection_retires_itself(tmp_path, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(switch, "retire_now", lambda p: calls.append(p["previous"]) or {"changed": True})
    params = retire_params(tmp_path)
    assert switch.retired(params) == {"changed": True}  # no status at all: a run that was cut short
    (tmp_path / "retire-app-1.json").write_text(json.dumps({"state": "running", "pid": 2 ** 22 + 7}))  # above pid_max
    assert switch.retired(params) == {"changed": True}  # its process is gone (a reboot): do it here
    assert calls == ["app-1", "app-1"]


@pytest.mark.parametrize("how", ["env", "config"])
def test_a_docker_context_other_than_the_default_leaves_the_engine_to_the_cli(tmp_path, monkeypatch, how) -> None:
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert switch.engine_socket() == "unix:///var/run/docker.sock"
    if how == "env":
        monkeypatch.setenv("DOCKER_CONTEXT", "rootless")
    else:
        (tmp_path / "config.json").write_text(json.dumps({"currentContext": "rootless"}))
    assert switch.engine_socket() == ""
    cli = FakeDocker([TOP_MID_RELOAD])
    monkeypatch.setattr(switch, "docker", cli)
    assert switch.proxy_workers(P)["16054"] is True
    assert [args[0] for args, _ in cli.calls] == ["top"]
