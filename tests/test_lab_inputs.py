"""Bad input to the lab playbook fails before anything is made, with a message that says what to do."""
from __future__ import annotations

import json
import socket
import shutil
import subprocess

import pytest

from conftest import LAB_STATE, ansible_playbook, require

pytestmark = pytest.mark.lab

# A lab name of its own, so that nothing here can touch the main lab.
PROBE = "steadyprobe"
PROBE_HOSTS = json.dumps({"local_lab_app_hosts": [{"name": "probe1", "ssh_port": 2291, "http_port": 18091}]})


def _labelled(kind: str) -> list[str]:
    out = subprocess.run(["docker", kind, "ls", "-q", "--filter", f"label=io.steady.lab={PROBE}"]
                         + (["-a"] if kind == "container" else []),
                         capture_output=True, text=True, check=True, timeout=30).stdout
    return out.split()


def _run_lab_up(*extra: str) -> subprocess.CompletedProcess[str]:
    return ansible_playbook("playbooks/lab_up.yml", "--limit", "localhost",
                            "-e", f"lab_name={PROBE}", "-e", PROBE_HOSTS, "-e", "lab_registry=127.0.0.1:15091",
                            "-e", "local_lab_postgres_port=15491", "-e", "local_lab_redis_port=16391",
                            "-e", "local_lab_prometheus_port=19091", "-e", "local_lab_balancer_port=18090",
                            "-e", "lab_with_service=false", *extra, timeout=300)


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
    assert _labelled("container") == [] and _labelled("network") == [] and _labelled("volume") == []


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
    assert _labelled("container") == [] and _labelled("network") == [] and _labelled("volume") == []
