"""Bad input to the lab playbook fails before anything is made, with a message that says what to do."""
from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.lab import LAB_STATE, ROOT, ansible_playbook, labelled, require

pytestmark = pytest.mark.lab

NOBODY = pwd.getpwnam("nobody")
KINDS = ("container", "network", "volume")

# A lab name of its own, so that nothing here can touch the main lab.
PROBE = "steadyprobe"
PROBE_HOSTS = json.dumps({"local_lab_app_hosts": [{"name": "probe1", "ssh_port": 2291, "http_port": 18091}]})



def _run_lab_up(*extra: str) -> subprocess.CompletedProcess[str]:
    return ansible_playbook("lab/playbooks/lab_up.yml", "--limit", "localhost",
                            "-e", f"lab_name={PROBE}", "-e", PROBE_HOSTS, "-e", "lab_registry=127.0.0.1:15091",
                            "-e", "local_lab_postgres_port=15491", "-e", "local_lab_redis_port=16391",
                            "-e", "local_lab_prometheus_port=19091", "-e", "local_lab_balancer_port=18090",
                            *extra, timeout=300)


@pytest.fixture()
def engine():
    ok = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode == 0
    require(ok, "no Docker engine answers")
    yield
    shutil.rmtree(LAB_STATE / PROBE, ignore_errors=True)


@pytest.fixture()
def taken_port():
    """A port held by a program that is not the lab."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_taken_port_is_refused_before_anything_is_made(engine: None, taken_port: int) -> None:
    result = _run_lab_up("-e", f"local_lab_prometheus_port={taken_port}")
    assert result.returncode != 0
    said = " ".join(result.stdout.split())
    assert f"Port {taken_port} on 127.0.0.1 (local_lab_prometheus_port) is already taken by another program. Stop" \
        in said, "only the taken port is named"
    assert "choose other ports in inventories/local (e.g. -e local_lab_prometheus_port=...)" in said
    assert {kind: labelled(kind, PROBE) for kind in KINDS} == {kind: [] for kind in KINDS}


@pytest.mark.parametrize(("extra", "expected"), [
    (["-e", "lab_name=Bad_Name"], "local_lab_name must be lower-case letters, digits and dashes"),
    (["-e", "local_lab_redis_port=15432", "-e", "local_lab_postgres_port=15432"], "every port must be a distinct"),
    (["-e", "local_lab_balancer_port=70000"], "every port must be a distinct number from\n1 to 65535"),
    (["-e", '{"local_lab_app_hosts": []}'], "local_lab_app_hosts needs at least one host"),
])
def test_invalid_settings_are_refused_before_anything_is_made(engine: None, extra: list[str],
                                                              expected: str) -> None:
    result = _run_lab_up(*extra)
    assert result.returncode != 0
    assert " ".join(expected.split()) in " ".join(result.stdout.split())
    assert "Validate the lab settings" in result.stdout
    assert {kind: labelled(kind, PROBE) for kind in KINDS} == {kind: [] for kind in KINDS}


@pytest.fixture(scope="module")
def unprivileged() -> Iterator[dict[str, str]]:
    """A user that is not root and cannot reach the engine's socket, with an Ansible of its own (the project's
    venv lives under root's home, which other users cannot enter)."""
    if os.geteuid() != 0:
        pytest.skip("switching to another user needs root")
    home = Path(tempfile.mkdtemp(prefix="steady-nobody-"))
    venv = home / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "ansible-core==2.19.14", "requests"],
                   check=True, timeout=600)
    for path in (home, *home.rglob("*")):
        os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid, follow_symlinks=False)
    os.chmod(home, 0o755)
    yield {"home": str(home), "venv": str(venv)}
    shutil.rmtree(home, ignore_errors=True)


def test_no_root_and_no_engine_is_refused_with_what_to_do(engine: None, unprivileged: dict[str, str]) -> None:
    collections = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
    env = ["env", f"HOME={unprivileged['home']}", f"ANSIBLE_LOCAL_TEMP={unprivileged['home']}/tmp",
           f"ANSIBLE_REMOTE_TEMP={unprivileged['home']}/rtmp", f"ANSIBLE_COLLECTIONS_PATH={collections}",
           f"ANSIBLE_CONFIG={ROOT / 'ansible.cfg'}", "ANSIBLE_FORCE_COLOR=0"]
    result = subprocess.run(
        ["runuser", "-u", NOBODY.pw_name, "--", *env, f"{unprivileged['venv']}/bin/ansible-playbook",
         "lab/playbooks/lab_up.yml", "--limit", "localhost",
         "-e", f"ansible_python_interpreter={unprivileged['venv']}/bin/python",
         "-e", f"lab_name={PROBE}", "-e", PROBE_HOSTS, "-e", "lab_registry=127.0.0.1:15091",
         "-e", "local_lab_postgres_port=15491", "-e", "local_lab_redis_port=16391",
         "-e", "local_lab_prometheus_port=19091", "-e", "local_lab_balancer_port=18090"],
        cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False)
    said = " ".join(result.stdout.split())
    assert result.returncode != 0, said
    assert "No Docker engine answers on /var/run/docker.sock and this play does not run as root" in said, \
        result.stderr[-2000:]
    assert "Either start Docker yourself (and make its socket readable by nobody), or run the lab as root" in said
    assert {kind: labelled(kind, PROBE) for kind in KINDS} == {kind: [] for kind in KINDS}
