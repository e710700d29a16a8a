# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy hook tls_profile installs for certificates renewed outside Ansible (private).

certbot (``/etc/letsencrypt/renewal-hooks/deploy/``) and acme.sh (``--reloadcmd``) run it after
a renewal. It stands alone on the host (python3 and openssl, no Ansible): it checks that every
key Postfix loads (the chain files, else each legacy pair: RSA, ECDSA, DSA; and every SNI name's
files) comes right before its own certificate, makes the SNI tables 0600 and rebuilds them
(``postmap -F`` copies the files into the index, so a renewed file is not served until then),
reloads Postfix, and rewrites the record of what Postfix loaded from those files alone (never
from the paths an old record lists). A malformed record is reported, not obeyed: the pairs are
checked without it, so the reload stands and the record is written anew. A key that does not match its
certificate stops it before the reload, with exit code 1 and a syslog line, so that certbot
reports the renewal as failed. It cannot undo the mismatch: every new smtpd process reads the
files itself and drops TLS ("disabling TLS support") until the pair is fixed - which is why the
hook fails loudly.
"""

from __future__ import annotations

from ..plan.receiving import CHAIN_FILES, LEGACY_KEY_PAIRS, SNI_MAPS
from ..model.table_types import INDEX_SUFFIXES

HOOK_MODE = 0o755
# The SNI table types the hook rebuilds: those whose index is one file postmap -F writes.
SNI_INDEXED_TYPES = ("hash", "btree", "lmdb", "cdb")

_SCRIPT = r'''#!/usr/bin/python3
# Installed by mailtls.postfix (tls_profile receiving.renewal_hook); changes here are replaced.
# Checks Postfix's TLS keys and certificates, rebuilds its SNI tables, reloads Postfix.
import errno
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
import syslog

CONFIG_DIR = __CONFIG_DIR__
RECORD = __RECORD__
CHAIN_FILES, SNI_MAPS = __CHAIN_FILES__, __SNI_MAPS__
LEGACY_PAIRS = __LEGACY_PAIRS__
INDEX_SUFFIXES = __INDEX_SUFFIXES__  # the SNI table types whose index postmap -F builds
PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)


def run(argv, data=None):
    return subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=dict(os.environ, LANG="C", LC_ALL="C"), check=False)


def postconf_values(names):
    """{name: value} as Postfix reads them (expanded); a name this Postfix does not know is left out."""
    out = run(["postconf", "-c", CONFIG_DIR, "-x"] + list(names)).stdout.decode("utf-8", "replace")
    values = {}
    for line in out.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            values[name.strip()] = value.strip()
    return values


def words(value):
    return [word for word in value.replace(",", " ").split() if word]


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def public_key(block, is_key):
    """The PEM public key of a private key or a certificate, from openssl (the block on stdin only)."""
    argv = ["openssl", "pkey", "-pubout", "-passin", "pass:"] if is_key else ["openssl", "x509", "-noout", "-pubkey"]
    result = run(argv, data=block)
    return result.stdout if result.returncode == 0 and result.stdout else None


def problems_of(paths, where, mixed=False):
    """Each private key must be followed by the certificate of that key (postconf(5)).

    ``mixed``: a legacy pair in one file, which Postfix reads with its one key anywhere and the
    first certificate as that key's (tls_certkey.c).
    """
    try:
        data = b"".join(read(path) for path in paths)
    except OSError as exc:
        return ["%s: cannot read %s: %s" % (where, exc.filename, exc.strerror)]
    blocks = [(match.group(1).decode(), match.group(0)) for match in PEM.finditer(data)]
    if mixed:
        keys = [block for label, block in blocks if label.endswith("PRIVATE KEY")]
        certs = [block for label, block in blocks if label == "CERTIFICATE"]
        if not keys or not certs:
            return ["%s: no private key and certificate in %s" % (where, ", ".join(paths))]
        key, cert = public_key(keys[0], True), public_key(certs[0], False)
        if key is None or cert is None or key != cert:
            return ["%s: the private key and the first certificate in %s do not belong together"
                    % (where, ", ".join(paths))]
        return []
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


def loaded_tls_files():
    """What Postfix loads: ([(where, key and chain files, mixed)], [(type, SNI table)], [problems]).

    postconf(5): smtpd_tls_chain_files, when set, wins over every legacy pair (RSA, ECDSA, DSA);
    without it each legacy pair whose certificate is set is loaded. Each SNI name has its files.
    """
    values = postconf_values([CHAIN_FILES, SNI_MAPS] + [name for pair in LEGACY_PAIRS for name in pair])
    groups, tables, problems = [], [], []
    chains = words(values.get(CHAIN_FILES, ""))
    if chains:
        groups.append((CHAIN_FILES, chains, False))
    else:
        for cert_name, key_name in LEGACY_PAIRS:
            cert = values.get(cert_name, "")
            key = values.get(key_name, "") or cert
            if cert:
                groups.append((cert_name, [key, cert], False) if key != cert else (cert_name, [cert], True))
    for table in words(values.get(SNI_MAPS, "")):
        kind, _sep, path = table.partition(":")
        if kind not in INDEX_SUFFIXES or not path.startswith("/"):
            continue
        tables.append((kind, path))
        try:
            entries = sni_values(path)
        except OSError as exc:
            problems.append("%s: cannot read %s: %s" % (SNI_MAPS, path, exc.strerror))
            continue
        for name, value in sorted(entries.items()):
            groups.append(("%s:%s %s" % (kind, path, name), words(value), False))
    return groups, tables, problems


def make_private(path):
    """A file of the SNI table 0600 before postmap writes keys into it (postmap keeps an index's mode)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        # Missing: postmap creates it under the umask. A link: its target is not ours to change.
        return None if exc.errno in (errno.ENOENT, errno.ELOOP) else "cannot open %s: %s" % (path, exc.strerror)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return None


def fail(problems):
    for problem in problems:
        syslog.syslog(syslog.LOG_ERR, "mailtls renewal hook: %s; Postfix not reloaded" % problem)
        sys.stderr.write("%s; Postfix not reloaded\n" % problem)
    return 1


def main():
    groups, tables, problems = loaded_tls_files()
    for where, paths, mixed in groups:
        problems += problems_of(paths, where, mixed)
    if problems:
        return fail(problems)
    old = os.umask(0o077)  # the SNI index holds private keys
    try:
        for kind, path in tables:
            problems = [problem for name in [path] + [path + suffix for suffix in INDEX_SUFFIXES[kind]]
                        for problem in [make_private(name)] if problem]
            if problems:
                return fail(problems)
            built = run(["postmap", "-c", CONFIG_DIR, "-F", "%s:%s" % (kind, path)])
            if built.returncode != 0:
                return fail(["postmap -F %s:%s failed: %s" % (kind, path, built.stderr.decode(errors="replace"))])
    finally:
        os.umask(old)
    done = "TLS files checked"
    if run(["postfix", "-c", CONFIG_DIR, "status"]).returncode == 0:
        reloaded = run(["postfix", "-c", CONFIG_DIR, "reload"])
        if reloaded.returncode != 0:
            sys.stderr.write("postfix reload failed: %s\n" % reloaded.stderr.decode(errors="replace"))
            return 1
        done += ", Postfix reloaded"
    try:
        malformed = update_record([path for _where, paths, _mixed in groups for path in paths])
    except OSError as exc:
        # Postfix runs the new files; only the record is stale: the next Ansible run reloads once more.
        sys.stderr.write("%s; the record %s was not updated: %s\n" % (done, RECORD, exc.strerror or exc))
        return 0
    if malformed:
        # The pairs were checked without the record, so the reload stands; the record is rewritten.
        message = "%s; the record %s was malformed (%s): it now lists the files Postfix loads" % (
            done, RECORD, malformed)
        syslog.syslog(syslog.LOG_WARNING, "mailtls renewal hook: " + message)
        sys.stderr.write(message + "\n")
        return 0
    syslog.syslog(syslog.LOG_INFO, "mailtls renewal hook: " + done)
    return 0


def record_problem(data):
    """Why the record is not what tls_profile writes ({"files": {path: sha256 hex}}), or None."""
    if data is None:
        return "not a regular file"
    try:
        record = json.loads(data.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is one
        return "not JSON text: %s" % exc
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict):
        return 'no "files" mapping'
    if not all(isinstance(path, str) and isinstance(digest, str) for path, digest in files.items()):
        return 'a "files" entry is not a path and a digest'
    return None


def update_record(paths):
    """Record what Postfix loaded now, so that the next Ansible run does not reload it again.

    Only the files main.cf and the SNI tables name are read: the record's own paths never are
    (a tampered record could name any file). Returns why the old record was malformed, or None;
    without a record (tls_profile made none) nothing is written.
    """
    try:
        fd = os.open(RECORD, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # a FIFO there never blocks
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        old = None  # a link or something unreadable there: replaced below, never followed
    else:
        with os.fdopen(fd, "rb") as handle:
            old = handle.read() if stat.S_ISREG(os.fstat(handle.fileno()).st_mode) else None
    files = {}
    for path in dict.fromkeys(paths):
        try:
            files[path] = hashlib.sha256(read(path)).hexdigest()
        except OSError:
            pass
    temporary = RECORD + ".tmp"
    if os.path.lexists(temporary):
        os.unlink(temporary)  # a leftover, or a link planted there: never written through
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps({"files": files}, indent=1, sort_keys=True) + "\n")
    os.rename(temporary, RECORD)
    return record_problem(old)


if __name__ == "__main__":
    sys.exit(main())
'''


def hook_script(config_dir, record_path):
    """The hook's text for one Postfix instance and its record of loaded files."""
    values = {"__CONFIG_DIR__": config_dir, "__RECORD__": record_path, "__CHAIN_FILES__": CHAIN_FILES,
              "__SNI_MAPS__": SNI_MAPS, "__LEGACY_PAIRS__": LEGACY_KEY_PAIRS,
              "__INDEX_SUFFIXES__": dict((kind, INDEX_SUFFIXES[kind]) for kind in SNI_INDEXED_TYPES)}
    script = _SCRIPT
    for name, value in values.items():
        script = script.replace(name, repr(value))
    return script
