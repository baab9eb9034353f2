# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rolling_restart_switch's nginx side (module_utils/switch_proxy): reading the proxy's nginx workers from
`docker top` (with the docker CLI replaced by a fake), the reload and the wait for the old workers, and writing
upstream.conf atomically. No Docker, no Ansible run."""
from __future__ import annotations

import os
import stat
import subprocess

import pytest

from ansible_collections.steady.deploy.plugins.module_utils import switch_engine, switch_proxy
from support.fake_docker import NEW_ONLY, P, TOP_MID_RELOAD, UPSTREAM_OLD, use_docker

# --- proxy_workers -----------------------------------------------------------------------------------------------


def test_workers_are_read_with_their_shutting_down_state(fake) -> None:
    docker = fake(TOP_MID_RELOAD)
    assert switch_proxy.proxy_workers(P) == {"16053": False, "16054": True, "16055": False, "15001": True}
    assert docker.calls == [(("top", "steady-proxy", "-eo", "pid,args"), {"check": True})]


def test_the_master_and_helper_processes_are_not_workers(fake) -> None:
    fake("PID                 COMMAND\n"
         "14339               nginx: master process nginx -c /etc/nginx/steady/nginx.conf -g daemon off;\n"
         "16060               nginx: cache manager process")
    assert switch_proxy.proxy_workers(P) == {}


def test_single_space_separated_top_output_is_read(fake) -> None:
    fake("PID COMMAND\n14339  nginx: master process nginx -c /etc/nginx/steady/nginx.conf\n"
         "16053  nginx: worker process\n16054  nginx: worker process is shutting down")
    assert switch_proxy.proxy_workers(P) == {"16053": False, "16054": True}


@pytest.mark.parametrize("out", ["", "Error: No such container: steady-proxy", "PID                 COMMAND",
                                 "Error response from daemon: container 5f2a is not running"])
def test_a_missing_stopped_or_empty_proxy_has_no_workers(fake, out: str) -> None:
    fake(out)
    assert switch_proxy.proxy_workers(P) == {}


def test_a_process_list_the_cli_does_not_give_is_not_an_empty_one(fake) -> None:
    fake("Error response from daemon: i/o timeout")
    with pytest.raises(switch_engine.SwitchError, match="i/o timeout"):
        switch_proxy.proxy_workers(P)


# --- reload_proxy ------------------------------------------------------------------------------------------------

OLD_ONLY = "PID COMMAND\n100  nginx: master process nginx\n101  nginx: worker process\n102  nginx: worker process"
NEW_UP = "PID COMMAND\n100  nginx: master process nginx\n101  nginx: worker process is shutting down\n" \
         "201  nginx: worker process"


def test_reload_tests_the_config_and_reloads_in_one_exec_then_waits_for_a_new_worker(fake) -> None:
    docker = fake(OLD_ONLY, OLD_ONLY, NEW_UP)
    switch_proxy.reload_proxy(P, timeout=5)
    commands = [args for args, _ in docker.calls]
    conf = switch_proxy.CONF_IN_PROXY
    assert commands[0] == ("top", "steady-proxy", "-eo", "pid,args")
    assert commands[1] == ("exec", "steady-proxy", "sh", "-c", f"nginx -t -q -c {conf} && nginx -s reload -c {conf}")
    assert commands[2:] == [("top", "steady-proxy", "-eo", "pid,args")] * 2


def test_reload_uses_the_workers_it_is_given_as_the_old_generation(fake) -> None:
    # 101 is known as old: only 201 counts as new, so the first `top` (old workers only) does not end the wait.
    docker = fake(OLD_ONLY, NEW_UP)
    switch_proxy.reload_proxy(P, timeout=5, before={"101", "102"})
    assert [args[0] for args, _ in docker.calls] == ["exec", "top", "top"]


def test_reload_asks_again_when_the_process_list_is_not_given_once(fake) -> None:
    docker = fake(OLD_ONLY, "Error response from daemon: i/o timeout", NEW_UP)
    assert switch_proxy.reload_proxy(P, timeout=5) == {"101", "102"}
    assert [args[0] for args, _ in docker.calls] == ["top", "exec", "top", "top"]


def test_reload_without_new_workers_fails(fake) -> None:
    fake(OLD_ONLY)
    with pytest.raises(switch_engine.SwitchError, match="did not start new workers within 0.2 s"):
        switch_proxy.reload_proxy(P, timeout=0.2)


def test_reload_names_the_workers_of_the_generation_before_it(fake) -> None:
    fake(OLD_ONLY, NEW_UP)
    assert switch_proxy.reload_proxy(P, timeout=5) == {"101", "102"}


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
            raise switch_engine.SwitchError("docker exec steady-proxy failed: nginx: [emerg] unexpected end of file")
        return ""

    use_docker(monkeypatch, docker)
    with pytest.raises(switch_engine.SwitchError, match="emerg"):
        switch_proxy.reload_proxy(P, timeout=1)
    assert log.read_text().splitlines() == [f"-t -q -c {switch_proxy.CONF_IN_PROXY}"]


def test_a_running_proxy_is_reloaded_without_asking_the_engine_to_inspect_it(fake) -> None:
    docker = fake(OLD_ONLY, NEW_UP)
    switch_proxy.start_or_reload_proxy({**P, "network": "app"})
    commands = [args[0] for args, _ in docker.calls]
    assert commands == ["top", "exec", "top"]


# --- wait_old_workers_gone ---------------------------------------------------------------------------------------

# Right after a reload the master has started the new worker (201) but not yet told the old one (101) to quit:
# 101 still takes requests for the old upstream, and does not say so.
OLD_NOT_TOLD_YET = "PID COMMAND\n100  nginx: master process nginx\n101  nginx: worker process\n" \
                   "201  nginx: worker process"


def test_an_old_worker_not_yet_told_to_quit_is_waited_for(fake) -> None:
    docker = fake(OLD_NOT_TOLD_YET, NEW_UP, NEW_ONLY)
    assert switch_proxy.wait_old_workers_gone(P, timeout=5, old={"101", "102"}) is True
    assert len(docker.calls) == 3


def test_workers_still_there_when_the_time_is_up_are_said_so(fake) -> None:
    fake(OLD_NOT_TOLD_YET)
    assert switch_proxy.wait_old_workers_gone(P, timeout=0.2, old={"101"}) is False


# --- write_upstream ----------------------------------------------------------------------------------------------

UPSTREAM_NEW = "upstream app {\n    server steady-app-20240102:8000;\n}\n"


def test_write_upstream_creates_the_file(tmp_path) -> None:
    switch_proxy.write_upstream(str(tmp_path), UPSTREAM_NEW)
    assert (tmp_path / "upstream.conf").read_text() == UPSTREAM_NEW
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upstream.conf"]  # no .tmp left behind


def test_write_upstream_replaces_the_file_rather_than_rewriting_it(tmp_path) -> None:
    path = tmp_path / "upstream.conf"
    path.write_text(UPSTREAM_OLD)
    before = path.stat().st_ino
    with open(path, encoding="utf-8") as reader:  # what nginx would hold open while the file changes
        switch_proxy.write_upstream(str(tmp_path), UPSTREAM_NEW)
        # A reader of the old file still sees it whole: the new content went to a new inode, swapped in by rename.
        assert reader.read() == UPSTREAM_OLD
    assert path.read_text() == UPSTREAM_NEW
    assert path.stat().st_ino != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upstream.conf"]


def test_write_upstream_makes_the_file_readable_whatever_the_umask(tmp_path) -> None:
    old = os.umask(0o077)
    try:
        switch_proxy.write_upstream(str(tmp_path), UPSTREAM_NEW)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "upstream.conf").stat().st_mode) == 0o644


def test_write_upstream_into_a_missing_folder_raises_oserror(tmp_path) -> None:
    # switched() catches OSError and points the proxy back at the previous container.
    with pytest.raises(OSError):
        switch_proxy.write_upstream(str(tmp_path / "missing"), UPSTREAM_NEW)
