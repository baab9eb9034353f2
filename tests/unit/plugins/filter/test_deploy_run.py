"""The run's decisions, on their own: nothing to do, the ledger entry step 6 records, how a deploy and a rollback
ended (the event, the message the run fails with, what each host serves now)."""
from __future__ import annotations

import ansible_collections.steady.deploy.plugins.filter.deploy_run as run

RUN = {"release_id": "20261207120000-1.1.0", "run_id": "abc", "by": "ops@ci", "ci_run": "",
       "started_at": "2026-12-07T12:00:00Z", "digest": "sha256:new"}


def host(name: str, **facts) -> dict:
    return {"inventory_hostname": name, **facts}


def test_nothing_to_do_only_when_every_host_is_unchanged_and_the_schema_is_the_live_releases() -> None:
    same = [{"unchanged": True}, {"unchanged": True}]
    assert run.deploy_nothing_to_do(same) is True
    assert run.deploy_nothing_to_do(same, "0002", {"schema_revision": "0002"}) is True
    # A database restored to an older revision since must still be migrated.
    assert run.deploy_nothing_to_do(same, "0001", {"schema_revision": "0002"}) is False
    assert run.deploy_nothing_to_do([{"unchanged": True}, {"unchanged": False}]) is False
    assert run.deploy_nothing_to_do([]) is False


def test_the_migration_is_skipped_only_for_the_very_image_that_ran_it() -> None:
    live = {"digest": "sha256:new", "schema_revision": "0003"}
    assert run.ledger_revision_of(live, "sha256:new") == "0003"
    assert run.ledger_revision_of(live, "sha256:other") == ""
    assert run.ledger_revision_of({}, "") == ""


def test_the_ledger_entry_is_live_where_the_host_switched_and_failed_where_it_did_not() -> None:
    state = {**RUN, "migration": {"revision_before": "0001", "revision_after": "0002", "backup": "/b.dump"}}
    live = run.deploy_ledger_entry(state, {"changed": True, "release_id": RUN["release_id"], "container": "c",
                                           "image_id": "i", "ready_seconds": 1.5, "seconds": 3.0}, "", "1.1.0", "r/app")
    assert live["status"] == "live" and live["container"] == "c" and live["schema_revision"] == "0002"
    assert live["image"] == "r/app:1.1.0" and live["digest"] == "sha256:new" and live["backup"] == "/b.dump"
    failed = run.deploy_ledger_entry(state, {"changed": False, "release_id": "older"}, "it broke", "1.1.0", "r/app")
    assert failed["status"] == "failed" and failed["note"] == "it broke"
    # The failed entry is this run's, not the release the host went back to.
    assert failed["release_id"] == RUN["release_id"] and "container" not in failed


def test_a_deploy_that_passed_succeeded() -> None:
    hosts = [host("app1", rolling_restart_result={"changed": True})]
    outcome = run.deploy_outcome(RUN, hosts, "1.1.0", {"failures": []})
    assert outcome["event"] == "succeeded" and outcome["failure"] == ""


def test_a_step_that_failed_before_the_roll_out_switched_no_host() -> None:
    state = {**RUN, "failure": "app1: the migration of release x failed (alembic exited 1)."}
    outcome = run.deploy_outcome(state, [host("app1"), host("app2")], "1.1.0")
    assert outcome["event"] == "failed"
    assert outcome["failure"].startswith("app1: the migration of release x failed")
    assert "No host was switched" in outcome["failure"]
    built = run.deploy_outcome({**RUN, "failure": "The image could not be built or pushed; no host was touched: x"},
                               [host("app1")], "1.1.0")
    assert "No host was switched" not in built["failure"]


def test_a_failed_batch_names_the_host_and_says_what_each_host_serves() -> None:
    state = {**RUN, "rollout_started": 1, "failure": "app2 stopped answering during its switch"}
    hosts = [host("app1", rolling_restart_result={"changed": True}),
             host("app2", rolling_restart_failure="app2 stopped answering during its switch"),
             host("app3")]
    outcome = run.deploy_outcome(state, hosts, "1.1.0", None, ["app1"])
    assert outcome["event"] == "failed"
    assert outcome["failure"].count("app2 stopped answering") == 1
    assert outcome["failure"].endswith(
        "Now: app1 was rolled back to the release before; app2 failed its switch; app3 not touched.")


def test_a_failed_canary_is_said_so() -> None:
    hosts = [host("app1", rolling_restart_canary_failed=True, rolling_restart_failure="app1 failed its canary"),
             host("app2")]
    outcome = run.deploy_outcome({**RUN, "rollout_started": 1, "failure": "app1 failed its canary"}, hosts, "1.1.0")
    assert "Now: app1 was switched back after its canary; app2 not touched." in outcome["failure"]


def test_a_failed_verification_is_rolled_back() -> None:
    hosts = [host("app1", rolling_restart_result={"changed": True})]
    outcome = run.deploy_outcome({**RUN, "rollout_started": 1}, hosts, "1.1.0",
                                 {"failures": ["SLO gate failed"], "slo": {"summary": "FAIL"}}, ["app1"], "r.json")
    assert outcome["event"] == "rolled_back"
    assert "failed its verification: SLO gate failed" in outcome["failure"]
    assert "1 switched hosts were rolled back to the release before it: app1." in outcome["failure"]
    assert outcome["fields"]["slo"] == "FAIL" and outcome["failure"].endswith("Report: r.json")


def test_a_host_gone_after_its_switch_is_named() -> None:
    state = {**RUN, "rollout_started": 1, "gone": ["app2"], "failure": "app2 stopped answering before the step"}
    hosts = [host("app1", rolling_restart_result={"changed": True}),
             host("app2", rolling_restart_result={"changed": True})]
    outcome = run.deploy_outcome(state, hosts, "1.1.0")
    assert "app2 stopped answering after its switch" in outcome["failure"]
    assert "Now: app1 serves 1.1.0; app2 did not answer." in outcome["failure"]


def test_a_rollback_ends_rolled_back_or_says_which_host_did_not() -> None:
    target = {"version": "1.0.0", "release_id": "r1"}
    hosts = [host("app1", rollback_target_result=target, rolling_restart_result={"changed": True}),
             host("app2", rollback_target_result=target, rolling_restart_result={"changed": True})]
    done = run.rollback_outcome({"release_id": "x-rollback"}, hosts)
    assert done["event"] == "rolled_back" and done["failure"] == "" and done["versions"] == ["1.0.0"]
    assert done["summary"] == "Rollback x-rollback: 2 hosts now serve 1.0.0 (release r1); switched: 2."
    hosts[1] = host("app2", rollback_target_result=target, rollback_host_failure="app2 stopped answering.")
    stopped = run.rollback_outcome({"release_id": "x-rollback"}, hosts + [host("app3")])
    assert stopped["event"] == "failed"
    assert stopped["failure"] == ("Rollback x-rollback stopped: app2 stopped answering. Now: app1 serves 1.0.0; "
                                  "app2 did not roll back (see above); app3 not touched.")
