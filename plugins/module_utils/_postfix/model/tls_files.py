# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The TLS files Postfix loads and the record of them, pure and stdlib-only (private).

Shared by tls_profile's receiving side (``plan/receiving.py``) and the renewal hook it installs
(``host/renewal_hook_script.py``), which runs alone on the host: this file imports nothing of
the collection but ``core/lines.py``, and the hook is assembled from their source texts
(``work/renewal_hook.py``).
"""

from __future__ import annotations

import hashlib
import json

from ..core.lines import joined_text, logical_lines, split_lines, split_list

# postconf(5), smtpd_tls_chain_files: "When this parameter is non-empty, the legacy parameters are
# ignored, and a warning is logged if any are also non-empty." So they go when chains come.
# Each (certificate, key) pair Postfix loads without chain files; a key left empty is in the certificate's
# file (postconf(5): smtpd_tls_key_file defaults to $smtpd_tls_cert_file, and so on).
LEGACY_KEY_PAIRS = (("smtpd_tls_cert_file", "smtpd_tls_key_file"), ("smtpd_tls_eccert_file", "smtpd_tls_eckey_file"),
                    ("smtpd_tls_dcert_file", "smtpd_tls_dkey_file"))
LEGACY_KEY_PARAMETERS = tuple(name for pair in LEGACY_KEY_PAIRS for name in pair)
CHAIN_FILES = "smtpd_tls_chain_files"
SNI_MAPS = "tls_server_sni_maps"
# The record of the TLS files Postfix last loaded, in its configuration directory.
LOADED_RECORD = "mailtls-loaded-tls-files.json"


def loaded_key_groups(values):
    """The key and chain files Postfix loads, from main.cf's values: [(parameter, files, mixed)].

    postconf(5): smtpd_tls_chain_files, when set, wins over every legacy pair (RSA, ECDSA, DSA);
    without it each legacy pair whose certificate is set is loaded. ``mixed``: a legacy pair in
    one file, which Postfix reads with its one key anywhere and the first certificate as that
    key's (tls_certkey.c).
    """
    chains = split_list(values.get(CHAIN_FILES, ""))
    if chains:
        return [(CHAIN_FILES, chains, False)]
    groups = []
    for cert_name, key_name in LEGACY_KEY_PAIRS:
        cert = values.get(cert_name, "")
        key = values.get(key_name, "") or cert
        if cert:
            groups.append((cert_name, [key, cert], False) if key != cert else (cert_name, [cert], True))
    return groups


def sni_table_entries(text):
    """{name: files} of an SNI table source, read as postmap reads it (Postfix's logical lines)."""
    lines = split_lines(text)
    entries = {}
    for _start, members in logical_lines(lines):
        fields = joined_text(lines, members).split(None, 1)  # name, then the files: any blanks between them
        entries[fields[0]] = fields[1].strip() if len(fields) > 1 else ""
    return entries


def sni_key_groups(table, entries):
    """[(where, files, mixed)] of each name of one SNI table (``type:path``): its key and chain files."""
    return [("%s %s" % (table, name), split_list(value), False) for name, value in sorted(entries.items())]


def file_digests(contents):
    """{path: sha256 hex} of the bytes of each file Postfix loads for TLS."""
    return dict((path, hashlib.sha256(data).hexdigest()) for path, data in contents.items())


def record_text(digests):
    return json.dumps({"files": digests}, indent=1, sort_keys=True) + "\n"


def parse_record(data):
    """(digests, problem) of a record's bytes (None: no regular file); ({}, why) when it is not
    what tls_profile writes ({"files": {path: sha256 hex}})."""
    if data is None:
        return {}, "not a regular file"
    try:
        record = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except ValueError as exc:  # UnicodeDecodeError is one
        return {}, "not JSON text: %s" % exc
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict):
        return {}, 'no "files" mapping'
    if not all(isinstance(path, str) and isinstance(digest, str) for path, digest in files.items()):
        return {}, 'a "files" entry is not a path and a digest'
    return files, None


def changed_since_loaded(record, digests):
    """The paths whose bytes differ from the record of what Postfix last loaded (all when no record)."""
    recorded = parse_record(record)[0] if record else {}
    return sorted(path for path, digest in digests.items() if recorded.get(path) != digest)
