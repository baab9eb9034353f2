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
    C(nginx -t), reloads nginx gracefully (or starts the proxy on a first deploy) and waits until the proxy answers
    ready. A new container that never becomes ready is removed; a proxy that does not serve after the switch is
    pointed back at the previous container. Either way the task fails and the previous container keeps serving.
  - C(state=reverted) points the proxy back at I(previous) and removes I(name).
  - C(state=retired) waits until I(drain_until), then stops I(previous) and keeps it for a fast rollback.
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
"""

RETURN = r"""
container: {type: str, description: The container that serves after the call.}
previous: {type: str, description: The container that served before.}
ready_seconds: {type: float, description: From docker run to the new container's first 200 on the ready path.}
switched_at: {type: float, description: Unix time the proxy reloaded onto the new container.}
"""

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule

CONF_IN_PROXY = "/etc/nginx/steady/nginx.conf"


class SwitchError(Exception):
    pass


def docker(*args: str, env: dict | None = None, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=120)
    if check and proc.returncode != 0:
        raise SwitchError(f"docker {' '.join(args[:2])} failed: {(proc.stderr or proc.stdout).strip()[:400]}")
    return proc.stdout.strip()


def inspect(name: str) -> dict:
    out = docker("container", "inspect", name, check=False)
    try:
        found = json.loads(out) if out else []
    except ValueError:
        found = []
    return found[0] if found else {}


def probe(url: str, timeout: float = 2.0) -> tuple[int, str]:
    """Status and the first bytes of the body; 0 and the error when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read(300).decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read(300).decode(errors="replace")
    except (OSError, ValueError) as err:
        return 0, str(err)


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
    out = docker("top", p["proxy_name"], "-eo", "pid,args", check=False)
    workers = {}
    for line in out.splitlines()[1:]:
        pid, _, args = line.strip().partition(" ")
        if "nginx: worker process" in args:
            workers[pid] = "shutting down" in args
    return workers


def reload_proxy(p: dict, timeout: float = 60) -> None:
    """nginx -t first: a config that does not load never replaces one that serves. Then a graceful reload, and
    wait until a worker of the new generation runs: `nginx -s reload` only signals the master, which on a busy
    host may take seconds to act, and until it does the old workers still send new requests to the old upstream."""
    docker("exec", p["proxy_name"], "nginx", "-t", "-q", "-c", CONF_IN_PROXY)
    before = set(proxy_workers(p))
    docker("exec", p["proxy_name"], "nginx", "-s", "reload", "-c", CONF_IN_PROXY)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(pid not in before and not down for pid, down in proxy_workers(p).items()):
            return
        time.sleep(0.05)
    raise SwitchError(f"nginx in {p['proxy_name']} did not start new workers within {timeout:g} s of the reload")


def wait_old_workers_gone(p: dict, timeout: float) -> None:
    """Old workers finish their in-flight requests, then exit: only then has nothing left to send to the old
    container."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(proxy_workers(p).values()):
        time.sleep(0.1)


def start_or_reload_proxy(p: dict) -> None:
    proxy = inspect(p["proxy_name"])
    if proxy.get("State", {}).get("Running"):
        reload_proxy(p)
        return
    if proxy:
        docker("rm", "-f", p["proxy_name"])
    args = ["run", "-d", "--name", p["proxy_name"], "--network", p["network"], "--restart", "unless-stopped",
            "--stop-signal", "SIGQUIT", "-p", f"{p['proxy_port']}:80",
            "-v", f"{p['proxy_dir']}:{os.path.dirname(CONF_IN_PROXY)}:ro"]
    for key, value in sorted(p["proxy_labels"].items()):
        args += ["--label", f"{key}={value}"]
    docker(*args, p["proxy_image"], "nginx", "-c", CONF_IN_PROXY, "-g", "daemon off;")


def wait_until(url: str, timeout: float, interval: float, alive=None) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    status, body = 0, "not probed"
    while True:
        status, body = probe(url, timeout=max(1.0, interval))
        if status == 200:
            return status, body
        if alive is not None and not alive():
            return status, body + " (the container exited)"
        if time.monotonic() >= deadline:
            return status, body
        time.sleep(interval)


def switched(module: AnsibleModule, p: dict) -> dict:
    if inspect(p["name"]):  # left over from an interrupted run of this very release
        docker("rm", "-f", p["name"])
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
    docker(*args, p["image"], env=run_env)

    ip = inspect(p["name"]).get("NetworkSettings", {}).get("Networks", {}).get(p["network"], {}).get("IPAddress")
    ready_url = f"http://{ip}:{p['container_port']}{p['ready_path']}"
    status, body = wait_until(ready_url, p["ready_timeout"], p["ready_interval"],
                              alive=lambda: inspect(p["name"]).get("State", {}).get("Running", False))
    if status != 200:
        logs = subprocess.run(["docker", "logs", "--tail", "15", p["name"]], capture_output=True, text=True,
                              timeout=30)
        lines = " | ".join((logs.stdout + logs.stderr).strip().splitlines())[-600:]
        docker("rm", "-f", p["name"], check=False)
        module.fail_json(
            msg=f"the new container {p['name']} ({p['image']}) did not answer 200 on GET {p['ready_path']} within "
                f"{p['ready_timeout']:g} s; last answer: {status or 'none'} {body.strip()[:300]}. It was removed; "
                f"{p['previous'] or 'nothing'} keeps serving. Last log lines: {lines}",
            failed_check=f"GET {p['ready_path']}", changed=False)
    ready_seconds = round(time.monotonic() - started, 3)

    # From here traffic moves: should the proxy not serve the new container, it goes back to the previous one.
    try:
        write_upstream(p["proxy_dir"], p["upstream_new"])
        start_or_reload_proxy(p)
        switched_at = time.time()
        status, body = wait_until(f"http://127.0.0.1:{p['proxy_port']}{p['ready_path']}", 20, p["ready_interval"])
        if status != 200:
            raise SwitchError(f"the proxy answered {status or 'nothing'} on GET {p['ready_path']}: {body[:200]}")
    except (SwitchError, OSError, subprocess.SubprocessError) as err:
        reverted(p)
        module.fail_json(
            msg=f"the proxy did not serve {p['name']} after the switch ({err}); switched back to "
                f"{p['previous'] or 'nothing'} and removed the new container.",
            failed_check="proxy", changed=True)
    return {"changed": True, "container": p["name"], "previous": p["previous"], "ready_seconds": ready_seconds,
            "switched_at": switched_at}


def reverted(p: dict) -> dict:
    if p["previous"] and p["upstream_previous"]:
        write_upstream(p["proxy_dir"], p["upstream_previous"])
        if inspect(p["proxy_name"]).get("State", {}).get("Running"):
            reload_proxy(p)
            # Requests the new container is still answering (through the old workers) finish first.
            wait_old_workers_gone(p, timeout=30.0)
    if p["name"] != p["previous"]:
        docker("rm", "-f", p["name"], check=False)
    return {"changed": True, "container": p["previous"], "previous": p["name"]}


def retired(p: dict) -> dict:
    wait = p["drain_until"] - time.time()
    if wait > 0:
        time.sleep(wait)
    # The drain is at least drain_seconds, and lasts until the proxy's old workers are gone.
    wait_old_workers_gone(p, timeout=max(30.0, float(p["stop_timeout"])))
    state = inspect(p["previous"]).get("State", {}) if p["previous"] else {}
    if not state.get("Running"):
        return {"changed": False, "container": p["name"], "previous": p["previous"]}
    docker("stop", "-t", str(p["stop_timeout"]), p["previous"])
    return {"changed": True, "container": p["name"], "previous": p["previous"]}


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
        },
        required_if=[("state", "switched", ["image", "network", "proxy_image", "upstream_new"])],
        supports_check_mode=False,
    )
    p = module.params
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
