"""One run, one stop: a deploy that fails at any step ends there on every host, with 3 hosts and with 1.

For each failing step (the build, the backup, the migration, a host's preparation, a batch) and each topology (the
lab's 3 hosts; an inventory of app1 alone), the run's own output shows that no play after the failure ran on any
host (its header is followed by "skipping: no hosts matched"), but those that record and roll back what a started
roll-out switched; nothing was pulled or pruned after the failure; the lock was released once and is free; exactly
one "failed" event went out, after "started", naming the real cause; and every host serves what it served before.
The table these rows make is printed at the end of the module (the failure-path table of issue 23)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.deploy import FAULTY, deploy, fleet_on, lock_exists, said, served_version
from support.lab import INVENTORY, ROOT, Lab
from support.webhook import Webhook

pytestmark = pytest.mark.lab

# step -> (the extra arguments that make that step fail, words of the failure the run and the event name)
STEPS = {
    "build": (["-e", "app_version=1.1.93", "-e", "deploy_build=always", "-e",
               '{"app_build_args": {"BASE_IMAGE": "steady-lab/no-such-base:none"}}'],
              "could not be built or pushed; no host was touched"),
    # A backup folder that cannot be made (under /proc): the dump cannot start.
    "backup": (["-e", "app_version=1.1.0", "-e", "db_migrate_backup_dir=/proc/steady-backups"],
               "There was an issue creating /proc/steady-backups"),
    "migration": (["-e", "app_version=1.1.92", "-e", FAULTY % "migration"], "the migration of release"),
    "prepare": (["-e", "app_version=1.1.0", "-e", "rolling_restart_proxy_image=127.0.0.1:5000/steady/no-such-proxy:1"],
                "no-such-proxy"),
    "batch": (["-e", "app_version=1.1.91", "-e", FAULTY % "readiness", "-e", "rolling_restart_ready_timeout=6"],
              "did not answer 200 on GET /health/ready within 6 s"),
}
# The plays that still run after a failed batch: they record the failed release and roll back what was switched.
RECOVERY = ("6. Record every host's release", "Rollback of a deploy: put every host the run switched",
            "10. Release the deploy lock")
ROWS: list[str] = []


@pytest.fixture(scope="module")
def fleet(lab: Lab) -> Lab:
    yield fleet_on(lab)
    print("\nfailure-path table (step x topology: plays run after the failure, failed events, lock releases):")
    print("\n".join(ROWS))


@pytest.fixture(scope="module")
def one_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An inventory of app1 alone, with the lab's group variables: a service on one server. In a clone's layout
    (inventories/<name>/), since the lab's variables name the service's build folder from the inventory's."""
    clone = tmp_path_factory.mktemp("one-host")
    for name in ("examples", "monitoring"):
        (clone / name).symlink_to(ROOT / name)
    folder = clone / "inventories" / "one-host"
    folder.mkdir(parents=True)
    hosts = (INVENTORY / "hosts.yml").read_text()
    hosts = re.sub(r"\n        app[23]:\n          ansible_port: \d+\n          lab_http_port: \d+", "", hosts)
    assert "app2" not in hosts and "app1" in hosts
    (folder / "hosts.yml").write_text(hosts)
    (folder / "group_vars").symlink_to(INVENTORY / "group_vars")
    return folder / "hosts.yml"


def _plays_after(lines: list[str], start: int) -> list[tuple[str, bool]]:
    """(title, ran on some host) of every play after line `start`."""
    plays = []
    for i in range(start, len(lines)):
        match = re.match(r"PLAY \[(.+)\] \*+", lines[i])
        if match and match.group(1) != "RECAP":
            following = next((line for line in lines[i + 1:] if line.strip()), "")
            plays.append((match.group(1), following.strip() != "skipping: no hosts matched"))
    return plays


@pytest.mark.parametrize("topology", ["3 hosts", "1 host"])
@pytest.mark.parametrize("step", list(STEPS))
def test_a_step_that_fails_ends_the_run_there_on_every_host(fleet: Lab, one_host: Path, step: str,
                                                             topology: str) -> None:
    extra, cause = STEPS[step]
    inventory = ["-i", str(one_host)] if topology == "1 host" else []
    before = {h.name: served_version(fleet, h) for h in fleet.hosts}
    with Webhook() as hook:
        result = deploy(extra[1].split("=", 1)[1], *inventory, *extra[2:],
                        "-e", f"deploy_notify_webhook_url={hook.url}")
    text = said(result)
    lines = (result.stdout + result.stderr).splitlines()
    assert result.returncode != 0, text[-3000:]
    assert cause in text, text[-3000:]
    # Where the run stopped: the run role noted why (a failed step), once.
    stops = [i for i, line in enumerate(lines)
             if line.startswith("TASK [steady.deploy.deploy_run : Note in the run's state why the run stopped]")]
    assert len(stops) == 1, f"the run stops once: {len(stops)}"
    ran = [title for title, on_hosts in _plays_after(lines, stops[0]) if on_hosts]
    allowed = RECOVERY if step == "batch" else RECOVERY[2:]
    assert all(title.startswith(allowed) for title in ran), f"plays that ran after the failure: {ran}"
    after = "\n".join(lines[stops[0]:])
    assert not re.search(r"^TASK \[.*([Pp]ull|[Pp]rune|Remove the releases)", after, flags=re.M), \
        "nothing pulled or pruned after the failure"
    releases = text.count("TASK [steady.deploy.deploy_lock : Release the lock this run holds]")
    assert releases == 1 and not lock_exists(fleet)
    events = [p["text"] for p in hook.payloads()]
    assert len(events) == 2 and "started" in events[0] and "failed" in events[1], events
    assert cause in " ".join(events[1].split()), events[1]
    assert {h.name: served_version(fleet, h) for h in fleet.hosts} == before
    ROWS.append(f"  {step:9} {topology:7}  plays run after: {', '.join(t.split('.')[0] if t[0].isdigit() else '8' for t in ran) or 'none'};"
                f" failed events: 1; lock releases: {releases}")
