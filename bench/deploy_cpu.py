"""What one deploy costs the machine: wall time and CPU seconds of a real deploy and of the no-op, for this clone and
for another commit of the collection, paired in one run (these machines are noisy: only figures of one run are
compared).

CPU is read from the kernel: the whole machine (/proc/stat), and per lab container from the cpuacct cgroups of
the controller's engine, split into each app host's own processes (sshd, the modules Ansible runs there, its
engine) and the containers inside it (the service, its proxy, migrations). What is left is the controller:
ansible-playbook, its workers and their SSH clients.

    .venv/bin/python -m bench.deploy_cpu --ref de8c2ad --runs 2

Needs the lab up (`make up`) with the two versions it alternates between (--versions) in its registry: every run
deploys the one not serving (a real deploy: pull, migrations, switch, verify), then the same again (the no-op)."""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.deploy import said, served_version  # noqa: E402
from support.lab import ansible_playbook, load_lab  # noqa: E402

CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def _busy_seconds() -> float:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _containers(lab: str) -> dict[str, float]:
    """CPU seconds so far per lab container: '<name>' (all of it) and '<name>/inner' (the containers inside)."""
    names = dict(line.split(maxsplit=1) for line in subprocess.run(
        ["docker", "ps", "--no-trunc", "--filter", f"label=io.steady.lab={lab}", "--format", "{{.ID}} {{.Names}}"],
        capture_output=True, text=True, check=True, timeout=30).stdout.splitlines())
    out: dict[str, float] = {}
    for cid, name in names.items():
        group = CPUACCT / "docker" / cid
        if (group / "cpuacct.usage").exists():
            out[name] = int((group / "cpuacct.usage").read_text()) / 1e9
            if (group / "docker" / "cpuacct.usage").exists():
                out[f"{name}/inner"] = int((group / "docker" / "cpuacct.usage").read_text()) / 1e9
    return out


def measure(lab: str, args: list[str], env: dict[str, str]) -> dict[str, float]:
    before, busy, started = _containers(lab), _busy_seconds(), time.monotonic()
    run = ansible_playbook(*args, env=env)
    wall, busy, after = time.monotonic() - started, _busy_seconds() - busy, _containers(lab)
    if run.returncode != 0:
        sys.exit(f"ansible-playbook {' '.join(args)} failed:\n{said(run)[-3000:]}")
    delta = {k: after[k] - before.get(k, 0.0) for k in after}
    hosts = {k: v for k, v in delta.items() if "-app" in k and "/" not in k}
    inner = sum(delta.get(f"{k}/inner", 0.0) for k in hosts)
    lab_total = sum(v for k, v in delta.items() if "/" not in k)
    return {"wall": wall, "cpu": busy, "hosts_own": sum(hosts.values()) - inner, "inside_hosts": inner,
            "controller": busy - lab_total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", required=True, help="the other commit of the collection to measure beside this clone")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--versions", default="1.1.0,1.1.1", help="two releases in the lab registry")
    args = parser.parse_args()
    versions = args.versions.split(",")
    lab = load_lab()
    with tempfile.TemporaryDirectory(prefix="deploy-cpu-") as tmp:
        other = Path(tmp) / "ansible_collections" / "steady" / "deploy"
        subprocess.run(["git", "worktree", "add", "--detach", str(other), args.ref], cwd=ROOT, check=True,
                       capture_output=True, timeout=120)
        try:
            sides = {
                "this clone": (ROOT / "playbooks", {}),
                args.ref: (other / "playbooks", {"ANSIBLE_COLLECTIONS_PATH": f"{tmp}:{ROOT / '.venv' / 'collections'}"}),
            }
            figures: dict[tuple[str, str], list[dict[str, float]]] = {}
            for run in range(args.runs):
                for side, (playbooks, env) in sides.items():
                    version = versions[1] if served_version(lab, lab.hosts[0]) == versions[0] else versions[0]
                    for kind in ("deploy", "no-op"):
                        found = measure(lab.name, [str(playbooks / "deploy.yml"), "-e", f"app_version={version}"], env)
                        figures.setdefault((side, kind), []).append(found)
                        print(f"run {run + 1} {side:>12} {kind:6} {version}: " + ", ".join(
                            f"{k} {v:.1f} s" for k, v in found.items()), flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, check=False,
                           capture_output=True, timeout=120)
    print("\nmedians (s)          wall    cpu  hosts' own  inside hosts  controller")
    for (side, kind), rows in figures.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"{side:>12} {kind:6} {med['wall']:6.1f} {med['cpu']:6.1f} {med['hosts_own']:11.1f} "
              f"{med['inside_hosts']:13.1f} {med['controller']:11.1f}")
    for kind in ("deploy", "no-op"):
        new, old = (statistics.median(r["cpu"] for r in figures[(s, kind)]) for s in sides)
        print(f"{kind}: this clone uses {new / old:.2f}x the CPU of {args.ref}")


if __name__ == "__main__":
    main()
