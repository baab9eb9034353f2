# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rolling_restart_switch's retiring of containers (module_utils/switch_retire): a new container set aside after a
failed switch, and the old container's retire in a process of its own and its collection. No Docker, no Ansible
run."""
from __future__ import annotations

import json
import os
import time

import pytest

from ansible_collections.steady.deploy.plugins.module_utils import switch_engine, switch_retire
from support.fake_docker import use_docker


def test_a_started_kept_release_that_fails_is_stopped_and_kept_not_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    use_docker(monkeypatch, lambda *args, **_: calls.append(args[:2]) or "")
    kept = {"name": "app-1", "existing": "reusable", "stop_timeout": 25}
    assert switch_retire.set_aside(kept) == "stopped (kept, as before)"
    assert switch_retire.set_aside({"name": "app-2", "existing": "absent", "stop_timeout": 25}) == "removed"
    assert calls == [("stop", "-t"), ("rm", "-f")]  # no engine socket here: the CLI


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

    monkeypatch.setattr(switch_retire, "retire_now", retire_now)
    params = retire_params(tmp_path)
    began = time.monotonic()
    assert switch_retire.spawn_retire(params) is True
    assert time.monotonic() - began < 0.25, "spawning must not wait for the retire"
    status = json.loads((tmp_path / "retire-app-1.json").read_text())
    assert status["state"] == "running" and status["pid"] != os.getpid()
    result = switch_retire.retired(params)
    assert result["changed"] and result["previous"] == "app-1"
    assert result["seconds"]["worker_pid"] == status["pid"]
    assert not (tmp_path / "retire-app-1.json").exists()


def test_a_background_retire_that_failed_fails_its_collection(tmp_path) -> None:
    params = retire_params(tmp_path)
    (tmp_path / "retire-app-1.json").write_text(json.dumps({"state": "failed", "msg": "docker stop timed out"}))
    with pytest.raises(switch_engine.SwitchError,
                       match="retiring app-1 in the background failed: docker stop timed out"):
        switch_retire.retired(params)


def test_without_a_living_background_retire_the_collection_retires_itself(tmp_path, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(switch_retire, "retire_now", lambda p: calls.append(p["previous"]) or {"changed": True})
    params = retire_params(tmp_path)
    assert switch_retire.retired(params) == {"changed": True}  # no status at all: a run that was cut short
    (tmp_path / "retire-app-1.json").write_text(json.dumps({"state": "running", "pid": 2 ** 22 + 7}))  # above pid_max
    assert switch_retire.retired(params) == {"changed": True}  # its process is gone (a reboot): do it here
    assert calls == ["app-1", "app-1"]
