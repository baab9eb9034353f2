"""The molecule scenarios (create, converge, idempotence, verify, destroy) run as part of the suite."""
from __future__ import annotations

import os
import subprocess

import pytest

from conftest import ROOT, VENV_BIN, require

pytestmark = pytest.mark.lab

SCENARIOS = sorted(p.name for p in (ROOT / "molecule").iterdir() if (p / "molecule.yml").exists())


def test_there_is_a_scenario() -> None:
    assert "default" in SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str) -> None:
    image = subprocess.run(["docker", "image", "inspect", "steady-lab/debian:bookworm"], capture_output=True,
                           check=False, timeout=30)
    require(image.returncode == 0, "the lab base image is missing")
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", "ANSIBLE_FORCE_COLOR": "0",
           "PY_COLORS": "0"}
    result = subprocess.run([str(VENV_BIN / "molecule"), "test", "-s", scenario], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "idempotence" in output and "verify" in output
