"""Taking secrets out of text before it is shown, stored or sent: messages, ledger notes, reports, notifications.

Two rules. Every known secret goes, in every form it may take in a message (as given, stripped, with its
whitespace folded, and the password of a URL secret, plain and percent-decoded). And the password of any URL
with credentials goes too, known or not (a container log tail that prints its DATABASE_URL), so that
postgresql://app:pw@db/app reads postgresql://app:***@db/app."""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

MASK = "***"
# scheme://user:password@ : the password is everything up to the last @ before the host.
URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)(?P<password>[^\s@/]+)(?=@)")


def secret_forms(secret: str) -> set[str]:
    """The secret as given, stripped and with its whitespace folded (as YAML folding or a one-line rendering
    would show it) and, when it is a URL with a password (postgresql://app:pw@db/app), the password too: a message
    that names only the password must not leak it either."""
    forms = {secret, secret.strip(), " ".join(secret.split())}
    try:
        password = urlsplit(secret.strip()).password if "://" in secret else None
    except ValueError:
        password = None
    if password:
        forms |= {password, unquote(password)}
    return {f for f in forms if f}


def redact(text: Any, secrets: Iterable[Any] | None = None) -> str:
    """`text` with every known secret, and the password of every URL, replaced by ***.

    Empty secrets are ignored (replacing '' would mask between every character). The longest secrets go first, so
    a secret that contains another one is masked whole."""
    out = "" if text is None else str(text)
    forms: set[str] = set()
    for secret in secrets or ():
        if secret is not None and str(secret):
            forms |= secret_forms(str(secret))
    for form in sorted(forms, key=len, reverse=True):
        out = out.replace(form, MASK)
    return URL_PASSWORD.sub(lambda m: m.group("head") + MASK, out)
