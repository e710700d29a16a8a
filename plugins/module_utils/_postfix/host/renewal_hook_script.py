# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy hook tls_profile installs for certificates renewed outside Ansible: its main (private).

certbot (``/etc/letsencrypt/renewal-hooks/deploy/``) and acme.sh (``--reloadcmd``) run it after
a renewal. It stands alone on the host (python3 and openssl, no Ansible): ``work/renewal_hook.py``
writes it as the source texts of the stdlib-only files it imports (``core/errors.py``,
``core/file_names.py``, ``core/lines.py``, ``host/files.py``, ``model/tls_files.py``) followed by
this file, their relative imports left out, and one line calling ``main`` with the instance's
configuration directory and record. So the hook parses the SNI table and the record with the
code tls_profile uses, and writes its record through the one writer (``EditLock``).

It checks that every key Postfix loads (the chain files, else each legacy pair: RSA, ECDSA, DSA;
and every SNI name's files) comes right before its own certificate, makes the SNI tables 0600
and rebuilds them (``postmap -F`` copies the files into the index, so a renewed file is not
served until then), reloads Postfix, and rewrites the record of what Postfix loaded from those
files alone (never from the paths an old record lists). A malformed record is reported, not
obeyed: the pairs are checked without it, so the reload stands and the record is written anew.
A key that does not match its certificate stops it before the reload, with exit code 1 and a
syslog line, so that certbot reports the renewal as failed. It cannot undo the mismatch: every
new smtpd process reads the files itself and drops TLS ("disabling TLS support") until the pair
is fixed - which is why the hook fails loudly.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import subprocess
import sys
import syslog

from ..core.errors import PostfixError
from ..model.tls_files import (CHAIN_FILES, LEGACY_KEY_PARAMETERS, SNI_MAPS, file_digests, loaded_key_groups,
                               parse_record, record_text, sni_key_groups, sni_table_entries)
from .files import REPLACE, EditLock, FileAttributes

PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)


def run(argv, data=None):
    return subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=dict(os.environ, LANG="C", LC_ALL="C"), check=False)


def postconf_values(config_dir, names):
    """{name: value} as Postfix reads them (expanded); a name this Postfix does not know is left out."""
    out = run(["postconf", "-c", config_dir, "-x"] + list(names)).stdout.decode("utf-8", "replace")
    values = {}
    for line in out.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            values[name.strip()] = value.strip()
    return values


def read(path):
    """The bytes of a file Postfix loads, read as Postfix reads it (through a link); a FIFO, device or
    directory is an OSError, never waited on."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return handle.read()


def public_key(block, is_key):
    """The PEM public key of a private key or a certificate, from openssl (the block on stdin only)."""
    argv = ["openssl", "pkey", "-pubout", "-passin", "pass:"] if is_key else ["openssl", "x509", "-noout", "-pubkey"]
    result = run(argv, data=block)
    return result.stdout if result.returncode == 0 and result.stdout else None


def _legacy_problems(texts, paths, where):
    """A legacy pair as tls_certkey.c loads it: the first key of the key file (``paths[0]``) and the
    first certificate of the certificate file (``paths[-1]``; one file: both from it)."""
    keys = [match.group(0) for match in PEM.finditer(texts[0]) if match.group(1).endswith(b"PRIVATE KEY")]
    certs = [match.group(0) for match in PEM.finditer(texts[-1]) if match.group(1) == b"CERTIFICATE"]
    if not keys or not certs:
        return ["%s: no private key and certificate in %s" % (where, ", ".join(paths))]
    key, cert = public_key(keys[0], True), public_key(certs[0], False)
    if key is None or cert is None or key != cert:
        return ["%s: the private key and the first certificate in %s do not belong together"
                % (where, ", ".join(paths))]
    return []


def problems_of(paths, where, mixed=False):
    """Each private key must be followed by the certificate of that key (postconf(5)).

    ``mixed``: a legacy pair in one file, which Postfix reads with its one key anywhere and the
    first certificate as that key's (tls_certkey.c). A legacy pair in two files (``where`` a
    legacy parameter) is the first key of the key file and the first certificate of the other.
    """
    try:
        texts = [read(path) for path in paths]
    except OSError as exc:
        return ["%s: cannot read %s: %s" % (where, exc.filename, exc.strerror)]
    if mixed or where in LEGACY_KEY_PARAMETERS:
        return _legacy_problems(texts, paths, where)
    blocks = [(match.group(1).decode(), match.group(0)) for match in PEM.finditer(b"".join(texts))]
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


def loaded_tls_files(config_dir, index_suffixes):
    """What Postfix loads: ([(where, key and chain files, mixed)], [(type, SNI table)], [problems])."""
    values = postconf_values(config_dir, [CHAIN_FILES, SNI_MAPS] + list(LEGACY_KEY_PARAMETERS))
    groups, tables, problems = loaded_key_groups(values), [], []
    for table in values.get(SNI_MAPS, "").replace(",", " ").split():
        kind, _sep, path = table.partition(":")
        if kind not in index_suffixes or not path.startswith("/"):
            continue
        tables.append((kind, path))
        try:
            entries = sni_table_entries(read(path).decode("utf-8", "replace"))
        except OSError as exc:
            problems.append("%s: cannot read %s: %s" % (SNI_MAPS, path, exc.strerror))
            continue
        groups += sni_key_groups(table, entries)
    return groups, tables, problems


def make_private(path, index=False):
    """A file of the SNI table 0600 before postmap writes keys into it (postmap keeps an index's mode).

    At an ``index``'s name, a link, a special file or a hard link is removed, never followed:
    postmap would write the private keys through it. The table itself is read through a link.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        # Missing: postmap creates it under the umask. A link: its target is not ours to change.
        if exc.errno not in (errno.ENOENT, errno.ELOOP):
            return "cannot open %s: %s" % (path, exc.strerror)
        if exc.errno == errno.ENOENT or not index:
            return None
    else:
        try:
            found = os.fstat(fd)
            plain = stat.S_ISREG(found.st_mode) and (found.st_nlink == 1 or not index)
            if plain:
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        if plain or not index:
            return None
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            return "cannot remove %s (not a plain file of its own): %s" % (path, exc.strerror)
    return None


def fail(problems):
    for problem in problems:
        syslog.syslog(syslog.LOG_ERR, "mailtls renewal hook: %s; Postfix not reloaded" % problem)
        sys.stderr.write("%s; Postfix not reloaded\n" % problem)
    return 1


def rebuild_sni_tables(config_dir, tables, index_suffixes):
    """Each SNI table and its index 0600, then ``postmap -F``; the problems that stop the hook."""
    old = os.umask(0o077)  # the SNI index holds private keys
    try:
        for kind, path in tables:
            names = [(path, False)] + [(path + suffix, True) for suffix in index_suffixes[kind]]
            problems = [problem for name, index in names for problem in [make_private(name, index)] if problem]
            if problems:
                return problems
            built = run(["postmap", "-c", config_dir, "-F", "%s:%s" % (kind, path)])
            if built.returncode != 0:
                return ["postmap -F %s:%s failed: %s" % (kind, path, built.stderr.decode(errors="replace"))]
    finally:
        os.umask(old)
    return []


def main(config_dir, record, index_suffixes):
    """The hook: ``index_suffixes`` is {type: index suffixes} of the SNI table types it rebuilds."""
    groups, tables, problems = loaded_tls_files(config_dir, index_suffixes)
    for where, paths, mixed in groups:
        problems += problems_of(paths, where, mixed)
    problems = problems or rebuild_sni_tables(config_dir, tables, index_suffixes)
    if problems:
        return fail(problems)
    done = "TLS files checked"
    if run(["postfix", "-c", config_dir, "status"]).returncode == 0:
        reloaded = run(["postfix", "-c", config_dir, "reload"])
        if reloaded.returncode != 0:
            sys.stderr.write("postfix reload failed: %s\n" % reloaded.stderr.decode(errors="replace"))
            return 1
        done += ", Postfix reloaded"
    try:
        malformed = update_record(record, [path for _where, paths, _mixed in groups for path in paths])
    except (OSError, PostfixError) as exc:
        # Postfix runs the new files; only the record is stale: the next Ansible run reloads once more.
        reason = getattr(exc, "strerror", None) or exc
        sys.stderr.write("%s; the record %s was not updated: %s\n" % (done, record, reason))
        return 0
    if malformed:
        # The pairs were checked without the record, so the reload stands; the record is rewritten.
        message = "%s; the record %s was malformed (%s): it now lists the files Postfix loads" % (
            done, record, malformed)
        syslog.syslog(syslog.LOG_WARNING, "mailtls renewal hook: " + message)
        sys.stderr.write(message + "\n")
        return 0
    syslog.syslog(syslog.LOG_INFO, "mailtls renewal hook: " + done)
    return 0


def read_record(record):
    """The record's bytes; None when something else than a plain file is there (never followed, never
    blocking on a FIFO); raises FileNotFoundError when there is none."""
    fd = os.open(record, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        return handle.read() if stat.S_ISREG(os.fstat(handle.fileno()).st_mode) else None


def update_record(record, paths):
    """Record what Postfix loaded now, so that the next Ansible run does not reload it again.

    Only the files main.cf and the SNI tables name are read: the record's own paths never are
    (a tampered record could name any file). Returns why the old record was malformed, or None;
    without a record (tls_profile made none) nothing is written. The record is written as
    tls_profile writes it: under Postfix's edit lock, through an exclusive temporary of mode
    0600 (a link there is refused), renamed over a link or FIFO at the record's name (never
    followed).
    """
    try:
        old = read_record(record)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        old = None  # a link or something unreadable there: replaced below, never followed
    contents = {}
    for path in dict.fromkeys(paths):
        try:
            contents[path] = read(path)
        except OSError:
            pass
    with EditLock(record) as lock:
        lock.replace(record_text(file_digests(contents)), FileAttributes(0o600, os.geteuid(), os.getegid()),
                     odd_target=REPLACE)
    return parse_record(old)[1]
