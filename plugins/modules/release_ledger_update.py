#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Record an entry in the host's release ledger, or reinstate one after a rollback: read, change and write the
file in one call on the host.

One module call instead of slurp then copy: copy alone costs four SSH round trips (stat, transfer, move,
cleanup), and the read and the write belong together. The write is atomic (a temporary file renamed over the
ledger), so a reader never sees half a ledger."""
from __future__ import annotations

DOCUMENTATION = r"""
module: release_ledger_update
short_description: Record or reinstate an entry in a host's release ledger (JSON)
description:
  - Reads the host's release ledger (a JSON file with C(service) and the list C(releases)), applies I(action) to
    its entries and writes it back when it changed, atomically (a temporary file renamed over it, mode 0644).
  - A missing ledger counts as an empty one. A ledger that cannot be read or parsed, an entry without
    C(release_id) or with an unknown C(status), a I(keep) below 1 (C(record)) and a I(release_id) the ledger lacks
    (C(reinstate)) fail the task, and nothing is written.
# No GitHub handle for the maintainers: validate-modules wants "Name (@handle)" or "Name (!UNKNOWN)".
author: steady maintainers (!UNKNOWN)
options:
  path:
    type: path
    required: true
    description: The ledger file; created (with its folder) when missing.
  action:
    type: str
    choices: [record, reinstate]
    default: record
    description:
      - C(record) replaces the entry with the same C(release_id) or appends it; a C(live) entry turns the live
        one into C(superseded).
      - C(reinstate) makes I(release_id) live again in its place and the live one C(rolled_back); I(entry) holds
        fields merged into it.
  entry:
    type: dict
    default: {}
    description:
      - With C(action=record), the entry to record; it needs C(release_id) and a C(status) (C(live),
        C(superseded), C(failed) or C(rolled_back)).
      - With C(action=reinstate), fields merged into the reinstated entry.
  release_id:
    type: str
    default: ""
    description: The release to reinstate.
  note:
    type: str
    default: ""
    description: Note left on the reinstated entry.
  keep:
    type: int
    default: 100
    description: Entries kept by C(record); the oldest go first.
  service:
    type: str
    default: ""
    description: The service the ledger belongs to (written at its top); empty keeps the one in the file.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports whether the ledger would change, and how, without writing it.
  diff_mode:
    support: full
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Record the release in the host's ledger
  steady.deploy.release_ledger_update:
    path: /var/lib/steady/app/ledger.json
    action: record
    entry:
      release_id: 20260101T120000Z-1.4.2
      version: 1.4.2
      status: live
    keep: 50
    service: app

- name: Make the previous release live again after a rollback
  steady.deploy.release_ledger_update:
    path: /var/lib/steady/app/ledger.json
    action: reinstate
    release_id: 20251220T090000Z-1.4.1
    note: rolled back from 1.4.2
    entry:
      ready_seconds: 1.8
"""

RETURN = r"""
entries:
  description: The ledger's entries after the call, oldest first.
  returned: success
  type: list
  elements: dict
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.steady.deploy.plugins.module_utils.atomic_file import write_atomically
from ansible_collections.steady.deploy.plugins.module_utils.release_ledger import ledger_record, ledger_reinstate


def read(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {"releases": []}


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
        write_atomically(p["path"], new)
    module.exit_json(changed=changed, entries=after, diff={"before": old, "after": new})


if __name__ == "__main__":
    main()
