"""The repository is the Ansible collection steady.deploy: it builds into a tarball that holds the product and
nothing of the lab, installs like any collection, and its playbooks then run by name from any folder."""
from __future__ import annotations

import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from support.lab import ROOT, VENV_BIN

GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
FQCN = f"{GALAXY['namespace']}.{GALAXY['name']}"
PLAYBOOKS = sorted(p.stem for p in (ROOT / "playbooks").glob("*.yml"))
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py"))
# What the tarball must leave out: the lab (the repository's own test bed), the tests, the benchmark, the
# reference service and the repository's own tooling.
NOT_SHIPPED = ("lab/", "tests/", ".config/", "bench/", "examples/", "molecule/", "tools/", "inventories/", ".github/", ".ci/",
               ".venv/", "Makefile", "ansible.cfg", "requirements.txt", "pytest.ini", ".secrets.baseline")


def _without_this_clone(collections: Path) -> dict[str, str]:
    """A user's environment: none of this clone's Ansible settings, only the given collections path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return env | {"ANSIBLE_COLLECTIONS_PATH": str(collections)}


def _run(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build")
    result = _run(str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    built = list(out.glob("*.tar.gz"))
    assert [p.name for p in built] == [f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"]
    return built[0]


@pytest.fixture(scope="module")
def installed(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tarball installed into a collections path of its own, as a user's `ansible-galaxy collection install`."""
    path = tmp_path_factory.mktemp("collections")
    # --no-deps: the dependencies are the ones ansible bundles (Galaxy is not reachable here). Without this
    # clone's ansible.cfg (make exports it): it names .venv/collections, where the clone itself is linked as
    # steady.deploy, and ansible-galaxy would then call the collection installed already and write nothing.
    result = _run(str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(path),
                  str(tarball), cwd=path, env=_without_this_clone(path))
    assert result.returncode == 0, result.stdout + result.stderr
    return path


def _members(tarball: Path) -> list[str]:
    with tarfile.open(tarball) as tar:
        return [m.name.removeprefix("./") for m in tar.getmembers()]


def test_the_tarball_holds_the_product(tarball: Path) -> None:
    names = _members(tarball)
    for module in MODULES:
        assert f"plugins/modules/{module}.py" in names
    for playbook in PLAYBOOKS:
        assert f"playbooks/{playbook}.yml" in names
    for role in (p.name for p in (ROOT / "roles").iterdir()):
        assert f"roles/{role}/meta/argument_specs.yml" in names
    assert {"MANIFEST.json", "FILES.json", "meta/runtime.yml", "README.md"} <= set(names)


def test_the_tarball_leaves_the_lab_and_the_tests_out(tarball: Path) -> None:
    names = _members(tarball)
    shipped = sorted(n for n in names if n.startswith(NOT_SHIPPED) or n in {p.rstrip("/") for p in NOT_SHIPPED})
    assert not shipped, shipped
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".tar.gz"))]


def test_no_role_carries_plugins_of_its_own() -> None:
    """Modules, module_utils and filters live once, in plugins/: no per-role copies, links or path loading."""
    per_role = sorted(str(p.relative_to(ROOT)) for base in ("roles", "lab/roles") for p in (ROOT / base).glob("*/*")
                      if p.name in {"library", "module_utils", "filter_plugins"})
    assert not per_role
    assert not list((ROOT / "playbooks").glob("filter_plugins"))
    links = [line for line in _run("git", "ls-files", "-s", cwd=ROOT).stdout.splitlines() if line.startswith("120000")]
    assert not links, links
    # Loading code from a path (what a plugin that finds its helpers by location does); asking whether a module is
    # installed (importlib.util.find_spec) is no loading.
    loading = r"spec_from_file_location|SourceFileLoader|machinery|sys\.path\.(insert|append)"
    loaders = [p for p in (ROOT / "plugins").rglob("*.py") if re.search(loading, p.read_text())]
    assert not loaders


def test_every_module_documents_itself() -> None:
    assert MODULES
    for module in MODULES:
        text = (ROOT / "plugins" / "modules" / f"{module}.py").read_text()
        for section in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
            assert re.search(rf"^{section} = r?\"\"\"", text, re.M), f"{module} has no {section}"


def test_installed_playbooks_run_by_name_from_another_folder(installed: Path, tmp_path: Path) -> None:
    """`ansible-playbook steady.deploy.<name>` works from a folder that is not this clone, with the installed
    collection only: nothing reaches back into the repository."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"app_hosts": {"hosts": {"web1": {}}}}}}))
    # An empty ansible.cfg in the folder: the clone's ansible.cfg (and its link to this clone) must not be read.
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = _without_this_clone(installed) | {"ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg")}
    for playbook in PLAYBOOKS:
        result = _run(str(VENV_BIN / "ansible-playbook"), f"{FQCN}.{playbook}", "--syntax-check", "-i", str(inventory),
                      cwd=tmp_path, env=env)
        assert result.returncode == 0, f"{playbook}: {result.stdout}{result.stderr}"
    docs = _run(str(VENV_BIN / "ansible-doc"), *(f"{FQCN}.{m}" for m in MODULES), cwd=tmp_path, env=env)
    assert docs.returncode == 0, docs.stderr
    for module in MODULES:
        assert f"{FQCN}.{module}" in docs.stdout
    assert str(installed) in _run(str(VENV_BIN / "ansible-galaxy"), "collection", "list", FQCN, cwd=tmp_path,
                                  env=env).stdout
