#!/usr/bin/env bash
# The collection on each ansible-core that meta/runtime.yml admits and Python 3.11 runs, besides
# the 2.19 of .venv: a cached venv per version (.cache/ansible-core-X.Y), then with that version
#   1. ansible-doc renders every module (the doc fragments and the argument specs parse),
#   2. ansible-test sanity, laid out as tests/sanity.sh does (offline pip bootstrap, no ignores),
#   3. playbooks/fleet.yml on three local "hosts", each with a scratch Postfix config dir:
#      check mode (reports changes, writes nothing), apply (changed), apply again (nothing
#      changed, nothing touched), and bad survey input refused by the role argument specs.
# Step 3 is the part of the integration suite that leans on ansible-core rather than on the
# engine: role dependencies and argument_specs, include order, handlers and listen, serial and
# max_fail_percentage from variables, check mode, loops, omit, Jinja filters, FQCN modules.
# The modules' Python (module_utils) is the same on every version; tests/integration covers it.
# Usage: tests/ansible-versions.sh [2.16 2.17 2.18 2.19] [--skip-sanity]; 2.19 means .venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
versions=()
sanity=yes
for arg in "$@"; do
  case "$arg" in
    --skip-sanity) sanity=no ;;
    *) versions+=("$arg") ;;
  esac
done
((${#versions[@]})) || versions=(2.16 2.17 2.18)

export ANSIBLE_COLLECTIONS_PATH="$root/.cache/collections"
export ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_LOCALHOST_WARNING=false
# The collection is read from the source tree, never from a copy an earlier run left installed.
mkdir -p "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/mailtls"
ln -sfn "$root" "$ANSIBLE_COLLECTIONS_PATH/ansible_collections/mailtls/postfix"

log() { printf '%s\n' "$*"; }
fail() { log "FAIL ansible-core $version: $*"; return 1; }

make_venv() {
  local venv=$1 reqs
  if [[ -x "$venv/bin/ansible-test" ]] && "$venv/bin/python" -c "import ansible, sys; sys.exit(not ansible.__version__.startswith('$version.'))"; then
    return 0
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "ansible-core==$version.*"
  # The tools its own ansible-test pins for sanity, as tests/sanity.sh installs them for 2.19.
  reqs=$("$venv/bin/python" -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_data", "requirements"))')
  local args=()
  for f in "$reqs"/sanity.*.txt; do args+=(-r "$f"); done
  "$venv/bin/pip" install -q "ansible-core==$version.*" "${args[@]}"
}

run_sanity() {
  local venv=$1 tree="$root/.cache/sanity-$version/ansible_collections/mailtls/postfix" pip_version
  rm -rf "$tree"
  mkdir -p "$tree"
  (git ls-files -co --exclude-standard -z) | rsync -a --from0 --files-from=- ./ "$tree/"
  pip_version=$("$venv/bin/python" - <<'PY'
import re, ansible_test, pathlib
source = pathlib.Path(ansible_test.__file__).parent.joinpath("_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", source).group(1))
PY
)
  mkdir -p ~/.ansible/test/cache
  cp "$root/tests/offline_get_pip.py" ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
  (cd "$tree" && git init -q . && git add -A \
    && PATH="$venv/bin:$PATH" ansible-test sanity --local --python 3.11 --color no) > "$work/sanity.log" 2>&1 \
    || { tail -40 "$work/sanity.log"; fail "ansible-test sanity (log: $work/sanity.log)"; }
}

# A config dir as Debian 12's postfix package installs it, made old so postconf does not wait.
make_config_dir() {
  mkdir -p "$1"
  cat tests/corpus/main.cf/debian12-installed.main.cf tests/corpus/main.cf/debian12-main.cf.tls > "$1/main.cf"
  cp /usr/share/postfix/master.cf.dist "$1/master.cf"
  touch -d '-1 minute' "$1/main.cf"
}

# Every file under the sandbox with its content, mode and mtime: proves a run touched nothing.
fingerprint() {
  (cd "$work/hosts" && find . -type f -printf '%p %m %T@ ' -exec sha256sum {} \; | sort)
}

# changed=N of one host in the PLAY RECAP, summed over the plays that ran on it.
changed_of() {
  awk -v host="$2" '$1 == host && $2 == ":" { for (i = 3; i <= NF; i++) if ($i ~ /^changed=/) { split($i, kv, "="); n += kv[2] } } END { print n + 0 }' "$1"
}

playbook() {
  local out=$1; shift
  "$bin/ansible-playbook" -i "$work/inventory.yml" playbooks/fleet.yml -e "@$work/survey.json" "$@" > "$out" 2>&1
}

run_fleet() {
  local host dir
  rm -rf "$work/hosts"
  for host in rx forced opportunistic; do make_config_dir "$work/hosts/$host/postfix"; done
  # Three local "hosts" in the groups fleet.yml uses, each with its own config dir.
  cat > "$work/inventory.yml" <<YAML
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: /usr/bin/python3
    server_manage_packages: false
    server_manage_service: false
  children:
    tls_receivers:
      hosts:
        rx: {server_config_dir: $work/hosts/rx/postfix}
    tls_forced_senders:
      hosts:
        forced: {server_config_dir: $work/hosts/forced/postfix}
    tls_opportunistic_senders:
      hosts:
        opportunistic: {server_config_dir: $work/hosts/opportunistic/postfix}
YAML
  # What an AWX survey would pass: JSON, so booleans stay booleans on every version.
  cat > "$work/survey.json" <<JSON
{"mailtls_batch": 1, "mailtls_max_fail_percentage": 0,
 "tls_receiving_self_signed": true, "tls_receiving_self_signed_subject": "/CN=rx.test",
 "tls_receiving_cert_file": "$work/hosts/rx/tls/cert.pem",
 "tls_receiving_key_file": "$work/hosts/rx/tls/private/key.pem",
 "tls_forced_preflight": "skip", "tls_forced_destinations": ["partner.example"],
 "tls_forced_policy_table": "$work/hosts/forced/postfix/tls_policy",
 "tls_opportunistic_destinations": ["legacy.example"],
 "tls_opportunistic_policy_table": "$work/hosts/opportunistic/postfix/tls_policy"}
JSON
  local pristine applied
  pristine=$(fingerprint)

  playbook "$work/check.log" --check --diff || { cat "$work/check.log"; fail "check mode run failed"; return 1; }
  for host in rx forced opportunistic; do
    (($(changed_of "$work/check.log" $host) > 0)) || { cat "$work/check.log"; fail "check mode predicted no change on $host"; return 1; }
  done
  [[ "$(fingerprint)" == "$pristine" ]] || fail "check mode wrote to the config dirs" || return 1

  playbook "$work/apply.log" || { cat "$work/apply.log"; fail "apply run failed"; return 1; }
  for host in rx forced opportunistic; do
    (($(changed_of "$work/apply.log" $host) > 0)) || { cat "$work/apply.log"; fail "apply changed nothing on $host"; return 1; }
  done
  expect_line() {  # config dir, exact `postconf -n` line
    postconf -c "$1" -n 2>/dev/null | grep -qxF "$2" || fail "$1: no line '$2' in postconf -n"
  }
  dir=$work/hosts
  expect_line "$dir/rx/postfix" "smtpd_tls_security_level = may" || return 1
  expect_line "$dir/rx/postfix" "smtpd_tls_cert_file = $dir/rx/tls/cert.pem" || return 1
  openssl x509 -noout -subject -in "$dir/rx/tls/cert.pem" | grep -q 'CN *= *rx.test' || fail "no self-signed certificate for rx.test" || return 1
  [[ $(stat -c %a "$dir/rx/tls/private/key.pem") == 600 ]] || fail "the key is not mode 0600" || return 1
  expect_line "$dir/forced/postfix" "smtp_tls_policy_maps = hash:$dir/forced/postfix/tls_policy" || return 1
  [[ "$(cat "$dir/forced/postfix/tls_policy")" == $'partner.example encrypt\n.partner.example encrypt' ]] \
    || fail "forced policy table is: $(cat "$dir/forced/postfix/tls_policy")" || return 1
  [[ -f "$dir/forced/postfix/tls_policy.db" ]] || fail "the forced policy table was not indexed" || return 1
  expect_line "$dir/opportunistic/postfix" "smtp_tls_security_level = may" || return 1
  [[ "$(cat "$dir/opportunistic/postfix/tls_policy")" == "legacy.example may" ]] \
    || fail "opportunistic policy table is: $(cat "$dir/opportunistic/postfix/tls_policy")" || return 1
  # The receiver's submission services stay absent (the role's default), the sender's too.
  postconf -c "$dir/rx/postfix" -M submission/inet 2>/dev/null | grep -q . && { fail "submission service appeared"; return 1; }

  for dir in "$work"/hosts/*/postfix; do touch -d '-1 minute' "$dir/main.cf"; done
  applied=$(fingerprint)
  playbook "$work/again.log" || { cat "$work/again.log"; fail "second run failed"; return 1; }
  for host in rx forced opportunistic; do
    (($(changed_of "$work/again.log" $host) == 0)) || { cat "$work/again.log"; fail "second run changed $host"; return 1; }
  done
  [[ "$(fingerprint)" == "$applied" ]] || fail "second run touched the config dirs" || return 1

  # A survey answer outside the role's argument spec: refused before anything changes.
  if playbook "$work/bad.log" -e '{"tls_receiving_security_level": "strict"}'; then
    cat "$work/bad.log"; fail "tls_receiving_security_level=strict was accepted"; return 1
  fi
  tr -s ' \n' ' ' < "$work/bad.log" | grep -qF "value of tls_receiving_security_level must be one of: none, may, encrypt, got: strict" \
    || { cat "$work/bad.log"; fail "bad input not named"; return 1; }
  [[ "$(fingerprint)" == "$applied" ]] || fail "the refused run touched the config dirs" || return 1
  log "ok ansible-core $version: fleet.yml check ($(changed_of "$work/check.log" rx)/$(changed_of "$work/check.log" forced)/$(changed_of "$work/check.log" opportunistic) predicted), apply ($(changed_of "$work/apply.log" rx)/$(changed_of "$work/apply.log" forced)/$(changed_of "$work/apply.log" opportunistic) changed), again (0 changed), bad input refused"
}

summary=()
status=0
for version in "${versions[@]}"; do
  work="$root/.cache/ansible-versions/$version"
  rm -rf "$work" && mkdir -p "$work"
  log "=== ansible-core $version"
  start=$SECONDS
  if [[ $version == 2.19 ]]; then
    venv="$root/.venv"
  else
    venv="$root/.cache/ansible-core-$version"
    make_venv "$venv" || { summary+=("$version: FAIL venv"); status=1; continue; }
  fi
  bin="$venv/bin"
  log "$("$bin/ansible" --version | head -1) on $("$bin/python" --version)"
  t_venv=$((SECONDS - start)); result=ok

  start=$SECONDS
  for module in plugins/modules/*.py; do
    "$bin/ansible-doc" "mailtls.postfix.$(basename "$module" .py)" > /dev/null 2> "$work/doc.err" \
      || { cat "$work/doc.err"; fail "ansible-doc $(basename "$module" .py)"; result=FAIL; }
  done
  t_doc=$((SECONDS - start))

  start=$SECONDS
  if [[ $sanity == yes && $version != 2.19 ]]; then
    run_sanity "$venv" && log "ok ansible-core $version: ansible-test sanity" || result=FAIL
  fi
  t_sanity=$((SECONDS - start))

  start=$SECONDS
  run_fleet || result=FAIL
  t_fleet=$((SECONDS - start))
  [[ $result == ok ]] || status=1
  summary+=("$version: $result (venv ${t_venv}s, ansible-doc ${t_doc}s, sanity ${t_sanity}s, fleet.yml x4 ${t_fleet}s)")
done
log "=== summary"
printf '%s\n' "${summary[@]}"
exit $status
