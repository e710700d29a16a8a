# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy hook tls_profile installs for certificates renewed outside Ansible (private).

certbot (``/etc/letsencrypt/renewal-hooks/deploy/``) and acme.sh (``--reloadcmd``) run it after
a renewal. It stands alone on the host (python3 and openssl, no Ansible): it checks that every
key Postfix loads comes right before its own certificate, rebuilds the SNI tables (``postmap
-F`` copies the files into the index, so a renewed file is not served until then), reloads
Postfix, and updates the record of what Postfix loaded. A key that does not match its
certificate stops it before the reload, with exit code 1 and a syslog line, so that certbot
reports the renewal as failed. It cannot undo the mismatch: every new smtpd process reads the
files itself and drops TLS ("disabling TLS support") until the pair is fixed - which is why the
hook fails loudly.
"""

from __future__ import annotations

HOOK_MODE = 0o755

_SCRIPT = r'''#!/usr/bin/python3
# Installed by mailtls.postfix (tls_profile receiving.renewal_hook); changes here are replaced.
# Checks Postfix's TLS keys and certificates, rebuilds its SNI tables, reloads Postfix.
import hashlib
import json
import os
import re
import subprocess
import sys
import syslog

CONFIG_DIR = __CONFIG_DIR__
RECORD = __RECORD__
INDEXED = ("hash", "btree", "lmdb", "cdb")
PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)


def run(argv, data=None):
    return subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=dict(os.environ, LANG="C", LC_ALL="C"), check=False)


def postconf(name):
    return run(["postconf", "-c", CONFIG_DIR, "-xh", name]).stdout.decode("utf-8", "replace").strip()


def words(value):
    return [word for word in value.replace(",", " ").split() if word]


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def public_key(block, is_key):
    """The PEM public key of a private key or a certificate, from openssl (the block on stdin only)."""
    argv = ["openssl", "pkey", "-pubout"] if is_key else ["openssl", "x509", "-noout", "-pubkey"]
    result = run(argv, data=block)
    return result.stdout if result.returncode == 0 and result.stdout else None


def problems_of(paths, where):
    """Each private key must be followed by the certificate of that key (postconf(5))."""
    try:
        data = b"".join(read(path) for path in paths)
    except OSError as exc:
        return ["%s: cannot read %s: %s" % (where, exc.filename, exc.strerror)]
    blocks = [(match.group(1).decode(), match.group(0)) for match in PEM.finditer(data)]
    problems, keys = [], 0
    for index, (label, block) in enumerate(blocks):
        if not label.endswith("PRIVATE KEY"):
            continue
        keys += 1
        if index + 1 >= len(blocks) or blocks[index + 1][0] != "CERTIFICATE":
            problems.append("%s: a private key is not followed by its certificate" % where)
            continue
        key, cert = public_key(block, True), public_key(blocks[index + 1][1], False)
        if key is None or cert is None or key != cert:
            problems.append("%s: a private key and the certificate after it do not belong together" % where)
    if keys == 0:
        problems.append("%s: no private key in %s" % (where, ", ".join(paths)))
    return problems


def sni_tables():
    found = []
    for table in words(postconf("tls_server_sni_maps")):
        kind, _sep, path = table.partition(":")
        if kind in INDEXED and path.startswith("/"):
            found.append((kind, path))
    return found


def sni_values(path):
    entries, name = {}, None
    for line in read(path).decode("utf-8", "replace").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0].isspace() and name:
            entries[name] += " " + line.strip()
            continue
        fields = line.split(None, 1)  # name, then the files: any blanks between them, as postmap reads it
        name = fields[0]
        entries[name] = fields[1].strip() if len(fields) > 1 else ""
    return entries


def main():
    problems = []
    chains = words(postconf("smtpd_tls_chain_files"))
    if chains:
        problems += problems_of(chains, "smtpd_tls_chain_files")
    else:
        cert, key = postconf("smtpd_tls_cert_file"), postconf("smtpd_tls_key_file") or postconf("smtpd_tls_cert_file")
        if cert:
            problems += problems_of([key, cert] if key != cert else [cert], "smtpd_tls_cert_file")
    tables = sni_tables()
    for kind, path in tables:
        for name, value in sorted(sni_values(path).items()):
            problems += problems_of(words(value), "%s:%s %s" % (kind, path, name))
    if problems:
        for problem in problems:
            syslog.syslog(syslog.LOG_ERR, "mailtls renewal hook: %s; Postfix not reloaded" % problem)
            sys.stderr.write("%s; Postfix not reloaded\n" % problem)
        return 1
    old = os.umask(0o077)  # the SNI index holds private keys
    try:
        for kind, path in tables:
            built = run(["postmap", "-c", CONFIG_DIR, "-F", "%s:%s" % (kind, path)])
            if built.returncode != 0:
                sys.stderr.write("postmap -F %s:%s failed: %s\n" % (kind, path, built.stderr.decode(errors="replace")))
                return 1
    finally:
        os.umask(old)
    if run(["postfix", "-c", CONFIG_DIR, "status"]).returncode == 0:
        reloaded = run(["postfix", "-c", CONFIG_DIR, "reload"])
        if reloaded.returncode != 0:
            sys.stderr.write("postfix reload failed: %s\n" % reloaded.stderr.decode(errors="replace"))
            return 1
    try:
        update_record()
    except OSError as exc:
        # Postfix runs the new files; only the record is stale: the next Ansible run reloads once more.
        sys.stderr.write("Postfix reloaded; the record %s was not updated: %s\n" % (RECORD, exc.strerror or exc))
    syslog.syslog(syslog.LOG_INFO, "mailtls renewal hook: TLS files checked, Postfix reloaded")
    return 0


def update_record():
    """What Postfix loaded now, so that the next Ansible run does not reload it again."""
    try:
        files = json.loads(read(RECORD).decode()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return
    for path in list(files):
        try:
            files[path] = hashlib.sha256(read(path)).hexdigest()
        except OSError:
            files.pop(path)
    temporary = RECORD + ".tmp"
    if os.path.lexists(temporary):
        os.unlink(temporary)  # a leftover, or a link planted there: never written through
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps({"files": files}, indent=1, sort_keys=True) + "\n")
    os.rename(temporary, RECORD)


if __name__ == "__main__":
    sys.exit(main())
'''


def hook_script(config_dir, record_path):
    """The hook's text for one Postfix instance and its record of loaded files."""
    return _SCRIPT.replace("__CONFIG_DIR__", repr(config_dir)).replace("__RECORD__", repr(record_path))
