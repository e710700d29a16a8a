# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facts of server certificates and private keys, pure (private to the collection).

PEM text in, facts out: which blocks a text holds and in which order, whether a key is
encrypted, a key's algorithm and DANE digest from its DER SubjectPublicKeyInfo, the modes a
key and a certificate may have, and when an expiry deserves a warning. No I/O, no openssl:
``work/certificate.py`` runs openssl and reads the files.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from ..core.errors import ConfigError, InputError

# A PEM private key, whatever its kind (RSA, EC, PKCS#8, encrypted), to its end or the text's end.
PRIVATE_KEY_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----|\Z)", re.S)
KEY_HIDDEN = "(private key not shown)"
_TRADITIONAL_ENCRYPTED = re.compile(r"^Proc-Type:\s*4,\s*ENCRYPTED", re.M)
CERTIFICATE = "-----BEGIN CERTIFICATE-----"
# A self-signed pair's key, as the role always made it.
SELF_SIGNED_KEY = "rsa:2048"
CERT_DIR_MODE, KEY_DIR_MODE, PARENT_DIR_MODE = 0o755, 0o700, 0o755
# Days left under which a certificate is warned about. certbot and acme.sh renew at 30 days left,
# so at 14 a renewal has been failing for two weeks - and two weeks remain to fix it. A higher
# number would warn on every run while an ordinary renewal is still due; a lower one too late.
EXPIRY_WARNING_DAYS = 14
RENEWED_AT_DAYS_LEFT = 30


def file_mode(parameter, value):
    """A file mode given as octal text (``"0600"``) or as YAML's octal number -> bits."""
    if isinstance(value, int) and not isinstance(value, bool):
        bits = value
    elif isinstance(value, str) and re.fullmatch(r"0?[0-7]{3}", value.strip()):
        bits = int(value.strip(), 8)
    else:
        raise InputError(parameter, "%r is not a file mode; give it as quoted octal text such as '0600'" % (value,))
    if not 0 <= bits <= 0o777:
        raise InputError(parameter, "%r is not a file mode (decimal %d?); give it as quoted octal text such as "
                                    "'0600'" % (value, bits))
    return bits


def key_file_mode(value):
    """``key_mode`` -> bits; a mode that lets other users at the key is refused."""
    bits = file_mode("key_mode", value)
    if bits & 0o007:
        raise InputError("key_mode", "%04o gives users other than the owner and group access to the private key; "
                                     "use 0600, or 0640 with key_group" % bits)
    return bits


def pem_text(text):
    """PEM text as written: with a final newline (``lookup('file')`` strips it)."""
    return text if text.endswith("\n") else text + "\n"


def holds_private_key(text):
    return bool(PRIVATE_KEY_BLOCK.search(text))


def is_encrypted(text):
    """Whether a PEM private key is protected by a passphrase (PKCS#8 or the traditional format)."""
    return "-----BEGIN ENCRYPTED PRIVATE KEY-----" in text or bool(_TRADITIONAL_ENCRYPTED.search(text))


def key_comes_first(text):
    """Whether a combined file's private key comes before its first certificate.

    smtpd_tls_chain_files and SNI chains are read in order: each key right before its chain
    (postconf(5); Postfix's tls_certkey.c logs "key not first" and disables TLS otherwise).
    """
    key, cert = PRIVATE_KEY_BLOCK.search(text), text.find(CERTIFICATE)
    return key is not None and (cert < 0 or key.start() < cert)


def redact_keys(text):
    """``text`` with every private-key block replaced by one line: for diffs of a certificate file."""
    return PRIVATE_KEY_BLOCK.sub(KEY_HIDDEN, text)


def pem_block_der(text, label):
    """The DER bytes of the first ``-----BEGIN <label>-----`` block of ``text`` (``CERTIFICATE``,
    ``PUBLIC KEY``: what openssl prints), or None when there is none or its body is not base64."""
    match = re.search(r"-----BEGIN %s-----(.*?)-----END %s-----" % (label, label), text, re.S)
    if not match:
        return None
    try:
        return base64.b64decode("".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def tlsa_3_1_1(spki_der):
    """DANE ``3 1 1`` record data: SHA-256 of the DER SubjectPublicKeyInfo, in hex."""
    return hashlib.sha256(spki_der).hexdigest()


# The key algorithms Postfix tells apart in smtpd_tls_chain_files (postconf(5): at most one key of
# each; all ECDSA curves count as one), by the OID that opens the DER SubjectPublicKeyInfo.
_KEY_ALGORITHMS = (
    ("rsa", bytes.fromhex("06092a864886f70d010101")),
    ("ecdsa", bytes.fromhex("06072a8648ce3d0201")),
    ("ed25519", bytes.fromhex("06032b6570")),
    ("ed448", bytes.fromhex("06032b6571")),
    ("dsa", bytes.fromhex("06072a8648ce380401")),
)


def key_algorithm(spki_der):
    """The algorithm of a DER SubjectPublicKeyInfo (its first OID), as Postfix groups them."""
    head = spki_der[:32]
    for name, oid in _KEY_ALGORITHMS:
        if oid in head:
            return name
    return "other"


def expiry_warning(facts):
    """What to say of a certificate with fewer than EXPIRY_WARNING_DAYS left, or None."""
    days_left = facts.get("days_left")
    if days_left is None or days_left >= EXPIRY_WARNING_DAYS:
        return None
    return ("expires on %s (%d days left; warned under %d): renewals (certbot, acme.sh) run at %d days left, "
            "so its renewal is failing or not set up" % (facts["not_after"], days_left, EXPIRY_WARNING_DAYS,
                                                         RENEWED_AT_DAYS_LEFT))


class Pem(object):
    """Where a PEM comes from, for messages: the parameter and the file it is for."""

    def __init__(self, parameter, path, text):
        self.parameter, self.path, self.text = parameter, path, text

    def error(self, problem):
        if self.parameter.endswith("_content"):
            noun = "key" if self.parameter.endswith("key_content") else "certificate"
            return InputError(self.parameter, "the %s given for %s %s; nothing was changed"
                              % (noun, self.path, problem))
        return ConfigError("%s: %s %s; nothing was changed" % (self.parameter, self.path, problem), path=self.path)


class Pair(object):
    """One key and its certificate chain; ``where`` prefixes its parameters (``chains[1].``)."""

    def __init__(self, where, cert, key, given):
        self.where, self.cert, self.key, self.given = where, cert, key, given


def refuse_two_keys_of_one_kind(pairs, facts):
    """postconf(5), smtpd_tls_chain_files: at most one key of each type (all ECDSA curves are one)."""
    seen = {}
    for pair, found in zip(pairs, facts):
        if found is None:
            continue
        algorithm = found["key_algorithm"]
        if algorithm in seen:
            raise InputError(pair.where.rstrip(".") or "chains",
                             "holds a second %s key (%s is one already); Postfix uses at most one key of each "
                             "type (RSA, ECDSA, Ed25519, Ed448)" % (algorithm.upper(), seen[algorithm]))
        seen[algorithm] = pair.key.path


def pair_diff(pairs, written, current, decode):
    """The diff of written pairs: a certificate's text with any key block hidden; a key only named."""
    diff = []
    for pair in pairs:
        if pair.cert.path in written:
            before = current[pair.cert.path]
            before = decode(before) if before is not None else ""
            diff.append({"before": redact_keys(before), "after": redact_keys(pair.cert.text),
                         "before_header": pair.cert.path, "after_header": pair.cert.path})
        if pair.key.path in written:
            diff.append({"prepared": "%s: the private key %s (its content is not shown)\n"
                                     % (pair.key.path, "is created" if current[pair.key.path] is None
                                        else "changes")})
    return diff
