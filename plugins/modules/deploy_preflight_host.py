#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read in one call what the preflight checks on an app host: whether its Docker engine answers, the free space
under the engine's data root, and whether the registry answers from the host.

One module call instead of four (ping, docker_host_info, df and uri): the preflight runs on every host of every
deploy, rollback and restore, and each module call costs a Python start on the host (about 0.2 s of its CPU) and a
worker process on the controller. It never fails by itself; the role asserts on what it returns, so that each
message names the host and the fix."""
from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_preflight_host
short_description: Read whether an app host's engine answers, its free disk and whether it reaches the registry
description:
  - Asks the host's Docker engine for its version (on its local socket, else with the C(docker) CLI), looks up the
    Python modules the C(community.docker) modules need, measures the free space of the file system that holds
    I(docker_root), and asks I(registry_url) for C(/v2/) from the host.
  - It only reads, and never fails because a check did not pass; the caller judges what it returns.
author: steady maintainers (!UNKNOWN)
options:
  docker_root:
    type: path
    required: true
    description: The engine's data root, whose file system's free space is measured.
  registry_url:
    type: str
    default: ""
    description: Base URL of the registry as the host reaches it; empty skips the registry check.
  timeout:
    type: float
    default: 10
    description: Seconds the engine and the registry may each take to answer.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - steady.deploy.attributes.read_only
"""

EXAMPLES = r"""
- name: Read the host's engine, disk and registry
  steady.deploy.deploy_preflight_host:
    docker_root: /var/lib/docker
    registry_url: https://registry.example.com
  register: preflight

- name: Refuse a host without enough free disk
  ansible.builtin.assert:
    that: preflight.free_mb is not none and preflight.free_mb >= 1024
"""

RETURN = r"""
engine:
  description: Whether the engine answered, its version, and why not when it did not.
  returned: always
  type: dict
  contains:
    answers:
      description: Whether the engine answered.
      type: bool
      returned: always
    version:
      description: The engine's version; empty when it did not answer.
      type: str
      returned: always
    msg:
      description: Why the engine did not answer; empty when it did.
      type: str
      returned: always
missing_python_modules:
  description: Python modules the C(community.docker) modules need on the host (C(requests)) that the host's
    Python lacks; empty when it has them all.
  returned: always
  type: list
  elements: str
free_mb:
  description: MiB free for unprivileged use on the file system of I(docker_root) (what C(df -Pm) calls
    available); null when it could not be measured.
  returned: always
  type: int
free_msg:
  description: Why the free space could not be measured; empty when it was.
  returned: always
  type: str
registry:
  description: What C(<registry_url>/v2/) answered; null without I(registry_url).
  returned: always
  type: dict
  contains:
    status:
      description: The HTTP status, or 0 when nothing answered.
      type: int
      returned: always
    msg:
      description: The error when nothing answered; empty otherwise.
      type: str
      returned: always
"""

import importlib.util
import json
import os
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.steady.deploy.plugins.module_utils.release_checks_http import probe
from ansible_collections.steady.deploy.plugins.module_utils.switch_engine import engine


def read_engine(timeout: float) -> dict:
    """The engine's version from its local socket, else from the docker CLI (a context or DOCKER_HOST elsewhere)."""
    answer = engine("GET", "/version", timeout=timeout)
    if answer is not None:
        status, body = answer
        try:
            version = json.loads(body).get("Version", "") if status == 200 else ""
        except (ValueError, AttributeError):
            version = ""
        if version:
            return {"answers": True, "version": str(version), "msg": ""}
        return {"answers": False, "version": "", "msg": f"the engine answered {status}: {body[:300]!r}"}
    try:
        proc = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                              text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return {"answers": False, "version": "", "msg": str(error)[:300]}
    if proc.returncode != 0 or not proc.stdout.strip():
        return {"answers": False, "version": "", "msg": (proc.stderr or proc.stdout).strip()[:300]}
    return {"answers": True, "version": proc.stdout.strip(), "msg": ""}


def missing_modules(names: tuple[str, ...] = ("requests",)) -> list[str]:
    """The Python modules the deploy's community.docker modules need on the host that this Python lacks (looked
    up, not imported: the import alone would cost this call more than the rest of it)."""
    return [name for name in names if importlib.util.find_spec(name) is None]


def free_mb(path: str) -> tuple[int | None, str]:
    try:
        stats = os.statvfs(path)
    except OSError as error:
        return None, f"cannot measure the free space under {path}: {error.strerror or error}"
    return stats.f_bavail * stats.f_frsize // (1024 * 1024), ""


def read_registry(url: str, timeout: float) -> dict:
    """GET <url>/v2/: 200, or 401 from a registry that wants a login, is a registry that answers."""
    status, body = probe(url.rstrip("/") + "/v2/", timeout)
    return {"status": status, "msg": body[:300] if status == 0 else ""}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "docker_root": {"type": "path", "required": True},
            "registry_url": {"type": "str", "default": ""},
            "timeout": {"type": "float", "default": 10},
        },
        supports_check_mode=True,
    )
    p = module.params
    free, free_msg = free_mb(p["docker_root"])
    module.exit_json(changed=False, engine=read_engine(p["timeout"]), missing_python_modules=missing_modules(),
                     free_mb=free, free_msg=free_msg,
                     registry=read_registry(p["registry_url"], p["timeout"]) if p["registry_url"] else None)


if __name__ == "__main__":
    main()
