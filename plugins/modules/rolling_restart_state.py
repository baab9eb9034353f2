#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read in one call what the rolling_restart role decides from on a host: the container the proxy serves, the
service's containers, the id of the release image (when asked), and the checksum of the proxy's config.

One module call instead of four (slurp, docker_host_info, docker_image_info and stat): these reads run on every
host of every deploy, rollback and no-op, and each module call costs the host a Python start (about 0.2 s of its
CPU) and the controller a worker process. It only reads."""
from __future__ import annotations

DOCUMENTATION = r"""
module: rolling_restart_state
short_description: Read what serves on a host, the service's containers and the proxy's config in one call
description:
  - Reads the container the proxy's upstream (C(<base_dir>/proxy/upstream.conf)) names, lists the containers
    labelled C(io.steady.app=<app_name>) (the proxy among them), looks up the id of I(image) when given, and the
    SHA-1 of C(<base_dir>/proxy/nginx.conf).
  - Asks the Docker engine on its local socket, else with the C(docker) CLI (a context or C(DOCKER_HOST) elsewhere).
  - It only reads, and fails only when the engine cannot list the containers or look the image up. An image
    that is not on the host is no failure, its id is empty.
author: steady maintainers (!UNKNOWN)
options:
  app_name:
    type: str
    required: true
    description: The service's name, the value of the containers' C(io.steady.app) label.
  base_dir:
    type: path
    required: true
    description: The service's folder on the host, which holds C(proxy/upstream.conf) and C(proxy/nginx.conf).
  image:
    type: str
    default: ""
    description: An image reference (C(repo:tag) or C(repo@sha256:...)) whose id to look up; empty looks up none.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - steady.deploy.attributes.read_only
"""

EXAMPLES = r"""
- name: Read what serves on the host
  steady.deploy.rolling_restart_state:
    app_name: app
    base_dir: /var/lib/steady/app
    image: registry.example.com/app@sha256:0123abcd
  register: state
"""

RETURN = r"""
live_name:
  description: The container the proxy's upstream names; empty when there is no upstream yet.
  returned: always
  type: str
containers:
  description: The service's containers, running or not, each with the engine's C(Names) (with their leading
    C(/)), C(Labels), C(Image), C(ImageID), C(State) and C(Created) (seconds since the epoch).
  returned: always
  type: list
  elements: dict
image_id:
  description: The id of I(image) on the host; empty when it is not there or none was asked for.
  returned: always
  type: str
proxy_config_sha1:
  description: The SHA-1 of the proxy's config as the host has it; empty when there is none.
  returned: always
  type: str
"""

import datetime
import hashlib
import json
import os
import re
from urllib.parse import quote

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.steady.deploy.plugins.module_utils.switch_engine import SwitchError, docker, engine

# What the role reads of each container: the engine's list gives these, and the CLI's inspect is brought to them.
FIELDS = ("Names", "Labels", "Image", "ImageID", "State", "Created")


def live_name(upstream: str) -> str:
    """The container the upstream's `server <name>:<port>;` names."""
    found = re.search(r"server ([^:\s]+):", upstream)
    return found.group(1) if found else ""


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def sha1_of(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha1(handle.read()).hexdigest()  # noqa: S324 (a checksum to compare, as stat's)
    except FileNotFoundError:
        return ""


def _epoch(created: str) -> int:
    """The seconds of an inspect's `Created` (RFC 3339 with nanoseconds, e.g. 2026-12-07T11:13:02.123456789Z)."""
    whole = re.sub(r"\.\d+", "", created).replace("Z", "+00:00")
    return int(datetime.datetime.fromisoformat(whole).timestamp())


def from_inspect(found: dict) -> dict:
    """A `docker container inspect` entry in the shape of the engine's container list."""
    return {"Names": ["/" + found.get("Name", "").lstrip("/")], "Labels": (found.get("Config") or {}).get("Labels") or {},
            "Image": (found.get("Config") or {}).get("Image", ""), "ImageID": found.get("Image", ""),
            "State": (found.get("State") or {}).get("Status", ""), "Created": _epoch(found.get("Created", ""))}


def list_containers(app_name: str) -> list[dict]:
    label = f"io.steady.app={app_name}"
    filters = quote(json.dumps({"label": [label]}))
    answer = engine("GET", f"/containers/json?all=1&filters={filters}")
    if answer is not None:
        status, body = answer
        if status != 200:
            raise SwitchError(f"the engine could not list the containers: {status} {body[:300]!r}")
        return [{key: found.get(key) for key in FIELDS} for found in json.loads(body)]
    ids = docker("ps", "-aq", "--no-trunc", "--filter", f"label={label}").split()
    # A container removed between the two calls is left out (inspect prints the others and fails for it).
    inspected = docker("container", "inspect", *ids, check=False) if ids else ""
    return [from_inspect(found) for found in json.loads(inspected or "[]")]


def image_id(image: str) -> str:
    if not image:
        return ""
    answer = engine("GET", f"/images/{quote(image, safe='/:@')}/json")
    if answer is not None:
        status, body = answer
        if status not in (200, 404):
            raise SwitchError(f"the engine could not look up the image {image}: {status} {body[:300]!r}")
        return str(json.loads(body).get("Id", "")) if status == 200 else ""
    return docker("image", "inspect", "--format", "{{.Id}}", image, check=False)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "app_name": {"type": "str", "required": True},
            "base_dir": {"type": "path", "required": True},
            "image": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    p = module.params
    proxy_dir = os.path.join(p["base_dir"], "proxy")
    try:
        containers = list_containers(p["app_name"])
        found_image = image_id(p["image"])
    except (SwitchError, ValueError) as error:
        module.fail_json(msg=str(error))
    module.exit_json(changed=False, live_name=live_name(read_text(os.path.join(proxy_dir, "upstream.conf"))),
                     containers=containers, image_id=found_image,
                     proxy_config_sha1=sha1_of(os.path.join(proxy_dir, "nginx.conf")))


if __name__ == "__main__":
    main()
