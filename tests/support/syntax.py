"""`ansible-playbook --syntax-check` of many playbooks in one process per inventory: each process costs more than
a second of Ansible's start-up, and the suite checks every playbook against every inventory."""
from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterable

from support.lab import ansible_playbook


@functools.cache
def _together(inventory: str, playbooks: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    try:
        return ansible_playbook("--syntax-check", "-i", inventory, *playbooks, timeout=300)
    except subprocess.TimeoutExpired as expired:  # vouches for nothing: each playbook is then checked alone
        return subprocess.CompletedProcess(expired.cmd, 124, "", f"timed out after {expired.timeout} s")


def syntax_check(inventory: str, playbook: str, batch: Iterable[str]) -> subprocess.CompletedProcess[str]:
    """The syntax check of `playbook` against `inventory`. The first call checks every playbook of `batch` (all the
    caller will ask about for that inventory) in one process. When that process fails, it vouches for none of them:
    the playbook is checked alone, so the test that fails is the one of the playbook at fault, with its message."""
    together = _together(inventory, tuple(sorted(set(batch))))
    if together.returncode == 0 and f"playbook: {playbook}\n" in together.stdout:
        return together
    return ansible_playbook("--syntax-check", "-i", inventory, playbook, timeout=120)
