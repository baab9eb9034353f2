"""Shared fixtures and the run's hooks: the lab fixture, the two queues pytest -n 2 runs, the areas (markers) a
developer selects with -m, and the counts every run prints. Helpers live in tests/support, never here: a test
module imports helpers, never another module's fixtures."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import httpx
import pytest

from support.bad_inputs import RUNS as BAD_INPUTS
from support.lab import Lab, load_lab, require


@pytest.fixture(scope="session")
def lab() -> Lab:
    lab = load_lab()
    try:
        up = httpx.get(f"http://{lab.registry}/v2/", timeout=3).status_code == 200
    except httpx.HTTPError:
        up = False
    require(up, f"the lab registry does not answer on {lab.registry}")
    require(lab.state_dir.is_dir(), f"no lab state in {lab.state_dir}")
    return lab


# `make pytest` runs two queues at once (pytest -n 2, pytest-xdist): the modules on the shared lab one after the
# other, in file order, on one worker (they deploy to the same hosts, and some start from the fleet the module
# before left); the modules that bring up containers of their own (bare-server labs, molecule, throwaway
# engines), each on its own names and ports, one after the other on the other worker. Every other test starts
# nothing and goes to whichever worker is free. Named here, by module, because xdist schedules before any test
# is collected; pytest_collection_modifyitems below fails the run when a module is in the wrong set.
SHARED_LAB_MODULES = {"test_alerts.py", "test_deploy.py", "test_deploy_inputs.py", "test_faults.py",
                      "test_image_source.py", "test_lab.py", "test_rollback.py", "test_run_ends.py", "test_secrets.py",
                      "test_service.py", "test_workflow_inputs.py"}
OWN_CONTAINERS_MODULES = {"test_bare_servers.py", "test_lab_inputs.py", "test_lab_lifecycle.py", "test_molecule.py",
                          "test_third_party_app.py"}


def queue_of(nodeid: str) -> str:
    """The queue of a test: 'shared-lab', 'own-containers', or the test's own id (any free worker)."""
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return ("shared-lab" if module in SHARED_LAB_MODULES else
            "own-containers" if module in OWN_CONTAINERS_MODULES else nodeid)


# The areas a developer selects with `pytest -m <area>` (registered in pytest.ini), by module: run the part you
# touch. Every test under tests/unit is also `unit`. A module of tests/e2e without an area fails the run.
AREAS = {
    "test_deploy.py": ["deploy"], "test_image_source.py": ["deploy"], "test_secrets.py": ["deploy"],
    "test_service.py": ["deploy"], "test_alerts.py": ["deploy"], "test_lab.py": ["deploy"],
    "test_rollback.py": ["rollback"],
    "test_faults.py": ["faults"], "test_run_ends.py": ["faults"],
    "test_deploy_inputs.py": ["inputs"], "test_refusals.py": ["inputs"], "test_lab_inputs.py": ["inputs", "setup"],
    "test_workflow_inputs.py": ["inputs", "pipeline"],
    "test_bare_servers.py": ["setup"], "test_lab_lifecycle.py": ["setup"],
    "test_third_party_app.py": ["acceptance"], "test_init.py": ["setup"], "test_collection.py": ["setup"],
    "test_molecule.py": ["molecule"],
    "test_workflows.py": ["pipeline"],
}


def pytest_collection_modifyitems(config, items: list[pytest.Item]) -> None:  # noqa: ARG001 (pytest's hook)
    """A module's queue must match what its tests use: the lab fixture means the shared lab; the `lab` mark
    without it, containers of the module's own. Each test gets its areas' marks."""
    for item in items:
        module = item.path.name
        if "lab" in item.fixturenames and module not in SHARED_LAB_MODULES:
            raise pytest.UsageError(f"{item.nodeid} uses the shared lab: add {module} to SHARED_LAB_MODULES "
                                    "(tests/conftest.py), or two of its tests would run on the lab at once")
        if item.get_closest_marker("lab") and queue_of(item.nodeid) == item.nodeid:
            raise pytest.UsageError(f"{item.nodeid} starts containers: add {module} to OWN_CONTAINERS_MODULES "
                                    "or SHARED_LAB_MODULES (tests/conftest.py)")
        if item.path.parent.name == "e2e" and module not in AREAS:
            raise pytest.UsageError(f"{item.nodeid}: name the areas of {module} in AREAS (tests/conftest.py)")
        under_tests = item.path.relative_to(Path(__file__).parent).parts
        for area in AREAS.get(module, []) + (["unit"] if under_tests[0] == "unit" else []):
            item.add_marker(area)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """On two cores the queues compete for the CPU. The shared lab's queue is the longer one and its tests time
    what they judge (readiness, latency under load), so the worker of the other queue and every process it starts
    (ansible-playbook, molecule) yield to it: nice 10, once per worker."""
    if queue_of(item.nodeid) == "own-containers" and os.environ.get("PYTEST_XDIST_WORKER") and os.nice(0) < 10:
        os.nice(10 - os.nice(0))


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before xdist's own, which would pick its default
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scope scheduling, with the scopes above: the biggest queue is handed out first."""
    from xdist.scheduler import LoadScopeScheduling

    class Queues(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return queue_of(nodeid)

    return Queues(config, log)


def _test_faults():
    """The fault matrix's module: the one this run imported, or read from its file (a run that did not collect it)."""
    if "test_faults" in sys.modules:
        return sys.modules["test_faults"]
    path = Path(__file__).parent / "e2e" / "test_faults.py"
    spec = importlib.util.spec_from_file_location("_counts_test_faults", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_terminal_summary(terminalreporter, exitstatus: int, config) -> None:  # noqa: ARG001 (pytest's hook)
    """The counts issue 11 asks to see in every run: the fault matrix's rows and the bad-input table's rows, and
    how many of their tests passed in this run."""
    test_faults = _test_faults()
    passed = {report.nodeid.split("[")[0] for report in terminalreporter.stats.get("passed", [])
              if report.when == "call"}
    faults_run = sum(1 for where in test_faults.FAULTS.values() if f"tests/e2e/{where}" in passed)
    inputs = len(BAD_INPUTS)
    inputs_run = sum(1 for report in terminalreporter.stats.get("passed", [])
                     if report.when == "call" and "test_refusals.py::test_bad_input_is_refused_before_any_change" in report.nodeid)
    terminalreporter.write_line(
        f"fault matrix: {len(test_faults.FAULTS)} faults, {faults_run} passed in this run; "
        f"bad inputs: {inputs} rows, {inputs_run} passed in this run")
