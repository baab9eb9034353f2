"""deploy_notify: what a deploy event says, that no secret ever leaves in it, and that a broken webhook never
fails the deploy it reports on. Runs on the controller only: no lab needed."""
from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from support.lab import ansible_playbook
from support.deploy import recap, said
from support.webhook import Webhook

import ansible_collections.steady.deploy.plugins.filter.notify as notify

EVENTS = ["started", "succeeded", "failed", "rolled_back"]
# The secrets of the fake inventory below: a vault_ password that reaches the service only inside a URL, and a
# token of the secret environment.
DB_PASSWORD = "pw-Zq81-dbsecret"
TOKEN = "tok-Hx44-apisecret"
SECRETS = [DB_PASSWORD, TOKEN]
# Where the webhook's own token sits in a Slack URL.
HOOK_PATH = "/services/T000/B000/hook-token-9f8e7d"


# --- the filters -------------------------------------------------------------------------------------------------

def test_redact_masks_every_occurrence_of_every_secret() -> None:
    assert notify.notify_redact("a s1 b s2 c s1", ["s1", "s2"]) == "a *** b *** c ***"


def test_redact_ignores_empty_and_missing_secrets() -> None:
    assert notify.notify_redact("nothing to hide", ["", None]) == "nothing to hide"
    assert notify.notify_redact("nothing to hide", None) == "nothing to hide"
    assert notify.notify_redact(None, ["x"]) == ""


def test_redact_masks_a_secret_that_holds_another_whole() -> None:
    assert notify.notify_redact("key=abc123", ["abc", "abc123"]) == "key=***"


def test_redact_masks_the_password_of_a_url_secret_on_its_own() -> None:
    secret = "postgresql://app:p%40ss-word@db:5432/app"
    text = f"url {secret}, encoded p%40ss-word, plain p@ss-word"
    assert notify.notify_redact(text, [secret]) == "url ***, encoded ***, plain ***"


def test_redact_masks_a_multi_line_secret_folded_onto_one_line() -> None:
    assert notify.notify_redact("key: line1 line2", ["line1\nline2\n"]) == "key: ***"


@pytest.mark.parametrize(("event", "says"), [("started", "started"), ("succeeded", "succeeded"),
                                             ("failed", "failed"), ("rolled_back", "was rolled back")])
def test_headline_says_the_event(event: str, says: str) -> None:
    headline = notify.notify_headline(event, "deploy of app 1.1.0", {"release": "20260101T000000Z"}, "staging")
    assert headline == f"steady [staging]: deploy of app 1.1.0 {says} (release 20260101T000000Z)"


def test_headline_leaves_out_an_empty_environment_and_release() -> None:
    assert notify.notify_headline("started", "deploy of app ", {"release": ""}, "") == "steady: deploy of app started"


def test_unknown_event_is_refused() -> None:
    with pytest.raises(ValueError, match="deploy_notify_event must be one of started, succeeded, failed"):
        notify.notify_payload("deployed", "x")


def test_payload_is_slack_text_with_the_fields_in_order_without_empty_ones() -> None:
    fields = {"release": "R1", "version": "1.1.0", "hosts": ["app1", "app2"], "by": "", "ci_run": None,
              "who": f"ci with {TOKEN}"}
    payload = notify.notify_payload("succeeded", f"deploy of app 1.1.0 ({DB_PASSWORD})", fields, "staging",
                                    SECRETS)
    assert payload == {"text": "steady [staging]: deploy of app 1.1.0 (***) succeeded (release R1)\n"
                               "event: succeeded\nenvironment: staging\nrelease: R1\nversion: 1.1.0\n"
                               "hosts: app1, app2\nwho: ci with ***"}


def test_summary_is_a_heading_and_a_table_with_cells_escaped_after_redaction() -> None:
    section = notify.notify_summary("failed", "deploy of app 1.1.0", {"note": "a|b", "leak": "x|y-secret"},
                                    "production", ["x|y-secret"])
    assert section == ("### steady [production]: deploy of app 1.1.0 failed\n\n"
                       "| field | value |\n| --- | --- |\n| event | failed |\n| environment | production |\n"
                       "| note | a\\|b |\n| leak | *** |\n")


# --- the role, run by ansible-playbook on the controller ---------------------------------------------------------

@pytest.fixture
def webhook() -> Iterator[Webhook]:
    with Webhook(path=HOOK_PATH) as hook:
        yield hook


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{HOOK_PATH}"


def run_events(tmp_path: Path, events: list[str], url: str, *extra: str) -> tuple[subprocess.CompletedProcess[str],
                                                                                   Path]:
    """Runs one play on localhost that reports `events` in order, against an inventory shaped like the real ones
    (the secrets in vault_ variables and app_secret_env, the webhook URL in the vault)."""
    inventory = {"all": {
        "hosts": {"localhost": {"ansible_connection": "local",
                                "ansible_python_interpreter": "{{ ansible_playbook_python }}"}},
        "children": {"app_hosts": {"hosts": {"app1": {}, "app2": {}}}},
        "vars": {
            "app_name": "app", "app_version": "1.1.0", "deploy_environment": "staging",
            "deploy_release_id": "20260101T120000Z-ab12", "deploy_by": "ci@runner",
            "deploy_ci_run": "https://github.example/steady/actions/runs/42",
            "vault_db_password": DB_PASSWORD, "vault_webhook_url": url,
            "app_secret_env": {"DATABASE_URL": "postgresql://app:{{ vault_db_password }}@db:5432/app",
                               "API_TOKEN": TOKEN},
        }}}
    tasks = [{"name": f"Report {event}", "ansible.builtin.include_role": {"name": "steady.deploy.deploy_notify"},
              "vars": {"deploy_notify_event": event, "deploy_notify_webhook_url": "{{ vault_webhook_url }}",
                       # The message and a field name a secret on purpose: they must come out masked.
                       "deploy_notify_message": f"deploy of app 1.1.0 (db {DB_PASSWORD})",
                       "deploy_notify_extra_fields": {"reason": f"{event} with token {TOKEN}"}}}
             for event in events]
    playbook = [{"name": "Report deploy events", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "notify.yml").write_text(yaml.safe_dump(playbook, sort_keys=False))
    summary = tmp_path / "summary.md"
    result = ansible_playbook("-i", str(tmp_path / "hosts.yml"), str(tmp_path / "notify.yml"), *extra,
                              env={"GITHUB_STEP_SUMMARY": str(summary)}, timeout=180)
    return result, summary


def test_every_event_is_posted_and_summarised_without_a_secret(tmp_path: Path, webhook: Webhook) -> None:
    # -v prints every result: what no_log hides must stay hidden even then.
    result, summary = run_events(tmp_path, EVENTS, webhook.url, "-v")
    assert result.returncode == 0, said(result)[-3000:]
    output = result.stdout + result.stderr

    payloads = webhook.payloads()
    assert len(payloads) == len(EVENTS)
    assert webhook.paths == [HOOK_PATH] * len(EVENTS)
    for event, payload in zip(EVENTS, payloads):
        text = payload["text"]
        assert text.startswith("steady [staging]: deploy of app 1.1.0 (db ***) ")
        assert f"event: {event}\nenvironment: staging\n" in text
        assert text.endswith(f"\nreason: {event} with token ***")
        for field in ("release: 20260101T120000Z-ab12", "version: 1.1.0", "hosts: app1, app2", "by: ci@runner",
                      "ci_run: https://github.example/steady/actions/runs/42"):
            assert field in text
    assert [p["text"].splitlines()[0].split(" 1.1.0 (db ***) ")[1] for p in payloads] == [
        "started (release 20260101T120000Z-ab12)", "succeeded (release 20260101T120000Z-ab12)",
        "failed (release 20260101T120000Z-ab12)", "was rolled back (release 20260101T120000Z-ab12)"]

    markdown = summary.read_text()
    headings = re.findall(r"^### (.*)$", markdown, re.M)
    assert [h.split(" (db ***) ")[1].split(" (release")[0] for h in headings] == \
        ["started", "succeeded", "failed", "was rolled back"]
    assert markdown.count("| field | value |") == len(EVENTS)
    assert "| release | 20260101T120000Z-ab12 |" in markdown

    for secret in [*SECRETS, HOOK_PATH, webhook.url]:
        assert not [b for b in webhook.bodies if secret.encode() in b], f"{secret} was posted"
        assert secret not in markdown, f"{secret} is in the summary"
        assert secret not in output, f"{secret} was printed"
    assert "WARNING" not in output
    # Reporting is not a change: a deploy that changes nothing must still say changed=0.
    assert recap(result)["localhost"]["changed"] == 0


@pytest.mark.parametrize("broken", ["answers 500", "closed port"])
def test_a_broken_webhook_warns_and_does_not_fail_the_run(tmp_path: Path, webhook: Webhook, broken: str) -> None:
    webhook.status = 500
    url = webhook.url if broken == "answers 500" else closed_port_url()
    result, summary = run_events(tmp_path, ["succeeded"], url)
    assert result.returncode == 0, said(result)[-3000:]
    text = said(result)
    assert "WARNING: the succeeded event could not be posted to deploy_notify_webhook_url" in text
    assert ("it answered HTTP 500" if broken == "answers 500" else "Connection refused") in text
    assert HOOK_PATH not in result.stdout + result.stderr
    assert url not in result.stdout + result.stderr
    assert len(webhook.bodies) == (1 if broken == "answers 500" else 0)
    # The summary is written all the same.
    assert "succeeded" in summary.read_text()


def test_an_unknown_event_fails_naming_the_variable(tmp_path: Path, webhook: Webhook) -> None:
    result, summary = run_events(tmp_path, ["deployed"], webhook.url)
    assert result.returncode != 0
    text = said(result)
    assert "deploy_notify_event must be one of: started, succeeded, failed, rolled_back, got: deployed" in text
    assert not webhook.bodies
    assert not summary.exists()


def test_check_mode_posts_and_writes_nothing(tmp_path: Path, webhook: Webhook) -> None:
    result, summary = run_events(tmp_path, ["started"], webhook.url, "--check")
    assert result.returncode == 0, said(result)[-3000:]
    assert not webhook.bodies
    assert not summary.exists()
    assert "WARNING" not in said(result)


def test_without_a_webhook_only_the_summary_is_written(tmp_path: Path) -> None:
    result, summary = run_events(tmp_path, ["started"], "")
    assert result.returncode == 0, said(result)[-3000:]
    assert summary.read_text().startswith("### steady [staging]: deploy of app 1.1.0 (db ***) started")
    assert "WARNING" not in said(result)
