#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Take, renew, release, break or show the deploy lock, a lease in one JSON file on the lock host.

One call on the host does the read, the decision and the write under one flock: the take-over of an expired or
dead run's lock is atomic, which "rm then mkdir" from the controller was not."""
from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_lock_lease
short_description: The deploy lock as a lease (take, renew, release, break, show)
description:
  - The lock is one JSON file naming its holder (who, what, which release and CI run, from which controller and
    process) and when its lease ends (C(expires_at_epoch), on this host's clock).
  - Every action reads and writes the file under an exclusive flock on C(<path>.guard), so two runs never both
    take it; the file is replaced atomically.
  - C(take) takes a free lock, renews this run's own, and takes over one whose lease is over or whose release is
    I(take_over); otherwise it returns C(acquired=false) and the holder, and does not fail.
  - C(renew) fails when the lock is no longer held by I(release_id) and I(run_id) (broken, or expired and taken by
    another run).
  - C(release) removes the lock only when I(release_id) and I(run_id), or I(ci_run), hold it; C(break) removes it
    whoever holds it, or only when I(release_id) still does when one is given. C(show) changes nothing.
author: steady maintainers (!UNKNOWN)
options:
  path:
    type: path
    required: true
    description: The lock file; its folder is created when missing.
  action:
    type: str
    choices: [take, renew, release, break, show]
    default: show
    description: What to do with the lock.
  holder:
    type: dict
    default: {}
    description:
      - With C(action=take), who takes it; needs C(release_id). Its fields are written as they are, with the
        lease's times added.
  lease_seconds:
    type: int
    default: 1800
    description: Length of the lease from now, for C(take) and C(renew).
  take_over:
    type: str
    default: ""
    description: With C(action=take), the release id of a holder this run may replace (judged dead, or broken).
  release_id:
    type: str
    default: ""
    description: The run's release id, for C(renew), C(release) and C(break).
  run_id:
    type: str
    default: ""
    description:
      - The run's own id, for C(renew) and C(release); C(take) reads it from I(holder).
      - Unique per run, so two runs with the same release id (the same version, the same second) are two holders.
  ci_run:
    type: str
    default: ""
    description: With C(action=release), release the lock when this CI run holds it.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: partial
    details: In check mode every action only reads the lock and returns its holder.
  diff_mode:
    support: none
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Take the lock for 30 minutes
  steady.deploy.deploy_lock_lease:
    path: /var/lib/steady/app/deploy-lock.json
    action: take
    lease_seconds: 1800
    holder:
      holder: alice@laptop
      message: deploy 1.4.2
      release_id: 20260101T120000Z-1.4.2
  register: lock

- name: Renew it while the deploy works
  steady.deploy.deploy_lock_lease:
    path: /var/lib/steady/app/deploy-lock.json
    action: renew
    release_id: 20260101T120000Z-1.4.2
    lease_seconds: 1800
"""

RETURN = r"""
acquired:
  description: With C(action=take), whether this run holds the lock now.
  returned: always
  type: bool
reason:
  description: With C(action=take), C(free), C(ours), C(expired), C(taken_over) or C(held).
  returned: always
  type: str
holder:
  description: The holder after the call ({} when the lock is free); for C(release) and C(break), the one before.
  returned: always
  type: dict
replaced:
  description: With C(action=take), the holder whose expired or dead lock was taken over ({} otherwise).
  returned: always
  type: dict
expires_in:
  description: Seconds until the holder's lease ends (negative once it has).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.steady.deploy.plugins.module_utils.lock_lease import (
    LeaseLost, expires_in, lease_break, lease_read, lease_release, lease_renew, lease_take)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "action": {"type": "str", "choices": ["take", "renew", "release", "break", "show"], "default": "show"},
            "holder": {"type": "dict", "default": {}},
            "lease_seconds": {"type": "int", "default": 1800},
            "take_over": {"type": "str", "default": ""},
            "release_id": {"type": "str", "default": ""},
            "run_id": {"type": "str", "default": ""},
            "ci_run": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    p = module.params
    result = {"changed": False, "acquired": False, "reason": "", "holder": {}, "replaced": {}}
    try:
        if p["action"] == "show" or module.check_mode:
            result["holder"] = lease_read(p["path"])
        elif p["action"] == "take":
            result.update(lease_take(p["path"], p["holder"], p["lease_seconds"], p["take_over"]))
            result["changed"] = result["acquired"]
        elif p["action"] == "renew":
            renewed = lease_renew(p["path"], p["release_id"], p["lease_seconds"], run_id=p["run_id"])
            result.update(holder=renewed, acquired=True, reason="ours", changed=True)
        elif p["action"] == "release":
            released = lease_release(p["path"], p["release_id"], p["ci_run"], p["run_id"])
            result.update(holder=released["holder"], changed=released["released"])
        else:
            broken = lease_break(p["path"], p["release_id"])
            result.update(holder=broken["holder"], changed=broken["broken"])
    except LeaseLost as lost:
        who = lost.holder
        module.fail_json(
            msg=(f"this run (release {p['release_id']}) lost the deploy lock {p['path']}: it is now "
                 + (f"held by {who.get('holder', 'unknown')} for release {who.get('release_id', '')} since "
                    f"{who.get('taken_at', '?')}" if who else "free (broken by an operator)")
                 + ". Stopping: another run may be changing the same hosts."),
            holder=who)
    except (OSError, ValueError) as err:
        module.fail_json(msg=f"the deploy lock {p['path']}: {err}")
    result["expires_in"] = expires_in(result["holder"]) if result["holder"] else 0
    module.exit_json(**result)


if __name__ == "__main__":
    main()
