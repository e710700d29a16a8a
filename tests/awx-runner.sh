#!/usr/bin/env bash
# playbooks/fleet.yml the way AWX / Automation Platform runs it: through ansible-runner, from a
# private data directory laid out as AWX lays out a job (project/, inventory/, env/extravars
# from the survey, env/envvars), against two real Postfix hosts on podman:
#   mailtls-awx-rx  receives (group tls_receivers), answers as rx.awx.test
#   mailtls-awx-tx  sends, forced TLS to rx.awx.test (tls_forced_senders, tls_opportunistic_senders)
# Three jobs, judged from the runner's artifacts (status, rc, the playbook_on_stats event):
#   1. check mode (the job template users run first): successful, changes predicted on both
#      hosts, and both hosts' configuration byte for byte as before;
#   2. run: successful, changes on both hosts, the TLS settings in place;
#   3. run again: successful, 0 changed on every host.
# Needs root, podman and the test image (tests/molecule/host-setup.sh, build-image.sh).
# Its own containers and network only: mailtls-awx-*; removed at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.venv/bin:$PATH"
image=localhost/mailtls-postfix-debian12:latest
network=mailtls-awx-net
hosts=(mailtls-awx-rx mailtls-awx-tx)
pdd="$root/.cache/awx-runner"  # ansible-runner's private data directory

log() { printf '%s\n' "$*"; }
die() { log "FAIL: $*"; exit 1; }
cleanup() {
  podman rm -f -t 0 "${hosts[@]}" > /dev/null 2>&1 || true
  podman network rm -f "$network" > /dev/null 2>&1 || true
}

podman image exists "$image" || die "no image $image: run tests/molecule/host-setup.sh and tests/molecule/build-image.sh"
cleanup
trap cleanup EXIT
start=$SECONDS
podman network create "$network" > /dev/null
podman run -d --init --name mailtls-awx-rx --hostname rx.awx.test --network "$network" \
  --network-alias rx.awx.test "$image" sleep infinity > /dev/null
podman run -d --init --name mailtls-awx-tx --hostname tx.awx.test --network "$network" "$image" sleep infinity > /dev/null
for host in "${hosts[@]}"; do
  # Hosts as AWX finds them: Postfix installed and running (the init script fills the chroot).
  podman exec "$host" /etc/init.d/postfix start > /dev/null
done
log "containers up: $((SECONDS - start)) s"

# The collection as an execution environment holds it: built and installed, not the source tree.
rm -rf "$pdd"
mkdir -p "$pdd"/{project,inventory,env}
{ ansible-galaxy collection build --force --output-path "$pdd/build" . \
  && ansible-galaxy collection install --force -p "$pdd/collections" "$pdd"/build/mailtls-postfix-*.tar.gz
} > "$pdd/galaxy.log" 2>&1 || { cat "$pdd/galaxy.log"; die "collection build or install"; }

# The project: a playbook repository whose site playbook runs the collection's playbook.
cat > "$pdd/project/site.yml" <<'YAML'
---
- name: TLS rollout from the collection
  ansible.builtin.import_playbook: mailtls.postfix.fleet
YAML

# The inventory, as an AWX inventory with groups and host variables.
cat > "$pdd/inventory/hosts.yml" <<'YAML'
all:
  vars:
    ansible_connection: containers.podman.podman
    ansible_python_interpreter: /usr/bin/python3
  children:
    tls_receivers:
      hosts:
        mailtls-awx-rx:
          server_myhostname: rx.awx.test
    tls_forced_senders:
      hosts:
        mailtls-awx-tx:
          server_myhostname: tx.awx.test
    tls_opportunistic_senders:
      hosts:
        mailtls-awx-tx: {}
YAML

# Survey answers arrive as extra variables, typed (AWX passes JSON).
cat > "$pdd/env/extravars" <<'JSON'
{"mailtls_batch": 1, "mailtls_max_fail_percentage": 0,
 "tls_receiving_self_signed": true,
 "tls_forced_destinations": ["rx.awx.test"], "tls_forced_preflight": "refuse",
 "server_maillog_file": "/var/log/mail.log",
 "server_parameters": {"inet_protocols": "ipv4"}}
JSON
cat > "$pdd/env/envvars" <<YAML
ANSIBLE_COLLECTIONS_PATH: $pdd/collections
ANSIBLE_NOCOLOR: "1"
ANSIBLE_FORCE_COLOR: "0"
YAML
printf '{"job_timeout": 900}\n' > "$pdd/env/settings"

# What a job may and may not change: both hosts' Postfix configuration, bytes and times.
config_state() {
  for host in "${hosts[@]}"; do
    podman exec "$host" sh -c 'cd /etc/postfix && find . /etc/ssl/certs/mailtls-smtpd.pem /etc/ssl/private/mailtls-smtpd.key -type f -printf "%p %m %T@ " -exec sha256sum {} \; 2>/dev/null | sort'
  done
}

# Run one job; print the runner's verdict as "status rc host=changed..." from its artifacts.
job() {
  local ident=$1
  local t=$SECONDS
  ansible-runner run "$pdd" -p site.yml --ident "$ident" > "$pdd/$ident.out" 2>&1 || true
  python3 - "$pdd/artifacts/$ident" <<'PY'
import json, pathlib, sys
art = pathlib.Path(sys.argv[1])
stats = [json.loads(p.read_text()) for p in sorted((art / "job_events").glob("*.json"))]
stats = [e["event_data"] for e in stats if e.get("event") == "playbook_on_stats"]
assert len(stats) == 1, "expected one playbook_on_stats event, found %d" % len(stats)
s = stats[0]
bad = {k: s.get(k) for k in ("failures", "dark") if s.get(k)}
hosts = sorted(set(s.get("ok", {})) | set(s.get("changed", {})))
print((art / "status").read_text().strip(), (art / "rc").read_text().strip(),
      " ".join("%s=%d" % (h, s.get("changed", {}).get(h, 0)) for h in hosts), json.dumps(bad) if bad else "")
PY
  log "job $ident: $((SECONDS - t)) s" >&2
}

before=$(config_state)
# A check job template: AWX adds --check; runner reads extra arguments from env/cmdline.
printf -- '--check --diff' > "$pdd/env/cmdline"
verdict=$(job check)
rm "$pdd/env/cmdline"
log "check: $verdict"
[[ $verdict =~ ^successful\ 0\ mailtls-awx-rx=([0-9]+)\ mailtls-awx-tx=([0-9]+)\ ?$ ]] \
  || { tail -40 "$pdd/check.out"; die "check-mode job: $verdict"; }
((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] > 0)) || die "check mode predicted no change: $verdict"
[[ "$(config_state)" == "$before" ]] || die "the check-mode job changed a host's configuration"

verdict=$(job run1)
log "run 1: $verdict"
[[ $verdict =~ ^successful\ 0\ mailtls-awx-rx=([0-9]+)\ mailtls-awx-tx=([0-9]+)\ ?$ ]] \
  || { tail -60 "$pdd/run1.out"; die "first job: $verdict"; }
((BASH_REMATCH[1] > 0 && BASH_REMATCH[2] > 0)) || die "the first job changed nothing: $verdict"

expect() {  # host, command, exact output
  local got
  got=$(podman exec "$1" sh -c "$2" 2>&1) || true
  [[ "$got" == "$3" ]] || die "$1: '$2' gave '$got', expected '$3'"
}
expect mailtls-awx-rx "postconf -h smtpd_tls_security_level smtpd_tls_cert_file myhostname" \
  $'may\n/etc/ssl/certs/mailtls-smtpd.pem\nrx.awx.test'
expect mailtls-awx-rx "openssl x509 -noout -checkend 0 -in /etc/ssl/certs/mailtls-smtpd.pem" "Certificate will not expire"
expect mailtls-awx-tx "postconf -h smtp_tls_security_level smtp_tls_policy_maps" $'may\nhash:/etc/postfix/tls_policy'
expect mailtls-awx-tx "postmap -q rx.awx.test hash:/etc/postfix/tls_policy" "encrypt"
# The reloaded Postfix offers STARTTLS with the new certificate, as the forced sender needs.
expect mailtls-awx-tx "echo QUIT | openssl s_client -starttls smtp -connect rx.awx.test:25 -brief 2>&1 | grep -c '^Protocol version: TLSv1.3'" "1"

applied=$(config_state)
verdict=$(job run2)
log "run 2: $verdict"
[[ $verdict =~ ^successful\ 0\ mailtls-awx-rx=0\ mailtls-awx-tx=0\ ?$ ]] || { tail -60 "$pdd/run2.out"; die "second job: $verdict"; }
[[ "$(config_state)" == "$applied" ]] || die "the second job touched a host's configuration"
log "ok fleet.yml through ansible-runner: check, apply, apply again with 0 changed ($((SECONDS - start)) s)"
