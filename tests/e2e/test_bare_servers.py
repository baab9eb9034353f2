"""Two bare servers (SSH as `deploy` with sudo, no engine, no Docker) in a lab of their own, taken as a new user
takes them, in order:

1. setup (steady.deploy.setup from the collection's tarball, installed as a user installs it): bad input and an
   unreachable server fail before any change, check mode changes nothing, a real run makes both ready Docker
   hosts, a second run changes nothing, and a config change restarts the engine without stopping running
   containers.
2. A service that is not the reference one, from a folder outside this repository: build the collection's tarball,
   install it, `init` the service's deploy configuration, edit only that inventory, `setup` the two servers (the
   user's own step: it finds them ready, made so by the same installed playbook in the first test), deploy v1 and
   then v2 under constant load with 0 failed requests, roll back under load, verify.

One lab for both (it used to be two, each installing the engine on two servers): the second test runs setup itself,
so it proves the user's path whether or not the first one passed.

The service (examples/second_service) listens on 9000, answers /livez and /readyz, has no version endpoint, uses no
database and no Redis (its lab has a PostgreSQL of its own and no Redis), and names its metrics
notes_requests_total{path,code} and notes_request_seconds. Its images are built "elsewhere" (by this test, as the
service's CI would) and deployed with no build context."""
from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import httpx
import pytest
import yaml

from bench.load import Load
from support.lab import LAB_STATE, ROOT, VENV_BIN, ansible_playbook, labelled, require
from support.user_path import Steps, install_collection, point_inventory_at_lab, run, said, wait_balancer

pytestmark = [pytest.mark.lab, pytest.mark.slow]

LAB = "steadynew"
REGISTRY = "127.0.0.1:15098"
BALANCER = 18101
PROMETHEUS = 19098
# name: (SSH port, HTTP port)
HOSTS = {"notes1": (2301, 18102), "notes2": (2302, 18103)}
CLOSED_PORT = 2304
PUBLIC_PORT = 8080
SETTINGS = [
    "-e", f"lab_name={LAB}", "-e", f"lab_registry={REGISTRY}",
    "-e", "local_lab_postgres_port=15498", "-e", "local_lab_redis_port=16398",
    # A database of its own (this lab's PostgreSQL, its own name and owner), and no Redis: it uses none.
    "-e", "local_lab_db_name=notes", "-e", "local_lab_db_user=notes", "-e", "local_lab_redis=false",
    "-e", f"local_lab_prometheus_port={PROMETHEUS}", "-e", f"local_lab_balancer_port={BALANCER}",
    # The lab serves whatever service it is given: its port, health path and metrics path.
    "-e", f"local_lab_app_port={PUBLIC_PORT}", "-e", "local_lab_balancer_health_path=/readyz",
    "-e", "local_lab_metrics_path=/metrics", "-e", '{"local_lab_prometheus_rules": []}',
    "-e", json.dumps({"local_lab_app_hosts": [{"name": n, "ssh_port": s, "http_port": h, "bare": True}
                                              for n, (s, h) in HOSTS.items()]}),
]
SSH_DIR = LAB_STATE / LAB / "ssh"
PROXY_IMAGE = f"{REGISTRY}/steady-lab/nginx:bookworm"
IMAGE = f"{REGISTRY}/notes/api"
# What the load reads: this service has no /items and takes no writes.
READS = {"path": "/", "write_ratio": 0}
ROTATION = {"log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "5"}, "live-restore": True}
# Only as far as its input checks and check mode: no repository of Docker's can be reached from here.
DOCKER_REPO = ["-e", "server_setup_engine_source=docker",
               "-e", "server_setup_docker_repo_url=https://apt.invalid/debian",
               "-e", "server_setup_docker_repo_key=-----BEGIN PGP PUBLIC KEY BLOCK-----"]


@pytest.fixture(scope="module")
def bare_lab() -> Iterator[None]:
    """The lab's services and two bare servers, up for the module's tests and removed after them."""
    engine = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30).returncode == 0
    require(engine, "no Docker engine answers")
    try:
        up = ansible_playbook("lab/playbooks/lab_up.yml", "--limit", "localhost", *SETTINGS, timeout=1200)
        assert up.returncode == 0, up.stdout[-3000:]
        yield
    finally:
        down = ansible_playbook("lab/playbooks/lab_down.yml", *SETTINGS, timeout=900)
    assert down.returncode == 0, down.stdout[-3000:]
    assert labelled("container", LAB) == []
    assert labelled("volume", LAB) == []
    assert not (LAB_STATE / LAB).exists()


def _inventory(path: Path, hosts: dict[str, dict]) -> str:
    """The bare servers as an operator's inventory would name them: a sudo user, a key, pinned host keys."""
    path.write_text(yaml.safe_dump({"all": {"children": {"app_hosts": {"hosts": hosts, "vars": {
        "ansible_host": "127.0.0.1",
        "ansible_user": "deploy",
        "ansible_ssh_private_key_file": str(SSH_DIR / "id_ed25519"),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={SSH_DIR / 'known_hosts'} -o StrictHostKeyChecking=yes",
        "app_name": "notes",
        # The lab registry's copy of the proxy image (no Docker Hub here).
        "server_setup_proxy_image": PROXY_IMAGE,
    }}}}}))
    return str(path)


def _ssh(host: str, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A fresh SSH session as `deploy` (so a new group membership counts), exactly as the playbook logs in."""
    return subprocess.run(
        ["ssh", "-p", str(HOSTS[host][0]), "-i", str(SSH_DIR / "id_ed25519"), "-o", "IdentitiesOnly=yes",
         "-o", f"UserKnownHostsFile={SSH_DIR / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "deploy@127.0.0.1", command],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=check)


def _recap(result: subprocess.CompletedProcess[str], host: str) -> dict[str, int]:
    match = re.search(rf"^{host}\s*:\s*(.*)$", result.stdout, re.M)
    assert match, result.stdout[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def _state(host: str) -> str:
    """What setup would change, read without changing it."""
    return _ssh(host, "dpkg-query -W -f='${Package} ${Status}\\n' docker.io python3-requests 2>&1; "
                      "cat /etc/docker/daemon.json; ls -d /var/lib/steady 2>&1; command -v python3; true").stdout


def _text(result: subprocess.CompletedProcess[str]) -> str:
    """The output with YAML's line folding undone, so that a long message reads as one line."""
    return " ".join(result.stdout.split())


def _setup(env: dict[str, str], inventory: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """steady.deploy.setup from the collection as a user installed it (the tarball, not this clone): the servers
    are made Docker hosts by exactly what ships."""
    started = time.monotonic()
    result = run([str(VENV_BIN / "ansible-playbook"), "steady.deploy.setup", "-i", inventory, *args],
                 Path(inventory).parent, env)
    return result, time.monotonic() - started


def _build_elsewhere(version: str) -> None:
    """The service's own CI: build and push the image; the deploy never sees a build context."""
    client = docker.from_env(timeout=600)
    client.images.build(path=str(ROOT / "examples" / "second_service"), tag=f"{IMAGE}:{version}", rm=True,
                        buildargs={"APP_VERSION": version, "BASE_IMAGE": "steady-lab/debian:bookworm"})
    for line in client.images.push(IMAGE, tag=version, stream=True, decode=True):
        assert "error" not in line, line


def _release(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/", timeout=5).json()["release"]


def _edit_inventory(deploy_dir: Path) -> None:
    """What a user fills in after init: their servers, their registry, their service's contract."""
    point_inventory_at_lab(deploy_dir, HOSTS, SSH_DIR)

    app_file = deploy_dir / "inventories" / "staging" / "group_vars" / "all" / "app.yml"
    app = yaml.safe_load(app_file.read_text())
    app |= {
        "app_image_repository": IMAGE, "app_build_context": "", "app_container_port": 9000,
        "app_public_port": PUBLIC_PORT, "app_health_live_path": "/livez", "app_health_ready_path": "/readyz",
        "app_version_path": "", "app_migration_command": [], "app_database_url": "", "app_secret_env": {},
        "app_env": {"READY_DELAY": "1"}, "app_dependencies": [],
        # The lab registry speaks plain HTTP on each host's loopback and needs no login.
        "registry_username": "", "registry_password": "", "deploy_preflight_registry_url": f"http://{REGISTRY}",
        "app_balancer_url": f"http://127.0.0.1:{BALANCER}", "app_prometheus_url": f"http://127.0.0.1:{PROMETHEUS}",
        "slo_gate_settle_seconds": 10,
        # This service's metric names.
        "slo_gate_requests_metric": "notes_requests_total", "slo_gate_status_label": "code",
        "slo_gate_duration_metric": "notes_request_seconds", "slo_gate_route_label": "path",
        "slo_gate_ignore_routes": "/livez|/readyz|/metrics",
        # No Docker Hub here: the lab registry's copy of nginx.
        "rolling_restart_proxy_image": f"{REGISTRY}/steady-lab/nginx:bookworm",
        "server_setup_proxy_image": f"{REGISTRY}/steady-lab/nginx:bookworm",
    }
    app_file.write_text(yaml.safe_dump(app, sort_keys=False))


@pytest.fixture(scope="module")
def user_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The collection's tarball built and installed as a user installs it, once for both tests; the user's shell."""
    return install_collection(tmp_path_factory.mktemp("user"))


def test_setup_makes_bare_servers_ready_docker_hosts(bare_lab: None, user_env: dict[str, str], tmp_path: Path) -> None:
    env = user_env
    inventory = _inventory(tmp_path / "hosts.yml", {"notes1": {"ansible_port": HOSTS["notes1"][0],
                                                             "server_setup_docker_group": True},
                                                   "notes2": {"ansible_port": HOSTS["notes2"][0]}})
    # notes2 is a minimal install without Python, which setup installs first.
    _ssh("notes2", "sudo apt-get purge -y -q python3.11-minimal python3-minimal >/dev/null 2>&1")
    assert _ssh("notes2", "command -v python3", check=False).returncode != 0
    before = {host: _state(host) for host in HOSTS}
    assert "not-installed" in before["notes1"] or "no packages found" in before["notes1"], before["notes1"]
    assert '"dns"' in before["notes1"] and "live-restore" not in before["notes1"]

    # Bad input (an unknown engine source, Docker's source without its repository) and an unreachable server:
    # each fails with a message that says what to change, and nothing changes.
    bad = _setup(env, inventory, "-e", "server_setup_engine_source=snap")[0]
    assert bad.returncode != 0
    assert "server_setup_engine_source must be one of: distribution, docker, got: snap" in _text(bad), \
        bad.stdout[-3000:]
    no_repo = _setup(env, inventory, "-e", "server_setup_engine_source=docker")[0]
    assert no_repo.returncode != 0
    assert "set server_setup_docker_repo_url to the http(s) URL" in _text(no_repo), no_repo.stdout[-3000:]
    ghost = _inventory(tmp_path / "ghost.yml", {"ghost": {"ansible_port": CLOSED_PORT}})
    unreachable = _setup(env, ghost)[0]
    assert unreachable.returncode != 0
    assert f"ghost cannot be reached over SSH as deploy at 127.0.0.1:{CLOSED_PORT}" in _text(unreachable), \
        unreachable.stdout[-3000:]

    # Check mode: passes, says what it would install, changes nothing (notes2 stops once it says Python is
    # missing). Docker's repository is only rendered: its sources file must name the URL and the release.
    check = _setup(env, inventory, "--check", "--diff")[0]
    assert check.returncode == 0, check.stdout[-4000:]
    assert "notes1: would install python3-requests, python3-apt, docker.io" in _text(check), check.stdout[-4000:]
    assert "notes2: would install python3 first, then python3-requests, python3-apt, docker.io" in _text(check)
    assert '+    "live-restore": true' in check.stdout, check.stdout[-4000:]
    repo_check = _setup(env, inventory, "--check", "--diff", "--limit", "notes1", *DOCKER_REPO)[0]
    assert repo_check.returncode == 0, repo_check.stdout[-4000:]
    assert "+URIs: https://apt.invalid/debian" in repo_check.stdout and "+Suites: bookworm" in repo_check.stdout
    assert "would install python3-requests, python3-apt, docker-ce, docker-ce-cli, containerd.io" \
        in _text(repo_check), repo_check.stdout[-4000:]
    assert {host: _state(host) for host in HOSTS} == before, "check mode or a refused run changed a server"

    first, first_seconds = _setup(env, inventory)
    assert first.returncode == 0, first.stdout[-4000:]
    for host in HOSTS:
        assert _recap(first, host)["failed"] == 0
        info = _ssh(host, "sudo docker info --format '{{.ServerVersion}} {{.LiveRestoreEnabled}} "
                          "{{.LoggingDriver}}'")
        assert info.stdout.split()[1:] == ["true", "json-file"], info.stdout + info.stderr
        config = json.loads(_ssh(host, "cat /etc/docker/daemon.json").stdout)
        # Merged: the lab's resolver (this host's own address) stays beside rotation and live-restore.
        assert config == {"dns": [_ssh(host, "hostname -i").stdout.split()[0]], **ROTATION}
        assert _ssh(host, "python3 -c 'import requests'", check=False).returncode == 0
        assert _ssh(host, "test -d /var/lib/steady/notes/proxy", check=False).returncode == 0
        assert _ssh(host, f"sudo docker image inspect {PROXY_IMAGE} >/dev/null", check=False).returncode == 0
    # Only where asked: the docker group is root in all but name.
    assert _ssh("notes1", "docker info --format '{{.ServerVersion}}'", check=False).returncode == 0
    assert _ssh("notes2", "docker info --format '{{.ServerVersion}}'", check=False).returncode != 0

    second, second_seconds = _setup(env, inventory)
    assert second.returncode == 0, second.stdout[-4000:]
    assert {host: _recap(second, host)["changed"] for host in HOSTS} == {"notes1": 0, "notes2": 0}, \
        second.stdout[-4000:]

    ready_check = _setup(env, inventory, "--check")[0]
    assert ready_check.returncode == 0, ready_check.stdout[-4000:]
    assert {host: _recap(ready_check, host)["changed"] for host in HOSTS} == {"notes1": 0, "notes2": 0}, \
        "check mode on a ready server must find nothing to change"

    # A ready server is not switched to the other engine source: refused before any change.
    switch = _setup(env, inventory, "--limit", "notes1", *DOCKER_REPO)[0]
    assert switch.returncode != 0
    assert "notes1 already has docker.io installed" in _text(switch), switch.stdout[-3000:]

    # A server already running containers on an engine without live-restore (as one set up by hand would): the
    # restart that applies the config keeps them running, since live-restore is turned on in place first.
    _ssh("notes2", "sudo python3 -c \"import json; p = '/etc/docker/daemon.json'; c = json.load(open(p)); "
                  "c.pop('live-restore'); json.dump(c, open(p, 'w'))\" && sudo service docker restart >/dev/null")
    probe = f"sudo docker run -d --name probe {PROXY_IMAGE} nginx -g 'daemon off;'"
    _ssh("notes2", f"timeout 30 sh -c 'until sudo docker info >/dev/null 2>&1; do sleep 1; done' && {probe}")
    started = _ssh("notes2", "sudo docker inspect -f '{{.State.StartedAt}} {{.State.Pid}}' probe").stdout
    assert _ssh("notes2", "sudo docker info --format '{{.LiveRestoreEnabled}}'").stdout.strip() == "false"
    restarted = _setup(env, inventory, "--limit", "notes2")[0]
    assert restarted.returncode == 0, restarted.stdout[-4000:]
    assert re.search(r"Turn live-restore on in the running engine\] \**\nchanged: \[notes2\]", restarted.stdout)
    assert re.search(r"Restart the engine\] \**\nchanged: \[notes2\]", restarted.stdout), restarted.stdout[-4000:]
    assert _ssh("notes2", "sudo docker inspect -f '{{.State.StartedAt}} {{.State.Pid}}' probe").stdout == started
    assert _ssh("notes2", "sudo docker info --format '{{.LiveRestoreEnabled}}'").stdout.strip() == "true"
    print(f"setup on two bare servers: first run {first_seconds:.0f} s, second run {second_seconds:.0f} s")
    # The probe was this test's: the service's deploy meets the servers as setup left them.
    _ssh("notes2", "sudo docker rm -f probe >/dev/null")


def test_a_new_service_from_init_to_rollback_on_bare_servers(bare_lab: None, user_env: dict[str, str],
                                                            tmp_path: Path) -> None:
    steps = Steps()
    # The lab serves this service, not the reference one: its own database, and no Redis it does not use.
    ours = {c.name: c for c in docker.from_env().containers.list(filters={"label": f"io.steady.lab={LAB}"})}
    assert f"{LAB}-redis" not in ours, sorted(ours)
    databases = ours[f"{LAB}-postgres"].exec_run(
        ["psql", "-h", "/run/postgresql", "-U", "notes", "-d", "notes", "-Atc",
         "select current_database(), current_user"])
    assert databases.exit_code == 0 and databases.output.decode().strip() == "notes|notes", databases.output

    # 1. The collection, built and installed as a user installs it (the module's user_env).
    env = user_env
    service = tmp_path / "notes"
    service.mkdir()

    # 2. init, from the service's own folder; then only the scaffolded inventory is edited.
    deploy_dir = steps.init(service, env, "-e", "init_service=notes", "-e", "service_init_container_port=9000",
                            "-e", "service_init_health_live_path=/livez",
                            "-e", "service_init_health_ready_path=/readyz", "-e", "service_init_version_path=")
    _edit_inventory(deploy_dir)

    def playbook(name: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return steps.playbook(name, deploy_dir, env, *extra)

    # 3. setup: two bare servers become Docker hosts.
    playbook("setup")
    for version in ("1.0.0", "2.0.0"):
        _build_elsewhere(version)

    # 4. The first deploy, then v2 under constant load through the front balancer.
    playbook("deploy-1", "-e", "app_version=1.0.0")
    assert {_release(http) for _, http in HOSTS.values()} == {"1.0.0"}
    wait_balancer(BALANCER, READS)
    with Load(f"http://127.0.0.1:{BALANCER}", rate=60, workers=6, max_seconds=400, **READS) as load:
        playbook("deploy-2", "-e", "app_version=2.0.0")
        time.sleep(1)
    figures = load.result.summary()
    assert figures["sent"] > 300 and figures["failed"] == 0, str(figures)
    assert {_release(http) for _, http in HOSTS.values()} == {"2.0.0"}
    # The SLO gate read this service's own metric names and judged real traffic (reports/ in the user's folder).
    report = json.loads(max((deploy_dir / "reports").glob("deploy-*-2.0.0.json")).read_text())
    assert report["passed"] is True and report["slo"]["verdict"] == "pass", report["slo"]
    assert "5xx ratio" in report["slo"]["summary"], report["slo"]

    # 5. The per-host proxy passes the Host the client asked for, with its port, and the forwarded headers.
    port = HOSTS["notes1"][1]
    seen = httpx.get(f"http://127.0.0.1:{port}/whoami", headers={"Host": "notes.example.test:8443"},
                     timeout=5).json()
    assert seen["host"] == "notes.example.test:8443"
    assert seen["x-forwarded-host"] == "notes.example.test:8443" and seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-for"] and seen["x-real-ip"]

    # 6. Roll back under load, then verify (no version endpoint: the engine says which image serves).
    with Load(f"http://127.0.0.1:{BALANCER}", rate=60, workers=6, max_seconds=300, **READS) as load:
        playbook("rollback")
        time.sleep(1)
    figures = load.result.summary()
    assert figures["sent"] > 100 and figures["failed"] == 0, str(figures)
    assert {_release(http) for _, http in HOSTS.values()} == {"1.0.0"}
    verified = playbook("verify")
    assert "Verification PASSED" in said(verified)
    assert (deploy_dir / "reports").is_dir() and list((deploy_dir / "reports").glob("verify-*.json"))
    print("new service timings (s):", json.dumps(steps.timings))
