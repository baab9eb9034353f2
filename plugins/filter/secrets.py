"""Filters that keep secrets out of what is shown, stored or sent (redact), and what the database clients get from
a libpq URL (url_without_password, pgpass_line, url_with_database, url_database).

The rules live in the collection's module_utils/redact.py and module_utils/database_url.py."""
from __future__ import annotations

from typing import Any

from ansible_collections.steady.deploy.plugins.module_utils.database_url import (
    pgpass_line, url_database, url_with_database, url_without_password)
from ansible_collections.steady.deploy.plugins.module_utils.redact import redact


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"redact": redact, "url_without_password": url_without_password, "pgpass_line": pgpass_line,
                "url_with_database": url_with_database, "url_database": url_database}
