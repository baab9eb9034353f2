"""Bad input to deploy.yml and rollback.yml is refused in their first play, on the controller, with the variable and
the fix in the message: no host is contacted, so no lock is taken and nothing restarts. Every row of the table
(tests/support/bad_inputs.py) runs here, without the lab: the refusal reads nothing but the inventory. A few rows
also run whole on the shared lab, where the lock and the containers are looked at (tests/e2e/test_deploy_inputs.py)."""
from __future__ import annotations

import pytest

from support.bad_inputs import RUNS
from support.deploy import recap, said
from support.lab import ROOT, ansible_playbook


@pytest.mark.parametrize(("playbook", "args", "message"), RUNS,
                         ids=[f"{r[0].split('.')[0]}-{r[2].split(':')[0]}-{i}" for i, r in enumerate(RUNS)])
def test_bad_input_is_refused_before_any_change(playbook: str, args: list[str], message: str) -> None:
    # These rows run beside the shared lab's tests: should a row ever not be refused, port 9 (discard, closed here)
    # keeps its run from reaching a lab host and deploying there. It fails on the recap below instead.
    result = ansible_playbook(f"playbooks/{playbook}", *args, "-e", "ansible_port=9", timeout=120)
    assert result.returncode != 0
    text = said(result)
    assert message in text
    # Refused in the first play: no host was contacted (the recap names the controller alone), so no lock was
    # taken and nothing restarted.
    assert "PLAY [1. Preflight: reach every host" not in text
    assert set(recap(result)) == {"localhost"}, result.stdout[-2000:]


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
