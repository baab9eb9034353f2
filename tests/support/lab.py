"""The local lab as the tests see it: where it is (read from inventories/local, as Ansible reads it), how to reach
its hosts and run playbooks on it, and the guard that turns "lab missing" into a failure under CI."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventories" / "local"
VENV_BIN = ROOT / ".venv" / "bin"
# Per machine, like the lab's containers (see local_lab_state_dir).
LAB_STATE = Path.home() / ".local" / "state" / "steady-lab"


@dataclass(frozen=True)
class AppHost:
    name: str
    ssh_port: int
    http_port: int


@dataclass(frozen=True)
class Lab:
    name: str
    state_dir: Path
    registry: str
    postgres_port: int
    redis_port: int
    prometheus_port: int
    balancer_port: int
    hosts: tuple[AppHost, ...]
    app_repository: str

    def secret(self, name: str) -> str:
        return (self.state_dir / "secrets" / name).read_text().strip()

    @property
    def db_password(self) -> str:
        return self.secret("db_password")

    @property
    def redis_password(self) -> str:
        return self.secret("redis_password")


def load_lab() -> Lab:
    """Reads the lab's plain settings straight from inventories/local (the same files Ansible reads)."""
    hosts_doc = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    lab_vars = yaml.safe_load((INVENTORY / "group_vars" / "all" / "lab.yml").read_text())
    app_vars = yaml.safe_load((INVENTORY / "group_vars" / "all" / "app.yml").read_text())
    app_hosts = hosts_doc["all"]["children"]["app_hosts"]["hosts"]
    name = lab_vars["lab_name"]
    registry = lab_vars["lab_registry"]
    return Lab(
        name=name,
        state_dir=LAB_STATE / name,
        registry=registry,
        postgres_port=int(lab_vars["local_lab_postgres_port"]),
        redis_port=int(lab_vars["local_lab_redis_port"]),
        prometheus_port=int(lab_vars["local_lab_prometheus_port"]),
        balancer_port=int(lab_vars["local_lab_balancer_port"]),
        hosts=tuple(AppHost(h, int(v["ansible_port"]), int(v["lab_http_port"])) for h, v in app_hosts.items()),
        app_repository=app_vars["app_image_repository"].replace("{{ lab_registry }}", registry),
    )


def require(condition: bool, why: str) -> None:
    """Outside CI a missing lab skips; under CI it fails, so a green run always means the real thing ran."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{why} (CI=true: a missing lab is a failure; run `make up`)")
    pytest.skip(f"{why}; run `make up`")


def ssh(lab: Lab, host: AppHost, *argv: str, check: bool = True,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Runs a command on an app host exactly as Ansible reaches it: the lab key and pinned host keys. One SSH
    connection per host, kept for 30 s after its last use and shared by every call (ControlMaster): a call then
    costs about 10 ms instead of a 0.3 s handshake, and the suite makes well over a thousand of them."""
    ssh_dir = lab.state_dir / "ssh"
    return subprocess.run(
        ["ssh", "-p", str(host.ssh_port), "-i", str(ssh_dir / "id_ed25519"),
         "-o", f"UserKnownHostsFile={ssh_dir / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
         "-o", "BatchMode=yes", "-o", "ControlMaster=auto", "-o", "ControlPath=/tmp/steady-tests-ssh-%C",
         "-o", "ControlPersist=30", "root@127.0.0.1", shlex.join(argv)],
        # Its own stdin, never the test run's: ssh makes its stdin non-blocking, and on a shared stdin that breaks
        # every ansible-playbook started after it ("Ansible requires blocking IO on stdin").
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True, text=True, timeout=60, check=check, input=input,
    )


def _playbook_env(env: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0",
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", **(env or {})}


def ansible_playbook(*args: str, env: dict[str, str] | None = None,
                     timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "ansible-playbook"), *args], cwd=ROOT, env=_playbook_env(env),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)


def ansible_playbook_in_background(*args: str) -> subprocess.Popen[str]:
    """ansible-playbook as ansible_playbook() runs it, but started and left running: in a process group of its own
    (os.killpg stops or kills the run with its workers), its output (stderr with it) read from .stdout as it runs."""
    return subprocess.Popen([str(VENV_BIN / "ansible-playbook"), *args], cwd=ROOT, env=_playbook_env(None),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def labelled(kind: str, lab_name: str) -> list[str]:
    """Names of the containers, networks or volumes labelled as belonging to the lab `lab_name`."""
    argv = ["docker", kind, "ls", "--format", "{{.Names}}" if kind == "container" else "{{.Name}}",
            "--filter", f"label=io.steady.lab={lab_name}"]
    if kind == "container":
        argv.append("-a")
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout.split()


def docker_json(*argv: str) -> object:
    out = subprocess.run(["docker", *argv], capture_output=True, text=True, check=True, timeout=60).stdout
    return json.loads(out)
