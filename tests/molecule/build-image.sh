#!/usr/bin/env bash
# Build the test hosts' images locally (no registry here): debootstrap a Debian release with
# Postfix and the tools the scenarios use, then podman import. Each image is rebuilt only when
# its recipe changes (see below).
#   build-image.sh [SUITE...]   SUITE: bullseye (Postfix 3.5), bookworm (3.7), trixie (3.10),
#                               forky (3.11, testing), or lab (bookworm with the DNS and HTTPS
#                               servers of extensions/molecule/tls_dane: knot, unbound, nginx; no
#                               Postfix); no argument builds all five (tests/run.sh runs every scenario).
# An image's tag is the hash of its own recipe (the build function, its suite and its packages):
# adding or changing one package set rebuilds that image only.
set -euo pipefail

# The same package names exist in all four suites (checked by building each). sasl2-bin
# (saslpasswd2, the sasldb plugin) serves the SASL relay of extensions/molecule/tls_relay.
packages=postfix,postfix-lmdb,postfix-cdb,python3,python3-apt,ca-certificates,openssl,procps,iproute2,bsd-mailx,swaks,netbase,libsasl2-modules,sasl2-bin
# The lab's DNS and HTTPS host: knot (authoritative, signs its zone), knot-dnsutils (keymgr's
# companion kdig), unbound (the validating resolver the senders use), nginx-light (HTTPS).
lab_packages=python3,ca-certificates,openssl,procps,iproute2,netbase,knot,knot-dnsutils,unbound,nginx-light

build() {
  local suite=$1 release kind=postfix include=$packages
  case $suite in
    bullseye) release=11 ;;
    bookworm) release=12 ;;
    trixie) release=13 ;;
    forky) release=14 ;;
    lab) release=12 suite=bookworm kind=lab include=$lab_packages ;;
    *) echo "build-image.sh: unknown suite '$suite' (bullseye, bookworm, trixie, forky or lab)" >&2; return 2 ;;
  esac
  # Debian 12's debootstrap has no script named forky: sid's bootstraps any current suite.
  local script=""
  if [[ $suite == forky ]]; then script=/usr/share/debootstrap/scripts/sid; fi
  local name=localhost/mailtls-$kind-debian$release
  local tag
  tag=$( (declare -f build; echo "$suite $include") | sha256sum | cut -c1-12)
  if podman image exists "$name:$tag"; then
    podman tag "$name:$tag" "$name:latest"
    echo "image $name:$tag is up to date"
    return 0
  fi
  local mirror rootfs start
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  mirror=${mirror:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)}
  rootfs=$(mktemp -d /var/tmp/mailtls-rootfs.XXXXXX)
  start=$SECONDS
  echo "building $name:$tag ($suite) from $mirror"
  # debconf must not ask how to configure Postfix; the roles configure it.
  if ! DEBIAN_FRONTEND=noninteractive debootstrap --variant=minbase --include="$include" \
      "$suite" "$rootfs" "$mirror" $script > "$rootfs.log" 2>&1; then
    tail -30 "$rootfs.log"
    rm -rf "$rootfs" "$rootfs.log"
    return 1
  fi
  rm -f "$rootfs.log"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar --numeric-owner -C "$rootfs" -c . \
    | podman import --quiet --change 'CMD ["/bin/sleep","infinity"]' - "$name:$tag" > /dev/null
  rm -rf "$rootfs"
  podman tag "$name:$tag" "$name:latest"
  echo "built $name:$tag in $((SECONDS - start)) s, $(podman image inspect --format '{{.Size}}' "$name:$tag" | awk '{printf "%d MB", $1/1e6}')"
}

(($#)) || set -- bullseye bookworm trixie forky lab
for suite in "$@"; do
  build "$suite"
done
