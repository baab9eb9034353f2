#!/bin/sh
# Boots a stand-in for a freshly installed server: what the apphost image does, minus the engine it starts.
set -eu

# 1. A sudo user with the controller's key, as on a server provisioned for Ansible (root cannot log in).
mkdir -p /home/deploy/.ssh /run/sshd
install -o deploy -g deploy -m 600 /etc/ssh/lab/authorized_keys /home/deploy/.ssh/authorized_keys
chown deploy:deploy /home/deploy/.ssh
chmod 700 /home/deploy/.ssh

# 2. Without --privileged the cgroup v1 controllers are mounted read-only; an engine installed later needs them
#    writable (only this container's own cgroup is visible, so nothing outside it can be touched).
if grep -q ' /sys/fs/cgroup/[a-z_,=]* cgroup ro' /proc/mounts; then
  for d in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$d" 2>/dev/null || true; done
fi

# 3. The lab registry on this host's loopback, at the same address as on the controller.
if [ -n "${LAB_REGISTRY_FORWARD:-}" ]; then
  port=${LAB_REGISTRY_FORWARD%%=*}
  target=${LAB_REGISTRY_FORWARD#*=}
  socat "TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr" "TCP:${target}" &
fi

# 4. A resolver on this host's address that forwards to the lab network's DNS, named in the engine's config as on
#    the app hosts. Only the "dns" key is (re)written, since the address may change when the container restarts:
#    whatever else the file holds (what server_setup merged in) stays.
addr=$(hostname -i | cut -d' ' -f1)
dnsmasq --listen-address="$addr" --bind-interfaces --no-resolv --no-hosts --server=127.0.0.11 --cache-size=0
mkdir -p /etc/docker
python3 - "$addr" <<'PY'
import json, os, sys
path = "/etc/docker/daemon.json"
config = json.load(open(path)) if os.path.exists(path) else {}
if config.get("dns") != [sys.argv[1]]:
    config["dns"] = [sys.argv[1]]
    with open(path, "w") as f:
        json.dump(config, f, indent=4, sort_keys=True)
        f.write("\n")
PY

# 5. What a server's init does at boot: start the services enabled for the default runlevel (the engine, once
#    installed). sshd runs in the foreground below instead.
for s in /etc/rc2.d/S*; do
  case "$s" in *ssh*) continue ;; esac
  [ -x "$s" ] && "$s" start || true
done
exec /usr/sbin/sshd -D -e
