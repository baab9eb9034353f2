"""playbooks/setup.yml on a lab of its own with two bare servers (SSH as `deploy` with sudo, no engine): bad input
and an unreachable server fail before any change, check mode changes nothing, a real run makes both ready Docker
hosts, a second run changes nothing, and a config change restarts the engine without stopping running containers."""
from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from support.lab import LAB_STATE, ansible_playbook, labelled, require

pytestmark = [pytest.mark.lab, pytest.mark.slow]

BARE = "steadybare"
REGISTRY = "127.0.0.1:15095"
HOSTS = {"bare1": 2295, "bare2": 2296}
CLOSED_PORT = 2297
SETTINGS = [
    "-e", f"lab_name={BARE}",
    "-e", f"lab_registry={REGISTRY}",
    "-e", "local_lab_postgres_port=15495", "-e", "local_lab_redis_port=16395",
    "-e", "local_lab_prometheus_port=19095", "-e", "local_lab_balancer_port=18095",
    "-e", json.dumps({"local_lab_app_hosts": [
        {"name": "bare1", "ssh_port": HOSTS["bare1"], "http_port": 18096, "bare": True},
        {"name": "bare2", "ssh_port": HOSTS["bare2"], "http_port": 18097, "bare": True}]}),
]
SSH_DIR = LAB_STATE / BARE / "ssh"
PROXY_IMAGE = f"{REGISTRY}/steady-lab/nginx:bookworm"
ROTATION = {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "5"}, "live-restore": True}
# Only as far as its input checks and check mode: no repository of Docker's can be reached from here.
DOCKER_REPO = ["-e", "server_setup_engine_source=docker",
               "-e", "server_setup_docker_repo_url=https://apt.invalid/debian",
               "-e", "server_setup_docker_repo_key=-----BEGIN PGP PUBLIC KEY BLOCK-----"]


def _inventory(path: Path, hosts: dict[str, dict]) -> str:
    """The bare servers as an operator's inventory would name them: a sudo user, a key, pinned host keys."""
    path.write_text(yaml.safe_dump({"all": {"children": {"app_hosts": {"hosts": hosts, "vars": {
        "ansible_host": "127.0.0.1",
        "ansible_user": "deploy",
        "ansible_ssh_private_key_file": str(SSH_DIR / "id_ed25519"),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={SSH_DIR / 'known_hosts'} -o StrictHostKeyChecking=yes",
        "app_name": "app",
        # The lab registry's copy of the proxy image (no Docker Hub here).
        "server_setup_proxy_image": PROXY_IMAGE,
    }}}}}))
    return str(path)


def _ssh(host: str, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A fresh SSH session as `deploy` (so a new group membership counts), exactly as the playbook logs in."""
    return subprocess.run(
        ["ssh", "-p", str(HOSTS[host]), "-i", str(SSH_DIR / "id_ed25519"), "-o", "IdentitiesOnly=yes",
         "-o", f"UserKnownHostsFile={SSH_DIR / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "deploy@127.0.0.1", command],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=check)


def _recap(result: subprocess.CompletedProcess[str], host: str) -> dict[str, int]:
    match = re.search(rf"^{host}\s*:\s*(.*)$", result.stdout, re.M)
    assert match, result.stdout[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def _state(host: str) -> str:
    """What setup would change, read without changing it."""
    return _ssh(host, "dpkg-query -W -f='${Package} ${Status}\\n' docker.io python3-requests 2>&1; "
                      "cat /etc/docker/daemon.json; ls -d /var/lib/steady 2>&1; command -v python3; true").stdout


def _text(result: subprocess.CompletedProcess[str]) -> str:
    """The output with YAML's line folding undone, so that a long message reads as one line."""
    return " ".join(result.stdout.split())


def _setup(inventory: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = ansible_playbook("playbooks/setup.yml", "-i", inventory, *args, timeout=900)
    return result, time.monotonic() - started


def test_setup_makes_bare_servers_ready_docker_hosts(tmp_path: Path) -> None:
    engine = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode == 0
    require(engine, "no Docker engine answers")
    try:
        up = ansible_playbook("lab/playbooks/lab_up.yml", "--limit", "localhost", *SETTINGS, timeout=1200)
        assert up.returncode == 0, up.stdout[-3000:]
        inventory = _inventory(tmp_path / "hosts.yml", {"bare1": {"ansible_port": HOSTS["bare1"],
                                                                 "server_setup_docker_group": True},
                                                       "bare2": {"ansible_port": HOSTS["bare2"]}})
        # bare2 is a minimal install without Python, which setup installs first.
        _ssh("bare2", "sudo apt-get purge -y -q python3.11-minimal python3-minimal >/dev/null 2>&1")
        assert _ssh("bare2", "command -v python3", check=False).returncode != 0
        before = {host: _state(host) for host in HOSTS}
        assert "not-installed" in before["bare1"] or "no packages found" in before["bare1"], before["bare1"]
        assert '"dns"' in before["bare1"] and "live-restore" not in before["bare1"]

        # Bad input (an unknown engine source, Docker's source without its repository) and an unreachable server:
        # each fails with a message that says what to change, and nothing changes.
        bad = _setup(inventory, "-e", "server_setup_engine_source=snap")[0]
        assert bad.returncode != 0
        assert "server_setup_engine_source must be one of: distribution, docker, got: snap" in _text(bad), \
            bad.stdout[-3000:]
        no_repo = _setup(inventory, "-e", "server_setup_engine_source=docker")[0]
        assert no_repo.returncode != 0
        assert "set server_setup_docker_repo_url to the http(s) URL" in _text(no_repo), no_repo.stdout[-3000:]
        ghost = _inventory(tmp_path / "ghost.yml", {"ghost": {"ansible_port": CLOSED_PORT}})
        unreachable = _setup(ghost)[0]
        assert unreachable.returncode != 0
        assert f"ghost cannot be reached over SSH as deploy at 127.0.0.1:{CLOSED_PORT}" in _text(unreachable), \
            unreachable.stdout[-3000:]

        # Check mode: passes, says what it would install, changes nothing (bare2 stops once it says Python is
        # missing). Docker's repository is only rendered: its sources file must name the URL and the release.
        check = _setup(inventory, "--check", "--diff")[0]
        assert check.returncode == 0, check.stdout[-4000:]
        assert "bare1: would install python3-requests, python3-apt, docker.io" in _text(check), check.stdout[-4000:]
        assert "bare2: would install python3 first, then python3-requests, python3-apt, docker.io" in _text(check)
        assert '+    "live-restore": true' in check.stdout, check.stdout[-4000:]
        repo_check = _setup(inventory, "--check", "--diff", "--limit", "bare1", *DOCKER_REPO)[0]
        assert repo_check.returncode == 0, repo_check.stdout[-4000:]
        assert "+URIs: https://apt.invalid/debian" in repo_check.stdout and "+Suites: bookworm" in repo_check.stdout
        assert "would install python3-requests, python3-apt, docker-ce, docker-ce-cli, containerd.io" \
            in _text(repo_check), repo_check.stdout[-4000:]
        assert {host: _state(host) for host in HOSTS} == before, "check mode or a refused run changed a server"

        first, first_seconds = _setup(inventory)
        assert first.returncode == 0, first.stdout[-4000:]
        for host in HOSTS:
            assert _recap(first, host)["failed"] == 0
            info = _ssh(host, "sudo docker info --format '{{.ServerVersion}} {{.LiveRestoreEnabled}} "
                              "{{.LoggingDriver}}'")
            assert info.stdout.split()[1:] == ["true", "json-file"], info.stdout + info.stderr
            config = json.loads(_ssh(host, "cat /etc/docker/daemon.json").stdout)
            # Merged: the lab's resolver (this host's own address) stays beside rotation and live-restore.
            assert config == {"dns": [_ssh(host, "hostname -i").stdout.split()[0]], **ROTATION}
            assert _ssh(host, "python3 -c 'import requests'", check=False).returncode == 0
            assert _ssh(host, "test -d /var/lib/steady/app/proxy", check=False).returncode == 0
            assert _ssh(host, f"sudo docker image inspect {PROXY_IMAGE} >/dev/null", check=False).returncode == 0
        # Only where asked: the docker group is root in all but name.
        assert _ssh("bare1", "docker info --format '{{.ServerVersion}}'", check=False).returncode == 0
        assert _ssh("bare2", "docker info --format '{{.ServerVersion}}'", check=False).returncode != 0

        second, second_seconds = _setup(inventory)
        assert second.returncode == 0, second.stdout[-4000:]
        assert {host: _recap(second, host)["changed"] for host in HOSTS} == {"bare1": 0, "bare2": 0}, \
            second.stdout[-4000:]

        ready_check = _setup(inventory, "--check")[0]
        assert ready_check.returncode == 0, ready_check.stdout[-4000:]
        assert {host: _recap(ready_check, host)["changed"] for host in HOSTS} == {"bare1": 0, "bare2": 0}, \
            "check mode on a ready server must find nothing to change"

        # A ready server is not switched to the other engine source: refused before any change.
        switch = _setup(inventory, "--limit", "bare1", *DOCKER_REPO)[0]
        assert switch.returncode != 0
        assert "bare1 already has docker.io installed" in _text(switch), switch.stdout[-3000:]

        # A server already running containers on an engine without live-restore (as one set up by hand would): the
        # restart that applies the config keeps them running, since live-restore is turned on in place first.
        _ssh("bare2", "sudo python3 -c \"import json; p = '/etc/docker/daemon.json'; c = json.load(open(p)); "
                      "c.pop('live-restore'); json.dump(c, open(p, 'w'))\" && sudo service docker restart >/dev/null")
        probe = f"sudo docker run -d --name probe {PROXY_IMAGE} nginx -g 'daemon off;'"
        _ssh("bare2", f"timeout 30 sh -c 'until sudo docker info >/dev/null 2>&1; do sleep 1; done' && {probe}")
        started = _ssh("bare2", "sudo docker inspect -f '{{.State.StartedAt}} {{.State.Pid}}' probe").stdout
        assert _ssh("bare2", "sudo docker info --format '{{.LiveRestoreEnabled}}'").stdout.strip() == "false"
        restarted = _setup(inventory, "--limit", "bare2")[0]
        assert restarted.returncode == 0, restarted.stdout[-4000:]
        assert re.search(r"Turn live-restore on in the running engine\] \**\nchanged: \[bare2\]", restarted.stdout)
        assert re.search(r"Restart the engine\] \**\nchanged: \[bare2\]", restarted.stdout), restarted.stdout[-4000:]
        assert _ssh("bare2", "sudo docker inspect -f '{{.State.StartedAt}} {{.State.Pid}}' probe").stdout == started
        assert _ssh("bare2", "sudo docker info --format '{{.LiveRestoreEnabled}}'").stdout.strip() == "true"
        print(f"setup on two bare servers: first run {first_seconds:.0f} s, second run {second_seconds:.0f} s")
    finally:
        down = ansible_playbook("lab/playbooks/lab_down.yml", *SETTINGS, timeout=900)
    assert down.returncode == 0, down.stdout[-3000:]
    assert labelled("container", BARE) == []
    assert labelled("volume", BARE) == []
    assert not (LAB_STATE / BARE).exists()
