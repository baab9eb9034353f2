"""The bad-input table: what deploy.yml and rollback.yml are given, and what their first play must answer. Every
row runs in tests/test_refusals.py; a few run whole on the lab too (tests/e2e/test_deploy_inputs.py)."""
from __future__ import annotations

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
