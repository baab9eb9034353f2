"""One HTTP check, as both release_checks_probe (verify.yml) and rolling_restart_switch (the checks through the
proxy right after a switch) make it: ask a path, and judge the answer (200, and optionally a JSON key's value).

One copy, in the collection's module_utils, imported by both modules."""
from __future__ import annotations

import json
import urllib.error

from ansible.module_utils.urls import ConnectionError as UrlsConnectionError, open_url


def probe(url: str, timeout: float = 2.0) -> tuple[int, str]:
    """Status and the first bytes of the body; 0 and the error when nothing answered.

    open_url (which sanity wants instead of urllib's own opener) with netrc credentials and gzip decoding off
    sends the same plain GET as urllib's (User-Agent included) and follows redirects the same way."""
    try:
        with open_url(url, timeout=timeout, use_netrc=False, decompress=False) as answer:
            return answer.status, answer.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read(300).decode(errors="replace")
    except (OSError, ValueError, UrlsConnectionError) as err:
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
