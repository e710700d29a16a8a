#!/usr/bin/env bash
# Build the test hosts' image locally (no registry here): debootstrap Debian 12 with Postfix
# and the tools the scenarios use, then podman import. Rebuilt only when this recipe changes.
set -euo pipefail
name=localhost/mailtls-postfix-debian12
packages=postfix,postfix-lmdb,postfix-cdb,python3,python3-apt,ca-certificates,openssl,procps,iproute2,bsd-mailx,swaks,netbase,libsasl2-modules
tag=$( (cat "$0"; echo "$packages") | sha256sum | cut -c1-12)

if podman image exists "$name:$tag"; then
  echo "image $name:$tag is up to date"
  exit 0
fi
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)}
rootfs=$(mktemp -d /var/tmp/mailtls-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "building $name:$tag from $mirror"
# debconf must not ask how to configure Postfix; the roles configure it.
DEBIAN_FRONTEND=noninteractive debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" \
  > "$rootfs.log" 2>&1 || { tail -30 "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar --numeric-owner -C "$rootfs" -c . | podman import --change 'CMD ["/bin/sleep","infinity"]' - "$name:$tag" > /dev/null
podman tag "$name:$tag" "$name:latest"
echo "built $name:$tag"
