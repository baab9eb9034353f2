"""rolling_restart_switch's pure helpers: reading the proxy's nginx workers from `docker top` (with the docker
CLI replaced by a fake) and writing upstream.conf atomically. No Docker, no Ansible run."""
from __future__ import annotations

import importlib.util
import os
import stat

import pytest

from conftest import ROOT

_spec = importlib.util.spec_from_file_location("rolling_restart_switch",
                                               ROOT / "roles/rolling_restart/library/rolling_restart_switch.py")
switch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(switch)

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
            return self.tops.pop(0) if len(self.tops) > 1 else self.tops[0]
        return ""


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
    assert docker.calls == [(("top", "steady-proxy", "-eo", "pid,args"), {"check": False})]


def test_the_master_and_helper_processes_are_not_workers(fake) -> None:
    fake("PID                 COMMAND\n"
         "14339               nginx: master process nginx -c /etc/nginx/steady/nginx.conf -g daemon off;\n"
         "16060               nginx: cache manager process")
    assert switch.proxy_workers(P) == {}


def test_single_space_separated_top_output_is_read(fake) -> None:
    fake("PID COMMAND\n14339  nginx: master process nginx -c /etc/nginx/steady/nginx.conf\n"
         "16053  nginx: worker process\n16054  nginx: worker process is shutting down")
    assert switch.proxy_workers(P) == {"16053": False, "16054": True}


@pytest.mark.parametrize("out", ["", "Error: No such container: steady-proxy", "PID                 COMMAND"])
def test_a_missing_or_empty_proxy_has_no_workers(fake, out: str) -> None:
    fake(out)
    assert switch.proxy_workers(P) == {}


# --- reload_proxy ------------------------------------------------------------------------------------------------

OLD_ONLY = "PID COMMAND\n100  nginx: master process nginx\n101  nginx: worker process\n102  nginx: worker process"
NEW_UP = "PID COMMAND\n100  nginx: master process nginx\n101  nginx: worker process is shutting down\n" \
         "201  nginx: worker process"


def test_reload_checks_the_config_first_and_returns_once_a_new_worker_runs(fake) -> None:
    docker = fake(OLD_ONLY, OLD_ONLY, NEW_UP)
    switch.reload_proxy(P, timeout=5)
    commands = [args for args, _ in docker.calls]
    conf = switch.CONF_IN_PROXY
    assert commands[0] == ("exec", "steady-proxy", "nginx", "-t", "-q", "-c", conf)
    assert commands[1] == ("top", "steady-proxy", "-eo", "pid,args")
    assert commands[2] == ("exec", "steady-proxy", "nginx", "-s", "reload", "-c", conf)
    assert commands[3:] == [("top", "steady-proxy", "-eo", "pid,args")] * 2


def test_reload_without_new_workers_fails(fake) -> None:
    fake(OLD_ONLY)
    with pytest.raises(switch.SwitchError, match="did not start new workers within 0.2 s"):
        switch.reload_proxy(P, timeout=0.2)


def test_a_config_that_does_not_load_is_never_reloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []

    def docker(*args: str, env: dict | None = None, check: bool = True) -> str:
        calls.append(args)
        if "-t" in args:
            raise switch.SwitchError("docker exec steady-proxy failed: nginx: [emerg] unexpected end of file")
        return ""

    monkeypatch.setattr(switch, "docker", docker)
    with pytest.raises(switch.SwitchError, match="emerg"):
        switch.reload_proxy(P, timeout=1)
    assert not any("reload" in args for args in calls)


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
