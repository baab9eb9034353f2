#!/usr/bin/python
"""Move one host's proxy from the live container to a new one, or back, or retire the old one.

One module call per host instead of a dozen tasks: every task is an SSH round trip of 0.2-0.4 s, and the serial
part of a roll-out is paid once per batch. It drives the `docker` CLI that comes with every engine, so the host
needs nothing more than the engine and Python."""
from __future__ import annotations

DOCUMENTATION = r"""
module: rolling_restart_switch
short_description: Switch a host's nginx proxy between containers of a service
description:
  - C(state=switched) starts the new container beside the live one, waits until it answers 200 on its ready path
    (probed every I(ready_interval) seconds from the host), writes the proxy's upstream, checks the config with
    C(nginx -t), reloads nginx gracefully (or starts the proxy on a first deploy) and then runs I(checks) through
    the proxy. A new container that never becomes ready is removed; when a check through the proxy does not pass
    within I(check_timeout), the proxy is pointed back at the previous container and the new one is removed.
    Either way the task fails, says which check failed and what it answered, and the previous container keeps
    serving. With I(retire_in_background), once the host passed, a detached process on the host drains and stops
    the previous container (as C(state=retired) would) and reports to C(retire-<previous>.json) beside
    I(proxy_dir); otherwise the previous container is left running, out of the proxy.
  - C(state=reverted) points the proxy back at I(previous) and removes I(name) (stops it, when I(existing) was
    C(reusable)).
  - C(state=retired) collects the background retire of I(previous) when one runs or ran (and fails when it
    failed); otherwise it waits until I(drain_until) and until the proxy's old workers are gone, then stops
    I(previous) and keeps it for a fast rollback.
options:
  state: {type: str, choices: [switched, reverted, retired], default: switched}
  name: {type: str, required: true, description: The new container.}
  previous: {type: str, default: "", description: The container that served before; empty on a first deploy.}
  image: {type: str, default: ""}
  network: {type: str, default: ""}
  env: {type: dict, default: {}}
  labels: {type: dict, default: {}}
  stop_timeout: {type: int, default: 25}
  container_port: {type: int, default: 8000}
  ready_path: {type: str, default: /health/ready}
  ready_timeout: {type: float, default: 60}
  ready_interval: {type: float, default: 0.1}
  proxy_name: {type: str, required: true}
  proxy_image: {type: str, default: ""}
  proxy_dir: {type: path, required: true, description: Host folder with nginx.conf, mounted into the proxy.}
  proxy_port: {type: int, default: 80, description: Port the proxy publishes on the host.}
  proxy_labels: {type: dict, default: {}}
  upstream_new: {type: str, default: "", description: upstream.conf that points at I(name).}
  upstream_previous: {type: str, default: "", description: upstream.conf that points at I(previous).}
  drain_until: {type: float, default: 0, description: Unix time before which I(previous) is not stopped.}
  existing:
    type: str
    choices: [absent, reusable, stale]
    default: absent
    description:
      - What the host already has under I(name), as the caller listed it. C(reusable), a stopped container with
        the same I(labels) (a release kept for a fast rollback), is started as it is; C(stale) is removed and
        created anew. Either way a name that turns out taken is removed and created anew.
  checks:
    type: list
    elements: dict
    default: []
    description:
      - Run through the proxy after the switch; each has C(path), and optionally C(json_key) and C(expect) (the
        value that key must have). Empty means the ready path alone.
  check_timeout: {type: float, default: 20, description: How long the checks through the proxy may take to pass.}
  retire_in_background:
    type: bool
    default: false
    description: After a switch that passed, retire I(previous) in a detached process.
  drain_seconds:
    type: float
    default: 2
    description: For the background retire, the least time from the switch to the stop.
"""

RETURN = r"""
container: {type: str, description: The container that serves after the call.}
previous: {type: str, description: The container that served before.}
ready_seconds: {type: float, description: From docker run to the new container's first 200 on the ready path.}
switched_at: {type: float, description: Unix time the proxy reloaded onto the new container.}
checks:
  type: list
  description: Per check through the proxy, C(path), C(status), C(passed), C(got) (the JSON key's value), C(body).
retiring: {type: bool, description: A background retire of the previous container was started.}
seconds:
  type: dict
  description: Where the call spent its time (C(start), C(ready), C(reload), C(checks)), to see what a batch costs.
"""

import http.client
import json
import os
import socket
import subprocess
import time
from urllib.parse import quote

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.release_checks_http import judge, probe

CONF_IN_PROXY = "/etc/nginx/steady/nginx.conf"


class SwitchError(Exception):
    pass


class CheckFailed(SwitchError):
    """A check through the proxy did not pass after the switch."""


def docker(*args: str, env: dict | None = None, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=120)
    if check and proc.returncode != 0:
        raise SwitchError(f"docker {' '.join(args[:2])} failed: {(proc.stderr or proc.stdout).strip()[:400]}")
    return proc.stdout.strip()


class _EngineConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def engine_socket() -> str:
    """Where the docker CLI would go: DOCKER_HOST, else the default socket unless a docker context other than the
    default one is in use (then '' and the CLI, which knows its contexts, is used)."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    context = os.environ.get("DOCKER_CONTEXT", "")
    if not context:
        config = os.path.join(os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker"), "config.json")
        try:
            with open(config, encoding="utf-8") as handle:
                context = json.load(handle).get("currentContext", "")
        except (OSError, ValueError, AttributeError):
            context = ""
    return "unix:///var/run/docker.sock" if context in ("", "default") else ""


def engine(method: str, path: str, timeout: float = 30) -> tuple[int, bytes] | None:
    """One call to the Docker Engine API on its local socket, for what the switch asks over and over (inspect, top)
    and the starts and stops on the roll-out's critical path: the docker CLI costs a process start each time, some
    50 ms on a busy host, CPU taken from the containers that are starting. None when the engine is not on a local
    socket: the caller falls back to the CLI."""
    host = engine_socket()
    if not host.startswith("unix://"):
        return None
    conn = _EngineConnection(host[len("unix://"):], timeout)
    try:
        conn.request(method, path)
        answer = conn.getresponse()
        return answer.status, answer.read()
    except OSError:
        return None
    finally:
        conn.close()


def inspect(name: str) -> dict:
    answer = engine("GET", f"/containers/{quote(name)}/json")
    if answer is not None:
        return json.loads(answer[1]) if answer[0] == 200 else {}
    out = docker("container", "inspect", name, check=False)
    try:
        found = json.loads(out) if out else []
    except ValueError:
        found = []
    return found[0] if found else {}


def _container_post(name: str, action: str, cli: tuple[str, ...], query: str = "", timeout: float = 120,
                    check: bool = True) -> None:
    """POST /containers/<name>/<action> on the engine's socket (204, or 304: it already was), else the CLI."""
    answer = engine("POST", f"/containers/{quote(name)}/{action}{query}", timeout=timeout)
    if answer is None:
        docker(*cli, name, check=check)
    elif check and answer[0] not in (204, 304):
        raise SwitchError(f"docker {action} {name} failed: {answer[1].decode(errors='replace').strip()[:400]}")


def start(name: str) -> None:
    _container_post(name, "start", ("start",))


def stop(name: str, timeout: int, check: bool = True) -> None:
    """SIGTERM, SIGKILL after `timeout` s; returns once the container is down."""
    _container_post(name, "stop", ("stop", "-t", str(timeout)), f"?t={int(timeout)}", int(timeout) + 60, check)


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
        pid, _, args = line.strip().partition(" ")
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


def wait_until(url: str, timeout: float, interval: float, alive=None) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    status, body = 0, "not probed"
    next_alive_check = time.monotonic() + 1.0
    while True:
        status, body = probe(url, timeout=max(1.0, interval))
        if status == 200:
            return status, body
        # Once a second, not every probe: asking the engine costs more than a probe and competes with the start.
        if alive is not None and time.monotonic() >= next_alive_check:
            if not alive():
                return status, body + " (the container exited)"
            next_alive_check = time.monotonic() + 1.0
        if time.monotonic() >= deadline:
            return status, body
        time.sleep(interval)


def run_checks(base_url: str, checks: list[dict], timeout: float, interval: float) -> list[dict]:
    """Every check until all pass or the time is up; a proxy that just reloaded may need a moment."""
    deadline = time.monotonic() + timeout
    while True:
        results = [judge(check, *probe(base_url + check["path"])) for check in checks]
        if all(r["passed"] for r in results) or time.monotonic() >= deadline:
            return results
        time.sleep(interval)


def describe(check: dict, wanted: dict) -> str:
    """One failed check in words: the path, what answered and, for a JSON key, what it held."""
    said = f"GET {check['path']} through the proxy answered {check['status'] or 'nothing'}"
    if check["status"] == 200 and wanted.get("json_key"):
        said += f" ({wanted['json_key']} '{check['got']}', expected '{wanted.get('expect')}')"
    return f"{said}: {check['body'].strip()[:200]}"


def switched(module: AnsibleModule, p: dict) -> dict:
    seconds = {}
    began = time.monotonic()
    run_env = dict(os.environ)
    args = ["run", "-d", "--name", p["name"], "--network", p["network"], "--restart", "unless-stopped",
            "--stop-timeout", str(p["stop_timeout"])]
    for key, value in sorted(p["labels"].items()):
        args += ["--label", f"{key}={value}"]
    for key, value in sorted(p["env"].items()):
        # `-e KEY` takes the value from docker's own environment: secrets never appear in a process list.
        args += ["-e", key]
        run_env[key] = "" if value is None else str(value)
    started = time.monotonic()  # start-to-ready counts the engine's create and start too
    if p["existing"] == "reusable":
        # The container this release ran before, stopped and kept for exactly this: starting it skips the create.
        try:
            start(p["name"])
        except SwitchError:
            p["existing"] = "stale"
    if p["existing"] == "stale":
        docker("rm", "-f", p["name"], check=False)
    if p["existing"] != "reusable":
        try:
            docker(*args, p["image"], env=run_env)
        except SwitchError as err:
            if "already in use" not in str(err):
                raise
            # Left over from an interrupted run of this very release, made after the caller listed the host.
            docker("rm", "-f", p["name"])
            docker(*args, p["image"], env=run_env)
    ip = inspect(p["name"]).get("NetworkSettings", {}).get("Networks", {}).get(p["network"], {}).get("IPAddress")
    seconds["start"] = round(time.monotonic() - started, 3)
    ready_url = f"http://{ip}:{p['container_port']}{p['ready_path']}"
    status, body = wait_until(ready_url, p["ready_timeout"], p["ready_interval"],
                              alive=lambda: inspect(p["name"]).get("State", {}).get("Running", False))
    if status != 200:
        logs = subprocess.run(["docker", "logs", "--tail", "15", p["name"]], capture_output=True, text=True,
                              timeout=30)
        lines = " | ".join((logs.stdout + logs.stderr).strip().splitlines())[-600:]
        done = set_aside(p)
        module.fail_json(
            msg=f"the new container {p['name']} ({p['image']}) did not answer 200 on GET {p['ready_path']} within "
                f"{p['ready_timeout']:g} s; last answer: {status or 'none'} {body.strip()[:300]}. It was {done}; "
                f"{p['previous'] or 'nothing'} keeps serving. Last log lines: {lines}",
            failed_check=f"GET {p['ready_path']}", changed=False)
    ready_seconds = round(time.monotonic() - started, 3)
    seconds["ready"] = round(ready_seconds - seconds["start"], 3)
    # From here traffic moves: should the proxy not pass the checks, it goes back to the previous container.
    checks = p["checks"] or [{"path": p["ready_path"]}]
    results: list[dict] = []
    try:
        mark = time.monotonic()
        write_upstream(p["proxy_dir"], p["upstream_new"])
        old_workers = start_or_reload_proxy(p)
        switched_at = time.time()
        seconds["reload"] = round(time.monotonic() - mark, 3)
        mark = time.monotonic()
        results = run_checks(f"http://127.0.0.1:{p['proxy_port']}", checks, p["check_timeout"], p["ready_interval"])
        seconds["checks"] = round(time.monotonic() - mark, 3)
        failed = [describe(r, c) for r, c in zip(results, checks) if not r["passed"]]
        if failed:
            raise CheckFailed(f"check {'; check '.join(failed)} (still after {p['check_timeout']:g} s)")
    except CheckFailed as err:
        back = reverted(p)
        module.fail_json(msg=f"{err}. Switched back to {p['previous'] or 'nothing'} and {back['new_container']} "
                             f"the new container {p['name']}.{back['note']}",
                         failed_check="through the proxy", checks=results, changed=True)
    except (SwitchError, OSError, subprocess.SubprocessError) as err:
        back = reverted(p)
        module.fail_json(
            msg=f"the proxy did not serve {p['name']} after the switch ({err}). Switched back to "
                f"{p['previous'] or 'nothing'} and {back['new_container']} the new container.{back['note']}",
            failed_check="proxy", checks=results, changed=True)
    seconds["total"] = round(time.monotonic() - began, 3)
    retiring = False
    if p["retire_in_background"] and p["previous"] and p["previous"] != p["name"]:
        # The host passed its checks: the old container drains and stops in a process of its own, so that the
        # next batch does not wait for it and no extra round trip is paid; state=retired collects it.
        retiring = spawn_retire({**p, "drain_until": switched_at + p["drain_seconds"],
                                 "old_workers": sorted(old_workers)})
    return {"changed": True, "container": p["name"], "previous": p["previous"], "ready_seconds": ready_seconds,
            "switched_at": switched_at, "checks": results, "seconds": seconds, "retiring": retiring}


def reverted(p: dict) -> dict:
    """Back to the previous container. `note` says so when requests to the new one were cut (empty otherwise)."""
    note = ""
    if p["previous"] and p["upstream_previous"]:
        write_upstream(p["proxy_dir"], p["upstream_previous"])
        if inspect(p["proxy_name"]).get("State", {}).get("Running"):
            old = reload_proxy(p)
            # Requests the new container is still answering (through the old workers) finish first.
            wait = old_workers_timeout(p)
            if not wait_old_workers_gone(p, wait, old):
                note = (f" nginx's workers from before the switch back still ran after {wait:g} s: requests they "
                        f"were still sending to {p['name']} were cut.")
    done = set_aside(p) if p["name"] != p["previous"] else "kept"
    result = {"changed": True, "container": p["previous"], "previous": p["name"], "new_container": done,
              "note": note}
    if note:
        result["warnings"] = [note.strip()]
    return result


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
    outcome there when it is done."""
    path = retire_status_path(p)
    try:
        first = os.fork()
    except OSError:
        return False
    if first:
        _, code = os.waitpid(first, 0)
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


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["switched", "reverted", "retired"], "default": "switched"},
            "name": {"type": "str", "required": True},
            "previous": {"type": "str", "default": ""},
            "image": {"type": "str", "default": ""},
            "network": {"type": "str", "default": ""},
            "env": {"type": "dict", "default": {}, "no_log": True},
            "labels": {"type": "dict", "default": {}},
            "stop_timeout": {"type": "int", "default": 25},
            "container_port": {"type": "int", "default": 8000},
            "ready_path": {"type": "str", "default": "/health/ready"},
            "ready_timeout": {"type": "float", "default": 60},
            "ready_interval": {"type": "float", "default": 0.1},
            "proxy_name": {"type": "str", "required": True},
            "proxy_image": {"type": "str", "default": ""},
            "proxy_dir": {"type": "path", "required": True},
            "proxy_port": {"type": "int", "default": 80},
            "proxy_labels": {"type": "dict", "default": {}},
            "upstream_new": {"type": "str", "default": ""},
            "upstream_previous": {"type": "str", "default": ""},
            "drain_until": {"type": "float", "default": 0},
            "existing": {"type": "str", "choices": ["absent", "reusable", "stale"], "default": "absent"},
            "retire_in_background": {"type": "bool", "default": False},
            "drain_seconds": {"type": "float", "default": 2},
            "checks": {"type": "list", "elements": "dict", "default": []},
            "check_timeout": {"type": "float", "default": 20},
        },
        required_if=[("state", "switched", ["image", "network", "proxy_image", "upstream_new"])],
        supports_check_mode=False,
    )
    p = module.params
    for check in p["checks"]:
        if not str(check.get("path", "")).startswith("/"):
            module.fail_json(msg=f"every check needs a path starting with '/': {check!r}")
    try:
        if p["state"] == "switched":
            result = switched(module, p)
        elif p["state"] == "reverted":
            result = reverted(p)
        else:
            result = retired(p)
    except (SwitchError, OSError, subprocess.SubprocessError) as err:
        module.fail_json(msg=str(err), changed=True)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
