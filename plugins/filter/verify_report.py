"""What verify.yml reports per host: the JSON entry and the one summary line, from what its roles left behind."""
from __future__ import annotations

from typing import Any, Mapping


def _live(hv: Mapping[str, Any]) -> dict:
    live = [e for e in hv.get("release_ledger_entries") or [] if e.get("status") == "live"]
    return live[-1] if live else {}


def verify_host_report(hv: Mapping[str, Any]) -> dict[str, Any]:
    live = _live(hv)
    return {
        "host": hv.get("inventory_hostname"),
        "live_release": {k: live.get(k) for k in ("release_id", "version", "digest", "schema_revision")},
        "checks": hv.get("release_checks_result") or [],
        "health": hv.get("host_health_result") or {},
        "failures": list(hv.get("verify_failures") or []),
    }


def verify_host_line(hv: Mapping[str, Any]) -> str:
    report = verify_host_report(hv)
    parts = [f"{report['host']}: {report['live_release'].get('version') or '?'}"
             f" (release {report['live_release'].get('release_id') or '?'})"]
    checks = report["checks"]
    if checks:
        parts.append(", ".join(f"{c['path']} {c['status'] or 'no answer'}" for c in checks))
    health = report["health"]
    if health:
        parts.append(", ".join(f"{d['free_percent']}% free under {d['path']}" for d in health.get("disk", [])))
        parts.append(f"memory {health.get('memory_used_percent')}% in use")
        parts.append(", ".join(f"{d['name']} {'reachable' if d['reachable'] else 'UNREACHABLE'}"
                               for d in health.get("dependencies", [])) or "no dependencies listed")
    parts.append("FAILED" if report["failures"] else "ok")
    return "; ".join(p for p in parts if p)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"verify_host_report": verify_host_report, "verify_host_line": verify_host_line}
