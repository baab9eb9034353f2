"""Filters for the release ledger: ledger_record, ledger_reinstate, ledger_live, ledger_previous, ledger_find,
ledger_retain.

The rules themselves live in the collection's module_utils/release_ledger.py, which the module
release_ledger_update runs on the host: one copy of them for both sides."""
from __future__ import annotations

from typing import Any

from ansible_collections.steady.deploy.plugins.module_utils.release_ledger import (
    ledger_find, ledger_live, ledger_previous, ledger_record, ledger_reinstate, ledger_retain)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ledger_record": ledger_record, "ledger_live": ledger_live, "ledger_previous": ledger_previous,
                "ledger_find": ledger_find, "ledger_reinstate": ledger_reinstate, "ledger_retain": ledger_retain}
