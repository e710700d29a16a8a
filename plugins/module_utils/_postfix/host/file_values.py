# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tables whose values are lists of files, built with ``postmap -F`` (private to the collection).

Postfix's SNI table (tls_server_sni_maps) maps a name to key and chain files. Its
source holds file names; ``postmap -F`` stores, for each key, the base64 of the
files' content joined by one newline each (measured on Postfix 3.5, 3.7 and 3.10:
``a`` and ``b`` become base64(``a + "\\n" + b``); ``postmap -Fq`` then prints that
plus its own line end). So the index holds private keys while the source does not.

Everything here but ``read_value_files`` is pure.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import re

from ..core.errors import ConfigError, InputError
from .files import open_regular

# Where Postfix splits a file list (dict_file.c: DICT_FILE_SEP is ", \t\r\n").
_SEPARATORS = re.compile(r"[,\s]+")
# A path Postfix would not read back as one file name: it splits at spaces and commas,
# groups at braces, and a table line cannot hold control characters.
_PATH_BREAKERS = re.compile("[\\s,{}\x00-\x1f\x7f]")
_NOT_UTF8 = re.compile("[\ud800-\udfff]")  # bytes read as surrogates (files.ERRORS)
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)
# What Postfix loads without a passphrase as the key that starts a chain (smtpd_tls_chain_files).
_KEY_LABELS = frozenset([b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"DSA PRIVATE KEY"])
_CERT_LABELS = frozenset([b"CERTIFICATE", b"TRUSTED CERTIFICATE"])


def split_paths(value):
    """The file names of a value, split where Postfix splits them."""
    return [word for word in _SEPARATORS.split(value) if word]


def render_value(value, where, key):
    """A value given as text or as a list of paths -> the text the table holds; raise InputError.

    A list is joined by single spaces; each item must then be one path.
    """
    if isinstance(value, (list, tuple)):
        for item in value:
            if not isinstance(item, str) or not item:
                raise InputError(where, "%s: each file must be a non-empty path, got %r" % (key, item))
            if _PATH_BREAKERS.search(item):
                raise InputError(where, "%s: %r holds whitespace, a comma, a brace or a control character: "
                                        "postmap -F would read it as more than one file name" % (key, item))
        return " ".join(value)
    if isinstance(value, bool) or not isinstance(value, str):
        raise InputError(where, "%s: with file_values, a value is a list of files (a list, or paths separated by "
                                "spaces or commas), not %s" % (key, type(value).__name__))
    return value


def check_paths(value, where, key):
    """The absolute paths a value names, as postmap -F reads them; raise InputError naming ``key``."""
    paths = split_paths(value)
    if not paths:
        raise InputError(where, "%s: the value names no file" % key)
    for path in paths:
        if not path.startswith("/"):
            raise InputError(where, "%s: %r is not an absolute path (Postfix splits a value at spaces and commas, "
                                    "so a file name cannot hold them)" % (key, path))
        if _PATH_BREAKERS.search(path):
            raise InputError(where, "%s: %r holds a brace or a control character, which postmap -F does not "
                                    "read as part of a file name" % (key, path))
        if _NOT_UTF8.search(path):
            # With smtputf8_enable (the default since compatibility level 3.6) postmap skips the line.
            raise InputError(where, "%s: %r is not UTF-8: postmap skips such a line" % (key, path))
    return paths


def pem_labels(data):
    """The labels of the PEM blocks in ``data`` (bytes), in order: [b"PRIVATE KEY", b"CERTIFICATE", ...]."""
    return [match.group(1) for match in _PEM_BLOCK.finditer(data)]


def _encrypted(data):
    """Whether the first PEM block is a legacy encrypted key (``Proc-Type: 4,ENCRYPTED``)."""
    match = _PEM_BLOCK.search(data)
    return bool(match) and b"Proc-Type: 4,ENCRYPTED" in match.group(2)


def check_contents(where, key, paths, contents):
    """Every file holds PEM, and the value starts with an unencrypted private key followed by a certificate.

    postconf(5), tls_server_sni_maps: "The chain files MUST start with the private key, with the
    certificate chain next". Postfix itself finds out only when a client asks for the name.
    """
    labels = []
    for path, data in zip(paths, contents):
        found = pem_labels(data)
        if not found:
            raise InputError(where, "%s: %s holds no PEM block (-----BEGIN ...----- to -----END ...-----)"
                             % (key, path))
        labels.extend(found)
    if labels[0] not in _KEY_LABELS or _encrypted(contents[0]):
        raise InputError(where, "%s: %s must start with the private key (unencrypted), then its certificate chain; "
                                "it starts with %s" % (key, paths[0], labels[0].decode("ascii").lower()))
    if not any(label in _CERT_LABELS for label in labels[1:]):
        raise InputError(where, "%s: the files %s hold a private key but no certificate after it"
                         % (key, " ".join(paths)))


def index_content(contents):
    """What the index stores (base64-decoded) for a value whose files hold ``contents``."""
    return b"\n".join(contents)


def decoded(value):
    """The bytes an index value encodes, or None when it is not base64 (a table built without -F)."""
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def stale_key(expected, found, listed):
    """The first key (sorted) whose index value is not what its files hold now, else None.

    ``expected``: folded key -> bytes; ``found``: key -> base64 text from the index.
    ``listed``: ``found`` is the whole index, so a key it holds that the source does not is stale too.
    """
    for key in sorted(expected):
        value = found.get(key)
        if value is None or decoded(value) != expected[key]:
            return key
    if listed:
        extra = sorted(set(found) - set(expected))
        if extra:
            return extra[0]
    return None


def read_value_files(where, key, paths):
    """The content of each file (bytes), refusing what is not a readable regular file; never blocks.

    A symbolic link to a regular file is read (certbot's live/ names are links).
    """
    contents = []
    for path in paths:
        try:
            fd, _info = open_regular(path, os.O_RDONLY)
        except OSError as exc:
            reason = "does not exist" if exc.errno == errno.ENOENT else "cannot be read: %s" % exc.strerror
            raise InputError(where, "%s: %s %s" % (key, path, reason))
        except ConfigError:
            raise InputError(where, "%s: %s is not a regular file (a directory, FIFO, socket or device)"
                             % (key, path))
        with os.fdopen(fd, "rb") as handle:
            try:
                contents.append(handle.read())
            except OSError as exc:
                raise InputError(where, "%s: %s cannot be read: %s" % (key, path, exc.strerror))
    return contents
