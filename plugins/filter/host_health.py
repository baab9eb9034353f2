"""Turn `df -P -k`, /proc/meminfo and the dependency probes into one verdict: readable here, not in Jinja."""
from __future__ import annotations

import re
from typing import Any


def host_health_summary(df_stdout: str, meminfo: str, dependencies: list[dict], reach_results: list[dict],
                        min_disk_free_percent: float, max_memory_used_percent: float) -> dict[str, Any]:
    disk = []
    for line in df_stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6:
            continue
        size, available = int(fields[1]), int(fields[3])
        disk.append({"path": fields[5], "free_percent": round(100.0 * available / size, 1) if size else 0.0})
    memory = {k: int(v) for k, v in re.findall(r"^(\w+):\s+(\d+)", meminfo, re.M)}
    if not memory.get("MemTotal"):
        raise ValueError("/proc/meminfo has no MemTotal")
    used = round(100.0 * (1 - memory.get("MemAvailable", memory.get("MemFree", 0)) / memory["MemTotal"]), 1)
    # Each probe as host_health_read (or a wait_for with failed_when: false) reports it: state=started only when
    # the port answered.
    deps = [{"name": d["name"], "host": d["host"], "port": int(d["port"]),
             "reachable": not r.get("failed", False) and r.get("state") == "started"}
            for d, r in zip(dependencies, reach_results)]
    failures = [f"disk: {d['free_percent']}% free under {d['path']} (at least {min_disk_free_percent}% wanted)"
                for d in disk if d["free_percent"] < float(min_disk_free_percent)]
    if used > float(max_memory_used_percent):
        failures.append(f"memory: {used}% in use (at most {max_memory_used_percent}% wanted)")
    failures += [f"{d['name']} ({d['host']}:{d['port']}) cannot be reached" for d in deps if not d["reachable"]]
    return {"disk": disk, "memory_used_percent": used, "dependencies": deps, "failures": failures}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"host_health_summary": host_health_summary}
