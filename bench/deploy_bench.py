"""Benchmark: a 1.0.0 -> 1.1.0 deploy of the reference service on the local lab under constant load, and a naive
stop-then-start restart as the baseline, measured in the same run.

Prints: requests sent and failed and p99 latency through the front balancer during each, the deploy's wall time,
the wall time of the same release deployed again (a no-op, stopped at the preflight) and its ratio to the deploy's,
and the bound (per batch, the slowest new container's start-to-ready time plus the drain) with the ratio
wall/bound; the rollback of every host under the same load; a canary abort (1.1.96, which answers 500, with
deploy_canary: only the first host may ever start it); the naive restart. With --runs N, N whole runs and the
min, median and max of each figure. The load is paced, capped in requests and in seconds, goes to 127.0.0.1 only,
and must outlast each command (the run fails otherwise).

    .venv/bin/python -m bench.deploy_bench [--runs 3]   (needs `make up` first; resets the lab's service)
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import docker  # noqa: E402
import httpx  # noqa: E402

from bench.load import Load  # noqa: E402
from support.lab import ansible_playbook, load_lab, ssh  # noqa: E402
from support.deploy import FAULTY, containers, deploy, ledger, reset_fleet, said, started_at  # noqa: E402

LOG_DIR: Path | None = None
ELAPSED = re.compile(r"\(\d+:\d+:[\d.]+\)\s+(\d+):(\d+):([\d.]+)")


def timed_rollout(playbook: str, first_play: str, next_play: str, *args: str) -> dict[str, float]:
    """Runs a playbook with ansible's profile_tasks timer; returns the wall time of its serial roll-out, from the
    play named `first_play` to the play named `next_play`."""
    out = ansible_playbook(playbook, *args, env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"})
    if LOG_DIR:  # the whole output with every task's timing, to see where the time goes
        (LOG_DIR / f"{Path(playbook).stem}-{time.strftime('%H%M%S')}.log").write_text(out.stdout + out.stderr)
    assert out.returncode == 0, out.stdout[-3000:]

    def clock_after(play: str) -> float:
        h, m, sec = ELAPSED.search(out.stdout[out.stdout.index(f"PLAY [{play}"):]).groups()
        return int(h) * 3600 + int(m) * 60 + float(sec)

    return {"rollout_s": round(clock_after(next_play) - clock_after(first_play), 1)}


def timed_deploy(version: str, *extra: str) -> dict[str, float]:
    """deploy.yml; the roll-out runs from the first switch batch until every host is recorded in its ledger and
    its old container drained and stopped (the verification starts; pruning comes after it)."""
    return timed_rollout("playbooks/deploy.yml", "5. Roll out batch by batch", "Verify 1.",
                         "-e", f"app_version={version}", *extra)


def timed_rollback(drain: int) -> dict[str, float]:
    """rollback.yml with no arguments (one release back); the roll-out runs from the first switch batch to the
    report."""
    return timed_rollout("playbooks/rollback.yml", "Rollback: switch batch by batch",
                         "5. Release the deploy lock", "-e", f"rolling_restart_drain_seconds={drain}")


def live_timings(lab) -> tuple[dict[str, float], dict[str, dict]]:
    """Per host, what its ledger's live entry recorded of its switch: start-to-ready, and where the call spent its
    time."""
    live = {h.name: [e for e in ledger(lab, h) if e["status"] == "live"][-1] for h in lab.hosts}
    return ({name: float(e["ready_seconds"]) for name, e in live.items()},
            {name: e.get("switch_seconds") for name, e in live.items()})


def bound_of(ready: dict[str, float], batches: list[list[str]], drain: float) -> float:
    """The bound of a roll-out: per batch, its slowest container's start-to-ready plus the drain."""
    return sum(max(ready[name] for name in batch) + drain for batch in batches)


def start_to_ready(lab, host, image: str, port: int, path: str) -> float:
    """Seconds from `docker start` of a fresh container of `image` on `host` to its first 200 on `path`,
    probed every 50 ms from the host itself (the same place the deploy probes from)."""
    script = f"""
import json, subprocess, time, urllib.request
env = json.load(open('/tmp/bench-env.json'))
args = ['docker', 'create', '--network', 'app']
for k, v in env.items(): args += ['-e', f'{{k}}={{v}}']
cid = subprocess.check_output(args + ['{image}']).decode().strip()
t0 = time.monotonic(); subprocess.check_call(['docker', 'start', cid], stdout=subprocess.DEVNULL)
ip = subprocess.check_output(['docker', 'inspect', '-f', '{{{{.NetworkSettings.Networks.app.IPAddress}}}}', cid]).decode().strip()
while time.monotonic() - t0 < 60:
    try:
        if urllib.request.urlopen(f'http://{{ip}}:{port}{path}', timeout=1).status == 200: break
    except Exception: pass
    time.sleep(0.05)
print(round(time.monotonic() - t0, 3))
subprocess.call(['docker', 'rm', '-f', cid], stdout=subprocess.DEVNULL)
"""
    return float(ssh(lab, host, "python3", "-c", script).stdout.strip())


def copy_env(lab, host) -> None:
    """The live container's environment, so the probe container can reach the database like the service."""
    live = ssh(lab, host, "sh", "-c", "docker ps --filter label=io.steady.app=app --format '{{.Names}}' | grep -v proxy"
               " | head -1").stdout.strip()
    env = ssh(lab, host, "docker", "inspect", "-f", "{{json .Config.Env}}", live).stdout
    pairs = dict(e.split("=", 1) for e in json.loads(env) if e.split("=", 1)[0] in ("DATABASE_URL", "REDIS_URL"))
    ssh(lab, host, "sh", "-c", f"cat > /tmp/bench-env.json <<'EOF'\n{json.dumps(pairs)}\nEOF")


def measured(lab, rate: float, min_requests: int, cap: float, action, nice: int = 0) -> tuple[dict, float]:
    """Runs `action` under constant load through the front balancer; the load lasts at least `min_requests`
    requests and at most `cap` seconds. Fails when the load ended before the command did: its figures would then
    be those of a command that partly ran without load."""
    max_requests = max(min_requests * 2, int(rate * cap))
    load = Load(f"http://127.0.0.1:{lab.balancer_port}", rate=rate, workers=20, max_seconds=cap,
                max_requests=max_requests, nice=nice).start()
    time.sleep(3)
    began = time.monotonic()
    action()
    wall = time.monotonic() - began
    assert load.result.sent < max_requests and time.monotonic() - load.result.started < cap, \
        f"the load ended before the command did ({load.result.sent} requests, cap {cap} s): raise --cap"
    while load.result.sent < min_requests and time.monotonic() - load.result.started < cap:
        time.sleep(0.5)
    return load.stop().summary(), wall


def canary_abort(lab, drain: int) -> dict:
    """1.1.96 (500 on its item routes) with deploy_canary: only the first host may ever start it."""
    before = {h.name: started_at(lab, h) for h in lab.hosts[1:]}
    began = time.monotonic()
    result = deploy("1.1.96", "-e", FAULTY % "errors", "-e", "deploy_canary=true", "-e", "deploy_canary_seconds=20",
                    "-e", f"rolling_restart_drain_seconds={drain}")
    wall = time.monotonic() - began
    if LOG_DIR:
        (LOG_DIR / f"canary-{time.strftime('%H%M%S')}.log").write_text(result.stdout + result.stderr)
    assert result.returncode != 0 and "failed its canary" in said(result), said(result)[-3000:]
    release = [e for e in ledger(lab, lab.hosts[0]) if e["version"] == "1.1.96"][-1]["release_id"]
    only_canary = before == {h.name: started_at(lab, h) for h in lab.hosts[1:]} and not any(
        release in name for h in lab.hosts[1:] for name in containers(lab, h, running_only=False))
    assert only_canary, "a host after the canary started the bad release"
    return {"command_wall_s": round(wall, 1), "only_the_canary_served_it": only_canary}


def naive_restart(lab) -> None:
    """What a naive script does: stop the running container and start it again, host after host."""
    for host in lab.hosts:
        live = ssh(lab, host, "sh", "-c", "docker ps --filter label=io.steady.app=app --format '{{.Names}}'"
                   " | grep -v proxy | head -1").stdout.strip()
        ssh(lab, host, "docker", "stop", "-t", "25", live)
        ssh(lab, host, "docker", "start", live)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{host.http_port}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=250, help="requests per second (>= 200)")
    parser.add_argument("--min-requests", type=int, default=20_000)
    parser.add_argument("--cap", type=float, default=400, help="hard limit of each load phase, seconds")
    parser.add_argument("--drain", type=int, default=2, help="rolling_restart_drain_seconds")
    parser.add_argument("--load-nice", type=int, default=10,
                        help="nice value of the load generator's threads (the clients; 0 to compete as equals)")
    parser.add_argument("--logs", type=Path, help="write each playbook's output, with its task timings, here")
    parser.add_argument("--runs", type=int, default=1, help="whole runs, each from a reset fleet (min/median/max)")
    args = parser.parse_args()
    global LOG_DIR
    LOG_DIR = args.logs
    if LOG_DIR:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
    lab = load_lab()
    runs = [one_run(lab, args) for _ in range(args.runs)]
    print(json.dumps({"runs": runs, "summary": summary(runs)}, indent=2))


# The figures the targets name, with min, median and max over the runs (ratios are taken within each run).
SUMMARY = {
    "deploy failed requests": ("deploy_1.0.0_to_1.1.0", "failed"),
    "deploy wall s": ("deploy_1.0.0_to_1.1.0", "wall_s"),
    "deploy roll-out s": ("deploy_1.0.0_to_1.1.0", "rollout_s"),
    "no-op wall s": ("noop_redeploy_1.1.0", "wall_s"),
    "no-op / deploy": ("noop_redeploy_1.1.0", "wall_over_deploy_wall"),
    "rollback failed requests": ("rollback_1.1.0_to_1.0.0", "failed"),
    "rollback wall s": ("rollback_1.1.0_to_1.0.0", "wall_s"),
    "rollback roll-out s": ("rollback_1.1.0_to_1.0.0", "rollout_s"),
    "canary abort failed requests": ("canary_abort_1.1.96", "failed"),
    "canary abort wall s": ("canary_abort_1.1.96", "wall_s"),
    "naive restart failed requests": ("naive_stop_start", "failed"),
}


def summary(runs: list[dict]) -> dict[str, dict[str, float]]:
    out = {}
    for name, (phase, key) in SUMMARY.items():
        values = [run[phase][key] for run in runs]
        out[name] = {"min": min(values), "median": statistics.median(values), "max": max(values)}
    out["deploy wall beyond roll-out s"] = {
        f: g([r["deploy_1.0.0_to_1.1.0"]["wall_s"] - r["deploy_1.0.0_to_1.1.0"]["rollout_s"] for r in runs])
        for f, g in (("min", min), ("median", statistics.median), ("max", max))}
    return out


def one_run(lab, args) -> dict:
    """One run of every phase, in order, from a reset fleet."""
    reset_fleet(lab)
    first = deploy("1.0.0")
    assert first.returncode == 0, first.stdout[-2000:]

    image = f"{lab.app_repository}:1.1.0"
    # 1.1.0 in the registry beforehand, as CI would have pushed it: the deploy measured here builds nothing.
    client = docker.from_env(timeout=300)
    client.images.build(path=str(ROOT / "examples/service"), tag=image, rm=True, pull=False,
                        buildargs={"APP_VERSION": "1.1.0", "BASE_IMAGE": "steady-lab/debian:bookworm"})
    client.images.push(image)
    for host in lab.hosts:  # pull 1.1.0 everywhere so that the probe measures start, not download
        ssh(lab, host, "docker", "pull", "-q", image)
        copy_env(lab, host)
    idle_ready = {h.name: start_to_ready(lab, h, image, 8000, "/health/ready") for h in lab.hosts}

    phases: dict[str, float] = {}
    figures, wall = measured(lab, args.rate, args.min_requests, args.cap,
                             lambda: phases.update(timed_deploy("1.1.0", "-e",
                                                                f"rolling_restart_drain_seconds={args.drain}")),
                             nice=args.load_nice)
    versions = {h.name: httpx.get(f"http://127.0.0.1:{h.http_port}/version", timeout=5).json()["version"]
                for h in lab.hosts}
    # The same release again, under the same load: the preflight finds it serving everywhere and stops there.
    noop_out: dict = {}
    noop_figures, noop_wall = measured(
        lab, args.rate, args.min_requests // 10, args.cap,
        lambda: noop_out.update(result=deploy("1.1.0", "-e", f"rolling_restart_drain_seconds={args.drain}")),
        nice=args.load_nice)
    assert noop_out["result"].returncode == 0 and "Nothing to do" in noop_out["result"].stdout, \
        noop_out["result"].stdout[-3000:]
    # The bound, from the deploy itself: each new container's start-to-ready under the same load, as the switch
    # measured it and the ledger recorded it (one host per batch), plus the drain.
    ready, switch_parts = live_timings(lab)
    bound = bound_of(ready, [[h.name] for h in lab.hosts], args.drain)  # deploy_batch_size 1: a host per batch
    # Rollback of every host to 1.0.0, images cached on the hosts, under the same load.
    rollback_out: dict = {}
    rollback_figures, rollback_wall = measured(
        lab, args.rate, args.min_requests // 4, args.cap,
        lambda: rollback_out.update(timed_rollback(args.drain)), nice=args.load_nice)
    rollback_ready, rollback_parts = live_timings(lab)
    # rollback_batch_size 100%: every host in one batch.
    rollback_bound = bound_of(rollback_ready, [[h.name for h in lab.hosts]], args.drain)
    naive, naive_wall = measured(lab, args.rate, args.min_requests // 2, args.cap, lambda: naive_restart(lab),
                                 nice=args.load_nice)

    canary_out: dict = {}
    canary_figures, canary_wall = measured(lab, args.rate, args.min_requests // 4, args.cap,
                                           lambda: canary_out.update(canary_abort(lab, args.drain)),
                                           nice=args.load_nice)
    return {
        "deploy_1.0.0_to_1.1.0": {**figures, "wall_s": round(wall, 1), **phases, "versions_after": versions},
        "start_to_ready_s": ready, "switch_seconds": switch_parts, "start_to_ready_without_load_s": idle_ready,
        "drain_s": args.drain,
        "bound_s": round(bound, 2), "wall_over_bound": round(wall / bound, 2),
        "rollout_over_bound": round(phases["rollout_s"] / bound, 2),
        "noop_redeploy_1.1.0": {**noop_figures, "wall_s": round(noop_wall, 1),
                                "wall_over_deploy_wall": round(noop_wall / wall, 2)},
        "rollback_1.1.0_to_1.0.0": {**rollback_figures, "wall_s": round(rollback_wall, 1), **rollback_out,
                                    "start_to_ready_s": rollback_ready, "switch_seconds": rollback_parts,
                                    "bound_s": round(rollback_bound, 2),
                                    "wall_over_bound": round(rollback_wall / rollback_bound, 2),
                                    "rollout_over_bound": round(rollback_out["rollout_s"] / rollback_bound, 2)},
        "load_nice": args.load_nice,
        "canary_abort_1.1.96": {**canary_figures, "wall_s": round(canary_wall, 1), **canary_out},
        "naive_stop_start": {**naive, "wall_s": round(naive_wall, 1)},
    }


if __name__ == "__main__":
    main()
