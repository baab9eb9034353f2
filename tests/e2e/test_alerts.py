"""The alert rules of monitoring/: every runbook alert is there and says where to look, promtool accepts the rules
and their unit tests pass, a broken copy is refused, and the lab's Prometheus has loaded them and scrapes what
they read. promtool is the lab Prometheus image's own, run in a throwaway container."""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from support.lab import ROOT, Lab, labelled, load_lab, require

MONITORING = ROOT / "monitoring"
RULES = yaml.safe_load((MONITORING / "alerts.yml").read_text())
UNIT_TESTS = yaml.safe_load((MONITORING / "alerts_test.yml").read_text())
ALERTS = {rule["alert"]: rule for group in RULES["groups"] for rule in group["rules"] if "alert" in rule}
RUNBOOK_ALERTS = {"HighErrorRate", "HighLatencyP95", "DatabaseConnectionFailures", "DiskSpaceLow", "MemoryHigh"}


def _anchors(doc: Path) -> set[str]:
    """GitHub's anchors of a markdown file's headings."""
    headings = re.findall(r"^#+ (.+)$", doc.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


# ---- The file itself -------------------------------------------------------------------------------------------

def test_every_runbook_alert_has_a_rule() -> None:
    assert set(ALERTS) == RUNBOOK_ALERTS


@pytest.mark.parametrize("name", sorted(RUNBOOK_ALERTS))
def test_every_alert_says_how_long_how_bad_and_where_to_look(name: str) -> None:
    rule = ALERTS[name]
    assert re.fullmatch(r"\d+m", rule.get("for", "")), f"{name}: no `for:` in minutes"
    assert rule.get("labels", {}).get("severity") in {"warning", "critical"}
    annotations = rule.get("annotations", {})
    assert annotations.get("summary") and annotations.get("description")
    doc, _, anchor = annotations.get("runbook", "").partition("#")
    assert doc.startswith("docs/") and (ROOT / doc).is_file(), f"{name}: runbook {doc!r} is not a doc"
    assert anchor in _anchors(ROOT / doc), f"{name}: {doc} has no section #{anchor}"


@pytest.mark.parametrize("name", sorted(RUNBOOK_ALERTS))
def test_every_alert_has_unit_tests_that_fire_and_that_stay_silent(name: str) -> None:
    cases = [case for test in UNIT_TESTS["tests"] for case in test.get("alert_rule_test", [])
             if case["alertname"] == name]
    assert any(case["exp_alerts"] for case in cases), f"{name}: no case where it fires"
    assert any(not case["exp_alerts"] for case in cases), f"{name}: no case where it must stay silent"


# ---- promtool ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prometheus_image() -> str:
    """The image of the lab's running Prometheus (Debian's prometheus package, promtool included)."""
    name = f"{load_lab().name}-prometheus"
    try:
        found = subprocess.run(["docker", "inspect", "--format", "{{.Image}}", name], capture_output=True,
                               text=True, timeout=30, check=False)
    except FileNotFoundError:
        found = None
    require(found is not None and found.returncode == 0, f"no container {name} to take promtool from")
    return found.stdout.strip()


def promtool(image: str, folder: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """promtool ARGV in `folder`, mounted read-only, as the image's own user, without network."""
    return subprocess.run(["docker", "run", "--rm", "--network", "none", "--volume", f"{folder}:/rules:ro",
                           "--workdir", "/rules", image, "promtool", *argv],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.lab
def test_promtool_accepts_the_rules(prometheus_image: str) -> None:
    result = promtool(prometheus_image, MONITORING, "check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout


@pytest.mark.lab
def test_the_unit_tests_of_the_rules_pass(prometheus_image: str) -> None:
    result = promtool(prometheus_image, MONITORING, "test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


BROKEN = {
    # (what is changed in alerts.yml, into what, the promtool command that must refuse it, what it says)
    "bad PromQL": ("histogram_quantile(0.95,", "histogram_quantile(0.95,,", "check", "parse error"),
    "bad duration": ("for: 10m", "for: ten minutes", "check", "not a valid duration"),
    "unknown field": ("        for: 2m", "        for: 2m\n        keep_firing: always", "check", "keep_firing"),
    "threshold off": (") > 0.05", ") > 0.5", "test", "FAILED"),
    "health checks counted": ('route!~"/health/.*", status=~"5.."', 'status=~"5.."', "test", "FAILED"),
}


@pytest.mark.lab
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_copy_of_the_rules_is_refused(prometheus_image: str, tmp_path: Path, case: str) -> None:
    old, new, command, said = BROKEN[case]
    copy = tmp_path / "monitoring"
    shutil.copytree(MONITORING, copy)
    copy.chmod(0o755)
    text = (copy / "alerts.yml").read_text()
    assert text.count(old) >= 1, f"the case {case!r} no longer matches alerts.yml"
    (copy / "alerts.yml").write_text(text.replace(old, new, 1))
    argv = ["check", "rules", "alerts.yml"] if command == "check" else ["test", "rules", "alerts_test.yml"]
    result = promtool(prometheus_image, copy, *argv)
    assert result.returncode != 0, result.stdout + result.stderr
    assert said in result.stdout + result.stderr


# ---- The lab ----------------------------------------------------------------------------------------------------

def _get(lab: Lab, path: str, **params: str) -> dict:
    response = httpx.get(f"http://127.0.0.1:{lab.prometheus_port}{path}", params=params, timeout=5)
    response.raise_for_status()
    return response.json()["data"]


@pytest.mark.lab
def test_the_lab_prometheus_evaluates_every_alert(lab: Lab) -> None:
    """Loaded (after lab_up's reload), evaluated at least once, and without error (no match or type errors)."""
    deadline = time.monotonic() + 60
    loaded: dict[str, dict] = {}
    while time.monotonic() < deadline:
        groups = _get(lab, "/api/v1/rules", type="alert")["groups"]
        loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
        if set(loaded) >= RUNBOOK_ALERTS and all(
                rule["health"] == "ok" and not rule["lastEvaluation"].startswith("0001") for rule in loaded.values()):
            break
        time.sleep(1)
    assert set(loaded) == RUNBOOK_ALERTS, "the lab loads another set of alerts than monitoring/alerts.yml"
    for name, rule in loaded.items():
        assert rule["health"] == "ok", f"{name}: {rule.get('lastError')}"
        assert rule["duration"] == int(ALERTS[name]["for"][:-1]) * 60, f"{name}: another `for:` than the file's"


@pytest.mark.lab
def test_the_lab_scrapes_the_node_exporter_the_host_alerts_read(lab: Lab) -> None:
    assert f"{lab.name}-node-exporter" in labelled("container", lab.name), "teardown finds it by its label"
    deadline = time.monotonic() + 30
    up: list[dict] = []
    while time.monotonic() < deadline:
        up = _get(lab, "/api/v1/query", query='up{job="node"}')["result"]
        if up and all(sample["value"][1] == "1" for sample in up):
            break
        time.sleep(1)
    assert [sample["value"][1] for sample in up] == ["1"], up
    # The alerts' expressions without their threshold: data, not an empty result that can never fire.
    disk = _get(lab, "/api/v1/query", query=ALERTS["DiskSpaceLow"]["expr"].rsplit("<", 1)[0])["result"]
    assert {sample["metric"]["mountpoint"] for sample in disk} == {f"/hosts/{h.name}/var/lib/docker"
                                                                   for h in lab.hosts}
    assert all(0 < float(sample["value"][1]) <= 1 for sample in disk)
    memory = _get(lab, "/api/v1/query", query=ALERTS["MemoryHigh"]["expr"].rsplit(">", 1)[0])["result"]
    assert len(memory) == 1 and 0 < float(memory[0]["value"][1]) < 1
