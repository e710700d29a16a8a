# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tls_certificate module's work: a server certificate and its private key (private).

Everything is decided before a byte is written, in check mode too: both PEMs are
read with openssl (key material only on stdin or in a private temporary
directory, never in argv), the certificate must carry the key's public key, an
encrypted or unreadable key is refused, and so is an existing key that users
other than its owner and group can read. Only then are both files replaced
together through the one writer (``host/key_files.install``): both temporaries
are locked and written first, then renamed back to back, so a refusal or a
failure leaves the live pair as it was. The pure facts are in
``model/certificate_facts.py``, the files and openssl in ``host/``.
"""

from __future__ import annotations

import grp
import os

from ..core.errors import ConfigError, InputError
from ..host.base import FileEditModule, account_id
from ..host.files import ENCODING, ERRORS, Selinux, same_file_name
from ..host.key_files import (attributes_for, current, exists, install, make_directory, read_existing,
                              refuse_exposed_key, refuse_odd_temporary)
from ..host.openssl import Openssl
from ..model.certificate_facts import (CERT_DIR_MODE, KEY_DIR_MODE, Pair, Pem, expiry_warning, file_mode,
                                       holds_private_key, key_algorithm, key_comes_first, key_file_mode, pair_diff,
                                       pem_block_der, pem_text, refuse_two_keys_of_one_kind, tlsa_3_1_1)
from ..model.table import MASK
from ..model.x509 import parse_x509

# Where the receiving side and the tests have always found them.
__all__ = ["TlsCertificate", "key_algorithm", "pem_block_der", "tlsa_3_1_1"]


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
        refuse_two_keys_of_one_kind(pairs, facts)
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
        cert_found, key_found = exists(cert_file, "cert_file"), exists(key_file, "key_file")
        if key_found:
            refuse_exposed_key(key_file, "key_file")
        if params["self_signed"] and cert_found != key_found:
            missing, there = ("key_file", "cert_file") if cert_found else ("cert_file", "key_file")
            raise ConfigError("%s: %s does not exist but %s %s does; self_signed generates both or neither: "
                              "remove the other one or install the missing file; nothing was changed"
                              % (missing, params[missing], there, params[there]))
        generate = params["self_signed"] and not cert_found and not key_found
        if given:
            cert = Pem("cert_content", cert_file, pem_text(params["cert_content"]))
            key = Pem("key_content", key_file, pem_text(params["key_content"]))
        elif generate:
            cert_text, key_text = Openssl(self.module).generate(params["self_signed_subject"], params["self_signed_days"])
            cert, key = Pem("cert_file", cert_file, cert_text), Pem("key_file", key_file, key_text)
        else:
            # Only paths (or a self-signed pair made earlier): check what is there, write nothing.
            cert = Pem("cert_file", cert_file, read_existing(cert_file, "cert_file"))
            key = Pem("key_file", key_file, read_existing(key_file, "key_file"))
        return [Pair("", cert, key, given)], generate

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
            if exists(chain["key_file"], where + "key_file"):
                refuse_exposed_key(chain["key_file"], where + "key_file")
            if given:
                cert = Pem(where + "cert_content", chain["cert_file"], pem_text(chain["cert_content"]))
                key = Pem(where + "key_content", chain["key_file"], pem_text(chain["key_content"]))
            else:
                cert = Pem(where + "cert_file", chain["cert_file"],
                           read_existing(chain["cert_file"], where + "cert_file"))
                key = Pem(where + "key_file", chain["key_file"],
                          read_existing(chain["key_file"], where + "key_file"))
            pairs.append(Pair(where, cert, key, given))
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
        text = read_existing(chain["key_file"], where + "key_file")
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
        key_gid = account_id(params["key_group"], grp.getgrnam, "key_group") if params["key_group"] else None
        if params["self_signed_days"] <= 0:
            raise InputError("self_signed_days", "must be a positive number of days")
        return {"cert": (cert_mode, None), "key": (key_mode, key_gid)}

    def _put_pairs(self, pairs, attributes):
        """Write the checked pairs where their bytes differ (nothing in check mode) and report."""
        writes, before = [], {}
        for pair in pairs:
            for name, pem in (("cert", pair.cert), ("key", pair.key)):
                parameter = pair.where + name + "_file"
                before[pem.path] = current(pem.path, parameter)
                if before[pem.path] != pem.text.encode(ENCODING, ERRORS):
                    mode, gid = attributes[name]
                    writes.append((pem.path, pem.text, attributes_for(pem.path, mode, gid), parameter))
        for path, _text, _attributes, _parameter in writes:
            refuse_odd_temporary(path)
        if writes and not self.module.check_mode:
            self._install(writes)
        self._report(writes, pairs, before)

    def echoed_arguments(self):
        echoed = super().echoed_arguments()
        if echoed.get("key_content") is not None:
            echoed["key_content"] = MASK
        if isinstance(echoed.get("chains"), list):
            echoed["chains"] = [dict(chain, key_content=MASK if chain.get("key_content") is not None else None)
                                if isinstance(chain, dict) else chain for chain in echoed["chains"]]
        return echoed

    def _check_pair(self, pair):
        cert, key, openssl = pair.cert, pair.key, Openssl(self.module)
        if cert.parameter.endswith("cert_content") and holds_private_key(cert.text):
            raise cert.error("holds a private key; give the key in key_content only (the certificate file is "
                             "readable by everyone)")
        printed, cert_spki = openssl.read_certificate(cert)
        facts = parse_x509(printed)
        facts["tlsa_3_1_1"] = tlsa_3_1_1(cert_spki)
        key_spki = openssl.public_key_of_key(key)
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

    # --- writing ----------------------------------------------------------------------

    def _install(self, writes):
        """Every pair through the one writer: all temporaries written, then renamed back to back."""
        for path, _text, _attributes, parameter in writes:
            make_directory(os.path.dirname(path), KEY_DIR_MODE if parameter.endswith("key_file") else CERT_DIR_MODE)
        backups = install(writes, backup=bool(self.module.params.get("backup")), selinux=Selinux(self.module))
        if backups:
            self.result["backup_files"] = backups

    def _report(self, writes, pairs, current_bytes):
        written = [path for path, _text, _attributes, _parameter in writes]
        self.result.update(changed=bool(written), changed_files=written,
                           cert_changed=any(pair.cert.path in written for pair in pairs),
                           key_changed=any(pair.key.path in written for pair in pairs))
        if self.module._diff and written:
            self.result["diff"] = pair_diff(pairs, written, current_bytes, lambda data: data.decode(ENCODING, ERRORS))
