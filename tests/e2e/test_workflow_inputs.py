"""The workflows hand their dispatch inputs to Ansible as one JSON document, never as key=value strings that
Ansible splits on spaces (where one input could set any other variable, or an SSH option), and never interpolated
into a script. The JSON is made by the workflows' own commands, run here with hostile values."""
from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from support.lab import ROOT, Lab, ansible_playbook
from support.deploy import lock_exists, said

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
# The repository's own actions: their run steps follow the same rule.
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
# Expressions a user (or a pull request, or an earlier job) controls: never inside a run script, only in env.
UNTRUSTED = re.compile(r"\$\{\{\s*(inputs\.|github\.event\.|github\.actor|github\.head_ref|steps\.|needs\.)")


def _steps() -> list[tuple[str, str, str]]:
    out = []
    for path in WORKFLOWS:
        for job_id, job in yaml.safe_load(path.read_text())["jobs"].items():
            for step in job.get("steps", []):
                if "run" in step:
                    out.append((f"{path.name}:{job_id}:{step.get('name', '')}", step["run"], str(step.get("env", {}))))
    for path in ACTIONS:
        for step in yaml.safe_load(path.read_text())["runs"]["steps"]:
            if "run" in step:
                out.append((f"{path.parent.name}:{step['name']}", step["run"], str(step.get("env", {}))))
    return out


def _playbook_argv(script: str) -> list[list[str]]:
    # Only the playbook lines are read as words: a jq program before them may span lines.
    lines = [line for line in script.replace("\\\n", " ").splitlines() if "ansible-playbook" in line]
    return [shlex.split(line)[shlex.split(line).index(word):] for line in lines
            for word in shlex.split(line) if word.endswith("ansible-playbook")]


def test_the_workflows_run_playbooks() -> None:
    assert sum(len(_playbook_argv(run)) for _, run, _ in _steps()) >= 4


@pytest.mark.parametrize(("where", "run"), [(w, r) for w, r, _ in _steps()], ids=[w for w, _, _ in _steps()])
def test_no_input_is_interpolated_into_a_script(where: str, run: str) -> None:
    assert not UNTRUSTED.search(run), f"{where}: pass it through env, not into the script"


@pytest.mark.parametrize(("where", "run"), [(w, r) for w, r, _ in _steps() if "ansible-playbook" in r],
                         ids=[w for w, r, _ in _steps() if "ansible-playbook" in r])
def test_every_extra_var_of_a_playbook_is_a_json_file(where: str, run: str) -> None:
    for argv in _playbook_argv(run):
        values = [argv[i + 1] for i, word in enumerate(argv) if word in ("-e", "--extra-vars")]
        assert all(v.startswith("@") for v in values), f"{where}: {values}"


def _inputs_script(workflow: str, step_name: str) -> str:
    for where, run, _ in _steps():
        if where.startswith(workflow) and where.endswith(step_name):
            return "".join(line + "\n" for line in run.replace("\\\n", "").splitlines()
                           if "ansible-playbook" not in line)
    raise AssertionError(f"no step {step_name} in {workflow}")


def _make_inputs(tmp_path: Path, workflow: str, step: str, env: dict[str, str]) -> str:
    base = {"PATH": "/usr/bin:/bin", "GITHUB_RUN_ID": "42", "GITHUB_SHA": "0" * 40, "GITHUB_ACTOR": "mallory"}
    subprocess.run(["bash", "-euo", "pipefail", "-c", _inputs_script(workflow, step)], cwd=tmp_path,
                   env=base | env, check=True, timeout=30)
    return str(tmp_path / "run-inputs.json")


@pytest.mark.lab
def test_a_hostile_release_input_reaches_ansible_as_one_value_and_is_refused(lab: Lab, tmp_path: Path) -> None:
    hostile = "1.1.0 deploy_lock_break=true -e ansible_ssh_common_args=-oProxyCommand=touch${IFS}/tmp/pwned"
    inputs = _make_inputs(tmp_path, "deploy.yml", "Deploy exactly the digest (preflight, back up, migrate, roll out, "
                          "verify; never build)", {"RELEASE": hostile, "DIGEST": "sha256:" + "0" * 64})
    result = ansible_playbook("playbooks/deploy.yml", "-e", f"@{inputs}", timeout=120)
    assert result.returncode != 0
    assert f"app_version: '{hostile}' is not a valid image tag" in said(result)
    assert "PLAY [1. Preflight: reach every host" not in said(result)
    assert not lock_exists(lab)


@pytest.mark.lab
def test_a_hostile_rollback_input_reaches_ansible_as_one_value_and_is_refused(lab: Lab, tmp_path: Path) -> None:
    inputs = _make_inputs(tmp_path, "rollback.yml", "Roll back (preflight, lock, find the release, switch every "
                          "host back, optional database)",
                          {"ROLLBACK_TO": "1.0.0 deploy_lock_break=true", "ROLLBACK_DATABASE": "false",
                           "TARGET_ENV": "local"})
    result = ansible_playbook("playbooks/rollback.yml", "-e", f"@{inputs}", timeout=120)
    assert result.returncode != 0
    assert "rollback_to: '1.0.0 deploy_lock_break=true' must be empty" in said(result)
    assert not lock_exists(lab)


def test_a_non_boolean_database_input_stops_the_step_before_ansible(tmp_path: Path) -> None:
    with pytest.raises(subprocess.CalledProcessError):
        _make_inputs(tmp_path, "rollback.yml", "Roll back (preflight, lock, find the release, switch every host "
                     "back, optional database)", {"ROLLBACK_TO": "", "ROLLBACK_DATABASE": "true, \"x\": 1",
                                                   "TARGET_ENV": "staging"})


def test_a_cancelled_job_releases_the_lock_its_run_holds(tmp_path: Path) -> None:
    """GitHub cancels a step (or times it out) with a signal: the playbook's own release never runs. The step after
    it, run only then, must free the lock this CI run holds, named by the same run URL the deploy records."""
    jobs = 0
    for path in WORKFLOWS:
        for job_id, job in yaml.safe_load(path.read_text())["jobs"].items():
            steps = job.get("steps", [])
            runs = [i for i, s in enumerate(steps) if re.search(r"playbooks/(deploy|rollback)\.yml", s.get("run", ""))]
            if not runs:
                continue
            jobs += 1
            after = [s for s in steps[runs[-1] + 1:] if s.get("if") == "cancelled()"]
            assert after, f"{path.name}:{job_id} has no step that runs when the job is cancelled"
            cleanup = after[0]
            assert "playbooks/lock.yml" in cleanup["run"], f"{path.name}:{job_id}"
            assert cleanup["env"]["CI_RUN_URL"] == steps[runs[-1]]["env"]["CI_RUN_URL"]
            script = "".join(line + "\n" for line in cleanup["run"].replace("\\\n", "").splitlines()
                             if "ansible-playbook" not in line)
            subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, check=True, timeout=30,
                           env={"PATH": "/usr/bin:/bin", "CI_RUN_URL": "https://ci.example/runs/42 x=1"})
            inputs = yaml.safe_load((tmp_path / "lock-inputs.json").read_text())
            assert inputs == {"deploy_lock_action": "release_ci_run",
                              "deploy_lock_ci_run": "https://ci.example/runs/42 x=1"}
    assert jobs == 3
