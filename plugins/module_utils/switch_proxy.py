# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rolling_restart_switch's nginx side: the upstream file, the proxy's workers read with `docker top`, the
graceful reload (only once `nginx -t` passed) and the wait for the old workers, and the proxy's first start.

`p` is the module's parameters; each function reads only the keys it names (proxy_name, and where said
stop_timeout, network, proxy_port, proxy_dir, proxy_labels, proxy_image)."""
from __future__ import annotations

import json
import os
import time
from urllib.parse import quote

from ansible_collections.steady.deploy.plugins.module_utils.switch_engine import SwitchError, docker, engine, inspect

CONF_IN_PROXY = "/etc/nginx/steady/nginx.conf"


def write_upstream(proxy_dir: str, content: str) -> None:
    """Atomically: nginx must never read half a file."""
    path = os.path.join(proxy_dir, "upstream.conf")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(content)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def proxy_workers(p: dict) -> dict[str, bool]:
    """PID -> "is shutting down" of the proxy's nginx workers, read with `docker top` (no ps needed inside)."""
    answer = engine("GET", f"/containers/{quote(p['proxy_name'])}/top?ps_args={quote('-eo pid,args')}")
    # No such container (404) or not running (409): no workers. Any other failure is not known, never "none".
    if answer is not None:
        if answer[0] not in (200, 404, 409):
            raise SwitchError(f"the engine did not list the processes of {p['proxy_name']}: {answer[0]} "
                              f"{answer[1][:200].decode(errors='replace')}")
        found = json.loads(answer[1]) if answer[0] == 200 else {}
        return {str(pid): "shutting down" in args for pid, args in found.get("Processes") or []
                if "nginx: worker process" in args}
    try:
        out = docker("top", p["proxy_name"], "-eo", "pid,args")
    except SwitchError as err:
        if "No such container" in str(err) or "is not running" in str(err):
            return {}
        raise
    workers = {}
    for line in out.splitlines()[1:]:
        pid, _sep, args = line.strip().partition(" ")
        if "nginx: worker process" in args:
            workers[pid] = "shutting down" in args
    return workers


def reload_proxy(p: dict, timeout: float = 60, before: set[str] | None = None) -> set[str]:
    """nginx -t first: a config that does not load never replaces one that serves. Then a graceful reload, and
    wait until a worker of the new generation runs: `nginx -s reload` only signals the master, which on a busy
    host may take seconds to act, and until it does the old workers still send new requests to the old upstream.
    Returns the workers from before the reload: the ones that may still send to the old upstream."""
    if before is None:
        before = set(proxy_workers(p))
    # One exec for both (`&&`: no reload unless the test passed): each `docker exec` costs a few hundred ms on a
    # busy host, and this is the serial path of a roll-out.
    docker("exec", p["proxy_name"], "sh", "-c", f"nginx -t -q -c {CONF_IN_PROXY} && nginx -s reload -c {CONF_IN_PROXY}")
    if _workers_until(p, lambda workers: any(pid not in before and not down for pid, down in workers.items()),
                      timeout, 0.05):
        return before
    raise SwitchError(f"nginx in {p['proxy_name']} did not start new workers within {timeout:g} s of the reload")


def wait_old_workers_gone(p: dict, timeout: float, old: set[str] | frozenset[str] = frozenset()) -> bool:
    """Old workers finish their in-flight requests, then exit: only then has nothing left to send to the old
    container. `old` names the workers from before the reload: the master starts the new workers first and only
    then tells the old ones to quit, so for a moment they still take requests without saying "shutting down".
    Says whether they are gone (False: still there when the time was up)."""
    return _workers_until(p, lambda workers: not any(down or pid in old for pid, down in workers.items()),
                          timeout, 0.1)


def _workers_until(p: dict, wanted, timeout: float, interval: float) -> bool:
    """Reads the proxy's workers until `wanted(workers)` holds (True) or the time is up (False). A list the engine
    did not give this time is asked for again: not known is neither "none" nor "done"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if wanted(proxy_workers(p)):
                return True
        except SwitchError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def old_workers_timeout(p: dict) -> float:
    """How long the proxy's old workers may take to finish their requests: 30 s, or a container's stop timeout
    when longer."""
    return max(30.0, float(p["stop_timeout"]))


def start_or_reload_proxy(p: dict) -> set[str]:
    """Returns the workers from before a reload (none when the proxy was started)."""
    workers = proxy_workers(p)
    if workers:  # a running nginx always has workers: reload it (and skip asking the engine twice)
        return reload_proxy(p, before=set(workers))
    proxy = inspect(p["proxy_name"])
    if proxy.get("State", {}).get("Running"):
        return reload_proxy(p)
    if proxy:
        docker("rm", "-f", p["proxy_name"])
    args = ["run", "-d", "--name", p["proxy_name"], "--network", p["network"], "--restart", "unless-stopped",
            "--stop-signal", "SIGQUIT", "-p", f"{p['proxy_port']}:80",
            "-v", f"{p['proxy_dir']}:{os.path.dirname(CONF_IN_PROXY)}:ro"]
    for key, value in sorted(p["proxy_labels"].items()):
        args += ["--label", f"{key}={value}"]
    docker(*args, p["proxy_image"], "nginx", "-c", CONF_IN_PROXY, "-g", "daemon off;")
    return set()
