# The platform of the scenarios whose role drives a Docker engine on the host (rolling_restart, rollback_target):
# a Debian host that runs its own dockerd, like the lab's app hosts (lab/roles/local_lab/files/images/apphost), minus
# SSH (molecule reaches it through the engine). Built by dockerhost.yml from the lab's offline Debian base.
ARG BASE_IMAGE=steady-lab/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        docker.io python3-requests iptables procps \
    && rm -rf /var/lib/apt/lists/* \
    && printf '%s\n' '#!/bin/sh' \
        '# Without --privileged the cgroup v1 controllers are mounted read-only; the engine needs them writable.' \
        'if grep -q " /sys/fs/cgroup/[a-z_,=]* cgroup ro" /proc/mounts; then' \
        '  for d in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$d" 2>/dev/null || true; done' \
        'fi' \
        'dockerd >/var/log/dockerd.log 2>&1 &' \
        'exec sleep infinity' > /usr/local/bin/dockerhost && chmod 0755 /usr/local/bin/dockerhost
CMD ["/usr/local/bin/dockerhost"]
