"""A new user's path from outside this repository, shared by the end-to-end tests of a service that is not the
reference one (tests/e2e/test_bare_servers.py, tests/e2e/test_third_party_app.py): a user's shell, the collection built and
installed as a user installs it, the scaffolded inventory pointed at lab servers, and timed steps."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import yaml

from bench.load import Load
from support.lab import ROOT, VENV_BIN


def user_env(collections: Path) -> dict[str, str]:
    """A user's shell: the installed collection, and none of this repository's Ansible settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return env | {"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_FORCE_COLOR": "0",
                  "PATH": f"{VENV_BIN}:{env.get('PATH', '')}"}


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)


def said(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stdout + result.stderr).split())


def install_collection(tmp_path: Path) -> dict[str, str]:
    """Build the collection's tarball and install it into a temporary collections path; the user's shell for it."""
    out, collections = tmp_path / "build", tmp_path / "collections"
    out.mkdir(), collections.mkdir()
    env = user_env(collections)
    built = run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), str(ROOT)],
                tmp_path, env)
    assert built.returncode == 0, said(built)
    tarball = next(out.glob("steady-deploy-*.tar.gz"))
    installed = run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(collections),
                     str(tarball)], tmp_path, env)
    assert installed.returncode == 0, said(installed)
    return env


def point_inventory_at_lab(deploy_dir: Path, hosts: dict[str, tuple[int, int]], ssh_dir: Path) -> None:
    """The user's servers in the scaffolded staging inventory: lab hosts on loopback SSH ports, the lab's key."""
    hosts_file = deploy_dir / "inventories" / "staging" / "hosts.yml"
    inventory = yaml.safe_load(hosts_file.read_text())
    group = inventory["all"]["children"]["app_hosts"]
    group["hosts"] = {name: {"ansible_port": ssh_port} for name, (ssh_port, _) in hosts.items()}
    group["vars"] |= {"ansible_host": "127.0.0.1",
                      "ansible_ssh_private_key_file": str(ssh_dir / "id_ed25519"),
                      "ansible_ssh_common_args": f"-o UserKnownHostsFile={ssh_dir / 'known_hosts'} "
                                                 "-o StrictHostKeyChecking=yes"}
    hosts_file.write_text(yaml.safe_dump(inventory, sort_keys=False))


class Steps:
    """The user's commands, each timed and required to succeed."""

    def __init__(self) -> None:
        self.timings: dict[str, object] = {}

    def run(self, name: str, argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        result = run(argv, cwd, env)
        self.timings[name] = round(time.monotonic() - start, 1)
        assert result.returncode == 0, f"{name}: {said(result)[-4000:]}"
        return result

    def playbook(self, name: str, deploy_dir: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
        """steady.deploy.<name before any '-'> on the staging inventory, from the service's deploy folder."""
        return self.run(name, [str(VENV_BIN / "ansible-playbook"), f"steady.deploy.{name.split('-')[0]}",
                               "-i", "inventories/staging", *extra], deploy_dir, env)

    def init(self, service_dir: Path, env: dict[str, str], *extra: str) -> Path:
        """`init` from the service's own folder into deploy/; the folder it wrote."""
        self.run("init", [str(VENV_BIN / "ansible-playbook"), "steady.deploy.init", "-e", "init_dest=deploy", *extra],
                 service_dir, env)
        return service_dir / "deploy"


def wait_balancer(port: int, reads: dict, rate: float = 40, burst: float = 1, timeout: float = 60) -> None:
    """Until a short burst of reads through the lab's front balancer fails nothing (HAProxy marks a host up two
    checks after it answers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = Load(f"http://127.0.0.1:{port}", rate=rate, workers=4, max_seconds=burst, **reads).start()
        time.sleep(burst)
        if probe.stop().failed == 0 and probe.result.sent > 0:
            return
    raise AssertionError("the balancer never served every request")
