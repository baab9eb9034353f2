#!/bin/sh
# Boots a stand-in server. Everything here makes the container behave like a plain Docker host:
set -eu

# 1. The controller's key, as on any server provisioned for Ansible.
mkdir -p /root/.ssh /run/sshd
install -m 600 /etc/ssh/lab/authorized_keys /root/.ssh/authorized_keys

# 2. Without --privileged the cgroup v1 controllers are mounted read-only; the engine inside needs them
#    writable (only this container's own cgroup is visible, so nothing outside it can be touched).
if grep -q ' /sys/fs/cgroup/[a-z_,=]* cgroup ro' /proc/mounts; then
  for d in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$d" 2>/dev/null || true; done
fi

# 3. The lab registry answers on this host's loopback at the same address as on the controller, so an image
#    has one name everywhere (a real server reaches a real registry by its real name).
if [ -n "${LAB_REGISTRY_FORWARD:-}" ]; then
  port=${LAB_REGISTRY_FORWARD%%=*}
  target=${LAB_REGISTRY_FORWARD#*=}
  socat "TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr" "TCP:${target}" &
fi

# 4. A resolver on this host's address that forwards to the lab network's DNS, so containers on this host
#    find the lab's database and cache by name, as real servers find theirs.
addr=$(hostname -i | cut -d' ' -f1)
dnsmasq --listen-address="$addr" --bind-interfaces --no-resolv --no-hosts --server=127.0.0.11 --cache-size=0
mkdir -p /etc/docker
printf '{"dns": ["%s"]}\n' "$addr" > /etc/docker/daemon.json

dockerd >/var/log/dockerd.log 2>&1 &
exec /usr/sbin/sshd -D -e
