# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rolling_restart_switch's engine client: the `docker` CLI that comes with every engine, and the Engine API on
the engine's local unix socket for what the switch asks over and over (inspect, top) and for the starts and stops
on a roll-out's critical path. Each call says what it needs; none knows about the module or its parameters.

The errors of the whole switch live here too (SwitchError, raised by the CLI wrapper, is what every layer above
catches)."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
from urllib.parse import quote

from ansible_collections.steady.deploy.plugins.module_utils.redact import redact


class SwitchError(Exception):
    pass


def docker(*args: str, env: dict | None = None, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    if check and proc.returncode != 0:
        raise SwitchError(f"docker {' '.join(args[:2])} failed: {(proc.stderr or proc.stdout).strip()[:400]}")
    return proc.stdout.strip()


def last_log_lines(name: str) -> str:
    """The container's last 15 log lines (stdout and stderr), on one line, at most the last 600 characters, without
    the password of any URL it printed (its secret values the module masks itself: secret_env is no_log)."""
    logs = subprocess.run(["docker", "logs", "--tail", "15", name], capture_output=True, text=True, timeout=30,
                          check=False)
    return redact(" | ".join((logs.stdout + logs.stderr).strip().splitlines()))[-600:]


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
    except (OSError, http.client.HTTPException):  # no engine there, or no HTTP from it: the CLI says why
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
