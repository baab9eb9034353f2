#!/usr/bin/python
"""Record an entry in the host's release ledger, or reinstate one after a rollback: read, change and write the
file in one call on the host.

One module call instead of slurp then copy: copy alone costs four SSH round trips (stat, transfer, move,
cleanup), and the read and the write belong together. The write is atomic (a temporary file renamed over the
ledger), so a reader never sees half a ledger."""
from __future__ import annotations

DOCUMENTATION = r"""
module: release_ledger_update
short_description: Record or reinstate an entry in a host's release ledger (JSON)
options:
  path: {type: path, required: true, description: The ledger file; created (with its folder) when missing.}
  action:
    type: str
    choices: [record, reinstate]
    default: record
    description:
      - C(record) replaces the entry with the same C(release_id) or appends it; a C(live) entry turns the live
        one into C(superseded).
      - C(reinstate) makes C(release_id) live again in its place and the live one C(rolled_back); I(entry) holds
        fields merged into it.
  entry: {type: dict, default: {}}
  release_id: {type: str, default: "", description: The release to reinstate.}
  note: {type: str, default: "", description: Note left on the reinstated entry.}
  keep: {type: int, default: 100, description: Entries kept; the oldest go first.}
  service: {type: str, default: "", description: The service the ledger belongs to (written at its top).}
"""

RETURN = r"""
entries: {type: list, description: The ledger's entries after the call, oldest first.}
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.release_ledger import ledger_record, ledger_reinstate


def read(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {"releases": []}


def write(path: str, content: str) -> None:
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".ledger-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "action": {"type": "str", "choices": ["record", "reinstate"], "default": "record"},
            "entry": {"type": "dict", "default": {}},
            "release_id": {"type": "str", "default": ""},
            "note": {"type": "str", "default": ""},
            "keep": {"type": "int", "default": 100},
            "service": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        before = read(p["path"])
    except (OSError, ValueError) as err:
        module.fail_json(msg=f"the ledger {p['path']} cannot be read ({err}); nothing was written")
    entries = before.get("releases", [])
    try:
        if p["action"] == "record":
            after = ledger_record(entries, p["entry"], p["keep"])
        else:
            after = ledger_reinstate(entries, p["release_id"], p["note"], p["entry"])
    except ValueError as err:
        module.fail_json(msg=f"ledger {p['path']}: {err}")
    document = {"service": p["service"] or before.get("service", ""), "releases": after}
    old = json.dumps(before, indent=4, sort_keys=True) + "\n"
    new = json.dumps(document, indent=4, sort_keys=True) + "\n"
    changed = new != old
    if changed and not module.check_mode:
        write(p["path"], new)
    module.exit_json(changed=changed, entries=after, diff={"before": old, "after": new})


if __name__ == "__main__":
    main()
