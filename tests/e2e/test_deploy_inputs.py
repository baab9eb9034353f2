"""Bad input to deploy.yml is refused before anything changes, with the variable and the fix in the message."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from support.lab import ROOT, Lab, ansible_playbook
from support.deploy import lock_exists, said, started_at

pytestmark = pytest.mark.lab

CASES = [
    # (version, extra -e arguments, what the message must say)
    ("", [], "app_version: not set. Name the release to deploy: -e app_version=1.4.2"),
    ("latest", [], "app_version: 'latest' is refused"),
    ("1.0.0", ["-e", '{"app_version": "1.0 .0"}'], "app_version: '1.0 .0' is not a valid image tag"),
    ("1.0.0", ["-e", "deploy_environment=qa"], "deploy_environment: 'qa' is not one of local, staging, production"),
    ("1.0.0", ["-e", "deploy_environment=production"],
     "deploy_confirm: deploying to production needs an explicit confirmation: add -e deploy_confirm=production"),
    ("1.0.0", ["-e", "app_health_ready_path=health/ready"],
     "app_health_ready_path: 'health/ready' must be a path starting with '/'"),
    ("1.0.0", ["-e", '{"app_health_live_path": "/health live"}'], "app_health_live_path: '/health live' must be a path"),
    ("1.0.0", ["-e", "app_public_port=80000"], "app_public_port: '80000' must be the port each host's proxy publishes"),
    ("1.0.0", ["-e", "app_container_port=http"], "app_container_port: 'http' must be the port the service listens on"),
    ("1.0.0", ["-e", "deploy_batch_size=0"], "deploy_batch_size: '0' must be a number of hosts"),
    ("1.0.0", ["-e", "deploy_batch_size=150%"], "deploy_batch_size: '150%' must be a number of hosts"),
    ("1.0.0", ["-e", "app_image_repository=Registry/App:1"], "app_image_repository: 'Registry/App:1' must be"),
    ("1.0.0", ["-e", "app_name=My_App"], "app_name: 'My_App' must be lower-case letters"),
    ("1.0.0", ["-e", '{"app_migration_command": "alembic upgrade head"}'],
     "app_migration_command: must be a list of strings"),
    ("1.0.0", ["-e", "app_database_url=mysql://db/app"], "app_database_url: must be a libpq URL"),
    ("1.0.0", ["-e", '{"app_env": {"BAD-NAME": "x"}}'], "app_env: must map environment variable names"),
    ("1.0.0", ["-e", "app_image_digest=sha256:abc"], "app_image_digest: 'sha256:abc' must be empty or the digest"),
    ("1.0.0", ["-e", '{"app_image_digest": "sha256:%s\\n"}' % ("a" * 64)], "app_image_digest: 'sha256:aaaa"),
    ("1.0.0", ["-e", "deploy_build=sometimes"], "deploy_build: 'sometimes' must be auto"),
    ("1.0.0", ["-e", "deploy_build=always", "-e", "app_image_digest=sha256:%s" % ("b" * 64)],
     "deploy_build: 'always' must be auto"),
    ("1.0.0", ["-e", "deploy_build=always", "-e", '{"app_build_context": ""}'], "always needs app_build_context"),
    # Full match, not a prefix: a trailing newline is not part of a tag, a name or a path.
    ("1.0.0", ["-e", '{"app_version": "1.1.0\\n"}'], "app_version: '1.1.0 ' is not a valid image tag"),
    ("1.0.0", ["-e", '{"app_name": "app\\n"}'], "app_name: 'app ' must be lower-case letters"),
    ("1.0.0", ["-e", '{"app_health_ready_path": "/health/ready\\n"}'], "app_health_ready_path: '/health/ready '"),
    ("1.0.0", ["-e", '{"deploy_batch_size": "1\\n"}'], "deploy_batch_size: '1 ' must be a number of hosts"),
    ("1.0.0", ["-e", '{"app_env": {"LEVEL\\n": "x"}}'], "app_env: must map environment variable names"),
    # By type: a number is not a version (JSON's 1.10 is 1.1).
    ("1.0.0", ["-e", '{"app_version": 110}'], "app_version: 110 (a int) is not a version"),
    ("1.0.0", ["-e", '{"app_version": 1.10}'], "app_version: 1.1 (a float) is not a version"),
    # For consistency: the environment is the inventory's.
    ("1.0.0", ["-e", "deploy_environment=staging"], "deploy_environment: 'staging' does not match the inventory local"),
    ("1.0.0", ["-e", "deploy_skip_migrations=perhaps"], "deploy_skip_migrations: 'perhaps' must be true or false"),
    # The canary: on or off, a window long enough for a rate, and what a canary that saw no traffic means.
    ("1.0.0", ["-e", "deploy_canary=sometimes"], "deploy_canary: 'sometimes' must be true"),
    ("1.0.0", ["-e", "deploy_canary_seconds=5"], "deploy_canary_seconds: '5' must be the seconds the canary serves"),
    ("1.0.0", ["-e", "deploy_canary_no_data=ignore"], "deploy_canary_no_data: 'ignore' must be fail"),
    # What a CI input with spaces became when workflows passed key=value strings: one value, refused whole.
    ("1.0.0", ["-e", '{"app_version": "1.1.0 deploy_lock_break=true"}'],
     "app_version: '1.1.0 deploy_lock_break=true' is not a valid image tag"),
    # The lease, and the backups a rollback of the database needs.
    ("1.0.0", ["-e", "deploy_lock_lease_seconds=10"], "deploy_lock_lease_seconds: '10' must be a whole number of seconds"),
    ("1.0.0", ["-e", "db_migrate_backup_keep=0"], "db_migrate_backup_keep: '0' must be a whole number of backups of"),
    ("1.0.0", ["-e", "db_migrate_backup_min_free_mb=lots"], "db_migrate_backup_min_free_mb: 'lots' must be a whole"),
    ("1.0.0", ["-e", "db_migrate_backup_fetch_dir=backups"], "db_migrate_backup_fetch_dir: 'backups' must be empty or"),
    ("1.0.0", ["-e", "db_migrate_backup_copy_dir=../x"], "db_migrate_backup_copy_dir: '../x' must be empty or an"),
    # A role's own option: its argument spec refuses it first (and a number given with -e is compared as one).
    ("1.0.0", ["-e", "deploy_preflight_min_free_mb=1GB"],
     "argument 'deploy_preflight_min_free_mb' is of type str and we were unable to convert to int"),
]


ROLLBACK_CASES = [
    # (extra -e arguments to rollback.yml, what the message must say)
    (["-e", "rollback_batch_size=0"], "rollback_batch_size: '0' must be a number of hosts"),
    (["-e", "rollback_batch_size=all"], "rollback_batch_size: 'all' must be a number of hosts"),
    (["-e", "rollback_to=../1.0.0"], "rollback_to: '../1.0.0' must be empty (the release before the live one)"),
    (["-e", "rollback_database=maybe"], "rollback_database: 'maybe' must be true or false"),
    (["-e", '{"rollback_to": "1.0.0\\n"}'], "rollback_to: '1.0.0 ' must be empty"),
]
RUNS = [("deploy.yml", ["-e", f"app_version={v}", *extra], m) for v, extra, m in CASES] + \
       [("rollback.yml", extra, m) for extra, m in ROLLBACK_CASES]


@pytest.mark.parametrize(("playbook", "args", "message"), RUNS,
                         ids=[f"{r[0].split('.')[0]}-{r[2].split(':')[0]}-{i}" for i, r in enumerate(RUNS)])
def test_bad_input_is_refused_before_any_change(lab: Lab, playbook: str, args: list[str], message: str) -> None:
    before = started_at(lab, lab.hosts[0])
    result = ansible_playbook(f"playbooks/{playbook}", *args, timeout=120)
    assert result.returncode != 0
    text = said(result)
    assert message in text
    # Refused in the first play: no host was contacted, no lock taken, nothing restarted.
    assert "PLAY [1. Preflight: reach every host" not in text
    assert not lock_exists(lab)
    assert started_at(lab, lab.hosts[0]) == before


def test_an_inventory_without_its_vault_says_how_to_make_one(tmp_path) -> None:
    """A newcomer's first run: the vault does not exist yet. The run stops in its first task, names every value it
    cannot read and gives the commands that create the vault, instead of Jinja's bare "is undefined"."""
    vault = ROOT / "inventories" / "production" / "group_vars" / "all" / "vault.yml"
    assert not vault.exists(), "this test needs the production inventory without its (git-ignored) vault"
    result = ansible_playbook("playbooks/deploy.yml", "-i", "inventories/production", "-e", "app_version=1.1.0",
                              "-e", "deploy_confirm=production", timeout=120)
    text = said(result)
    assert result.returncode != 0
    assert "app_database_url, app_secret_env.DATABASE_URL, app_secret_env.REDIS_URL" in text
    assert f"cp {vault}.example {vault}" in text and f"ansible-vault encrypt {vault}" in text
    assert "--ask-vault-pass" in text
    assert "'vault_db_password' is undefined" not in text
    assert "PLAY [1. Preflight: reach every host" not in text


def test_a_wrong_inventory_path_says_so_first() -> None:
    result = ansible_playbook("playbooks/deploy.yml", "-i", "inventories/prod", "-e", "app_version=1.1.0", timeout=120)
    text = said(result)
    assert result.returncode != 0
    assert f"The inventory {ROOT / 'inventories' / 'prod'} has no host in the group app_hosts (a wrong -i path?)" in text
    assert "-i inventories/staging" in text
    # Stopped at the first check: no other variable is reported missing.
    assert "deploy_environment:" not in text


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
