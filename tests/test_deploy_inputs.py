"""Bad input to deploy.yml is refused before anything changes, with the variable and the fix in the message."""
from __future__ import annotations

import pytest

from conftest import Lab, ansible_playbook
from deploy_helpers import lock_exists, said, started_at

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
]


ROLLBACK_CASES = [
    # (extra -e arguments to rollback.yml, what the message must say)
    (["-e", "rollback_batch_size=0"], "rollback_batch_size: '0' must be a number of hosts"),
    (["-e", "rollback_batch_size=all"], "rollback_batch_size: 'all' must be a number of hosts"),
    (["-e", "rollback_to=../1.0.0"], "rollback_to: '../1.0.0' must be empty (the release before the live one)"),
    (["-e", "rollback_database=maybe"], "rollback_database: 'maybe' must be true or false"),
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
