"""What verify.yml reports per host (the JSON entry and the summary line), from a plain dict shaped like
hostvars. Pure Python: no lab."""
from __future__ import annotations

from types import MappingProxyType


import ansible_collections.steady.deploy.plugins.filter.verify_report as verify_report

LEDGER = [
    {"release_id": "20240101T1200-aaa", "status": "superseded", "version": "1.0.0", "digest": "sha256:aaa",
     "schema_revision": "0007"},
    {"release_id": "20240102T0900-bbb", "status": "live", "version": "1.1.0", "digest": "sha256:bbb",
     "schema_revision": "0008", "note": "not in the report"},
    {"release_id": "20240103T0900-ccc", "status": "failed", "version": "1.2.0", "digest": "sha256:ccc",
     "schema_revision": "0009"},
]
CHECKS = [
    {"path": "/health/live", "status": 200, "passed": True, "got": None, "body": '{"status":"ok"}'},
    {"path": "/version", "status": 200, "passed": True, "got": "1.1.0", "body": '{"version":"1.1.0"}'},
]
HEALTH = {
    "disk": [{"path": "/", "free_percent": 25.0}, {"path": "/var/lib/docker", "free_percent": 50.0}],
    "memory_used_percent": 41.5,
    "dependencies": [{"name": "postgres", "host": "db", "port": 5432, "reachable": True},
                     {"name": "redis", "host": "cache", "port": 6379, "reachable": False}],
    "failures": ["redis (cache:6379) cannot be reached"],
}


def hostvars(**over) -> dict:
    hv = {"inventory_hostname": "app1", "release_ledger_entries": LEDGER, "release_checks_result": CHECKS,
          "host_health_result": HEALTH, "verify_failures": [], "ansible_host": "10.0.0.1"}
    return {**hv, **over}


def test_report_of_a_full_host() -> None:
    report = verify_report.verify_host_report(hostvars(verify_failures=["redis (cache:6379) cannot be reached"]))
    assert report == {
        "host": "app1",
        "live_release": {"release_id": "20240102T0900-bbb", "version": "1.1.0", "digest": "sha256:bbb",
                         "schema_revision": "0008"},
        "checks": CHECKS,
        "health": HEALTH,
        "failures": ["redis (cache:6379) cannot be reached"],
    }


def test_report_of_a_host_the_roles_never_reached() -> None:
    report = verify_report.verify_host_report({"inventory_hostname": "app2"})
    assert report == {
        "host": "app2",
        "live_release": {"release_id": None, "version": None, "digest": None, "schema_revision": None},
        "checks": [], "health": {}, "failures": [],
    }


def test_report_with_no_live_release_has_an_empty_live_release() -> None:
    report = verify_report.verify_host_report(hostvars(release_ledger_entries=[LEDGER[0], LEDGER[2]]))
    assert set(report["live_release"].values()) == {None}


def test_report_accepts_none_where_a_role_left_none() -> None:
    report = verify_report.verify_host_report(hostvars(release_ledger_entries=None, release_checks_result=None,
                                                       host_health_result=None, verify_failures=None))
    assert (report["checks"], report["health"], report["failures"]) == ([], {}, [])
    assert report["live_release"]["version"] is None


def test_report_copies_the_failures() -> None:
    failures = ["one"]
    report = verify_report.verify_host_report(hostvars(verify_failures=failures))
    report["failures"].append("two")
    assert failures == ["one"]


def test_report_works_on_any_mapping_like_hostvars() -> None:
    report = verify_report.verify_host_report(MappingProxyType(hostvars()))
    assert report["host"] == "app1"
    assert report["live_release"]["version"] == "1.1.0"


def test_line_of_a_healthy_host() -> None:
    hv = hostvars(host_health_result={**HEALTH, "dependencies": HEALTH["dependencies"][:1], "failures": []})
    assert verify_report.verify_host_line(hv) == (
        "app1: 1.1.0 (release 20240102T0900-bbb); /health/live 200, /version 200; "
        "25.0% free under /, 50.0% free under /var/lib/docker; memory 41.5% in use; postgres reachable; ok")


def test_line_of_a_failed_host_says_failed_and_names_the_unreachable_dependency() -> None:
    hv = hostvars(verify_failures=["redis (cache:6379) cannot be reached"])
    line = verify_report.verify_host_line(hv)
    assert line.endswith("; postgres reachable, redis UNREACHABLE; FAILED")


def test_line_says_no_answer_for_a_check_that_got_nothing() -> None:
    checks = [{"path": "/health/ready", "status": 0, "passed": False, "got": None, "body": "Connection refused"},
              {"path": "/version", "status": 503, "passed": False, "got": None, "body": ""}]
    line = verify_report.verify_host_line(hostvars(release_checks_result=checks, host_health_result={},
                                                   verify_failures=["GET /health/ready"]))
    assert line == "app1: 1.1.0 (release 20240102T0900-bbb); /health/ready no answer, /version 503; FAILED"


def test_line_of_a_host_with_nothing_known() -> None:
    assert verify_report.verify_host_line({"inventory_hostname": "app2"}) == "app2: ? (release ?); ok"


def test_line_with_no_dependencies_listed() -> None:
    health = {"disk": [{"path": "/", "free_percent": 12.5}], "memory_used_percent": 70.0, "dependencies": []}
    line = verify_report.verify_host_line(hostvars(release_checks_result=[], host_health_result=health))
    assert line == ("app1: 1.1.0 (release 20240102T0900-bbb); 12.5% free under /; memory 70.0% in use; "
                    "no dependencies listed; ok")


def test_report_names_the_newest_live_entry_like_ledger_live() -> None:
    # The ledger keeps one live entry; should it ever hold two, the newest is the one reported.
    entries = [{**LEDGER[0], "status": "live"}, LEDGER[1]]
    assert verify_report.verify_host_report(hostvars(release_ledger_entries=entries))["live_release"]["version"] == \
        "1.1.0"
