"""Helpers for the tests that deploy to the lab: run the playbooks, look at the hosts, reset the fleet."""
from __future__ import annotations

import json
import re
import subprocess
import time

import httpx
import psycopg

from bench.load import Load
from support.lab import Lab, ansible_playbook, ssh

APP = "app"
# Build arguments of a release of the reference service with a fault built in (readiness, migration, errors).
FAULTY = '{"app_build_args": {"BASE_IMAGE": "steady-lab/debian:bookworm", "APP_FAULT": "%s"}}'


def deploy(version: str, *extra: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return ansible_playbook("playbooks/deploy.yml", "-e", f"app_version={version}", *extra, timeout=timeout)


def said(result: subprocess.CompletedProcess[str]) -> str:
    """Everything a run printed, on one line, so that messages folded by the output callback can be matched."""
    return " ".join((result.stdout + result.stderr).split())


def recap(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for host, fields in re.findall(r"^(\S+)\s*:\s*(ok=.*)$", result.stdout, re.M):
        out[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", fields)}
    return out


def served_version(lab: Lab, host) -> str:
    return httpx.get(f"http://127.0.0.1:{host.http_port}/version", timeout=5).json()["version"]


def containers(lab: Lab, host, running_only: bool = True) -> dict[str, str]:
    """name -> "image status" of the service's containers (and its proxy) on a host."""
    argv = ["docker", "ps", "--filter", f"label=io.steady.app={APP}", "--format", "{{.Names}}\t{{.Image}}\t{{.State}}"]
    if not running_only:
        argv.insert(2, "-a")
    lines = ssh(lab, host, *argv).stdout.splitlines()
    return {name: f"{image} {state}" for name, image, state in (line.split("\t") for line in lines)}


def started_at(lab: Lab, host) -> dict[str, str]:
    names = list(containers(lab, host))
    if not names:
        return {}
    out = ssh(lab, host, "docker", "inspect", "--format", "{{.Name}} {{.State.StartedAt}}", *names).stdout
    return dict(line.split() for line in out.splitlines())


def ledger(lab: Lab, host) -> list[dict]:
    result = ssh(lab, host, "cat", f"/var/lib/steady/{APP}/ledger.json", check=False)
    return json.loads(result.stdout)["releases"] if result.returncode == 0 else []


LOCK = f"/var/lib/steady/{APP}/deploy-lock.json"


def lock_exists(lab: Lab) -> bool:
    return ssh(lab, lab.hosts[0], "test", "-f", LOCK, check=False).returncode == 0


def read_lock(lab: Lab) -> dict:
    result = ssh(lab, lab.hosts[0], "cat", LOCK, check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def write_lock(lab: Lab, holder: dict) -> None:
    """Leave the lock as another run would have: `holder` with its lease's times (epochs and ISO strings)."""
    ssh(lab, lab.hosts[0], "sh", "-c", f"mkdir -p {LOCK.rsplit('/', 1)[0]} && cat > {LOCK}",
        input=json.dumps(holder))


def lock_playbook(*extra: str) -> subprocess.CompletedProcess[str]:
    return ansible_playbook("playbooks/lock.yml", *extra, timeout=120)


def schema_revision(lab: Lab) -> str | None:
    with psycopg.connect(host="127.0.0.1", port=lab.postgres_port, user="app", dbname="app",
                         password=lab.db_password, connect_timeout=5) as conn:
        exists = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()[0]
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] if exists else None


def reset_fleet(lab: Lab) -> None:
    """Empty hosts and an empty database: what a first deploy meets."""
    for host in lab.hosts:
        ssh(lab, host, "sh", "-c",
            f"ids=$(docker ps -aq --filter label=io.steady.app={APP}); [ -z \"$ids\" ] || docker rm -f $ids >/dev/null;"
            f" docker network rm {APP} >/dev/null 2>&1; rm -rf /var/lib/steady/{APP} /var/backups/steady/{APP}; true")
    with psycopg.connect(host="127.0.0.1", port=lab.postgres_port, user="app", dbname="postgres",
                         password=lab.db_password, autocommit=True, connect_timeout=5) as conn:
        conn.execute("DROP DATABASE IF EXISTS app WITH (FORCE)")
        conn.execute("CREATE DATABASE app")


def fleet_on(lab: Lab, version: str = "1.0.0") -> Lab:
    """Empty hosts and database, then a first deploy of `version`: where a module's rows start from."""
    reset_fleet(lab)
    first = deploy(version)
    assert first.returncode == 0, said(first)[-3000:]
    return lab


def live_entry(lab: Lab, host) -> dict:
    return [e for e in ledger(lab, host) if e["status"] == "live"][-1]


def running_app_containers(lab: Lab, host) -> set[str]:
    return {n for n in containers(lab, host) if not n.endswith("-proxy")}


def balancer_ready(lab: Lab) -> None:
    """HAProxy marks a host up two checks after it answers: wait until a short burst goes through clean."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        probe = Load(f"http://127.0.0.1:{lab.balancer_port}", rate=40, workers=4, max_seconds=1).start()
        time.sleep(1)
        if probe.stop().failed == 0:
            return
    raise AssertionError("the balancer never served every request")


def delete_from_registry(lab: Lab, digest: str) -> None:
    """The lab registry allows deletes: the release's manifest (and every tag on it) is gone after this."""
    url = f"http://{lab.registry}/v2/steady/app/manifests/{digest}"
    assert httpx.delete(url, timeout=10).status_code == 202
    assert httpx.head(url, timeout=10, headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                                                          "application/vnd.oci.image.manifest.v1+json"}
                      ).status_code == 404


def forget_image_on_host(lab: Lab, host, version: str) -> None:
    """Remove every container of that version and its image from one host."""
    ssh(lab, host, "sh", "-c",
        f"ids=$(docker ps -aq --filter label=io.steady.version={version} --filter label=io.steady.app={APP});"
        f" [ -z \"$ids\" ] || docker rm -f $ids >/dev/null;"
        f" img=$(docker image ls -q {lab.app_repository}:{version}); [ -z \"$img\" ] || docker rmi -f $img >/dev/null;"
        f" true")


def container_ids(lab: Lab, host) -> dict[str, str]:
    """name -> id of every service container on a host, stopped ones too."""
    out = ssh(lab, host, "docker", "ps", "-a", "--no-trunc", "--filter", f"label=io.steady.app={APP}", "--format",
              "{{.Names}}\t{{.ID}}").stdout
    return dict(line.split("\t") for line in out.splitlines())


def freeze(container: str) -> None:
    """`docker pause`: the cgroup freezer stops every process of the host at once. Under load the freezer can
    give up (runc: "unable to freeze") while a process is busy in the kernel; the same pause a moment later
    works, so it is tried up to 5 times, 0.2 s apart."""
    for attempt in range(5):
        paused = subprocess.run(["docker", "pause", container], capture_output=True, text=True, timeout=60)
        if paused.returncode == 0:
            return
        assert "unable to freeze" in paused.stderr, paused.stderr
        time.sleep(0.2 * (attempt + 1))
    raise AssertionError(f"docker pause {container} failed 5 times: {paused.stderr}")


def end_and_wake(run: subprocess.Popen[str], container: str, frozen: bool) -> None:
    """After a run that froze a host's container: kill the run if it still runs, and wake the container."""
    if run.poll() is None:
        run.kill()
    if frozen:
        subprocess.run(["docker", "unpause", container], check=False, timeout=60)


def wait_for_woken_module(lab: Lab, host) -> None:
    """Once a frozen host is woken, the module the run had started there goes on to its end (its controller is
    gone): wait until no module of Ansible's runs on the host (each runs as `/bin/sh -c /usr/bin/python3 && sleep 0`
    under the SSH session, pipelined), polling, so that the next run does not meet it half done. The pattern is
    anchored: the shell that runs pgrep has the pattern in its own command line, but not at its start."""
    deadline = time.monotonic() + 120
    while ssh(lab, host, "pgrep", "-f", "^/bin/sh -c /usr/bin/python3 && sleep 0", check=False).returncode == 0:
        assert time.monotonic() < deadline, f"a module still runs on {host.name} two minutes after it was woken"
        time.sleep(0.5)
