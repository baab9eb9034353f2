"""Static truths about the repository: argument specs match defaults, variables carry their role's prefix,
every playbook parses against every inventory and is referenced by the docs."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from support.lab import ROOT
from support.syntax import syntax_check

# The collection's roles and playbooks, and the lab's (the repository's test bed): the same rules hold for both.
ROLES = sorted(p for base in ("roles", "lab/roles") for p in (ROOT / base).iterdir() if p.is_dir())
PLAYBOOKS = sorted(p for base in ("playbooks", "lab/playbooks") for p in (ROOT / base).glob("*.yml"))
COLLECTION = "steady.deploy."
INVENTORIES = sorted(p for p in (ROOT / "inventories").iterdir() if p.is_dir())


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def test_there_is_something_to_check() -> None:
    assert {r.name for r in ROLES} >= {"local_engine", "local_lab", "image_build"}
    assert {p.name for p in PLAYBOOKS} >= {"lab_up.yml", "lab_down.yml"}
    assert {i.name for i in INVENTORIES} == {"local", "staging", "production"}


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_argument_spec_matches_defaults(role: Path) -> None:
    spec = _yaml(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = _yaml(role / "defaults" / "main.yml")
    missing = sorted(set(defaults) - set(spec))
    assert not missing, f"defaults without a spec: {missing}"
    for name, option in spec.items():
        if name in defaults:
            assert "default" in option, f"{name}: has a default in defaults/main.yml but not in the spec"
            assert option["default"] == defaults[name], f"{name}: spec default differs from defaults/main.yml"
            assert not option.get("required"), f"{name}: required in the spec yet defaulted"
        else:
            assert option.get("required") is not None, f"{name}: no default and not said whether required"
            assert "default" not in option, f"{name}: spec has a default that defaults/main.yml lacks"
        assert option.get("description"), f"{name}: no description"


# Entry points on a roll-out's critical path without a spec of their own (each validation is a task there): the
# role's README says which entry point validated their variables for the run, before anything changed.
VALIDATED_ELSEWHERE = {("rolling_restart", "switch"), ("rolling_restart", "retire"), ("rolling_restart", "roll")}


def _role_calls(node):
    """Every include_role / import_role in a loaded YAML tree, as (role, tasks_from)."""
    if isinstance(node, dict):
        for key in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role"):
            if isinstance(node.get(key), dict):
                yield node[key]["name"], node[key].get("tasks_from", "main")
        for value in node.values():
            yield from _role_calls(value)
    elif isinstance(node, list):
        for value in node:
            yield from _role_calls(value)


def test_every_role_entry_point_called_is_validated() -> None:
    """Ansible validates a role's arguments against the spec named exactly like tasks_from: `tasks_from: x.yml`
    silently skips the spec `x`. Every call names an entry point with a spec, or one listed above."""
    files = [*PLAYBOOKS, *(ROOT / "molecule").rglob("*.yml"), *(r / "tasks" / t.name for r in ROLES
                                                               for t in (r / "tasks").glob("*.yml"))]
    calls = {(role, entry, f.relative_to(ROOT).as_posix()) for f in files for role, entry in _role_calls(_yaml(f))}
    assert len(calls) > 20
    by_name = {r.name: r for r in ROLES}
    unvalidated = sorted((role, entry, where) for role, entry, where in calls
                         if entry not in _yaml(by_name[role.removeprefix(COLLECTION)] / "meta" / "argument_specs.yml")[
                             "argument_specs"]
                         and (role.removeprefix(COLLECTION), entry) not in VALIDATED_ELSEWHERE)
    assert not unvalidated, f"entry points called without a spec Ansible would apply: {unvalidated}"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_public_variables_carry_the_role_prefix(role: Path) -> None:
    names = set(_yaml(role / "defaults" / "main.yml"))
    names |= set(_yaml(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"])
    wrong = sorted(n for n in names if not n.startswith(role.name + "_"))
    assert not wrong, f"not prefixed with {role.name}_: {wrong}"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_role_meta_has_no_dependencies(role: Path) -> None:
    assert _yaml(role / "meta" / "main.yml")["dependencies"] == []


@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda i: i.name)
@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_playbook_parses_against_inventory(playbook: Path, inventory: Path) -> None:
    result = syntax_check(str(inventory), str(playbook), batch=map(str, PLAYBOOKS))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_every_playbook_is_in_the_docs(playbook: Path) -> None:
    docs = " ".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    assert playbook.relative_to(ROOT).as_posix() in docs


def test_no_secret_is_committed() -> None:
    """A vault is committed only encrypted (the workflows read it with the password from a GitHub secret); the
    lab's own, with its generated test values, is the exception."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert not [f for f in tracked.split() if f.endswith("/vault.yml") and "inventories/local/" not in f
                and not (ROOT / f).read_text().startswith("$ANSIBLE_VAULT;")]


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_role_readme_lists_every_variable(role: Path) -> None:
    readme = (role / "README.md").read_text()
    specs = _yaml(role / "meta" / "argument_specs.yml")["argument_specs"]
    for entry_point, body in specs.items():
        for name in body.get("options") or {}:
            assert f"`{name}`" in readme, f"{role.name}/README.md does not document {name} ({entry_point})"


def test_runbook_steps_follow_the_deploy_playbook() -> None:
    """docs/DEPLOYMENT_RUNBOOK.md names the numbered steps of playbooks/deploy.yml in the same order and words."""
    playbook = (ROOT / "playbooks" / "deploy.yml").read_text()
    steps = re.findall(r'name: "(\d\. [^"]+)"', playbook)
    assert len(steps) >= 7
    runbook = " ".join((ROOT / "docs" / "DEPLOYMENT_RUNBOOK.md").read_text().replace("*", "").split())
    position = 0
    for step in steps:
        words = step.split(". ", 1)[1]
        found = runbook.find(words, position)
        assert found >= 0, f"the runbook lacks the step {step!r} (after position {position})"
        position = found


def _plays_roles(play: dict) -> list[tuple[str, str]]:
    return [(r, "main") if isinstance(r, str) else (r["role"], r.get("tasks_from", "main")) for r in play.get("roles", [])]


@pytest.mark.parametrize("playbook", ["deploy.yml", "rollback.yml", "restore.yml"])
def test_a_run_ends_one_way(playbook: str) -> None:
    """A run ends in one place: the run role's finish, listed once, by the last play. It alone releases the lock and
    reports how the run ended (the run role's begin sends the started event). No play reaches across hosts with
    hostvars[...]: the run's state is declared by the run role."""
    path = ROOT / "playbooks" / playbook
    plays = yaml.safe_load(path.read_text())
    calls = list(_role_calls(plays)) + [c for play in plays for c in _plays_roles(play)]
    assert ("steady.deploy.deploy_lock", "release") not in calls
    assert ("steady.deploy.deploy_notify", "main") not in calls
    assert calls.count(("steady.deploy.deploy_run", "finish")) == 1
    assert ("steady.deploy.deploy_run", "finish") in _role_calls(plays[-1])
    assert calls.count(("steady.deploy.deploy_run", "begin")) == 1
    text = path.read_text()
    assert "hostvars[" not in text
    # Before the lock a refusal fails at once (nothing to release, nothing reported); from the lock on, the run
    # fails only in finish, after the lock is released and the end reported.
    before_lock, from_lock = text.split('name: "1. Preflight: take the deploy lock"')
    assert "ansible.builtin.fail" not in from_lock, "the run fails in finish, after the lock and the report"
    assert "tasks_from: renew" not in text, "the run role renews the lease at the start of every play"


def test_deploy_reads_as_the_runbooks_table_of_contents() -> None:
    """deploy.yml is short, and no play title is repeated but the runbook's numbered steps' own parts."""
    text = (ROOT / "playbooks" / "deploy.yml").read_text()
    assert len(text.splitlines()) <= 200, len(text.splitlines())
    titles = re.findall(r'^- name: "(.+)"$', text, flags=re.M)
    assert len(titles) == len(set(titles)), titles


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_no_playbook_reaches_into_another_hosts_variables(playbook: Path) -> None:
    """The run's values come from the run role; a play reads other hosts' facts only through a role's entry point
    or a filter given their variables (map('extract', hostvars)), never by name."""
    assert "hostvars[" not in playbook.read_text()


def test_one_renew_and_one_finish_in_the_run_role() -> None:
    """The lease is renewed at the start of every play by the run role, and a run ends in its finish: no playbook
    renews or releases the lock itself."""
    texts = {p.name: p.read_text() for p in (ROOT / "playbooks").glob("*.yml")}
    assert not [n for n, t in texts.items() if re.search(r"tasks_from: (renew|release)$", t, flags=re.M)]
    main = (ROOT / "roles" / "deploy_run" / "tasks" / "main.yml").read_text()
    assert main.count("tasks_from: renew") == 1
    assert [p.name for p in (ROOT / "roles").glob("*/tasks/*.yml") if "tasks_from: renew" in p.read_text()] == \
        ["main.yml"]

