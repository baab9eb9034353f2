# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rolling_restart_switch's retiring of containers: the new container set aside after a failed switch, and the
previous one drained and stopped (kept for a fast rollback) once the host passed, either now or in a detached
process on the host whose outcome a later call collects.

The detached process is a fork of the running module, not a new interpreter: it runs code that is already
imported, so it needs neither the module's file nor the AnsiballZ zip that Ansible ships the module and these
module_utils in (the zip's temporary folder is removed as soon as the module's own process exits). Everything the
retire calls is therefore imported at the top of this file, never inside a function."""
from __future__ import annotations

import json
import os
import time

from ansible_collections.steady.deploy.plugins.module_utils.switch_engine import SwitchError, docker, inspect, stop
from ansible_collections.steady.deploy.plugins.module_utils.switch_proxy import (
    old_workers_timeout,
    wait_old_workers_gone,
)


def set_aside(p: dict) -> str:
    """The new container after a failed switch: removed, unless it is a kept release that was only started again
    (then it is stopped and stays kept, as it was). Says which."""
    if p.get("existing") == "reusable":
        stop(p["name"], p["stop_timeout"], check=False)
        return "stopped (kept, as before)"
    docker("rm", "-f", p["name"], check=False)
    return "removed"


def retire_now(p: dict) -> dict:
    """Wait out the drain, then until the proxy's old workers are gone, then stop the old container (kept)."""
    seconds = {}
    mark = time.monotonic()
    wait = p["drain_until"] - time.time()
    if wait > 0:
        time.sleep(wait)
    seconds["drain"] = round(time.monotonic() - mark, 3)
    # The drain is at least drain_seconds, and lasts until the proxy's old workers are gone.
    mark = time.monotonic()
    wait_old_workers_gone(p, old_workers_timeout(p), set(p.get("old_workers") or ()))
    seconds["old_workers"] = round(time.monotonic() - mark, 3)
    state = inspect(p["previous"]).get("State", {}) if p["previous"] else {}
    if not state.get("Running"):
        return {"changed": False, "container": p["name"], "previous": p["previous"], "seconds": seconds}
    mark = time.monotonic()
    stop(p["previous"], p["stop_timeout"])
    seconds["stop"] = round(time.monotonic() - mark, 3)
    return {"changed": True, "container": p["name"], "previous": p["previous"], "seconds": seconds}


def retire_status_path(p: dict) -> str:
    """Where a background retire of the old container reports, beside the proxy's folder (not inside it: that one
    is mounted into nginx)."""
    return os.path.join(os.path.dirname(p["proxy_dir"].rstrip("/")), f"retire-{p['previous']}.json")


def write_status(path: str, status: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(status, handle)
    os.replace(tmp, path)


def spawn_retire(p: dict) -> bool:
    """Run retire_now in a detached process (double fork, own session, no inherited output: the SSH session of the
    module must not wait for it). Once this returns True, retire_status_path names the process's pid; it writes its
    outcome there when it is done.

    Both children leave with os._exit, never by returning or raising: they must not run the module's exit (its
    JSON answer) nor the AnsiballZ wrapper's clean-up, which removes the zip this code came from."""
    path = retire_status_path(p)
    try:
        first = os.fork()
    except OSError:
        return False
    if first:
        _pid, code = os.waitpid(first, 0)
        return code == 0 and os.path.exists(path)
    try:
        os.setsid()
        ready_r, ready_w = os.pipe()
        worker = os.fork()
        if worker:  # the first child names the worker, lets it go, and is gone
            write_status(path, {"state": "running", "pid": worker, "previous": p["previous"]})
            os.write(ready_w, b"1")
            os._exit(0)
        os.close(ready_w)
        os.read(ready_r, 1)  # never overwrite the "running" line with an outcome before it is written
        os.close(ready_r)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        try:
            result = retire_now(p)
            write_status(path, {"state": "done", **result})
        except Exception as err:  # noqa: BLE001 (whatever it was, the collector must hear of it)
            write_status(path, {"state": "failed", "msg": str(err), "previous": p["previous"]})
    except BaseException:  # noqa: BLE001 (a forked child never returns into the module)
        os._exit(1)
    os._exit(0)


def pid_alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError):
        return False
    return True


def retired(p: dict) -> dict:
    """Collect the background retire of the old container when one runs or ran; otherwise retire it now."""
    path = retire_status_path(p)
    deadline = max(p["drain_until"], time.time()) + old_workers_timeout(p) + 60
    status: dict = {}
    while time.time() < deadline:
        try:
            with open(path, encoding="utf-8") as handle:
                status = json.load(handle)
        except (OSError, ValueError):
            status = {}
        # No status, an outcome, or a worker that is gone (killed with its host's reboot): stop waiting.
        if status.get("state") != "running" or not pid_alive(status.get("pid")):
            break
        time.sleep(0.05)
    if os.path.exists(path):
        os.unlink(path)
    if status.get("state") == "done":
        return {key: status[key] for key in ("changed", "container", "previous", "seconds") if key in status}
    if status.get("state") == "failed":
        raise SwitchError(f"retiring {p['previous']} in the background failed: {status.get('msg')}")
    return retire_now(p)
