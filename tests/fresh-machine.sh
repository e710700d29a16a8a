#!/usr/bin/env bash
# The README's two commands on a clean Debian 12, as a new user's machine runs them: a check
# that fails when an install step is missing (on this machine things installed by hand hide
# such a step; CI runs here and hides it too).
#   tests/fresh-machine.sh [demo|tests|all|setup] [--keep-going]
#     default all: `bash playbooks/demo.sh`, then `bash tests/run.sh`; both run even if one
#     fails. setup: only `bash tests/setup.sh` (every package and tool the tests install, in
#     minutes: the quick check after a change to the set-up). --keep-going runs tests/run.sh without its `set -e`, so that every later step
#     still meets the clean system when an earlier one fails on content (a lint finding).
# How:
#  - the clean system is a debootstrap minbase of bookworm plus ca-certificates and git (what a
#    user needs to get the repository), nothing our set-up scripts install; no systemd as
#    PID 1, like this kind of machine. From this machine it takes what every machine of this
#    workplace has and the network needs: apt's sources, the CA certificates in
#    /usr/local/share/ca-certificates with /etc/pip.conf (egress goes through a TLS proxy),
#    and the CA variables of the environment. Built once and imported as
#    localhost/mailtls-fresh-debian12:<recipe hash>, rebuilt when the recipe changes;
#  - a `git clone` of the repository's committed HEAD (never the work tree with its .venv and
#    caches) is copied to /root/mailtls-postfix in it, and the commands run there as root;
#  - the README's commands start podman containers themselves: the outer container is
#    privileged with the host's cgroup namespace, and its /var/lib/containers is a scratch
#    directory of this host (overlay storage cannot sit on the container's own overlay).
#    Nothing else of the host is mounted: no .venv, pip or apt cache, ~/.ansible.
# Needs root and podman on this host (tests/molecule/host-setup.sh) and debootstrap.
# Its own names only: container mailtls-fresh-run, image localhost/mailtls-fresh-debian12.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
what=all
keep_going=no
for arg in "$@"; do
  case $arg in
    demo | tests | all | setup) what=$arg ;;
    --keep-going) keep_going=yes ;;
    *) echo "usage: $0 [demo|tests|all|setup] [--keep-going]" >&2; exit 2 ;;
  esac
done

image=localhost/mailtls-fresh-debian12
container=mailtls-fresh-run
sources=/etc/apt/sources.list.d/debian.sources
packages=ca-certificates,git
home=/root/mailtls-postfix
timings=()
status=0

log() { printf '%s\n' "$*"; }
die() { log "FAIL: $*"; exit 1; }
stage_done() {  # name, start, result
  timings+=("$(printf '%-42s %5d s  %s' "$1" $((SECONDS - $2)) "$3")")
  log "=== fresh machine: $1: $3 ($((SECONDS - $2)) s)"
}

scratch=$(mktemp -d /var/tmp/mailtls-fresh.XXXXXX)
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  local start=$SECONDS
  podman rm -f -t 0 "$container" > /dev/null 2>&1 || true
  rm -rf "$scratch"
  log "cleanup: container and $scratch removed ($((SECONDS - start)) s)"
  if ((${#timings[@]})); then
    log "=== fresh machine: timings"
    printf '%s\n' "${timings[@]}"
  fi
}
trap cleanup EXIT

[[ -r $sources ]] || die "no $sources: this host's apt sources are the clean system's"
command -v debootstrap > /dev/null || die "no debootstrap: run tests/molecule/host-setup.sh"

# The clean system, cached by its recipe: suite, packages, the steps below (bump recipe when
# changing them) and the apt sources it copies.
recipe="v2 bookworm minbase $packages"
cas=(/usr/local/share/ca-certificates/*.crt)
[[ -e ${cas[0]} ]] || cas=()
pip_conf=()
[[ -r /etc/pip.conf ]] && pip_conf=(/etc/pip.conf)
start=$SECONDS
tag=$( (echo "$recipe"; cat "$sources" "${cas[@]}" "${pip_conf[@]}") | sha256sum | cut -c1-12)
if podman image exists "$image:$tag"; then
  stage_done "clean Debian 12 image (cached $tag)" "$start" ok
else
  mirror=$(sed -n 's/^URIs: *//p' "$sources" | head -1)
  rootfs="$scratch/rootfs"
  log "building $image:$tag from $mirror"
  if ! DEBIAN_FRONTEND=noninteractive debootstrap --variant=minbase --include="$packages" \
      bookworm "$rootfs" "$mirror" > "$scratch/debootstrap.log" 2>&1; then
    tail -30 "$scratch/debootstrap.log"
    die "debootstrap"
  fi
  # A new machine's apt: this host's sources (with updates and security), no package lists yet.
  rm -f "$rootfs/etc/apt/sources.list"
  cp "$sources" "$rootfs/etc/apt/sources.list.d/debian.sources"
  # The network's trust: without it pip and apt over https meet the proxy's certificate.
  if ((${#cas[@]})); then
    cp "${cas[@]}" "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates > /dev/null
  fi
  ((${#pip_conf[@]})) && cp /etc/pip.conf "$rootfs/etc/pip.conf"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar --numeric-owner -C "$rootfs" -c . \
    | podman import --quiet --change 'CMD ["/bin/sleep","infinity"]' - "$image:$tag" > /dev/null
  rm -rf "$rootfs"
  podman tag "$image:$tag" "$image:latest"
  stage_done "clean Debian 12 image (built $tag)" "$start" ok
fi

# The repository as a user gets it: a clone of the committed HEAD.
start=$SECONDS
git clone --quiet --no-hardlinks "$root" "$scratch/repo"
log "repository: $(git -C "$scratch/repo" log -1 --format='%h %s' | cut -c1-100)"
mkdir "$scratch/containers"
podman rm -f -t 0 "$container" > /dev/null 2>&1 || true
podman run -d --init --name "$container" --hostname fresh.mailtls.test \
  --privileged --cgroupns=host -v "$scratch/containers:/var/lib/containers" \
  "$image:$tag" sleep infinity > /dev/null
podman cp "$scratch/repo" "$container:$home"
stage_done "container up, clone copied in" "$start" ok

# A new root's environment plus this machine's CA variables (they name the system bundle);
# no terminal, no stdin (as CI).
envs=(-e HOME=/root -e LANG=C.UTF-8 -e PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
for var in SSL_CERT_FILE SSL_CERT_DIR REQUESTS_CA_BUNDLE PIP_CERT CURL_CA_BUNDLE GIT_SSL_CAINFO; do
  [[ -n ${!var:-} ]] && envs+=(-e "$var=${!var}")
done
# The scripts' own step lines ("=== ...") get the time since the stage began.
stamp() {
  local start=$SECONDS line
  while IFS= read -r line || [[ -n $line ]]; do
    [[ $line == '=== '* ]] && line="[+$((SECONDS - start)) s] $line"
    printf '%s\n' "$line"
  done
}
run() {  # stage name, command
  local start=$SECONDS
  log "=== fresh machine: $2"
  if podman exec -w "$home" "${envs[@]}" "$container" bash -c "$2" < /dev/null 2>&1 | stamp; then
    stage_done "$1" "$start" ok
  else
    stage_done "$1" "$start" "FAIL (exit $?)"
    status=1
  fi
}

if [[ $what == setup ]]; then
  run "bash tests/setup.sh" "bash tests/setup.sh && bash tests/molecule/host-setup.sh && command -v promtool chromium pflogsumm"
  exit $status
fi
[[ $what == tests ]] || run "bash playbooks/demo.sh" "bash playbooks/demo.sh"
# run.sh with `set -e` replaced by an ERR trap that names each failed command; exits 1 if any.
keep_going_cmd=$(cat <<'SH'
{ sed -e 's/^set -euo pipefail$/set -uo pipefail\ntrap '"'"'echo "=== step failed (exit $?, line $LINENO): $BASH_COMMAND"; failed=1'"'"' ERR/' \
    -e "s|^root=.*|root=$PWD|" tests/run.sh
  echo 'exit ${failed:-0}'; } > /tmp/run-keep-going.sh && bash /tmp/run-keep-going.sh
SH
)
if [[ $what != demo && $keep_going == yes ]]; then
  run "bash tests/run.sh (without set -e)" "$keep_going_cmd"
elif [[ $what != demo ]]; then
  run "bash tests/run.sh" "bash tests/run.sh"
fi
exit $status
