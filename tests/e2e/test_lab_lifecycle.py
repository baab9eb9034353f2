"""A second lab of its own: up from nothing, up again reuses everything, down leaves nothing behind."""
from __future__ import annotations

import json
import re
import subprocess

import httpx
import pytest

from support.lab import LAB_STATE, ansible_playbook, labelled, require

pytestmark = [pytest.mark.lab, pytest.mark.slow]

MINI = "steadymini"
SETTINGS = [
    "-e", f"lab_name={MINI}",
    "-e", "lab_registry=127.0.0.1:15092",
    "-e", "local_lab_postgres_port=15492", "-e", "local_lab_redis_port=16392",
    "-e", "local_lab_prometheus_port=19092", "-e", "local_lab_balancer_port=18092",
    "-e", json.dumps({"local_lab_app_hosts": [{"name": "mini1", "ssh_port": 2292, "http_port": 18093}]}),
]



def _recap_changed(stdout: str, host: str) -> int:
    match = re.search(rf"^{host}\s*:.*?changed=(\d+)", stdout, re.M)
    assert match, stdout[-2000:]
    return int(match.group(1))


def test_lab_up_twice_then_down_leaves_nothing() -> None:
    engine = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode == 0
    require(engine, "no Docker engine answers")
    try:
        first = ansible_playbook("lab/playbooks/lab_up.yml", "--limit", "localhost", *SETTINGS)
        assert first.returncode == 0, first.stdout[-3000:]
        assert sorted(labelled("container", MINI)) == sorted(f"{MINI}-{part}" for part in
                                                        ["registry", "postgres", "redis", "mini1", "balancer",
                                                         "node-exporter", "prometheus"])
        assert labelled("network", MINI) == [f"{MINI}-net"]
        assert httpx.get("http://127.0.0.1:15092/v2/", timeout=5).status_code == 200

        again = ansible_playbook("lab/playbooks/lab_up.yml", "--limit", "localhost", *SETTINGS)
        assert again.returncode == 0, again.stdout[-3000:]
        assert _recap_changed(again.stdout, "localhost") == 0, "a second run must reuse what exists"

        secrets = [p.read_text().strip() for p in (LAB_STATE / MINI / "secrets").iterdir()]
        assert len(secrets) == 2 and all(len(s) >= 24 for s in secrets)
        for secret in secrets:
            assert secret not in first.stdout + first.stderr + again.stdout + again.stderr, "a secret was logged"
    finally:
        down = ansible_playbook("lab/playbooks/lab_down.yml", *SETTINGS)
    assert down.returncode == 0, down.stdout[-3000:]
    assert labelled("container", MINI) == []
    assert labelled("network", MINI) == []
    assert labelled("volume", MINI) == []
    assert not (LAB_STATE / MINI).exists()
    leftovers = subprocess.run(["pgrep", "-f", f"{MINI}"], capture_output=True, text=True, check=False).stdout
    assert leftovers.split() == [], "no process of the mini lab may survive teardown"
    # The main lab's engine was not started by this lab: it must still answer.
    assert subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode == 0
