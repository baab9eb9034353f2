"""The SLO gate's verdict from Prometheus answers: one readable function instead of nested Jinja.

The no-data rule: fewer requests than `min_requests` in the window (an empty result, NaN or a low count) means
there is nothing to judge, and `no_data` ("pass" or "fail") decides. Passing is the default because an idle
service (a quiet staging, a deploy before the morning) is not a broken one: aborting there would roll back
healthy releases, which is what Argo users complain about. The per-host checks (live, ready, version) still
run either way."""
from __future__ import annotations

import math
from typing import Any


def _scalar(answer: dict | None) -> float | None:
    """The single value of an instant-vector answer; None when empty or NaN."""
    if not answer or answer.get("status") != "success":
        return None
    result = answer.get("data", {}).get("result", [])
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if math.isnan(value) or math.isinf(value) else value


def slo_gate_verdict(answers: dict[str, dict], min_requests: float, max_error_ratio: float, max_p95: float,
                     no_data: str, window: str, prometheus_url: str = "x") -> dict[str, Any]:
    if no_data not in ("pass", "fail"):
        raise ValueError(f"slo_gate_no_data must be pass or fail, not {no_data!r}")
    requests = _scalar(answers.get("requests"))
    error_ratio = _scalar(answers.get("error_ratio"))
    p95 = _scalar(answers.get("p95_seconds"))
    figures = {"window": window, "requests": round(requests, 1) if requests is not None else None,
               "error_ratio": round(error_ratio, 4) if error_ratio is not None else None,
               "p95_seconds": round(p95, 3) if p95 is not None else None,
               "max_error_ratio": float(max_error_ratio), "max_p95_seconds": float(max_p95),
               "min_requests": float(min_requests)}
    if not prometheus_url:
        return {**figures, "verdict": "no_data" if no_data == "pass" else "fail", "reasons": ["no data"],
                "summary": f"no data: no Prometheus configured (slo_gate_prometheus_url); {no_data} by the "
                           f"no-data rule (slo_gate_no_data={no_data})"}
    if requests is None or requests < float(min_requests):
        return {**figures, "verdict": "no_data" if no_data == "pass" else "fail", "reasons": ["no data"],
                "summary": f"no data: {figures['requests'] or 0} requests in the last {window} (fewer than "
                           f"{min_requests:g}), so the 5xx ratio and p95 are not judged; {no_data} by the no-data "
                           f"rule (slo_gate_no_data={no_data})"}
    reasons = []
    if error_ratio is not None and error_ratio > float(max_error_ratio):
        reasons.append(f"5xx ratio {error_ratio:.2%} > {float(max_error_ratio):.0%}")
    if p95 is not None and p95 > float(max_p95):
        reasons.append(f"p95 {p95:.3f} s > {float(max_p95):g} s")
    ratio_text = f"{error_ratio:.2%}" if error_ratio is not None else "no data"
    p95_text = f"{p95:.3f} s" if p95 is not None else "no data"
    summary = (f"{requests:.0f} requests in the last {window}: 5xx ratio {ratio_text} (max "
               f"{float(max_error_ratio):.0%}), p95 {p95_text} (max {float(max_p95):g} s)")
    return {**figures, "verdict": "fail" if reasons else "pass", "reasons": reasons,
            "summary": ("FAIL, " + "; ".join(reasons) + ". " if reasons else "pass, ") + summary}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"slo_gate_verdict": slo_gate_verdict}
