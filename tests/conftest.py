"""Shared fixtures: where the local lab is, and a guard that turns "lab missing" into a failure under CI."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
INVENTORY = ROOT / "inventories" / "local"
VENV_BIN = ROOT / ".venv" / "bin"
# Per machine, like the lab's containers (see local_lab_state_dir).
LAB_STATE = Path.home() / ".local" / "state" / "steady-lab"


@dataclass(frozen=True)
class AppHost:
    name: str
    ssh_port: int
    http_port: int


@dataclass(frozen=True)
class Lab:
    name: str
    state_dir: Path
    registry: str
    postgres_port: int
    redis_port: int
    prometheus_port: int
    balancer_port: int
    hosts: tuple[AppHost, ...]
    app_repository: str

    def secret(self, name: str) -> str:
        return (self.state_dir / "secrets" / name).read_text().strip()

    @property
    def db_password(self) -> str:
        return self.secret("db_password")

    @property
    def redis_password(self) -> str:
        return self.secret("redis_password")


def load_lab() -> Lab:
    """Reads the lab's plain settings straight from inventories/local (the same files Ansible reads)."""
    hosts_doc = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    lab_vars = yaml.safe_load((INVENTORY / "group_vars" / "all" / "lab.yml").read_text())
    app_vars = yaml.safe_load((INVENTORY / "group_vars" / "all" / "app.yml").read_text())
    app_hosts = hosts_doc["all"]["children"]["app_hosts"]["hosts"]
    name = lab_vars["lab_name"]
    registry = lab_vars["lab_registry"]
    return Lab(
        name=name,
        state_dir=LAB_STATE / name,
        registry=registry,
        postgres_port=int(lab_vars["local_lab_postgres_port"]),
        redis_port=int(lab_vars["local_lab_redis_port"]),
        prometheus_port=int(lab_vars["local_lab_prometheus_port"]),
        balancer_port=int(lab_vars["local_lab_balancer_port"]),
        hosts=tuple(AppHost(h, int(v["ansible_port"]), int(v["lab_http_port"])) for h, v in app_hosts.items()),
        app_repository=app_vars["app_image_repository"].replace("{{ lab_registry }}", registry),
    )


def require(condition: bool, why: str) -> None:
    """Outside CI a missing lab skips; under CI it fails, so a green run always means the real thing ran."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{why} (CI=true: a missing lab is a failure; run `make up`)")
    pytest.skip(f"{why}; run `make up`")


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


def ssh(lab: Lab, host: AppHost, *argv: str, check: bool = True,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Runs a command on an app host exactly as Ansible reaches it: the lab key and pinned host keys."""
    ssh_dir = lab.state_dir / "ssh"
    return subprocess.run(
        ["ssh", "-p", str(host.ssh_port), "-i", str(ssh_dir / "id_ed25519"),
         "-o", f"UserKnownHostsFile={ssh_dir / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
         "-o", "BatchMode=yes", "root@127.0.0.1", shlex.join(argv)],
        # Its own stdin, never the test run's: ssh makes its stdin non-blocking, and on a shared stdin that breaks
        # every ansible-playbook started after it ("Ansible requires blocking IO on stdin").
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True, text=True, timeout=60, check=check, input=input,
    )


def ansible_playbook(*args: str, env: dict[str, str] | None = None,
                     timeout: int = 900) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0",
                "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", **(env or {})}
    return subprocess.run([str(VENV_BIN / "ansible-playbook"), *args], cwd=ROOT, env=full_env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)


def labelled(kind: str, lab_name: str) -> list[str]:
    """Names of the containers, networks or volumes labelled as belonging to the lab `lab_name`."""
    argv = ["docker", kind, "ls", "--format", "{{.Names}}" if kind == "container" else "{{.Name}}",
            "--filter", f"label=io.steady.lab={lab_name}"]
    if kind == "container":
        argv.append("-a")
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout.split()


def docker_json(*argv: str) -> object:
    out = subprocess.run(["docker", *argv], capture_output=True, text=True, check=True, timeout=60).stdout
    return json.loads(out)


# `make pytest` runs two queues at once (pytest -n 2, pytest-xdist): the modules on the shared lab one after the
# other, in file order, on one worker (they deploy to the same hosts, and some start from the fleet the module
# before left); the modules that bring up containers of their own (bare-server labs, molecule, throwaway
# engines), each on its own names and ports, one after the other on the other worker. Every other test starts
# nothing and goes to whichever worker is free. Named here, by module, because xdist schedules before any test
# is collected; pytest_collection_modifyitems below fails the run when a module is in the wrong set.
SHARED_LAB_MODULES = {"test_alerts.py", "test_deploy.py", "test_deploy_inputs.py", "test_faults.py",
                      "test_image_source.py", "test_lab.py", "test_rollback.py", "test_secrets.py", "test_service.py",
                      "test_workflow_inputs.py"}
OWN_CONTAINERS_MODULES = {"test_lab_inputs.py", "test_lab_lifecycle.py", "test_molecule.py", "test_new_service.py",
                          "test_setup.py", "test_third_party_app.py"}


def queue_of(nodeid: str) -> str:
    """The queue of a test: 'shared-lab', 'own-containers', or the test's own id (any free worker)."""
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return ("shared-lab" if module in SHARED_LAB_MODULES else
            "own-containers" if module in OWN_CONTAINERS_MODULES else nodeid)


def pytest_collection_modifyitems(config, items: list[pytest.Item]) -> None:  # noqa: ARG001 (pytest's hook)
    """A module's queue must match what its tests use: the lab fixture means the shared lab; the `lab` mark
    without it, containers of the module's own."""
    for item in items:
        module = item.path.name
        if "lab" in item.fixturenames and module not in SHARED_LAB_MODULES:
            raise pytest.UsageError(f"{item.nodeid} uses the shared lab: add {module} to SHARED_LAB_MODULES "
                                    "(tests/conftest.py), or two of its tests would run on the lab at once")
        if item.get_closest_marker("lab") and queue_of(item.nodeid) == item.nodeid:
            raise pytest.UsageError(f"{item.nodeid} starts containers: add {module} to OWN_CONTAINERS_MODULES "
                                    "or SHARED_LAB_MODULES (tests/conftest.py)")


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


def pytest_terminal_summary(terminalreporter, exitstatus: int, config) -> None:  # noqa: ARG001 (pytest's hook)
    """The counts issue 11 asks to see in every run: the fault matrix's rows and the bad-input table's rows, and
    how many of their tests passed in this run."""
    import test_deploy_inputs
    import test_faults

    passed = {report.nodeid.split("[")[0] for report in terminalreporter.stats.get("passed", [])
              if report.when == "call"}
    faults_run = sum(1 for where in test_faults.FAULTS.values() if f"tests/{where}" in passed)
    inputs = len(test_deploy_inputs.RUNS)
    inputs_run = sum(1 for report in terminalreporter.stats.get("passed", [])
                     if report.when == "call" and "test_deploy_inputs.py::test_bad_input_is_refused_before_any_change" in report.nodeid)
    terminalreporter.write_line(
        f"fault matrix: {len(test_faults.FAULTS)} faults, {faults_run} passed in this run; "
        f"bad inputs: {inputs} rows, {inputs_run} passed in this run")
