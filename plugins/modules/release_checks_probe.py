#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probe a few HTTP paths from the host in one call and report what each answered.

One module call instead of one `uri` call per path: the checks sit on the serial path of a roll-out, where
every SSH round trip is paid once per batch. It never fails by itself; the role asserts on what it returns, so
the message can name the host."""
from __future__ import annotations

DOCUMENTATION = r"""
module: release_checks_probe
short_description: Probe HTTP paths until they answer 200 (and, optionally, a JSON key has a value)
description:
  - Asks each of I(checks) with a GET on I(base_url) plus its C(path), from the host, until it passes or
    I(retries) are used up, I(delay) seconds apart.
  - A check passes when it answers 200 and, when it has a C(json_key), the body is JSON whose C(json_key) holds
    C(expect) (compared as text).
  - It never fails because a check did not pass; the caller judges C(checks) and C(all_passed). It fails only
    when a check has no C(path) starting with C(/).
# No GitHub handle for the maintainers: validate-modules wants "Name (@handle)" or "Name (!UNKNOWN)".
author: steady maintainers (!UNKNOWN)
options:
  base_url:
    type: str
    required: true
    description: Scheme, host and port to probe, e.g. C(http://127.0.0.1:8080); a trailing C(/) is dropped.
  checks:
    type: list
    elements: dict
    required: true
    description: Each has C(path), and optionally C(json_key) and C(expect) (the value that key must have).
  retries:
    type: int
    default: 10
    description: How many times a check that did not pass is asked again.
  delay:
    type: float
    default: 0.5
    description: Seconds between two tries of a check.
  timeout:
    type: float
    default: 5
    description: Seconds one request may take.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads, so it probes in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Probe live, ready and the version through the proxy
  steady.deploy.release_checks_probe:
    base_url: http://127.0.0.1:80
    checks:
      - path: /health/live
      - path: /health/ready
      - path: /version
        json_key: version
        expect: 1.4.2
    retries: 20
    delay: 0.5
  register: probe

- name: Fail when a check did not pass
  ansible.builtin.assert:
    that: probe.all_passed
"""

RETURN = r"""
checks:
  description: What each check answered at its last try, in the order of I(checks).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The path asked.
      returned: always
      type: str
    status:
      description: The HTTP status, or 0 when nothing answered.
      returned: always
      type: int
    passed:
      description: Whether the check passed.
      returned: always
      type: bool
    got:
      description: The value of C(json_key) in the body; null without C(json_key) or when the body is no JSON.
      returned: always
      type: raw
    body:
      description: The first 300 characters of the body (or of the error when nothing answered).
      returned: always
      type: str
    attempts:
      description: How many tries the check took.
      returned: always
      type: int
all_passed:
  description: Whether every check passed.
  returned: always
  type: bool
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.steady.deploy.plugins.module_utils.release_checks_http import judge, probe


def run_check(base_url: str, check: dict, retries: int, delay: float, timeout: float) -> dict:
    result: dict = {}
    for attempt in range(retries + 1):
        result = {**judge(check, *probe(base_url + check["path"], timeout)), "attempts": attempt + 1}
        if result["passed"]:
            break
        time.sleep(delay)
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "base_url": {"type": "str", "required": True},
            "checks": {"type": "list", "elements": "dict", "required": True},
            "retries": {"type": "int", "default": 10},
            "delay": {"type": "float", "default": 0.5},
            "timeout": {"type": "float", "default": 5},
        },
        supports_check_mode=True,
    )
    p = module.params
    for check in p["checks"]:
        if not str(check.get("path", "")).startswith("/"):
            module.fail_json(msg=f"every check needs a path starting with '/': {check!r}")
    results = [run_check(p["base_url"].rstrip("/"), c, p["retries"], p["delay"], p["timeout"]) for c in p["checks"]]
    module.exit_json(changed=False, checks=results, all_passed=all(r["passed"] for r in results))


if __name__ == "__main__":
    main()
