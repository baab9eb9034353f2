#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read in one call what the host_health role judges: `df -P -k` of the folders, /proc/meminfo, and whether each
dependency accepts a TCP connection.

One module call instead of two plus one per dependency (command, slurp and a wait_for loop): the checks run on every
host of every deploy, rollback and verify, and each module call costs the host a Python start (about 0.2 s of its
CPU) and the controller a worker process. The verdict stays in the host_health_summary filter."""
from __future__ import annotations

DOCUMENTATION = r"""
module: host_health_read
short_description: Read a host's free disk, its memory figures and whether its dependencies answer, in one call
description:
  - Runs C(df -P -k) on I(disk_paths), reads C(/proc/meminfo), and tries a TCP connection to each of
    I(dependencies) until it is accepted or I(timeout) seconds have passed, as C(ansible.builtin.wait_for) does.
  - It only reads. It fails only when C(df) does (a folder that does not exist); a dependency that does not answer
    is reported, not failed on.
author: steady maintainers (!UNKNOWN)
options:
  disk_paths:
    type: list
    elements: path
    required: true
    description: Folders whose file systems C(df) reports.
  dependencies:
    type: list
    elements: dict
    default: []
    description: Each C({name, host, port}) to try.
  timeout:
    type: float
    default: 5
    description: Seconds to keep trying each dependency.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - steady.deploy.attributes.read_only
"""

EXAMPLES = r"""
- name: Read the host's disk, memory and dependencies
  steady.deploy.host_health_read:
    disk_paths: [/, /var/lib/docker]
    dependencies:
      - {name: database, host: db.internal, port: 5432}
  register: health
"""

RETURN = r"""
df:
  description: What C(df -P -k) printed for I(disk_paths).
  returned: always
  type: str
meminfo:
  description: The text of C(/proc/meminfo).
  returned: always
  type: str
reach:
  description: Per dependency, in the order of I(dependencies), C(state) C(started) when it accepted a connection,
    else C(failed) true and C(msg).
  returned: always
  type: list
  elements: dict
"""

import socket
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule


def reach(host: str, port: int, timeout: float, interval: float = 0.5) -> dict:
    """Tries a connection, every `interval` s, until one is accepted or `timeout` s have passed."""
    deadline = time.monotonic() + timeout
    why: OSError | None = None
    while True:
        try:
            with socket.create_connection((host, port), timeout=max(0.1, deadline - time.monotonic())):
                return {"failed": False, "state": "started"}
        except OSError as error:
            why = error
        if time.monotonic() + interval >= deadline:
            return {"failed": True, "msg": f"Timeout when waiting for {host}:{port} ({why})"}
        time.sleep(interval)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "disk_paths": {"type": "list", "elements": "path", "required": True},
            "dependencies": {"type": "list", "elements": "dict", "default": []},
            "timeout": {"type": "float", "default": 5},
        },
        supports_check_mode=True,
    )
    p = module.params
    df = subprocess.run(["df", "-P", "-k", *p["disk_paths"]], capture_output=True, text=True, timeout=60, check=False)
    if df.returncode != 0:
        module.fail_json(msg=f"df -P -k {' '.join(p['disk_paths'])} failed: {df.stderr.strip()[:300]}")
    with open("/proc/meminfo", encoding="ascii") as handle:
        meminfo = handle.read()
    module.exit_json(changed=False, df=df.stdout, meminfo=meminfo,
                     reach=[reach(str(d["host"]), int(d["port"]), p["timeout"]) for d in p["dependencies"]])


if __name__ == "__main__":
    main()
