"""The GitHub pipeline read as a runner would run it, without GitHub: the job graph against the plan's five stages,
every job's permissions, every action pinned by full commit, the production job's environment and branch rule,
every ansible-playbook line against a real playbook and inventory, the release checks and the controller setup run
with hostile values, and docs/CI_SETUP.md's commands against a stand-in gh. Pure local: no lab, no network."""
from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from support.lab import ROOT, VENV_BIN, ansible_playbook
from support.syntax import syntax_check

GITHUB = ROOT / ".github"
WORKFLOWS = {p.name: yaml.safe_load(p.read_text()) for p in sorted((GITHUB / "workflows").glob("*.yml"))}
CONTROLLER = GITHUB / "actions" / "controller" / "action.yml"
CHECK_RELEASE = GITHUB / "scripts" / "check_release.sh"
CHECK_VERIFIED = GITHUB / "scripts" / "check_verified.sh"
CI_SETUP = ROOT / "docs" / "CI_SETUP.md"
# owner/repo@<full commit> # <tag>: the tag is only a comment, the commit is what runs.
PINNED = re.compile(r"^\s*(- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v\d+(\.\d+)*)$")
DIGEST = "sha256:" + "ab" * 32


def _jobs() -> list[tuple[str, str, dict]]:
    return [(name, job_id, job) for name, wf in WORKFLOWS.items() for job_id, job in wf["jobs"].items()]


def _deploy_jobs() -> dict[str, dict]:
    return WORKFLOWS["deploy.yml"]["jobs"]


def _step(job: dict, name_start: str) -> dict:
    return next(s for s in job["steps"] if s.get("name", "").startswith(name_start))


def _run(script: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "GITHUB_RUN_ID": "42", "GITHUB_SHA": "0" * 40, "GITHUB_ACTOR": "mallory"}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=base | env, capture_output=True,
                          text=True, timeout=60, check=False)


# ---- the job graph ---------------------------------------------------------------------------------------------

# The original plan (shared/seeds): test, build, deploy-staging, deploy-production, verify; verify after each deploy.
PLAN = ["test", "build", "deploy-staging", "verify-staging", "deploy-production", "verify-production"]


def _ancestors(jobs: dict[str, dict], job_id: str) -> set[str]:
    needs = jobs[job_id].get("needs", [])
    direct = {needs} if isinstance(needs, str) else set(needs)
    return direct.union(*(_ancestors(jobs, n) for n in direct)) if direct else set()


def test_the_deploy_jobs_are_the_plans_five_stages_in_order() -> None:
    jobs = _deploy_jobs()
    assert list(jobs) == PLAN
    for before, after in zip(PLAN, PLAN[1:]):
        assert before in _ancestors(jobs, after), f"{after} does not wait for {before}"
    assert _ancestors(jobs, "test") == set()


def test_only_the_build_job_builds_and_every_deploy_names_the_built_digest() -> None:
    jobs = _deploy_jobs()
    builders = [j for j, job in jobs.items() if any(".github/playbooks/build.yml" in s.get("run", "")
                                                    for s in job["steps"])]
    assert builders == ["build"]
    assert set(jobs["build"]["outputs"]) == {"version", "digest"}
    for job_id in ("deploy-staging", "deploy-production"):
        deploy = _step(jobs[job_id], "Deploy exactly the digest")
        assert "playbooks/deploy.yml" in deploy["run"]
        assert 'deploy_build: "never"' in deploy["run"] and "app_image_digest: $digest" in deploy["run"]
        assert 'app_build_context: ""' in deploy["run"]
    assert _step(jobs["deploy-staging"], "Deploy")["env"]["DIGEST"] == "${{ needs.build.outputs.digest }}"
    # Production takes what verify-staging found on every staging host, not anything a job built or a user typed.
    assert _step(jobs["deploy-production"], "Deploy")["env"]["DIGEST"] == "${{ needs.verify-staging.outputs.digest }}"


def test_production_deploys_only_from_main_behind_its_environment() -> None:
    production = [(j, job) for j, job in _deploy_jobs().items() if job.get("environment") == "production"]
    assert [j for j, _ in production] == ["deploy-production", "verify-production"]
    deploy = _deploy_jobs()["deploy-production"]
    assert "github.ref == 'refs/heads/main'" in deploy["if"]
    assert "needs.verify-staging.result == 'success'" in deploy["if"]
    assert "deploy_confirm: \"production\"" in _step(deploy, "Deploy")["run"]
    # docs/CI_SETUP.md gives the environment its reviewers and the branch rule main.
    setup = CI_SETUP.read_text()
    assert "environments/production/deployment-branch-policies\" -f name=main -f type=branch" in setup


def test_a_rollback_never_waits_behind_a_deploy_and_deploys_never_cancel_each_other() -> None:
    groups = {}
    for name, job_id, job in _jobs():
        if "concurrency" in job:
            assert job["concurrency"]["cancel-in-progress"] is False, f"{name}:{job_id}"
            groups[f"{name}:{job_id}"] = job["concurrency"]["group"]
    assert groups == {"deploy.yml:deploy-staging": "deploy-staging", "deploy.yml:deploy-production": "deploy-production",
                      "rollback.yml:rollback": "rollback-${{ inputs.environment }}"}
    assert "concurrency" not in WORKFLOWS["deploy.yml"] and "concurrency" not in WORKFLOWS["rollback.yml"]


# ---- permissions, pins, tokens, runners ------------------------------------------------------------------------

def test_no_workflow_grants_a_permission_and_every_job_asks_only_to_read() -> None:
    assert all(wf["permissions"] == {} for wf in WORKFLOWS.values())
    for name, job_id, job in _jobs():
        assert job["permissions"] == {"contents": "read"}, f"{name}:{job_id}"


def _uses_lines() -> list[tuple[str, str]]:
    files = [*(GITHUB / "workflows").glob("*.yml"), CONTROLLER]
    return [(f.name, line) for f in files for line in f.read_text().splitlines() if line.strip().startswith(("uses:",
                                                                                                              "- uses:"))]


def test_every_action_is_pinned_by_full_commit_with_its_tag_beside_it() -> None:
    lines = _uses_lines()
    assert len(lines) > 10
    for where, line in lines:
        if line.split("uses:", 1)[1].strip().startswith("./"):
            continue  # the repository's own action, from the same checkout
        assert PINNED.match(line), f"{where}: {line.strip()}"


def test_each_action_is_pinned_to_one_commit_everywhere_the_scaffold_included() -> None:
    pins: dict[str, set[tuple[str, str]]] = {}
    for _, line in _uses_lines():
        if match := PINNED.match(line):
            pins.setdefault(match.group(2), set()).add((match.group(3), match.group(4)))
    scaffold = yaml.safe_load((ROOT / "roles" / "service_init" / "vars" / "main.yml").read_text())
    for key, pin in scaffold["__service_init_actions"].items():
        pins.setdefault("actions/" + key.replace("_", "-"), set()).add((pin["sha"], pin["tag"]))
    assert {"actions/checkout", "actions/setup-python", "actions/upload-artifact"} <= set(pins)
    assert all(len(found) == 1 for found in pins.values()), pins


def test_every_checkout_leaves_no_token_behind() -> None:
    checkouts = [(f"{n}:{j}", s) for n, j, job in _jobs() for s in job["steps"]
                 if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == len(_jobs())
    for where, step in checkouts:
        assert step["with"]["persist-credentials"] is False, where


def test_every_job_that_reaches_servers_is_set_up_by_the_controller_action_on_the_configured_runner() -> None:
    reaching = [(f"{n}:{j}", job) for n, j, job in _jobs() if "environment" in job]
    assert len(reaching) == 6
    for where, job in reaching:
        assert job["runs-on"] == "${{ vars.DEPLOY_RUNNER || 'ubuntu-24.04' }}", where
        setup = next(s for s in job["steps"] if s.get("uses") == "./.github/actions/controller")
        assert setup["with"]["vault-password"] == "${{ secrets.ANSIBLE_VAULT_PASSWORD }}", where
        assert setup["with"]["jump-host"] == "${{ vars.DEPLOY_SSH_JUMP_HOST }}", where
        env = job["environment"]
        assert setup["with"]["environment"] == env, where
    others = [job["runs-on"] for n, j, job in _jobs() if "environment" not in job]
    assert others and set(others) == {"${{ vars.CI_RUNNER || 'ubuntu-24.04' }}"}


# ---- every ansible-playbook line -------------------------------------------------------------------------------

def _run_scripts() -> list[tuple[str, str]]:
    scripts = [(f"{n}:{j}", s["run"]) for n, j, job in _jobs() for s in job["steps"] if "run" in s]
    scripts += [(CONTROLLER.name, s["run"]) for s in yaml.safe_load(CONTROLLER.read_text())["runs"]["steps"]
                if "run" in s]
    return scripts


def _playbook_runs() -> list[tuple[str, str, str]]:
    """(where, playbook, inventory) of every ansible-playbook line; a $TARGET_ENV inventory stands for every
    environment the rollback offers."""
    out = []
    for where, script in _run_scripts():
        for line in script.replace("\\\n", " ").splitlines():
            if "ansible-playbook" not in line:
                continue  # a jq program may span lines; only the playbook lines are read as words
            words = shlex.split(line)
            if not words or not words[0].endswith("ansible-playbook"):
                continue
            inventory = words[words.index("-i") + 1]
            for env in WORKFLOWS["rollback.yml"]["on"]["workflow_dispatch"]["inputs"]["environment"]["options"]:
                out.append((where, words[1], inventory.replace("$TARGET_ENV", env)))
    return sorted(set(out))


def test_the_workflows_run_every_operator_playbook_and_the_build() -> None:
    playbooks = {p for _, p, _ in _playbook_runs()}
    assert playbooks == {".github/playbooks/build.yml", "playbooks/deploy.yml", "playbooks/lock.yml",
                         "playbooks/rollback.yml", "playbooks/verify.yml"}


@pytest.mark.parametrize(("where", "playbook", "inventory"), _playbook_runs(),
                         ids=[f"{w}:{p}:{i}" for w, p, i in _playbook_runs()])
def test_every_playbook_line_names_a_real_playbook_and_inventory_and_passes_syntax_check(
        where: str, playbook: str, inventory: str) -> None:
    assert (ROOT / playbook).is_file(), where
    assert (ROOT / inventory / "hosts.yml").is_file(), where
    result = syntax_check(inventory, playbook, batch=[p for _, p, i in _playbook_runs() if i == inventory])
    assert result.returncode == 0, result.stdout + result.stderr


# ---- the checks, with hostile values ---------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["1.1.0 deploy_lock_break=true"], ["1.1.0\n-e x=1"], ["latest"], ["LATEST"], [".hidden"], ["-e"], [""],
    ["a" * 129], ["1.1.0", "sha256:" + "AB" * 32], ["1.1.0", "sha256:abc"], ["1.1.0", DIGEST + " x=1"],
    ["1.1.0", ""], [],
])
def test_check_release_refuses_what_is_not_a_tag_or_a_digest(args: list[str]) -> None:
    result = subprocess.run(["bash", str(CHECK_RELEASE), *args], capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode == 1 and "::error::" in result.stdout


@pytest.mark.parametrize("args", [["1.1.0.42"], ["sha-0123456789ab", DIGEST], ["20261125191136-1.1.0"]])
def test_check_release_accepts_a_tag_and_a_digest(args: list[str]) -> None:
    subprocess.run(["bash", str(CHECK_RELEASE), *args], check=True, timeout=30)


def _report(tmp_path: Path, passed: bool, hosts: list[tuple[str, str]]) -> Path:
    path = tmp_path / "verify.json"
    path.write_text(json.dumps({"environment": "staging", "passed": passed, "hosts": [
        {"host": f"app-{i}", "live_release": {"version": v, "digest": d, "release_id": f"r{i}"}}
        for i, (v, d) in enumerate(hosts)]}))
    return path


@pytest.mark.parametrize(("passed", "hosts"), [
    (True, [("1.1.0.42", DIGEST), ("1.1.0.41", DIGEST)]),
    (True, [("1.1.0.42", DIGEST), ("1.1.0.42", "sha256:" + "cd" * 32)]),
    (False, [("1.1.0.42", DIGEST)]),
    (True, []),
])
def test_a_report_without_the_release_on_every_host_stops_the_promotion(tmp_path: Path, passed: bool,
                                                                       hosts: list) -> None:
    result = subprocess.run(["bash", str(CHECK_VERIFIED), str(_report(tmp_path, passed, hosts)), "1.1.0.42", DIGEST],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1 and "::error::Not every host runs 1.1.0.42" in result.stdout


def test_a_report_with_the_release_on_every_host_passes_and_fills_the_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    result = subprocess.run(["bash", str(CHECK_VERIFIED), str(_report(tmp_path, True, [("1.1.0.42", DIGEST)] * 2)),
                             "1.1.0.42", DIGEST], capture_output=True, text=True, timeout=30, check=False,
                            env={"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"| app-1 | 1.1.0.42 | {DIGEST} | r1 |" in summary.read_text()


def test_a_hostile_promotion_input_is_refused_before_anything_runs() -> None:
    step = _step(_deploy_jobs()["verify-staging"], "Name the release to verify")
    result = _run(step["run"], {"GITHUB_EVENT_NAME": "workflow_dispatch", "BUILT_VERSION": "", "BUILT_DIGEST": "",
                                "GITHUB_OUTPUT": "/dev/null", "INPUT_VERSION": "1.1.0 deploy_build=always",
                                "INPUT_DIGEST": DIGEST})
    assert result.returncode == 1 and "The version must be an image tag" in result.stdout


def test_a_promotion_names_the_release_to_verify(tmp_path: Path) -> None:
    step = _step(_deploy_jobs()["verify-staging"], "Name the release to verify")
    output = tmp_path / "output"
    result = _run(step["run"], {"GITHUB_EVENT_NAME": "workflow_dispatch", "BUILT_VERSION": "", "BUILT_DIGEST": "",
                                "GITHUB_OUTPUT": str(output), "INPUT_VERSION": "1.1.0.42", "INPUT_DIGEST": DIGEST})
    assert result.returncode == 0, result.stdout
    assert output.read_text() == f"version=1.1.0.42\ndigest={DIGEST}\n"


@pytest.mark.parametrize(("rollback_to", "database"), [("1.0.0 deploy_lock_break=true", "false"), ("", "yes"),
                                                       ("1.0.0", 'true, "x": 1')])
def test_a_hostile_rollback_input_is_refused_by_the_check_step(rollback_to: str, database: str) -> None:
    step = _step(WORKFLOWS["rollback.yml"]["jobs"]["rollback"], "Check the inputs")
    result = _run(step["run"], {"TARGET_ENV": "staging", "ROLLBACK_TO": rollback_to, "ROLLBACK_DATABASE": database})
    assert result.returncode == 1 and "::error::" in result.stdout


# ---- the controller: vault, SSH, jump host ---------------------------------------------------------------------

def _controller_step(name_start: str) -> dict:
    return next(s for s in yaml.safe_load(CONTROLLER.read_text())["runs"]["steps"]
                if s["name"].startswith(name_start))


@pytest.mark.parametrize(("environment", "jump"), [("../../etc", ""), ("local\nx", ""), ("nowhere", ""),
                                                   ("staging", "-oProxyCommand=touch /tmp/pwned"),
                                                   ("staging", "bastion.example.com\nHost *")])
def test_the_controller_refuses_an_unknown_environment_or_a_hostile_jump_host(environment: str, jump: str) -> None:
    result = _run(_controller_step("Check the environment")["run"], {"TARGET_ENV": environment, "JUMP_HOST": jump})
    assert result.returncode == 1 and "::error::" in result.stdout


def test_the_controller_refuses_a_plain_vault(tmp_path: Path) -> None:
    vault = tmp_path / "inventories" / "staging" / "group_vars" / "all" / "vault.yml"
    vault.parent.mkdir(parents=True)
    script = _controller_step("Refuse a vault")["run"]
    assert _run(script, {"TARGET_ENV": "staging"}, cwd=tmp_path).returncode == 1  # missing
    vault.write_text("vault_db_password: plain\n")
    assert "is missing or not encrypted" in _run(script, {"TARGET_ENV": "staging"}, cwd=tmp_path).stdout
    vault.write_text("$ANSIBLE_VAULT;1.1;AES256\n6162\n")
    assert _run(script, {"TARGET_ENV": "staging"}, cwd=tmp_path).returncode == 0


def test_the_controller_writes_secrets_private_and_sends_every_ssh_but_the_jumps_through_the_jump_host(
        tmp_path: Path) -> None:
    github_env = tmp_path / "github_env"
    result = _run(_controller_step("Write the vault password")["run"], {
        "RUNNER_TEMP": str(tmp_path), "GITHUB_ENV": str(github_env), "VAULT_PASSWORD": "canary-vault",
        "SSH_KEY": "canary-key", "KNOWN_HOSTS": "stg-app-01 ssh-ed25519 AAAA", "JUMP_HOST": "ops@bastion.example:2222"})
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "controller"
    for name in ("vault-password", "deploy-key"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert (folder / "vault-password").read_text() == "canary-vault\n"
    assert github_env.read_text().splitlines() == [
        f"ANSIBLE_VAULT_PASSWORD_FILE={folder}/vault-password", f"ANSIBLE_PRIVATE_KEY_FILE={folder}/deploy-key",
        f"ANSIBLE_SSH_COMMON_ARGS=-F {folder}/ssh_config"]

    def effective(host: str) -> dict[str, str]:
        """What ssh would use for a host, read from the file without connecting (ssh -G)."""
        out = subprocess.run(["ssh", "-G", "-F", str(folder / "ssh_config"), host], capture_output=True, text=True,
                             check=True, timeout=30).stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)

    app = effective("stg-app-01.example.internal")
    assert app["proxyjump"] == "ops@bastion.example:2222"
    assert app["stricthostkeychecking"] in ("true", "yes") and app["userknownhostsfile"] == f"{folder}/known_hosts"
    assert "proxyjump" not in effective("bastion.example")


# ---- docs/CI_SETUP.md ------------------------------------------------------------------------------------------

def _setup_blocks() -> list[str]:
    section = CI_SETUP.read_text().split("## Set up the repository", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


STAND_IN_GH = """#!/usr/bin/env python3
import json, os, sys
stdin = "" if sys.stdin.isatty() else sys.stdin.read()
with open(os.environ["GH_LOG"], "a") as log:
    log.write(json.dumps({"argv": sys.argv[1:], "stdin": stdin}) + "\\n")
if sys.argv[1:3] == ["api", "users/alice"]:
    print(101)
elif sys.argv[1:3] == ["api", "users/bob"]:
    print(102)
"""


def test_ci_setup_commands_create_what_the_workflows_need(tmp_path: Path) -> None:
    values, commands = _setup_blocks()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(STAND_IN_GH)
    (bin_dir / "ssh-keyscan").write_text('#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in -t|-p) shift 2;;\n'
                                          '*) echo "$1 ssh-ed25519 AAAA"; shift;; esac; done\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    for env in ("staging", "production"):
        (tmp_path / f".vault-pass-{env}").write_text(f"pass-{env}\n")
    (tmp_path / "key").write_text("canary-key\n")
    # The documented values, with the key where this test keeps it and a jump host set.
    values = values.replace("~/.ssh/deploy_ed25519", str(tmp_path / "key")).replace('jump_host=""',
                                                                                     'jump_host=ops@jump.example:22')
    log = tmp_path / "gh.log"
    result = subprocess.run(["bash", "-c", values + commands], capture_output=True, text=True, timeout=60, check=False,
                            stdin=subprocess.DEVNULL, env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path),
                                                           "GH_LOG": str(log)})
    assert result.returncode == 0, result.stdout + result.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    by_path = {" ".join(c["argv"][:4]): c for c in calls}

    production = json.loads(by_path["api -X PUT repos/OWNER/REPO/environments/production"]["stdin"])
    assert production["reviewers"] == [{"type": "User", "id": 101}, {"type": "User", "id": 102}]
    assert production["deployment_branch_policy"] == {"protected_branches": False, "custom_branch_policies": True}
    assert "api -X PUT repos/OWNER/REPO/environments/staging" in by_path
    protection = json.loads(by_path["api -X PUT repos/OWNER/REPO/branches/main/protection"]["stdin"])
    ci_jobs = {job["name"] for job in WORKFLOWS["ci.yml"]["jobs"].values()}
    assert {c["context"] for c in protection["required_status_checks"]["checks"]} == ci_jobs

    secrets = {(c["argv"][2], c["argv"][c["argv"].index("--env") + 1]): c["stdin"] for c in calls
               if c["argv"][:2] == ["secret", "set"]}
    assert secrets[("ANSIBLE_VAULT_PASSWORD", "production")] == "pass-production\n"
    assert secrets[("DEPLOY_SSH_KEY", "staging")] == "canary-key\n"
    assert secrets[("DEPLOY_KNOWN_HOSTS", "production")].split("\n")[:3] == [
        "prd-app-01.example.internal ssh-ed25519 AAAA", "prd-app-02.example.internal ssh-ed25519 AAAA",
        "jump.example ssh-ed25519 AAAA"]
    variables = [c["argv"] for c in calls if c["argv"][:2] == ["variable", "set"]]
    assert variables == [["variable", "set", "DEPLOY_SSH_JUMP_HOST", "--repo", "OWNER/REPO", "--body",
                          "ops@jump.example:22"]]


def test_ci_setup_names_every_secret_and_variable_the_workflows_read() -> None:
    text = "".join(p.read_text() for p in [*(GITHUB / "workflows").glob("*.yml"), CONTROLLER])
    used = set(re.findall(r"\$\{\{\s*(?:secrets|vars)\.([A-Z_]+)", text))
    assert used == {"ANSIBLE_VAULT_PASSWORD", "DEPLOY_SSH_KEY", "DEPLOY_KNOWN_HOSTS", "DEPLOY_SSH_JUMP_HOST",
                    "DEPLOY_RUNNER", "CI_RUNNER"}
    setup = CI_SETUP.read_text()
    assert all(f"`{name}`" in setup for name in used)


# ---- the scaffold's workflow, for a service's own repository ---------------------------------------------------

@pytest.fixture(scope="module")
def scaffold_workflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("service") / "deploy"
    result = ansible_playbook("playbooks/init.yml", "-e", f"init_dest={dest}", "-e", "init_service=shop-api",
                              timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return dest / ".github" / "workflows" / "deploy.yml"


def test_the_scaffold_workflow_passes_jactionlint(scaffold_workflow: Path) -> None:
    result = subprocess.run([str(VENV_BIN / "jactionlint"), "--no-online", f"--shellcheck={VENV_BIN / 'shellcheck'}",
                             "--pyflakes=", str(scaffold_workflow)], cwd=scaffold_workflow.parent, capture_output=True,
                            text=True, timeout=120, check=False, env=os.environ | {"NO_COLOR": "1"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_scaffold_workflow_follows_the_same_rules(scaffold_workflow: Path) -> None:
    workflow = yaml.safe_load(scaffold_workflow.read_text())
    for job_id, job in workflow["jobs"].items():
        assert job["runs-on"] == "${{ vars.DEPLOY_RUNNER || 'ubuntu-24.04' }}", job_id
        names = [s["name"] for s in job["steps"]]
        deploy = next(i for i, s in enumerate(job["steps"]) if "steady.deploy.deploy" in s.get("run", ""))
        release = next(i for i, s in enumerate(job["steps"]) if s.get("if") == "cancelled()")
        assert deploy < release and "release_ci_run" in job["steps"][release]["run"], names
        assert "steady.deploy.lock" in job["steps"][release]["run"]
        secrets = _step(job, "Write the vault password")
        assert secrets["env"]["JUMP_HOST"] == "${{ vars.DEPLOY_SSH_JUMP_HOST }}"
        assert all(s["env"]["ANSIBLE_SSH_COMMON_ARGS"] == "-F ${{ runner.temp }}/ssh_config"
                   for s in (job["steps"][deploy], job["steps"][release]))
