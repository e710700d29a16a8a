#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine as root: set up, then run the demo
# playbook twice (the second run must change nothing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/tests/setup.sh"
export ANSIBLE_COLLECTIONS_PATH="$root/.cache/collections" ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3
for run in first second; do
  echo "=== $run run"
  "$root/.venv/bin/ansible-playbook" -i localhost, --diff "$root/playbooks/demo_sending_tls.yml"
done
