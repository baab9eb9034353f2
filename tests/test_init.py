"""`ansible-playbook steady.deploy.init` (playbooks/init.yml, role service_init): a new service's deploy configuration,
written into a folder of its own repository. Pure local: no lab, no network."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support.lab import ROOT, VENV_BIN, ansible_playbook

GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
ENVIRONMENTS = ("staging", "production")
FILES = ("README.md", "ansible.cfg", "requirements.yml", "requirements.txt", ".gitignore",
         ".github/workflows/deploy.yml",
         *(f"inventories/{env}/{name}" for env in ENVIRONMENTS
           for name in ("hosts.yml", "group_vars/all/app.yml", "group_vars/all/vault.yml.example")))
YAML_FILES = [f for f in FILES if f.endswith((".yml", ".example"))]
# A full commit, and the tag it stands for in the comment beside it.
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$")


def _init(dest: Path | str, *extra: str) -> subprocess.CompletedProcess[str]:
    return ansible_playbook("playbooks/init.yml", "-e", f"init_dest={dest}", "-e", "init_service=shop-api", *extra,
                            timeout=300)


def _changed(result: subprocess.CompletedProcess[str]) -> int:
    recap = re.search(r"localhost\s*:\s*ok=\d+\s+changed=(\d+)", result.stdout)
    assert recap, result.stdout + result.stderr
    return int(recap.group(1))


def _text(result: subprocess.CompletedProcess[str]) -> str:
    """The output with Ansible's YAML line folding undone."""
    return " ".join((result.stdout + result.stderr).split())


def _keys(path: Path) -> set[str]:
    """Top-level variables a group_vars file names, set or commented out."""
    return set(re.findall(r"^#? ?([a-z_][a-z0-9_]*):", path.read_text(), re.M))


@pytest.fixture(scope="module")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("service") / "deploy"
    result = _init(dest)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Wrote 12 files" in _text(result)
    return dest


def test_every_file_is_written(scaffold: Path) -> None:
    missing = [f for f in FILES if not (scaffold / f).is_file()]
    assert not missing


@pytest.mark.parametrize("name", YAML_FILES)
def test_yaml_files_parse(scaffold: Path, name: str) -> None:
    assert isinstance(yaml.safe_load((scaffold / name).read_text()), dict)


def test_requirements_pin_this_collection_and_its_dependencies(scaffold: Path) -> None:
    wanted = {c["name"]: c["version"] for c in yaml.safe_load((scaffold / "requirements.yml").read_text())["collections"]}
    assert wanted["steady.deploy"] == f"=={GALAXY['version']}"
    ours = {c["name"]: c["version"] for c in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]}
    for name in ("community.docker", "community.general"):
        assert wanted[name] == ours[name]
    # The tool chain: the same ansible-core and requests as this repository's.
    pins = dict(line.split("==") for line in (scaffold / "requirements.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    ours_txt = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                    if "==" in line and not line.startswith("#"))
    assert pins == {name: ours_txt[name] for name in ("ansible-core", "requests")}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_app_yml_names_every_contract_variable(scaffold: Path, env: str) -> None:
    app = scaffold / "inventories" / env / "group_vars" / "all" / "app.yml"
    contract = set(yaml.safe_load((ROOT / "inventories" / "staging" / "group_vars" / "all" / "app.yml").read_text()))
    assert not contract - _keys(app)
    values = yaml.safe_load(app.read_text())
    assert values["deploy_environment"] == env
    assert values["app_name"] == "shop-api"
    assert values["app_container_port"] == 8000


def test_every_variable_says_what_it_is_and_whether_it_is_required(scaffold: Path) -> None:
    """Each variable, set or commented out, sits under a comment that says (required) or (optional)."""
    for env in ENVIRONMENTS:
        comment = ""
        for line in (scaffold / "inventories" / env / "group_vars" / "all" / "app.yml").read_text().splitlines():
            if re.match(r"^#? ?[a-z_][a-z0-9_]*:", line):
                assert comment, f"{env}: {line} has no comment that says whether it is required"
            elif line.startswith(("# (required", "# (optional")):
                comment = line
            elif line.startswith("# ---") or not line.strip():
                comment = ""
            # Continuation lines of a comment keep the comment they continue.


def test_the_vault_example_names_the_secrets_app_yml_reads(scaffold: Path) -> None:
    for env in ENVIRONMENTS:
        folder = scaffold / "inventories" / env / "group_vars" / "all"
        used = set(re.findall(r"^[^#].*\b(vault_[a-z0-9_]+)", (folder / "app.yml").read_text(), re.M))
        assert used and used <= set(yaml.safe_load((folder / "vault.yml.example").read_text()))
    ignored = (scaffold / ".gitignore").read_text().splitlines()
    assert "reports/" in ignored and "*.plain" in ignored


def test_readme_gives_the_commands(scaffold: Path) -> None:
    readme = (scaffold / "README.md").read_text()
    for command in ("ansible-galaxy collection install -r requirements.yml",
                    "ansible-vault create --vault-password-file",
                    "ansible-playbook steady.deploy.setup -i inventories/staging",
                    "ansible-playbook steady.deploy.deploy -i inventories/staging -e app_version=1.0.0",
                    "-e deploy_confirm=production",
                    "ansible-playbook steady.deploy.rollback -i inventories/staging",
                    "ansible-playbook steady.deploy.verify -i inventories/staging"):
        assert command in readme, command


def test_workflow_is_pinned_least_privileged_and_injection_free(scaffold: Path) -> None:
    path = scaffold / ".github" / "workflows" / "deploy.yml"
    text = path.read_text()
    uses = [line.split("uses:", 1)[1].strip() for line in text.splitlines() if line.strip().startswith("- uses:")
            or line.strip().startswith("uses:")]
    assert len(uses) >= 3 * len(ENVIRONMENTS)
    unpinned = [u for u in uses if not PINNED.match(u)]
    assert not unpinned
    workflow = yaml.safe_load(text)
    assert workflow["permissions"] == {}
    assert set(workflow["on"]) == {"push", "workflow_dispatch"}
    assert set(workflow["on"]["workflow_dispatch"]["inputs"]["environment"]["options"]) == set(ENVIRONMENTS)
    jobs = workflow["jobs"]
    assert {job["environment"] for job in jobs.values()} == set(ENVIRONMENTS)
    for name, job in jobs.items():
        assert job["permissions"] == {"contents": "read"}, name
        assert job["concurrency"]["group"] == f"deploy-{job['environment']}", name
        assert job["concurrency"]["cancel-in-progress"] is False
        steps = job["steps"]
        for step in steps:
            assert not re.search(r"\$\{\{\s*(github\.event\.)?inputs\.", step.get("run", "")), step["name"]
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
        names = [s["name"] for s in steps]
        # The release name is checked before the deploy uses it, and passed as JSON, never -e "app_version=$X".
        check = names.index("Check the release name")
        deploy = next(i for i, s in enumerate(steps) if "steady.deploy.deploy" in s.get("run", ""))
        assert check < deploy
        assert "=~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$" in steps[check]["run"]
        assert "jq -cn" in steps[deploy]["run"] and "app_version=" not in steps[deploy]["run"]
        # The vault password and the key are written 0600 and removed whatever happened.
        secrets = next(s for s in steps if "secrets.ANSIBLE_VAULT_PASSWORD" in str(s.get("env", {})))
        assert "install -m 600 /dev/null \"$ANSIBLE_VAULT_PASSWORD_FILE\"" in secrets["run"]
        cleanup = steps[-1]
        assert cleanup["if"] == "always()" and "rm -f \"$ANSIBLE_VAULT_PASSWORD_FILE\"" in cleanup["run"]
    first, *others = ENVIRONMENTS
    assert "push" in jobs[f"deploy-{first}"]["if"]
    assert all("push" not in jobs[f"deploy-{env}"]["if"] for env in others)


def test_workflow_matches_githubs_schema(scaffold: Path) -> None:
    result = subprocess.run([str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                             str(scaffold / ".github" / "workflows" / "deploy.yml")],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _scaffold_env(scaffold: Path) -> dict[str, str]:
    """Ansible as a user runs it from the folder: its ansible.cfg, and the collection installed (here: this clone)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return env | {"ANSIBLE_CONFIG": str(scaffold / "ansible.cfg"),
                  "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".venv" / "collections")}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_deploy_playbook_parses_against_the_scaffold(scaffold: Path, env: str) -> None:
    result = subprocess.run([str(VENV_BIN / "ansible-playbook"), "steady.deploy.deploy", "--syntax-check", "-i",
                             f"inventories/{env}"], cwd=scaffold, env=_scaffold_env(scaffold),
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_scaffolded_inventory_parses(scaffold: Path) -> None:
    result = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(scaffold / "inventories" / "staging"),
                             "--list"], cwd=scaffold, env=_scaffold_env(scaffold),
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    inventory = json.loads(result.stdout)
    assert len(inventory["app_hosts"]["hosts"]) == 2
    assert inventory["_meta"]["hostvars"][inventory["app_hosts"]["hosts"][0]]["ansible_become"] is True


def test_a_second_run_changes_nothing_and_keeps_what_the_user_wrote(scaffold: Path, tmp_path: Path) -> None:
    dest = tmp_path / "deploy"
    shutil.copytree(scaffold, dest)
    app = dest / "inventories" / "staging" / "group_vars" / "all" / "app.yml"
    edited = app.read_text().replace("app_container_port: 8000", "app_container_port: 9000") + "# mine\n"
    app.write_text(edited)
    app.chmod(0o600)
    (dest / "README.md").unlink()
    again = _init(dest)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _changed(again) == 1  # only the README that was removed
    assert app.read_text() == edited and app.stat().st_mode & 0o777 == 0o600
    text = _text(again)
    assert "Wrote 1 files" in text and "Left as it was (already there, not overwritten): 11 files" in text
    assert "inventories/staging/group_vars/all/app.yml" in text.split("Left as it was", 1)[1]
    third = _init(dest)
    assert _changed(third) == 0, third.stdout
    assert "Wrote 0 files" in _text(third)


def test_check_mode_writes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "deploy"
    result = _init(dest, "--check", "-e", json.dumps({"service_init_environments": ["staging"]}))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Would write 9 files" in _text(result)
    assert not dest.exists()


def _refused(tmp_path: Path, extra: dict) -> str:
    """Runs init with bad inputs; it must fail before it makes a folder or writes a file. Returns its output."""
    dest = tmp_path / "deploy"
    args = {"init_dest": str(dest), "init_service": "shop-api"} | extra
    result = ansible_playbook("playbooks/init.yml", "-e", json.dumps(args), timeout=300)
    text = _text(result)
    assert result.returncode != 0, text
    assert "Write every file" not in text and "Make the destination" not in text
    assert not dest.exists()
    assert _changed(result) == 0
    return text


@pytest.mark.parametrize(("extra", "named"), [
    ({"init_service": "shop-api\n"}, "service_init_name (-e init_service)"),
    ({"init_dest": ""}, "service_init_dest (-e init_dest)"),
    ({"service_init_environments": ["staging", "pre prod"]}, "service_init_environments"),
], ids=["name-with-trailing-newline", "empty-dest", "env-with-space"])
def test_a_bad_input_fails_before_anything_is_written(tmp_path: Path, extra: dict, named: str) -> None:
    assert f"{named}:" in _refused(tmp_path, extra)


def test_every_bad_input_is_reported_at_once(tmp_path: Path) -> None:
    text = _refused(tmp_path, {"init_service": "Shop API", "service_init_environments": "staging",
                               "service_init_container_port": 70000, "service_init_version_path": "version",
                               "service_init_health_ready_path": "/ready?x", "service_init_image_repository":
                                   "registry.example.com/shop:1.0"})
    for named in ("service_init_name (-e init_service)", "service_init_environments", "service_init_container_port",
                  "service_init_version_path", "service_init_health_ready_path", "service_init_image_repository"):
        assert f"{named}:" in text, named


def test_an_installed_collection_pins_its_own_version_and_a_relative_folder_is_relative_to_where_it_runs(
        tmp_path: Path) -> None:
    """Installed, the collection has MANIFEST.json and no galaxy.yml; the user runs it by name from their own
    repository, with a folder relative to it, and options of their own."""
    installed = tmp_path / "collections" / "ansible_collections" / "steady" / "deploy"
    shutil.copytree(ROOT / "roles" / "service_init", installed / "roles" / "service_init")
    (installed / "playbooks").mkdir()
    shutil.copy(ROOT / "playbooks" / "init.yml", installed / "playbooks" / "init.yml")
    (installed / "MANIFEST.json").write_text(json.dumps({"collection_info": {
        "namespace": "steady", "name": "deploy", "version": "9.8.7",
        "dependencies": {"community.docker": ">=4.8.0,<5.0.0", "community.general": ">=11.4.0,<12.0.0"}}}))
    repo = tmp_path / "shop-api"
    repo.mkdir()
    (repo / "ansible.cfg").write_text("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env |= {"ANSIBLE_CONFIG": str(repo / "ansible.cfg"), "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"),
            "ANSIBLE_FORCE_COLOR": "0"}
    result = subprocess.run([str(VENV_BIN / "ansible-playbook"), "steady.deploy.init", "-e", "init_dest=deploy",
                             "-e", "init_service=shop-api", "-e", "service_init_version_path=",
                             "-e", json.dumps({"service_init_environments": ["qa"]})],
                            cwd=repo, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    dest = repo / "deploy"
    collections = yaml.safe_load((dest / "requirements.yml").read_text())["collections"]
    assert collections[0] == {"name": "steady.deploy", "version": "==9.8.7"}
    app = yaml.safe_load((dest / "inventories" / "qa" / "group_vars" / "all" / "app.yml").read_text())
    assert app["app_version_path"] == ""
    # An environment the preflight does not know by default is declared.
    assert app["deploy_preflight_environments"] == ["qa"]
    assert app["app_build_context"] == "{{ inventory_dir | dirname | dirname }}/.."
    workflow = yaml.safe_load((dest / ".github" / "workflows" / "deploy.yml").read_text())
    assert workflow["defaults"]["run"]["working-directory"] == "deploy"
    assert "GitHub reads workflows only from the repository root" in _text(result)
    assert sorted(p.name for p in (installed / "playbooks").iterdir()) == ["init.yml"]
