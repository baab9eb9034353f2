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

import json
import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule


def probe(url: str, timeout: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read(300).decode(errors="replace")
    except (OSError, ValueError) as err:
        return 0, str(err)


def run_check(base_url: str, check: dict, retries: int, delay: float, timeout: float) -> dict:
    key, expect = check.get("json_key"), check.get("expect")
    result: dict = {}
    for attempt in range(retries + 1):
        status, body = probe(base_url + check["path"], timeout)
        got = None
        if key:
            try:
                got = json.loads(body).get(key)
            except (ValueError, AttributeError):
                got = None
        passed = status == 200 and (not key or str(got) == str(expect))
        result = {"path": check["path"], "status": status, "passed": passed, "got": got, "body": body[:300],
                  "attempts": attempt + 1}
        if passed:
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
