#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Move one host's proxy from the live container to a new one, or back, or retire the old one.

One module call per host instead of a dozen tasks: every task is an SSH round trip of 0.2-0.4 s, and the serial
part of a roll-out is paid once per batch. It drives the `docker` CLI that comes with every engine, so the host
needs nothing more than the engine and Python.

The engine client, nginx and the retiring of containers are in module_utils (switch_engine, switch_proxy,
switch_retire); this file is the orchestration of a switch, a switch back and a retire."""
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
author:
  - steady maintainers (!UNKNOWN)
requirements:
  - The C(docker) CLI and a Docker engine on the host (the engine's local socket is used when there is one).
notes:
  - Does not support check mode.
options:
  state:
    type: str
    choices: [switched, reverted, retired]
    default: switched
    description: What to do; see the description above.
  name:
    type: str
    required: true
    description: The new container.
  previous:
    type: str
    default: ""
    description: The container that served before; empty on a first deploy.
  image:
    type: str
    default: ""
    description: The image of the new container. Required with C(state=switched).
  network:
    type: str
    default: ""
    description:
      - The Docker network the new container (and, on a first deploy, the proxy) joins; the proxy reaches the
        container on it. Required with C(state=switched).
  env:
    type: dict
    default: {}
    description:
      - Ordinary environment of the new container (log levels, feature flags). Its values are shown like any other
        argument; put secrets in I(secret_env).
  secret_env:
    type: dict
    default: {}
    description:
      - Secret environment of the new container, merged over I(env). Its values are masked in everything the module
        returns and never logged.
      - The values of both are passed through the environment of the C(docker) CLI, never on its command line.
  labels:
    type: dict
    default: {}
    description: Labels of the new container.
  stop_timeout:
    type: int
    default: 25
    description:
      - Seconds a container has between SIGTERM and SIGKILL when it is stopped. Also the longest wait for the
        proxy's old workers when longer than 30 s.
  container_port:
    type: int
    default: 8000
    description: The port the service listens on inside the container.
  ready_path:
    type: str
    default: /health/ready
    description: The path that answers 200 once the new container is ready; also the check when I(checks) is empty.
  ready_timeout:
    type: float
    default: 60
    description: How long the new container may take to answer 200 on I(ready_path), in seconds.
  ready_interval:
    type: float
    default: 0.1
    description: Seconds between two probes of I(ready_path), and between two rounds of I(checks).
  proxy_name:
    type: str
    required: true
    description: The nginx container in front of the service.
  proxy_image:
    type: str
    default: ""
    description: The nginx image, to start the proxy on a first deploy. Required with C(state=switched).
  proxy_dir:
    type: path
    required: true
    description: Host folder with nginx.conf, mounted into the proxy.
  proxy_port:
    type: int
    default: 80
    description: Port the proxy publishes on the host.
  proxy_labels:
    type: dict
    default: {}
    description: Labels of the proxy, when it is started.
  upstream_new:
    type: str
    default: ""
    description: upstream.conf that points at I(name). Required with C(state=switched).
  upstream_previous:
    type: str
    default: ""
    description: upstream.conf that points at I(previous).
  drain_until:
    type: float
    default: 0
    description: Unix time before which I(previous) is not stopped.
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
  check_timeout:
    type: float
    default: 20
    description: How long the checks through the proxy may take to pass.
  retire_in_background:
    type: bool
    default: false
    description: After a switch that passed, retire I(previous) in a detached process.
  drain_seconds:
    type: float
    default: 2
    description: For the background retire, the least time from the switch to the stop.
"""

EXAMPLES = r"""
- name: Start the new container, switch the proxy to it once it is ready, and check it through the proxy
  steady.deploy.rolling_restart_switch:
    state: switched
    name: shop-20240102T1200
    previous: shop-20240101T0900
    existing: absent
    image: registry.example.com/shop:1.4.2
    network: shop
    env:
      DATABASE_URL: "{{ shop_database_url }}"
      LOG_LEVEL: info
    labels:
      io.steady.app: shop
      io.steady.release: "20240102T1200"
      io.steady.version: 1.4.2
    stop_timeout: 25
    container_port: 8000
    ready_path: /health/ready
    ready_timeout: 60
    checks:
      - path: /health/live
      - path: /health/ready
      - path: /version
        json_key: version
        expect: 1.4.2
    check_timeout: 20
    retire_in_background: true
    drain_seconds: 2
    proxy_name: shop-proxy
    proxy_image: nginx:1.27-bookworm
    proxy_dir: /var/lib/steady/shop/proxy
    proxy_port: 80
    proxy_labels:
      io.steady.app: shop
      io.steady.role: proxy
    upstream_new: |
      upstream shop_live {
          server shop-20240102T1200:8000;
          keepalive 32;
      }
    upstream_previous: |
      upstream shop_live {
          server shop-20240101T0900:8000;
          keepalive 32;
      }
  register: switch

- name: After the whole roll-out, make sure the old container drained and stopped (kept for a fast rollback)
  steady.deploy.rolling_restart_switch:
    state: retired
    name: shop-20240102T1200
    previous: shop-20240101T0900
    proxy_name: shop-proxy
    proxy_dir: /var/lib/steady/shop/proxy
    stop_timeout: 25
    drain_until: "{{ switch.switched_at | float + 2 }}"

- name: Undo a switch that was cut short, pointing the proxy back at the old container
  steady.deploy.rolling_restart_switch:
    state: reverted
    name: shop-20240102T1200
    previous: shop-20240101T0900
    proxy_name: shop-proxy
    proxy_dir: /var/lib/steady/shop/proxy
    upstream_previous: |
      upstream shop_live {
          server shop-20240101T0900:8000;
          keepalive 32;
      }
"""

RETURN = r"""
container:
  type: str
  returned: success
  description: The container that serves after the call.
  sample: shop-20240102T1200
previous:
  type: str
  returned: success
  description: The container that served before.
  sample: shop-20240101T0900
ready_seconds:
  type: float
  returned: when state=switched
  description: From docker run to the new container's first 200 on the ready path.
  sample: 1.874
switched_at:
  type: float
  returned: when state=switched and the switch passed
  description: Unix time the proxy reloaded onto the new container.
  sample: 1704196812.41
checks:
  type: list
  elements: dict
  returned: when state=switched, also when a check through the proxy failed
  description: Per check through the proxy, C(path), C(status), C(passed), C(got) (the JSON key's value), C(body).
retiring:
  type: bool
  returned: when state=switched
  description: A background retire of the previous container was started.
seconds:
  type: dict
  returned: when state=switched or state=retired
  description:
    - Where the call spent its time, to see what a batch costs. C(start), C(ready), C(reload), C(checks),
      C(total) for a switch; C(drain), C(old_workers), C(stop) for a retire.
  sample: {start: 0.412, ready: 1.462, reload: 0.318, checks: 0.051, total: 2.35}
new_container:
  type: str
  returned: when state=reverted
  description: What became of I(name), C(removed), C(stopped (kept, as before)) or C(kept).
  sample: removed
note:
  type: str
  returned: when state=reverted
  description: Says when requests to I(name) were cut because nginx's old workers outlived the wait; else empty.
failed_check:
  type: str
  returned: when state=switched failed
  description: Which check failed, C(GET <ready_path>), C(through the proxy) or C(proxy).
"""

import os
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.steady.deploy.plugins.module_utils.release_checks_http import judge, probe
from ansible_collections.steady.deploy.plugins.module_utils.switch_engine import (
    SwitchError,
    docker,
    inspect,
    last_log_lines,
    start,
)
from ansible_collections.steady.deploy.plugins.module_utils.switch_proxy import (
    old_workers_timeout,
    reload_proxy,
    start_or_reload_proxy,
    wait_old_workers_gone,
    write_upstream,
)
from ansible_collections.steady.deploy.plugins.module_utils.switch_retire import retired, set_aside, spawn_retire


class CheckFailed(SwitchError):
    """A check through the proxy did not pass after the switch."""


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


def run_command(p: dict) -> tuple[list[str], dict]:
    """The `docker run` arguments of the new container (its image left to add), and the environment to run the
    CLI with: it carries the values of the container's env."""
    run_env = dict(os.environ)
    args = ["run", "-d", "--name", p["name"], "--network", p["network"], "--restart", "unless-stopped",
            "--stop-timeout", str(p["stop_timeout"])]
    for key, value in sorted(p["labels"].items()):
        args += ["--label", f"{key}={value}"]
    for key, value in sorted({**p["env"], **p["secret_env"]}.items()):
        # `-e KEY` takes the value from docker's own environment: secrets never appear in a process list.
        args += ["-e", key]
        run_env[key] = "" if value is None else str(value)
    return args, run_env


def start_new(p: dict, args: list[str], run_env: dict) -> None:
    """Start the new container: a kept release as it is, anything else created anew. A kept release that does
    not start turns p["existing"] into "stale" (so that set_aside removes, not keeps, what is made instead)."""
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


def not_ready(p: dict, status: int, body: str) -> str:
    """Sets the new container that never became ready aside and says so, with its last log lines."""
    lines = last_log_lines(p["name"])
    done = set_aside(p)
    return (f"the new container {p['name']} ({p['image']}) did not answer 200 on GET {p['ready_path']} within "
            f"{p['ready_timeout']:g} s; last answer: {status or 'none'} {body.strip()[:300]}. It was {done}; "
            f"{p['previous'] or 'nothing'} keeps serving. Last log lines: {lines}")


def point_proxy_at_new(p: dict, seconds: dict) -> tuple[float, set[str]]:
    """Upstream to the new container, then nginx reloaded (or started). Returns when the proxy moved (Unix time)
    and the workers from before the reload."""
    mark = time.monotonic()
    write_upstream(p["proxy_dir"], p["upstream_new"])
    old_workers = start_or_reload_proxy(p)
    switched_at = time.time()
    seconds["reload"] = round(time.monotonic() - mark, 3)
    return switched_at, old_workers


def switched(module: AnsibleModule, p: dict) -> dict:
    seconds = {}
    began = time.monotonic()
    args, run_env = run_command(p)
    started = time.monotonic()  # start-to-ready counts the engine's create and start too
    start_new(p, args, run_env)
    ip = inspect(p["name"]).get("NetworkSettings", {}).get("Networks", {}).get(p["network"], {}).get("IPAddress")
    seconds["start"] = round(time.monotonic() - started, 3)
    ready_url = f"http://{ip}:{p['container_port']}{p['ready_path']}"
    status, body = wait_until(ready_url, p["ready_timeout"], p["ready_interval"],
                              alive=lambda: inspect(p["name"]).get("State", {}).get("Running", False))
    if status != 200:
        module.fail_json(msg=not_ready(p, status, body), failed_check=f"GET {p['ready_path']}", changed=False)
    ready_seconds = round(time.monotonic() - started, 3)
    seconds["ready"] = round(ready_seconds - seconds["start"], 3)
    # From here traffic moves: should the proxy not pass the checks, it goes back to the previous container.
    checks = p["checks"] or [{"path": p["ready_path"]}]
    results: list[dict] = []
    try:
        switched_at, old_workers = point_proxy_at_new(p, seconds)
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


ARGUMENT_SPEC = {
    "state": {"type": "str", "choices": ["switched", "reverted", "retired"], "default": "switched"},
    "name": {"type": "str", "required": True},
    "previous": {"type": "str", "default": ""},
    "image": {"type": "str", "default": ""},
    "network": {"type": "str", "default": ""},
    "env": {"type": "dict", "default": {}},
    "secret_env": {"type": "dict", "default": {}, "no_log": True},
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
}


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
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
