"""Bad input to deploy.yml refused before anything changes, on the shared lab: a few rows of the bad-input table run
whole (no lock, nothing restarted), a registry that refuses the login, and a --limit without the controller or the
migration host. The whole table runs without the lab in tests/test_refusals.py."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support.bad_inputs import RUNS
from support.deploy import lock_exists, said, started_at
from support.lab import Lab, ansible_playbook

pytestmark = pytest.mark.lab

# A few rows of the table (tests/support/bad_inputs.py), run whole on the shared lab: refused in play 1, no lock,
# nothing restarted on any host. Every row runs without the lab in tests/test_refusals.py.
# One of each kind: a deploy input, a role's own option (its argument spec refuses it), a rollback input. A row
# whose message changed is not found: collection stops there.
def _row(message_start: str, kind: str):
    return pytest.param(*next(run for run in RUNS if run[2].startswith(message_start)), id=kind)


@pytest.mark.parametrize(("playbook", "args", "message"), [
    _row("app_version: 'latest' is refused", "deploy-input"),
    _row("argument 'deploy_preflight_min_free_mb'", "role-option"),
    _row("rollback_batch_size: '0'", "rollback-input"),
])
def test_a_refused_run_takes_no_lock_and_restarts_nothing(lab: Lab, playbook: str, args: list[str],
                                                          message: str) -> None:
    before = {h.name: started_at(lab, h) for h in lab.hosts}
    result = ansible_playbook(f"playbooks/{playbook}", *args, timeout=120)
    assert result.returncode != 0
    text = said(result)
    assert message in text
    assert "PLAY [1. Preflight: reach every host" not in text
    assert not lock_exists(lab)
    assert {h.name: started_at(lab, h) for h in lab.hosts} == before


class _RefusingRegistry(BaseHTTPRequestHandler):
    """A registry that refuses every login, as one with wrong credentials does."""

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="registry"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, *args) -> None:
        pass


def test_a_registry_that_refuses_the_login_says_which_credentials_to_check(lab: Lab) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    registry = f"127.0.0.1:{server.server_address[1]}"
    before = started_at(lab, lab.hosts[0])
    try:
        # The app hosts cannot reach this registry (it listens on the controller's loopback): skip their check.
        result = ansible_playbook("playbooks/deploy.yml", "-e", "app_version=1.1.77", "-e",
                                  f"app_image_repository={registry}/steady/app", "-e", "registry_username=deployer",
                                  "-e", "registry_password=canary-9f31c", "-e", "deploy_preflight_registry_url=",
                                  timeout=300)
    finally:
        server.shutdown()
    text = said(result)
    assert result.returncode != 0
    assert f"The registry {registry} refused the login of 'deployer': check registry_username and" in text
    assert f"docker login {registry}" in text
    assert "could not be built or pushed; no host was touched" in text
    assert "canary-9f31c" not in text
    assert not lock_exists(lab)
    assert started_at(lab, lab.hosts[0]) == before


@pytest.mark.parametrize(("limit", "message"), [
    ("app2", "--limit app2 leaves out localhost, the controller that checks the inputs, holds the deploy lock and "
             "reports: add it, --limit 'app2,localhost'"),
    ("app2,localhost", "--limit: app2,localhost leaves out app1, the first app host, which backs up the database and "
                       "runs the migrations: add it to the limit, or say -e deploy_skip_migrations=true"),
])
def test_a_limit_without_the_controller_or_the_migration_host_is_refused(lab: Lab, limit: str, message: str) -> None:
    before = {h.name: started_at(lab, h) for h in lab.hosts}
    result = ansible_playbook("playbooks/deploy.yml", "-e", "app_version=1.1.78", "--limit", limit, timeout=300)
    assert result.returncode != 0
    assert message in said(result)
    assert "PLAY [1. Preflight: take the deploy lock]" not in said(result).split(message)[0]
    assert not lock_exists(lab)
    assert {h.name: started_at(lab, h) for h in lab.hosts} == before
