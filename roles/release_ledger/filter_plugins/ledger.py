"""Filters for the release ledger: ledger_record, ledger_reinstate, ledger_live, ledger_previous, ledger_find.

The rules themselves live in the role's module_utils/release_ledger.py, which the module release_ledger_update
runs on the host: one copy of them for both sides."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

_spec = importlib.util.spec_from_file_location(
    "steady_release_ledger", Path(__file__).resolve().parent.parent / "module_utils" / "release_ledger.py")
_rules = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_rules)

ledger_record = _rules.ledger_record
ledger_reinstate = _rules.ledger_reinstate
ledger_live = _rules.ledger_live
ledger_previous = _rules.ledger_previous
ledger_find = _rules.ledger_find


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ledger_record": ledger_record, "ledger_live": ledger_live, "ledger_previous": ledger_previous,
                "ledger_find": ledger_find, "ledger_reinstate": ledger_reinstate}
