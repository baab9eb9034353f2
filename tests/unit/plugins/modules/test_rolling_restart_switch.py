# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rolling_restart_switch's orchestration: how a switch starts the new container (with the docker CLI replaced
by a fake), the switch back, and the checks through the proxy against a real HTTP server on 127.0.0.1. No
Docker, no Ansible run. The engine client, nginx and the retire have test_switch_engine, test_switch_proxy and
test_switch_retire."""
from __future__ import annotations

import time

import pytest

import ansible_collections.steady.deploy.plugins.modules.rolling_restart_switch as switch
from ansible_collections.steady.deploy.plugins.module_utils import switch_engine
from support.fake_docker import NEW_ONLY, P, UPSTREAM_OLD, use_docker
from support.http_service import base

# --- reverted: the switch back -------------------------------------------------------------------------------------


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


# --- switched: starting the new container ----------------------------------------------------------------------------

def test_a_leftover_container_of_the_same_name_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []

    def docker(*args: str, env: dict | None = None, check: bool = True) -> str:
        calls.append(args[:2])
        if args[0] == "run" and sum(1 for c in calls if c[0] == "run") == 1:
            raise switch_engine.SwitchError(
                'docker run -d failed: Conflict. The container name "/app-1" is already in use')
        if args[0] == "run":
            raise RuntimeError("stop here: the second run is what this test is about")
        return ""

    use_docker(monkeypatch, docker)
    params = {"name": "app-1", "network": "app", "stop_timeout": 25, "labels": {}, "env": {}, "secret_env": {},
              "image": "app:1", "existing": "absent"}
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
            raise switch_engine.SwitchError('docker start app-1 failed: network app not found')
        if args[:2] == ("container", "inspect"):
            raise RuntimeError("stop here: started")
        return ""

    use_docker(monkeypatch, docker)
    params = {"name": "app-1", "network": "app", "stop_timeout": 25, "labels": {}, "env": {}, "secret_env": {},
              "image": "app:1", "existing": existing}
    with pytest.raises(RuntimeError, match="stop here"):
        switch.switched(None, params)
    return calls


def test_the_environment_reaches_docker_by_name_only_with_secrets_over_ordinary_values() -> None:
    params = {"name": "app-1", "network": "app", "stop_timeout": 25, "labels": {"io.steady.app": "app"},
              "env": {"LOG_LEVEL": "info", "TOKEN": "plain"}, "secret_env": {"TOKEN": "canary-s3cret"}}
    args, run_env = switch.run_command(params)
    assert "canary-s3cret" not in " ".join(args) and "info" not in " ".join(args)
    assert args[args.index("-e") + 1] == "LOG_LEVEL" and "TOKEN" in args
    assert (run_env["LOG_LEVEL"], run_env["TOKEN"]) == ("info", "canary-s3cret")


def test_only_secret_env_is_masked_in_what_the_module_returns() -> None:
    spec = switch.ARGUMENT_SPEC
    assert spec["secret_env"].get("no_log") is True
    assert not spec["env"].get("no_log"), "ordinary values (LOG_LEVEL=info) would mask every 'info' in messages"


def test_a_kept_release_with_the_wanted_configuration_is_started_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _first_engine_calls(monkeypatch, "reusable") == [("start", "app-1"), ("container", "inspect")]


def test_a_kept_release_that_does_not_start_is_created_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _first_engine_calls(monkeypatch, "reusable", start_fails=True) == [
        ("start", "app-1"), ("rm", "-f"), ("run", "-d"), ("container", "inspect")]


def test_a_stale_copy_is_removed_before_the_new_container_is_created(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _first_engine_calls(monkeypatch, "stale") == [("rm", "-f"), ("run", "-d"), ("container", "inspect")]


# --- run_checks and describe: the checks through the proxy, against a real HTTP server on 127.0.0.1 ----------------

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
