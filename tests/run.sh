#!/usr/bin/env bash
# Every test, on a fresh Debian 12 machine as root: set-up, unit and integration tests on
# the real Postfix, ansible-doc of every module, collection build, sanity and lint.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tests/setup.sh
# podman and the Debian 11, 12 and 13 test-host images: the differential tests run each
# release's own postconf and postmap in a container, and molecule runs the fleet on them.
bash tests/molecule/host-setup.sh
bash tests/molecule/build-image.sh
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$root/.cache/collections"
export ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3
# Ansible's home inside the project, emptied on every run: molecule and ansible-lint install
# the collection under test there, and a copy left from an earlier run would shadow the source.
export ANSIBLE_HOME="$root/.cache/ansible-home"
rm -rf "$ANSIBLE_HOME" "$root/.ansible"

# Each stage's time, printed when the next one starts and at the end (CI's budget is per run).
stage="set-up" stage_start=0  # SECONDS counts from the start of this script
step() {
  printf '=== time: %s: %d s\n' "$stage" $((SECONDS - stage_start))
  stage="$*" stage_start=$SECONDS
  printf '\n=== %s\n' "$*"
}
trap 'printf "=== time: %s: %d s\n=== time: total: %d s\n" "$stage" $((SECONDS - stage_start)) $SECONDS' EXIT

step "ansible-doc renders every module"
for module in plugins/modules/*.py; do
  name=$(basename "$module" .py)
  ansible-doc "mailtls.postfix.$name" > /dev/null
  echo "ok mailtls.postfix.$name"
done

for filter in plugins/filter/*.yml; do
  name=$(basename "$filter" .yml)
  ansible-doc -t filter "mailtls.postfix.$name" > /dev/null
  echo "ok filter mailtls.postfix.$name"
done

step "ansible-doc renders every role's argument spec"
for role in roles/*/; do
  name=$(basename "$role")
  ansible-doc -t role "mailtls.postfix.$name" > /dev/null
  echo "ok role mailtls.postfix.$name"
done

step "collection build and install"
build=$(mktemp -d)
ansible-galaxy collection build --force --output-path "$build" . > /dev/null
ansible-galaxy collection install --force -p "$build/installed" "$build"/mailtls-postfix-*.tar.gz > /dev/null
test -f "$build/installed/ansible_collections/mailtls/postfix/plugins/modules/postconf.py"
rm -rf "$build"
echo "ok build and install"

step "ansible-lint (production profile)"
ansible-lint --offline -q

step "ansible-test sanity"
bash tests/sanity.sh

step "pytest: unit and integration tests on the real Postfix (differential: 3.5, 3.7, 3.10)"
pytest -n 2 "$@"

step "molecule: Postfix 3.5, 3.7 and 3.10 (Debian 11, 12, 13) send and receive TLS with real mail"
for scenario in extensions/molecule/*/molecule.yml; do
  name=$(basename "$(dirname "$scenario")")
  start=$SECONDS
  molecule test -s "$name"
  echo "molecule scenario $name: $((SECONDS - start)) s"
done

step "AWX's engine: fleet.yml through ansible-runner on two podman Postfix hosts"
bash tests/awx-runner.sh

step "ansible-core 2.16, 2.17, 2.18: ansible-doc, sanity, fleet.yml check/apply/again/bad input"
bash tests/ansible-versions.sh
