#!/usr/bin/python
"""Probe a few HTTP paths from the host in one call and report what each answered.

One module call instead of one `uri` call per path: the checks sit on the serial path of a roll-out, where
every SSH round trip is paid once per batch. It never fails by itself; the role asserts on what it returns, so
the message can name the host."""
from __future__ import annotations

DOCUMENTATION = r"""
module: release_checks_probe
short_description: Probe HTTP paths until they answer 200 (and, optionally, a JSON key has a value)
options:
  base_url: {type: str, required: true}
  checks:
    type: list
    elements: dict
    required: true
    description: Each has C(path), and optionally C(json_key) and C(expect) (the value that key must have).
  retries: {type: int, default: 10}
  delay: {type: float, default: 0.5}
  timeout: {type: float, default: 5}
"""

RETURN = r"""
checks:
  type: list
  description: Per check, C(path), C(status), C(passed), C(got) (the JSON key's value) and C(body) (first bytes).
all_passed: {type: bool}
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.release_checks_http import judge, probe


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
