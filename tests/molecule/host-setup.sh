#!/usr/bin/env bash
# Prepare this machine (Debian 12, root) to run molecule scenarios on rootful podman,
# with the settings measured in the shared molecule-podman notes. Idempotent.
set -euo pipefail

packages=(podman debootstrap runc catatonit netavark aardvark-dns iptables)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "molecule host: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# crun fails here ("cgroups in hybrid mode not supported") and the default ulimits exceed the
# machine's hard nofile limit: use runc, cgroupfs, file events, and explicit ulimits. Debian's
# podman defaults to CNI networks without DNS; netavark with aardvark-dns lets the test hosts
# find each other by name.
conf=/etc/containers/containers.conf
marker="# mailtls.postfix molecule settings v2"
if ! grep -qF "$marker" "$conf" 2>/dev/null; then
  mkdir -p /etc/containers
  if [[ -s "$conf" ]] && grep -qE '^\[(engine|containers)\]' "$conf"; then
    cp "$conf" "$conf.mailtls-backup"
  fi
  cat > "$conf" <<CONF
$marker
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"

[network]
network_backend = "netavark"
CONF
fi
