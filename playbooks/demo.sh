#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine as root: the how-to's whole story.
#  1. the sending-side settings applied to a sandboxed Postfix config directory, twice
#     (the second run changes nothing);
#  2. four real Postfix hosts (podman): Debian 11, 12 and 13 (Postfix 3.5, 3.7, 3.10) receive TLS
#     and force it round a ring, a fourth receives without TLS; probe mails sent, and the
#     Received header with ESMTPS shown.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash tests/setup.sh
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$root/.cache/collections" ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3
export ANSIBLE_HOME="$root/.cache/ansible-home"
rm -rf "$ANSIBLE_HOME"

for run in first second; do
  echo "=== sandbox, $run run"
  ansible-playbook -i localhost, --diff playbooks/demo_sending_tls.yml
done

echo "=== fleet: Postfix 3.5, 3.7 and 3.10 sending and receiving TLS, and a receiver without"
bash tests/molecule/host-setup.sh
bash tests/molecule/build-image.sh
trap 'molecule destroy -s tls_fleet > /dev/null 2>&1 || true' EXIT
molecule destroy -s tls_fleet > /dev/null 2>&1 || true
molecule create -s tls_fleet
molecule prepare -s tls_fleet
molecule converge -s tls_fleet
molecule verify -s tls_fleet
echo "=== the forced mail as the TLS receiver got it"
podman exec mailtls-deb12 sh -c "awk '/^From /{m=\$0 ORS; next} {m=m \$0 ORS} END{}; /^\$/ && m ~ /TLS probe/ {print m; exit}' /var/mail/probe" \
  | grep -E -A6 '^Received: from tls11\.test'
echo "=== the sender's queue: the mail forced towards the receiver without TLS waits there"
podman exec mailtls-deb11 postqueue -p
