# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""openssl, run for certificates and keys (private to the collection).

Key material goes to openssl on stdin only, or lives in a private temporary directory; it is
never in argv.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

from ..core.errors import CommandError, InputError
from ..model.certificate_facts import CERTIFICATE, SELF_SIGNED_KEY, holds_private_key, is_encrypted, pem_block_der
from .commands import C_LOCALE, output_lines
from .files import ENCODING, ERRORS


def first_line(text):
    """openssl's first message line, past the progress dots key generation prints."""
    lines = [line.strip() for line in output_lines(text) if line.strip().strip(".+*-")]
    return lines[0] if lines else "no reason given"


class Openssl(object):
    """openssl through an AnsibleModule's run_command."""

    def __init__(self, module):
        self.module = module

    def run(self, args, data=None, cwd=None):
        openssl = self.module.get_bin_path("openssl")
        if not openssl:
            raise CommandError("openssl not found in PATH; install the package 'openssl'")
        return self.module.run_command([openssl] + args, data=data, binary_data=data is not None,
                                       environ_update=C_LOCALE, cwd=cwd)

    def public_key_of_key(self, key):
        """The key's SubjectPublicKeyInfo (DER); ``key`` is a ``Pem``, given to openssl on stdin only."""
        if not holds_private_key(key.text):
            raise key.error("is not a PEM private key (no '-----BEGIN ... PRIVATE KEY-----' block)")
        if is_encrypted(key.text):
            raise key.error("is encrypted with a passphrase, which Postfix cannot give at startup; "
                            "decrypt it first (openssl pkey -in KEY -out KEY.plain)")
        # An empty -passin: openssl never prompts on a terminal for a key we did not recognise as encrypted.
        rc, out, err = self.run(["pkey", "-pubout", "-passin", "pass:"], data=key.text)
        spki = pem_block_der(out, "PUBLIC KEY") if rc == 0 else None
        if spki is None:
            raise key.error("is not a private key openssl can read: %s" % first_line(err))
        return spki

    def read_certificate(self, cert):
        """What openssl prints of the first certificate (the server's own: model/x509.py reads it) and
        its SubjectPublicKeyInfo (DER)."""
        if CERTIFICATE not in cert.text:
            raise cert.error("is not a PEM certificate (no '%s' block)" % CERTIFICATE)
        # Two runs: subjectAltName must be the last thing printed (model/x509.py reads its names from
        # there), and a name may hold newlines, so a key printed after it could be forged by the name.
        rc, key_out, err = self.run(["x509", "-noout", "-pubkey"], data=cert.text)
        spki = pem_block_der(key_out, "PUBLIC KEY") if rc == 0 else None
        if spki is None:
            raise cert.error("is not a certificate openssl can read: %s" % first_line(err))
        rc, out, err = self.run(["x509", "-noout", "-subject", "-issuer", "-enddate", "-fingerprint", "-sha256",
                                 "-ext", "subjectAltName"], data=cert.text)
        if rc != 0:
            raise cert.error("is not a certificate openssl can read: %s" % first_line(err))
        return out, spki

    def generate(self, subject, days):
        """A new self-signed pair, made in a private directory under the module's temporary directory."""
        subject = subject or "/CN=%s" % socket.getfqdn()
        workdir = tempfile.mkdtemp(prefix="tls_certificate-", dir=self.module.tmpdir)  # mode 0700
        try:
            rc, out, err = self.run(["req", "-x509", "-newkey", SELF_SIGNED_KEY, "-nodes", "-sha256",
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
