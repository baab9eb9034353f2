# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the unit tests of rolling_restart_switch share: a fake docker CLI installed wherever the module looks the
CLI up, and `docker top` outputs of the proxy."""
from __future__ import annotations

import pytest

import ansible_collections.steady.deploy.plugins.modules.rolling_restart_switch as switch
from ansible_collections.steady.deploy.plugins.module_utils import switch_engine, switch_proxy, switch_retire

# Every module that looks the docker CLI up by name (each has its own `docker`, imported from switch_engine): a
# fake installed in all of them sees every call the switch makes, in order, as the single helper it replaces did.
DOCKER_CALLERS = (switch, switch_engine, switch_proxy, switch_retire)

P = {"proxy_name": "steady-proxy"}
# `docker top steady-proxy -eo pid,args` after one reload: the master, two new workers and two old ones
# finishing their requests. The docker() helper strips the output, as the real one does.
TOP_MID_RELOAD = """\
PID                 COMMAND
14339               nginx: master process nginx -c /etc/nginx/steady/nginx.conf -g daemon off;
16053               nginx: worker process
16054               nginx: worker process is shutting down
16055               nginx: worker process
15001               nginx: worker process is shutting down
16060               nginx: cache manager process"""


class FakeDocker:
    """Stands in for switch_engine.docker: answers `docker top` from a list of outputs (the last repeats) and
    records every call."""

    def __init__(self, tops: list[str]) -> None:
        self.tops = list(tops)
        self.calls: list[tuple[tuple[str, ...], dict]] = []

    def __call__(self, *args: str, env: dict | None = None, check: bool = True) -> str:
        self.calls.append((args, {"check": check}))
        if args[0] == "top":
            out = self.tops.pop(0) if len(self.tops) > 1 else self.tops[0]
            if out.startswith("Error") and check:  # as the real helper: a failed command raises
                raise switch_engine.SwitchError(f"docker top {args[1]} failed: {out}")
            return out
        return ""


def use_docker(monkeypatch: pytest.MonkeyPatch, docker) -> None:
    """Replaces the docker CLI wherever it is looked up."""
    for where in DOCKER_CALLERS:
        monkeypatch.setattr(where, "docker", docker)


# The proxy after a reload whose old workers are gone, and the upstream file naming the old release.
NEW_ONLY = "PID COMMAND\n100  nginx: master process nginx\n201  nginx: worker process"
UPSTREAM_OLD = "upstream app {\n    server steady-app-20240101:8000;\n}\n"
