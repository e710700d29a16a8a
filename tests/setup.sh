#!/usr/bin/env bash
# One-time set-up on a fresh Debian 12 machine, as root: Postfix and its map
# plug-ins from Debian, the Python tools in .venv, and the collection tree
# Ansible loads mailtls.postfix from. Safe to run again: it only adds what is missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

packages=(postfix postfix-lmdb postfix-cdb postfix-pcre libsasl2-modules python3-venv openssl rsync git shellcheck iproute2
          chromium chromium-driver pflogsumm)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
  echo "postfix postfix/mailname string $(hostname -f 2>/dev/null || hostname)" | debconf-set-selections
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# promtool alone (the report's Prometheus files are checked with it): Debian's prometheus package
# unpacked, not installed, so that no Prometheus server is set up and started.
if [[ ! -x /opt/prometheus-tools/usr/bin/promtool ]]; then
  echo "setup: unpacking promtool from Debian's prometheus package"
  unpack=$(mktemp -d)
  (cd "$unpack" && { apt-get download -q prometheus || { apt-get update -q && apt-get download -q prometheus; }; } \
    && dpkg-deb -x prometheus_*.deb /opt/prometheus-tools)
  rm -rf "$unpack"
fi
ln -sfn /opt/prometheus-tools/usr/bin/promtool /usr/local/bin/promtool

venv="$root/.venv"
stamp="$venv/.requirements.sha256"
want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "setup: creating $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -r tests/requirements.txt
  echo "$want" > "$stamp"
fi

# Ansible finds the collection under <path>/ansible_collections/mailtls/postfix.
mkdir -p "$root/.cache/collections/ansible_collections/mailtls"
ln -sfn "$root" "$root/.cache/collections/ansible_collections/mailtls/postfix"
