"""One HTTP check, as both release_checks_probe (verify.yml) and rolling_restart_switch (the checks through the
proxy right after a switch) make it: ask a path, and judge the answer (200, and optionally a JSON key's value).

One copy: roles/rolling_restart/module_utils/release_checks_http.py is a symlink to this file, because a role's
module_utils serve only that role's modules and roles here never depend on each other."""
from __future__ import annotations

import json
import urllib.error
import urllib.request


def probe(url: str, timeout: float = 2.0) -> tuple[int, str]:
    """Status and the first bytes of the body; 0 and the error when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read(300).decode(errors="replace")
    except (OSError, ValueError) as err:
        return 0, str(err)


def judge(check: dict, status: int, body: str) -> dict:
    """What a check's answer means: `passed` (200, and the JSON key, if any, holds `expect`, compared as text),
    `got` (that key's value) and the first bytes of the body."""
    key, got = check.get("json_key"), None
    if key:
        try:
            got = json.loads(body).get(key)
        except (ValueError, AttributeError):
            got = None
    passed = status == 200 and (not key or str(got) == str(check.get("expect")))
    return {"path": check["path"], "status": status, "passed": passed, "got": got, "body": body[:300]}
