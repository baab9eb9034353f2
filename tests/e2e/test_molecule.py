"""The molecule scenarios (create, converge, idempotence, verify, destroy) run as part of the suite: one per role
that runs on hosts, sharing the base .config/molecule/config.yml."""
from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from support.lab import ROOT, VENV_BIN, require

pytestmark = pytest.mark.lab

SCENARIOS = sorted(p.name for p in (ROOT / "molecule").iterdir() if (p / "molecule.yml").exists())
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())

# Roles without a scenario of their own, and why. Every other role has a scenario named after it.
NO_SCENARIO = {
    "db_migrate": "every step talks to a PostgreSQL server (pg_dump, psql, the migration): tests/e2e/test_deploy.py",
    "deploy_notify": "runs on the controller (a webhook and the GitHub step summary)",
    "deploy_run": "the run's state across plays, on the controller: takes and releases the lock through deploy_lock "
                  "(its own scenario) and reports through deploy_notify; every run of tests/e2e/ goes through it",
    "deploy_preflight": "checks the registry and the database a deploy uses: tests/test_refusals.py, tests/e2e/test_deploy_inputs.py",
    "image_build": "runs on the controller (build and push to a registry): tests/e2e/test_deploy.py",
    "service_init": "runs on the controller (writes a new service's deploy configuration)",
    "slo_gate": "runs on the controller (asks Prometheus)",
}

# What a scenario's platforms and prepare need from this machine's engine besides the lab's Debian base (make up
# builds them all); none of it can be pulled here.
BASE_IMAGE = "steady-lab/debian:bookworm"
NEEDS = {"rolling_restart": ["steady-lab/nginx"]}


def _has_image(reference: str) -> bool:
    listed = subprocess.run(["docker", "image", "ls", "--quiet", "--filter", f"reference={reference}"],
                            capture_output=True, text=True, check=False, timeout=30)
    return listed.returncode == 0 and bool(listed.stdout.strip())


def test_every_role_on_hosts_has_a_scenario() -> None:
    assert {"deploy_lock", "release_ledger", "release_checks", "host_health", "rollback_target",
            "rolling_restart"} <= set(SCENARIOS)
    missing = sorted(set(ROLES) - set(SCENARIOS) - set(NO_SCENARIO))
    assert not missing, f"roles with neither a molecule scenario nor a reason in NO_SCENARIO: {missing}"
    assert not set(SCENARIOS) - set(ROLES), "a scenario is named after its role"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_only_says_what_it_runs_on(scenario: str) -> None:
    """The driver, the provisioner's environment, the verifier and the test sequence come from the shared base."""
    config = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())
    assert set(config) <= {"platforms", "provisioner", "dependency"}, sorted(config)
    assert set(config.get("provisioner", {})) <= {"inventory"}
    assert all(p["name"].startswith("molecule-") for p in config["platforms"])


def _remove_leftover_instances(scenario: str) -> None:
    """An instance an interrupted run left behind: removed, so that every scenario starts from a new one (the
    sequence has no destroy before create, and molecule's state starts empty: see MOLECULE_EPHEMERAL_DIRECTORY)."""
    config = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())
    names = [platform["name"] for platform in config["platforms"]]
    subprocess.run(["docker", "rm", "-f", "--volumes", *names], capture_output=True, check=False, timeout=120)
    assert not subprocess.run(["docker", "ps", "-aq", *[f"--filter=name=^{n}$" for n in names]],
                              capture_output=True, text=True, check=True, timeout=30).stdout.strip()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, tmp_path) -> None:
    for image in [BASE_IMAGE, *NEEDS.get(scenario, [])]:
        require(_has_image(image), f"the lab image {image} is missing")
    _remove_leftover_instances(scenario)
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_FORCE_COLOR": "0",
           "PY_COLORS": "0",
           # A state of molecule's own for this run: it never believes an instance of an earlier run exists.
           "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "molecule")}
    result = subprocess.run([str(VENV_BIN / "molecule"), "test", "-s", scenario], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    for action in ("converge", "idempotence", "verify"):
        assert f"[{scenario} > {action}] Executed: Successful" in output, output[-4000:]
