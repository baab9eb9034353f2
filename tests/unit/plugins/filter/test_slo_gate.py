"""The SLO gate's verdict from Prometheus answers: thresholds, the no-data rule, and what the summary says.
Pure Python, and the queries as Ansible renders them: no Prometheus, no lab."""
from __future__ import annotations

import json

import pytest

from support.lab import ansible_playbook

import ansible_collections.steady.deploy.plugins.filter.slo_gate as slo_gate

URL = "http://prometheus:9090"
# The runbook's thresholds (roles/slo_gate/defaults/main.yml).
LIMITS = {"min_requests": 20, "max_error_ratio": 0.05, "max_p95": 1.0}


def vector(*values: str) -> dict:
    """A Prometheus instant-query answer with one sample per value (none: an empty result)."""
    return {"status": "success", "data": {"resultType": "vector",
                                          "result": [{"metric": {}, "value": [1700000000, v]} for v in values]}}


def answers(requests: str | None = "500", error_ratio: str | None = "0.01", p95: str | None = "0.2") -> dict:
    return {"requests": vector(*([requests] if requests is not None else [])),
            "error_ratio": vector(*([error_ratio] if error_ratio is not None else [])),
            "p95_seconds": vector(*([p95] if p95 is not None else []))}


def verdict(ans: dict, no_data: str = "pass", url: str = URL, **limits) -> dict:
    lim = {**LIMITS, **limits}
    return slo_gate.slo_gate_verdict(ans, lim["min_requests"], lim["max_error_ratio"], lim["max_p95"], no_data,
                                     "5m", url)


def test_healthy_traffic_passes() -> None:
    result = verdict(answers(requests="500", error_ratio="0.01", p95="0.2"))
    assert result["verdict"] == "pass"
    assert result["reasons"] == []
    assert (result["requests"], result["error_ratio"], result["p95_seconds"]) == (500.0, 0.01, 0.2)
    assert result["summary"] == ("pass, 500 requests in the last 5m: 5xx ratio 1.00% (max 5%), "
                                 "p95 0.200 s (max 1 s)")


def test_a_5xx_ratio_above_the_threshold_fails_and_names_the_ratio() -> None:
    result = verdict(answers(error_ratio="0.12"))
    assert result["verdict"] == "fail"
    assert result["reasons"] == ["5xx ratio 12.00% > 5%"]
    assert result["summary"].startswith("FAIL, 5xx ratio 12.00% > 5%. ")


def test_a_p95_above_the_threshold_fails() -> None:
    result = verdict(answers(p95="1.75"))
    assert result["verdict"] == "fail"
    assert result["reasons"] == ["p95 1.750 s > 1 s"]
    assert result["p95_seconds"] == 1.75


def test_both_breaches_are_reported() -> None:
    result = verdict(answers(error_ratio="0.5", p95="3"))
    assert result["verdict"] == "fail"
    assert result["reasons"] == ["5xx ratio 50.00% > 5%", "p95 3.000 s > 1 s"]
    assert result["summary"].startswith("FAIL, 5xx ratio 50.00% > 5%; p95 3.000 s > 1 s. ")


def test_exactly_at_the_thresholds_passes() -> None:
    result = verdict(answers(requests="20", error_ratio="0.05", p95="1.0"))
    assert result["verdict"] == "pass"
    assert result["reasons"] == []


def test_just_above_the_thresholds_fails() -> None:
    result = verdict(answers(requests="20", error_ratio="0.0501", p95="1.001"))
    assert result["verdict"] == "fail"
    assert len(result["reasons"]) == 2


def test_no_5xx_series_with_enough_requests_passes() -> None:
    # A service that never answered 5xx has no 5xx series: the ratio query returns an empty vector.
    result = verdict(answers(requests="300", error_ratio=None, p95="0.1"))
    assert result["verdict"] == "pass"
    assert result["error_ratio"] is None
    assert "5xx ratio no data" in result["summary"]


NO_DATA_CASES = {
    "empty result": answers(requests=None),
    "NaN": answers(requests="NaN", error_ratio="NaN", p95="NaN"),
    "too few requests": answers(requests="19", error_ratio="0.9", p95="9"),
    "no answers at all": {},
    "an error answer": {**answers(), "requests": {"status": "error", "errorType": "bad_data", "error": "parse"}},
}


@pytest.mark.parametrize("ans", NO_DATA_CASES.values(), ids=NO_DATA_CASES.keys())
@pytest.mark.parametrize(("no_data", "expected"), [("pass", "no_data"), ("fail", "fail")])
def test_no_data_follows_the_no_data_rule(ans: dict, no_data: str, expected: str) -> None:
    result = verdict(ans, no_data=no_data)
    assert result["verdict"] == expected
    assert result["reasons"] == ["no data"]
    assert result["summary"].startswith("no data: ")
    assert f"slo_gate_no_data={no_data}" in result["summary"]


def test_too_few_requests_are_not_judged_even_with_a_bad_ratio() -> None:
    result = verdict(answers(requests="3", error_ratio="1", p95="10"))
    assert result["verdict"] == "no_data"
    assert "3.0 requests in the last 5m (fewer than 20)" in result["summary"]


@pytest.mark.parametrize(("no_data", "expected"), [("pass", "no_data"), ("fail", "fail")])
def test_without_prometheus_there_is_no_data(no_data: str, expected: str) -> None:
    # Even answers that would fail are not judged when no Prometheus is configured.
    result = verdict(answers(error_ratio="0.9"), no_data=no_data, url="")
    assert result["verdict"] == expected
    assert result["reasons"] == ["no data"]
    assert "no data: no Prometheus configured" in result["summary"]


@pytest.mark.parametrize("bad", ["skip", "Pass", "", "true"])
def test_a_bad_no_data_value_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="must be pass or fail"):
        verdict(answers(), no_data=bad)


def test_the_figures_carry_the_thresholds_and_window() -> None:
    result = verdict(answers(requests="1234.56", error_ratio="0.012345", p95="0.45678"))
    assert result["window"] == "5m"
    assert (result["requests"], result["error_ratio"], result["p95_seconds"]) == (1234.6, 0.0123, 0.457)
    assert (result["min_requests"], result["max_error_ratio"], result["max_p95_seconds"]) == (20.0, 0.05, 1.0)


def _queries(tmp_path, hosts: list[str]) -> list[str]:
    """The role's three queries, as Ansible renders them (no Prometheus: the gate then has no data)."""
    playbook = tmp_path / "gate.yml"
    playbook.write_text(f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: steady.deploy.slo_gate
      vars:
        slo_gate_prometheus_url: ""
        slo_gate_hosts: {json.dumps(hosts)}
    - ansible.builtin.copy:
        content: "{{{{ slo_gate_result.queries | to_json }}}}"
        dest: {tmp_path / "queries.json"}
""")
    result = ansible_playbook(str(playbook), timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]
    return json.loads((tmp_path / "queries.json").read_text())


def test_a_canary_is_judged_on_its_own_hosts_series_only(tmp_path) -> None:
    queries = _queries(tmp_path, ["app1", "web.2"])
    assert len(queries) == 3
    # Every query, the ratio's numerator and denominator alike, is scoped; the dot is literal, not "any character".
    for query in queries:
        selectors = query.split("{")[1:]
        assert selectors and all('host=~"app1|web[.]2"' in s.split("}")[0] for s in selectors), query


def test_without_hosts_every_host_is_judged(tmp_path) -> None:
    assert all("host=~" not in q for q in _queries(tmp_path, []))
