# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tls_certificate module's work: a server certificate and its private key (private).

Everything is decided before a byte is written, in check mode too: both PEMs are
read with openssl (key material only on stdin or in a private temporary
directory, never in argv), the certificate must carry the key's public key, an
encrypted or unreadable key is refused, and so is an existing key that users
other than its owner and group can read. Only then are both files replaced
together: both temporaries are locked and written first, then renamed back to
back, so a refusal or a failure leaves the live pair as it was.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import grp
import hashlib
import os
import re
import shutil
import socket
import stat
import tempfile

from ..host.base import KEY_HIDDEN, PRIVATE_KEY_BLOCK, FileEditModule, account_id
from ..host.commands import C_LOCALE, output_lines
from ..core.errors import CommandError, ConfigError, InputError
from ..core.file_names import TMP_SUFFIX
from ..host.files import ENCODING, ERRORS, EditLock, FileAttributes, open_regular, same_file_name
from ..model.x509 import parse_x509
from ..model.table import MASK

_PUBLIC_KEY = re.compile(r"-----BEGIN PUBLIC KEY-----(.*?)-----END PUBLIC KEY-----", re.S)
_TRADITIONAL_ENCRYPTED = re.compile(r"^Proc-Type:\s*4,\s*ENCRYPTED", re.M)
_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
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


def group_id(name):
    """``key_group`` by name or number -> gid."""
    return account_id(name, grp.getgrnam, "key_group")


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
    key, cert = PRIVATE_KEY_BLOCK.search(text), text.find(_CERTIFICATE)
    return key is not None and (cert < 0 or key.start() < cert)


def redact_keys(text):
    """``text`` with every private-key block replaced by one line: for diffs of a certificate file."""
    return PRIVATE_KEY_BLOCK.sub(KEY_HIDDEN, text)


def public_key_der(output):
    """The DER SubjectPublicKeyInfo of the first ``PUBLIC KEY`` block openssl printed, or None."""
    match = _PUBLIC_KEY.search(output)
    if not match:
        return None
    try:
        return base64.b64decode("".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def tlsa_3_1_1(spki_der):
    """DANE ``3 1 1`` record data: SHA-256 of the DER SubjectPublicKeyInfo, in hex."""
    return hashlib.sha256(spki_der).hexdigest()


def first_line(text):
    """openssl's first message line, past the progress dots key generation prints."""
    lines = [line.strip() for line in output_lines(text) if line.strip().strip(".+*-")]
    return lines[0] if lines else "no reason given"


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


class _Pem(object):
    """Where a PEM comes from, for messages: the parameter and the file it is for."""

    def __init__(self, parameter, path, text):
        self.parameter, self.path, self.text = parameter, path, text

    def error(self, problem):
        if self.parameter.endswith("_content"):
            noun = "key" if self.parameter.endswith("key_content") else "certificate"
            return InputError(self.parameter, "the %s given for %s %s; nothing was changed"
                              % (noun, self.path, problem))
        return ConfigError("%s: %s %s; nothing was changed" % (self.parameter, self.path, problem), path=self.path)


class _Pair(object):
    """One key and its certificate chain; ``where`` prefixes its parameters (``chains[1].``)."""

    def __init__(self, where, cert, key, given):
        self.where, self.cert, self.key, self.given = where, cert, key, given


class TlsCertificate(FileEditModule):
    """The tls_certificate module: check certificate and key pairs, and install them when given."""

    def execute(self):
        params = self.module.params
        attributes = self._checked_modes()
        if params["chains"]:
            pairs, generate = self._chain_pairs(), False
        else:
            pairs, generate = self._single_pair()
        facts = [self._check_pair(pair) for pair in pairs]
        self._refuse_two_keys_of_one_kind(pairs, facts)
        if generate or any(pair.given for pair in pairs):
            self._put_pairs([pair for pair in pairs if pair.given or generate], attributes)
            if generate and self.module.check_mode:
                facts = [None]  # the pair a real run generates is another one
        else:
            self.result.update(changed=False, cert_changed=False, key_changed=False, changed_files=[])
        for pair, found in zip(pairs, facts):
            if found:
                found.update(cert_file=pair.cert.path, key_file=pair.key.path)
                warning = expiry_warning(found)
                if warning:
                    self.warnings.append("%s: the certificate for %s %s"
                                         % (pair.cert.parameter, pair.cert.path, warning))
        self.result["certificate"] = facts[0]
        self.result["certificates"] = [found for found in facts if found]

    def _single_pair(self):
        """The one pair of cert_file and key_file: given, generated, or checked where it is."""
        params = self.module.params
        cert_file, key_file = params["cert_file"], params["key_file"]
        if not cert_file or not key_file:
            raise InputError("cert_file" if not cert_file else "key_file",
                             "is required (or give chains, a list of key and certificate files)")
        given = params["cert_content"] is not None
        self._refuse_contradictions("", params, given)
        if same_file_name(cert_file, key_file) and (given or params["self_signed"]):  # also through a linked dir
            raise InputError("key_file", "is cert_file as well; the module writes the certificate and the key to "
                                         "two files (Postfix reads the key from smtpd_tls_key_file)")
        cert_found, key_found = self._exists(cert_file, "cert_file"), self._exists(key_file, "key_file")
        if key_found:
            self._refuse_exposed_key(key_file, "key_file")
        if params["self_signed"] and cert_found != key_found:
            missing, there = ("key_file", "cert_file") if cert_found else ("cert_file", "key_file")
            raise ConfigError("%s: %s does not exist but %s %s does; self_signed generates both or neither: "
                              "remove the other one or install the missing file; nothing was changed"
                              % (missing, params[missing], there, params[there]))
        generate = params["self_signed"] and not cert_found and not key_found
        if given:
            cert = _Pem("cert_content", cert_file, pem_text(params["cert_content"]))
            key = _Pem("key_content", key_file, pem_text(params["key_content"]))
        elif generate:
            cert_text, key_text = self._generate(params["self_signed_subject"], params["self_signed_days"])
            cert, key = _Pem("cert_file", cert_file, cert_text), _Pem("key_file", key_file, key_text)
        else:
            # Only paths (or a self-signed pair made earlier): check what is there, write nothing.
            cert = _Pem("cert_file", cert_file, self._read_existing(cert_file, "cert_file"))
            key = _Pem("key_file", key_file, self._read_existing(key_file, "key_file"))
        return [_Pair("", cert, key, given)], generate

    def _chain_pairs(self):
        """The pairs of ``chains``: each installed from its content, or checked where it is."""
        params = self.module.params
        for name in ("cert_file", "key_file", "cert_content", "key_content"):
            if params[name] is not None:
                raise InputError("chains", "cannot be combined with %s; give every key and certificate in chains"
                                 % name)
        if params["self_signed"]:
            raise InputError("chains", "cannot be combined with self_signed")
        pairs, paths = [], []
        for index, chain in enumerate(params["chains"]):
            where = "chains[%d]." % index
            given = chain["cert_content"] is not None
            self._refuse_contradictions(where, chain, given)
            together = self._combined(where, chain, given)
            for name in ("cert_file",) if together else ("cert_file", "key_file"):
                paths.append((where + name, chain[name]))
            if self._exists(chain["key_file"], where + "key_file"):
                self._refuse_exposed_key(chain["key_file"], where + "key_file")
            if given:
                cert = _Pem(where + "cert_content", chain["cert_file"], pem_text(chain["cert_content"]))
                key = _Pem(where + "key_content", chain["key_file"], pem_text(chain["key_content"]))
            else:
                cert = _Pem(where + "cert_file", chain["cert_file"],
                            self._read_existing(chain["cert_file"], where + "cert_file"))
                key = _Pem(where + "key_file", chain["key_file"],
                           self._read_existing(chain["key_file"], where + "key_file"))
            pairs.append(_Pair(where, cert, key, given))
        for index, (name, path) in enumerate(paths):
            for other, other_path in paths[:index]:
                if same_file_name(path, other_path):
                    raise InputError(name, "is %s as well (%s); every key and certificate chain is a file of its "
                                           "own" % (other, path))
        return pairs

    def _combined(self, where, chain, given):
        """Whether a chain is one file holding its key, then its certificate chain (postconf(5)).

        Such a file is checked where it is, its key before its certificate; the module writes
        keys and certificates to files of their own, so with contents it stays two files.
        """
        if not same_file_name(chain["key_file"], chain["cert_file"]):
            return False
        if given:
            raise InputError(where + "key_file", "is %scert_file as well; the module writes the certificate and "
                                                 "the key to two files (give no contents to check a combined file "
                                                 "that is there)" % where)
        if chain["key_file"] != chain["cert_file"]:
            raise InputError(where + "key_file", "names the file of %scert_file by another path; give one path "
                                                 "for a combined key and certificate file" % where)
        text = self._read_existing(chain["key_file"], where + "key_file")
        if holds_private_key(text) and not key_comes_first(text):
            raise ConfigError("%skey_file: %s holds its certificate before its private key; in "
                              "smtpd_tls_chain_files each key comes right before its certificate chain (postconf(5)); "
                              "nothing was changed" % (where, chain["key_file"]), path=chain["key_file"])
        return True

    @staticmethod
    def _refuse_contradictions(where, params, given):
        if (params["cert_content"] is None) != (params["key_content"] is None):
            # AnsibleModule's required_together counts a sub-option given as null: this does not.
            raise InputError(where + "cert_content", "parameters are required together: cert_content, key_content")
        if params.get("self_signed") and given:
            raise InputError("self_signed", "cannot be combined with cert_content and key_content")

    def _checked_modes(self):
        """Refuse unsafe modes; return the attributes of the files to write."""
        params = self.module.params
        key_mode = key_file_mode(params["key_mode"])
        cert_mode = file_mode("cert_mode", params["cert_mode"])
        key_gid = group_id(params["key_group"]) if params["key_group"] else None
        if params["self_signed_days"] <= 0:
            raise InputError("self_signed_days", "must be a positive number of days")
        return {"cert": (cert_mode, None), "key": (key_mode, key_gid)}

    @staticmethod
    def _refuse_two_keys_of_one_kind(pairs, facts):
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

    def _put_pairs(self, pairs, attributes):
        """Write the checked pairs where their bytes differ (nothing in check mode) and report."""
        writes, current = [], {}
        for pair in pairs:
            for name, pem in (("cert", pair.cert), ("key", pair.key)):
                parameter = pair.where + name + "_file"
                current[pem.path] = self._current(pem.path, parameter)
                if current[pem.path] != pem.text.encode(ENCODING, ERRORS):
                    mode, gid = attributes[name]
                    writes.append((pem.path, pem.text, self._attributes(pem.path, mode, gid), parameter))
        for path, _text, _attributes, _parameter in writes:
            self._refuse_odd_temporary(path)
        if writes and not self.module.check_mode:
            self._install(writes)
        self._report(writes, pairs, current)

    def echoed_arguments(self):
        echoed = super().echoed_arguments()
        if echoed.get("key_content") is not None:
            echoed["key_content"] = MASK
        if isinstance(echoed.get("chains"), list):
            echoed["chains"] = [dict(chain, key_content=MASK if chain.get("key_content") is not None else None)
                                if isinstance(chain, dict) else chain for chain in echoed["chains"]]
        return echoed

    # --- what is on disk ---------------------------------------------------------------

    @staticmethod
    def _lstat(path, parameter):
        try:
            return os.lstat(path)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise ConfigError("%s: cannot look at %s: %s" % (parameter, path, exc.strerror), path=path)

    def _exists(self, path, parameter):
        """Whether something is at ``path``; anything but a file or a link to one is refused."""
        found = self._lstat(path, parameter)
        if found is None:
            return False
        if stat.S_ISLNK(found.st_mode):
            try:
                found = os.stat(path)
            except OSError:
                raise ConfigError("%s: %s is a dangling symbolic link; nothing was changed" % (parameter, path),
                                  path=path)
        if not stat.S_ISREG(found.st_mode):
            raise ConfigError("%s: %s is not a regular file (a directory, FIFO, socket or device); nothing was "
                              "changed" % (parameter, path), path=path)
        return True

    @staticmethod
    def _refuse_exposed_key(key_file, parameter):
        """An existing key that other users can read (or write) is refused, whatever the run would do."""
        mode = stat.S_IMODE(os.stat(key_file).st_mode)
        if mode & 0o007:
            raise ConfigError("%s: the private key %s has mode %04o, so users other than its owner and group "
                              "can read it (consider it exposed); make it 0600 (or 0640 for a trusted group) and "
                              "replace the key if others may have read it; nothing was changed"
                              % (parameter, key_file, mode), path=key_file)

    @staticmethod
    def _read(path, parameter, flags):
        try:
            fd, _info = open_regular(path, os.O_RDONLY | flags)
        except ConfigError as exc:
            raise ConfigError("%s: %s; nothing was changed" % (parameter, exc), path=path)
        except OSError as exc:
            raise ConfigError("%s: cannot read %s: %s; nothing was changed" % (parameter, path, exc.strerror),
                              path=path)
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def _read_existing(self, path, parameter):
        """A file the run only reads: Postfix follows a link (Let's Encrypt's live/ names are links), so do we."""
        if self._lstat(path, parameter) is None:
            raise ConfigError("%s: %s does not exist; give cert_content and key_content, set self_signed, or "
                              "install the files first; nothing was changed" % (parameter, path), path=path)
        return self._read(path, parameter, 0).decode(ENCODING, ERRORS)

    def _current(self, path, parameter):
        """The bytes of a file the run may replace, or None; a link there is refused, never followed."""
        found = self._lstat(path, parameter)
        if found is None:
            return None
        if stat.S_ISLNK(found.st_mode):
            raise ConfigError("%s: %s is a symbolic link; refusing to replace it (give the path it points to); "
                              "nothing was changed" % (parameter, path), path=path)
        return self._read(path, parameter, os.O_NOFOLLOW)

    @staticmethod
    def _refuse_odd_temporary(path):
        """The lock file Postfix's editor uses must be a plain file or absent: check mode predicts the refusal."""
        found = TlsCertificate._lstat(path + TMP_SUFFIX, "file")
        if found is not None and not stat.S_ISREG(found.st_mode):
            raise ConfigError("%s%s is a symbolic link or not a regular file; refusing to write through it; "
                              "nothing was changed" % (path, TMP_SUFFIX), path=path + TMP_SUFFIX)

    @staticmethod
    def _attributes(path, mode, gid):
        """Owned by us (root), the module's mode; the group is key_group, else the file's own, else ours."""
        if gid is None:
            gid = FileAttributes.of(path, mode).gid
        return FileAttributes(mode, os.geteuid(), gid)

    # --- openssl -----------------------------------------------------------------------

    def _openssl(self, args, data=None, cwd=None):
        openssl = self.module.get_bin_path("openssl")
        if not openssl:
            raise CommandError("openssl not found in PATH; install the package 'openssl'")
        return self.module.run_command([openssl] + args, data=data, binary_data=data is not None,
                                       environ_update=C_LOCALE, cwd=cwd)

    def _public_key_of_key(self, key):
        """The key's SubjectPublicKeyInfo (DER); the key goes to openssl on stdin only."""
        if not holds_private_key(key.text):
            raise key.error("is not a PEM private key (no '-----BEGIN ... PRIVATE KEY-----' block)")
        if is_encrypted(key.text):
            raise key.error("is encrypted with a passphrase, which Postfix cannot give at startup; "
                            "decrypt it first (openssl pkey -in KEY -out KEY.plain)")
        # An empty -passin: openssl never prompts on a terminal for a key we did not recognise as encrypted.
        rc, out, err = self._openssl(["pkey", "-pubout", "-passin", "pass:"], data=key.text)
        spki = public_key_der(out) if rc == 0 else None
        if spki is None:
            raise key.error("is not a private key openssl can read: %s" % first_line(err))
        return spki

    def _read_certificate(self, cert):
        """Facts of the first certificate (the server's own) and its SubjectPublicKeyInfo (DER)."""
        if _CERTIFICATE not in cert.text:
            raise cert.error("is not a PEM certificate (no '%s' block)" % _CERTIFICATE)
        rc, out, err = self._openssl(["x509", "-noout", "-subject", "-issuer", "-enddate", "-fingerprint", "-sha256",
                                      "-ext", "subjectAltName", "-pubkey"], data=cert.text)
        spki = public_key_der(out) if rc == 0 else None
        if spki is None:
            raise cert.error("is not a certificate openssl can read: %s" % first_line(err))
        facts = parse_x509(out)
        facts["tlsa_3_1_1"] = tlsa_3_1_1(spki)
        return facts, spki

    def _check_pair(self, pair):
        cert, key = pair.cert, pair.key
        if cert.parameter.endswith("cert_content") and holds_private_key(cert.text):
            raise cert.error("holds a private key; give the key in key_content only (the certificate file is "
                             "readable by everyone)")
        facts, cert_spki = self._read_certificate(cert)
        key_spki = self._public_key_of_key(key)
        if cert_spki != key_spki:
            if cert.parameter.endswith("cert_content"):
                raise InputError(cert.parameter, "the certificate given for %s is not the certificate of the key "
                                 "given for %s (their public keys differ); neither file was changed"
                                 % (cert.path, key.path))
            raise ConfigError("%s: %s is not the certificate of the key %s (their public keys differ); "
                              "nothing was changed" % (cert.parameter, cert.path, key.path), path=cert.path)
        if facts.get("expired"):
            # Postfix would serve it: every client that verifies (DANE, MTA-STS, secure) refuses it.
            raise cert.error("expired on %s; renew it first" % facts["not_after"])
        facts["key_algorithm"] = key_algorithm(key_spki)
        return facts

    def _generate(self, subject, days):
        """A new self-signed pair, made in a private directory under the module's temporary directory."""
        subject = subject or "/CN=%s" % socket.getfqdn()
        workdir = tempfile.mkdtemp(prefix="tls_certificate-", dir=self.module.tmpdir)  # mode 0700
        try:
            rc, out, err = self._openssl(["req", "-x509", "-newkey", SELF_SIGNED_KEY, "-nodes", "-sha256",
                                          "-days", str(days), "-subj", subject,
                                          "-keyout", "key.pem", "-out", "cert.pem"], cwd=workdir)
            if rc != 0:
                raise InputError("self_signed_subject", "openssl could not make a self-signed certificate for %r: %s"
                                 % (subject, first_line(err or out)))
            texts = []
            for name in ("cert.pem", "key.pem"):
                with open(os.path.join(workdir, name), "rb") as handle:
                    texts.append(handle.read().decode(ENCODING, ERRORS))
            return texts[0], texts[1]
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    # --- writing -----------------------------------------------------------------------

    def _install(self, writes):
        """Lock and write every temporary first, then rename them back to back."""
        for path, _text, _attributes, parameter in writes:
            self._make_directory(os.path.dirname(path), KEY_DIR_MODE if parameter.endswith("key_file")
                                 else CERT_DIR_MODE)
        with contextlib.ExitStack() as stack:
            locks = []
            for path, text, attributes, parameter in writes:
                lock = stack.enter_context(EditLock(path))
                if self._current(path, parameter) != text.encode(ENCODING, ERRORS):
                    locks.append((lock, text, attributes))
            for lock, text, attributes in locks:
                lock.write(text, attributes)
            for lock, _text, _attributes in locks:
                lock.commit()

    @staticmethod
    def _make_directory(directory, mode):
        """Create a missing directory (and missing parents, 0755); an existing one is never changed."""
        if not directory or os.path.lexists(directory):
            return
        TlsCertificate._make_directory(os.path.dirname(directory), PARENT_DIR_MODE)
        try:
            os.mkdir(directory, 0o700)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                return  # made meanwhile by someone else: theirs, left alone
            raise ConfigError("cannot create the directory %s: %s" % (directory, exc.strerror), path=directory)
        # mkdir's mode is cut by the umask; set it on the directory we made, never through a link.
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)

    def _report(self, writes, pairs, current):
        written = [path for path, _text, _attributes, _parameter in writes]
        self.result.update(changed=bool(written), changed_files=written,
                           cert_changed=any(pair.cert.path in written for pair in pairs),
                           key_changed=any(pair.key.path in written for pair in pairs))
        if not self.module._diff or not written:
            return
        diff = []
        for pair in pairs:
            if pair.cert.path in written:
                before = current[pair.cert.path]
                before = before.decode(ENCODING, ERRORS) if before is not None else ""
                diff.append({"before": redact_keys(before), "after": redact_keys(pair.cert.text),
                             "before_header": pair.cert.path, "after_header": pair.cert.path})
            if pair.key.path in written:
                diff.append({"prepared": "%s: the private key %s (its content is not shown)\n"
                                         % (pair.key.path, "is created" if current[pair.key.path] is None
                                            else "changes")})
        self.result["diff"] = diff
