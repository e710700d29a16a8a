# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tls_profile's receiving side: key chains, SNI, DANE records, renewal and the self-probe (private).

The decisions are in receiving.py (pure); this part reads and writes for them, inside the
profile's one call: the SNI chains and table are written after the server's own pair and before
main.cf names them; the record of what Postfix loaded tells the profile to reload when a managed
certificate or key changed on disk since (a renewal outside Ansible); after the reload the
host's own listeners are probed for the certificate just deployed.

Its contract with the coordinator (``profile.py``): it plans from its declaration and what the
host holds, and hands back a ``ReceivingPart`` - its result part, its warnings, and the small
files it wants written (``FileWrite``: the DANE records, the hook, the record), which the
coordinator writes through the one writer. It never writes the coordinator's result.
"""

from __future__ import annotations

import os
import time

from ..core.file_names import RECORD_MODE
from ..core.errors import ConfigError, InputError, PostfixError
from ..host.base import FileWrite, ReceivingPart, check_new_file
from ..host.files import REPLACE, read_bytes, read_text
from ..host.commands import parse_parameters
from ..host.key_files import read_existing
from ..model.certificate_facts import CERTIFICATE, holds_private_key
from ..model.main_cf import plan_edit
from ..model.master_cf import MasterCf
from ..model.table_types import check_map_path
from ..model.tls import check_port
from ..plan.file_roles import reads, table_writes, writes
from ..plan.receiving import (CHAIN_FILES, KEPT_PARAMETERS, LEGACY_KEY_PARAMETERS, LOADED_RECORD, SNI_MAPS,
                              chain_files_value, changed_since_loaded, check_tlsa_name, file_digests, kept_certificate,
                              kept_files, kept_groups, kept_in_main_cf_words, kept_missing, listener_ports,
                              probe_address, record_text, sni_entries, tls_turned_off_by, tlsa_record_lines)
from ..work.certificate import TlsCertificate, pem_block_der, tlsa_3_1_1
from ..work.probe import TlsProbe
from ..work.renewal_hook import HOOK_MODE, hook_script
from ..work.table_edit import PrivateTable

SELF_PROBE_PAUSE = 0.5
DANE_FILE_MODE = 0o644


def check_chain_paths(where, chains):
    """smtpd_tls_chain_files and the SNI table are lists: a path with a space or comma would split."""
    for index, chain in enumerate(chains):
        for name in ("key_file", "cert_file"):
            check_map_path(chain[name], "%s.chains[%d].%s" % (where, index, name))


def chain_uses(where, chains):
    """A chain given as content is written; one given by path is only read (and served)."""
    uses = []
    for index, chain in enumerate(chains):
        use = writes if chain.get("cert_content") is not None else reads
        uses += [use("%s.chains[%d].%s" % (where, index, name), chain[name]) for name in ("cert_file", "key_file")]
    return uses


def certificate_defaults(certificate):
    """The options of an SNI item's certificate part: the default certificate's modes and group."""
    base = certificate or {}
    return dict(cert_file=None, key_file=None, cert_content=None, key_content=None, self_signed=False,
                self_signed_subject=None, self_signed_days=365, key_mode=base.get("key_mode", "0600"),
                key_group=base.get("key_group"), cert_mode=base.get("cert_mode", "0644"))


def default_pairs(certificate):
    certificate = certificate or {}
    if certificate.get("chains"):
        return certificate["chains"]
    if certificate.get("cert_file") and certificate.get("key_file"):
        return [dict(key_file=certificate["key_file"], cert_file=certificate["cert_file"])]
    return []


def next_key_digest(module, path, where):
    """The 3 1 1 digest of a key not yet deployed: its private or public key file, never echoed."""
    try:
        data = read_bytes(path)
    except ConfigError as exc:
        raise InputError(where, str(exc))
    public = b"-----BEGIN PUBLIC KEY-----" in data
    openssl = module.get_bin_path("openssl", required=True)
    argv = [openssl, "pkey", "-pubin", "-pubout"] if public else [openssl, "pkey", "-pubout", "-passin", "pass:"]
    rc, out, _err = module.run_command(argv, data=data, binary_data=True)
    spki = pem_block_der(out, "PUBLIC KEY") if rc == 0 else None
    if spki is None:
        raise InputError(where, "%s is not a PEM private or public key openssl can read" % path)
    return tlsa_3_1_1(spki)


def self_probe_failure(listener, wrapper, found, served, fingerprints, override=None):
    """Why a listener failed the self-probe, naming what to fix (never blaming the key for an override)."""
    if not found.get("established"):
        what = "TLS (wrapper mode)" if wrapper else "STARTTLS"
        if override:
            # The listener's own setting, not the certificate: say so, never blame the key.
            return ("%s does not offer %s: master.cf sets %s on this listener, which turns TLS off there "
                    "whatever main.cf says; remove that override" % (listener, what, override))
        if not wrapper and not found.get("starttls"):
            return ("%s does not offer STARTTLS: Postfix takes mail in clear (look for 'disabling TLS "
                    "support' in its log: an unreadable key or a key that does not match)" % listener)
        return "%s: no %s handshake (%s)" % (listener, what, "; ".join(found.get("errors") or []) or "no reason")
    return ("%s serves the certificate %s, not the one just deployed (%s)"
            % (listener, served, ", ".join(fingerprints)))


class ListenerProbe(object):
    """The self-probe of the host's own listeners (``profile`` and ``config_dir`` are the side's)."""

    _listener_address = None

    def self_probe_targets(self, master_text):
        """(port, wrappermode) of the host's smtpd listeners, and the fingerprints they must serve."""
        facts = self.profile.result.get("certificate", {}).get("certificates", [])
        fingerprints = [found["fingerprint_sha256"] for found in facts if found.get("fingerprint_sha256")]
        return listener_ports(MasterCf(master_text), self._probe_address()), fingerprints

    def _probe_address(self):
        """Where this host reaches a listener without an address: as inet_interfaces and inet_protocols say."""
        if self._listener_address is None:
            postfix = self.profile.postfix
            self._listener_address = probe_address(*[postfix.run("postconf", ["-c", self.config_dir, "-xh", name])[1]
                                                     .strip() for name in ("inet_interfaces", "inet_protocols")])
        return self._listener_address

    def self_probe(self, master_text, timeout):
        """Probe each listener until it serves a deployed certificate or ``timeout`` seconds pass."""
        ports, fingerprints = self.self_probe_targets(master_text)
        overrides = tls_turned_off_by(MasterCf(master_text), self._probe_address())
        results, failures = [], []
        for address, port, wrapper in ports:
            deadline = time.time() + timeout
            while True:
                found = self._probe(address, port, wrapper)
                served = (found.get("certificate") or {}).get("fingerprint_sha256")
                ok = found.get("established") and (not fingerprints or served in fingerprints)
                if ok or time.time() >= deadline:
                    break
                time.sleep(SELF_PROBE_PAUSE)
            results.append({"address": address, "port": port, "wrappermode": wrapper,
                            "starttls": bool(found.get("starttls")),
                            "established": bool(found.get("established")), "served_fingerprint": served,
                            "matches": bool(ok)})
            if not ok:
                failures.append(self_probe_failure("%s:%d" % (address, port), wrapper, found, served, fingerprints,
                                                   overrides.get((address, port))))
        return results, failures

    def _probe(self, address, port, wrapper):
        probe = TlsProbe(self.profile.part_module(dict(
            # An IPv6 listener is Postfix's [ipv6:address] next hop (postconf(5), "ipv6:").
            destination="[%s%s]:%d" % ("ipv6:" if ":" in address else "", address, port), host=None, port=None,
            ca_path=None, ca_file=None,
            wrappermode=wrapper, helo=None, host_lookup="native", timeout=10)))
        try:
            probe.execute()
        except PostfixError as exc:
            return {"established": False, "starttls": False, "errors": [str(exc)]}
        return probe.result


def chain_file_pairs(files):
    """(key_file, cert_file) of each key smtpd_tls_chain_files names: one file holding a key and its chain,
    or a key file right before its chain file (postconf(5))."""
    pairs, key = [], None
    for path in files:
        if not os.path.exists(path):
            raise kept_missing(CHAIN_FILES, path)
        text = read_existing(path, CHAIN_FILES)
        has_key, has_cert = holds_private_key(text), CERTIFICATE in text
        if key is None and has_key:
            pairs, key = (pairs + [(path, path)], None) if has_cert else (pairs, path)
        elif key is not None and has_cert and not has_key:
            pairs, key = pairs + [(key, path)], None
        else:
            raise ConfigError("%s: %s is not where a key or its certificate chain belongs (each key file right before "
                              "its chain file, or one file holding both); give certificate.chains to check them; "
                              "nothing was changed" % (CHAIN_FILES, path), path=path)
    if key is not None:
        raise ConfigError("%s: the key %s is not followed by its certificate chain file; nothing was changed"
                          % (CHAIN_FILES, key), path=key)
    return pairs


class KeptCertificate(object):
    """The host's own certificate, kept when the declaration gives none (``certificate.keep``): the pair
    main.cf names as this call plans it, checked where it is as a given one is, and said to be kept."""

    kept = None  # {"names": {option: main.cf parameter}, "parameters": {parameter: value}} once found

    def _keep(self, wanted, remove):
        given = sorted(name for name in ("cert_file", "key_file", "cert_content", "key_content", "chains",
                                         "self_signed") if self.certificate.get(name))
        if given:
            raise InputError("certificate.keep", "cannot be combined with %s: it keeps the certificate and key "
                                                 "main.cf names" % ", ".join(given))
        values = self._planned_key_values(wanted, remove)
        groups = kept_groups(values)
        chains = chain_file_pairs(groups[0][1]) if groups[0][0] == CHAIN_FILES else []
        options, names = kept_certificate(groups, chains)
        for parameter, path in kept_files(options, names):
            if not os.path.exists(path):
                raise kept_missing(parameter, path)
        self.certificate = dict(certificate_defaults(self.certificate), chains=None)
        self.certificate.update(options)
        self.kept = {"names": names,
                     "parameters": dict((name, values.get(name, "")) for name in dict.fromkeys(names.values()))}

    def _planned_key_values(self, wanted, remove):
        """The values (expanded, defaults too) of the parameters naming keys, as main.cf is planned."""
        main_path = self.profile.main_cf_path()[1]
        text = read_text(main_path)
        planned = plan_edit(text, dict((name, wanted[name]) for name in KEPT_PARAMETERS if name in wanted),
                            [name for name in remove if name in KEPT_PARAMETERS])[0]
        if planned == text:
            return self._expanded(self.config_dir)
        with self.profile.scratch_config(self.config_dir, planned) as scratch:
            return self._expanded(scratch)

    def _expanded(self, config_dir):
        # smtpd_tls_chain_files came with Postfix 3.4: an older postconf knows no such name.
        names = [name for name in KEPT_PARAMETERS if name != CHAIN_FILES or self.profile.version >= (3, 4)]
        return parse_parameters(self.profile.postfix.run("postconf", ["-c", config_dir, "-x"] + names)[1])

    def certificate_part(self, check_mode=None):
        """The certificate part run on the server's own pair (given, generated, or kept); the kept pair's
        messages name main.cf's parameters, and its result says it was kept."""
        part = TlsCertificate(self.profile.part_module(self.certificate, check_mode=check_mode))
        if not self.kept:
            part.execute()
            part.result["kept"] = False
            return part
        names = self.kept["names"]
        try:
            part.execute()
        except PostfixError as exc:
            raise ConfigError(kept_in_main_cf_words(str(exc), names))
        part.warnings[:] = [kept_in_main_cf_words(warning, names) for warning in part.warnings]
        part.result.update(kept=True, parameters=self.kept["parameters"])
        return part


class ReceivingSide(ListenerProbe, KeptCertificate):
    """The receiving side of one tls_profile call; ``profile`` is the TlsProfile it works for (its
    module, Postfix's tools and the parts it runs; its result is the coordinator's, never written here)."""

    def __init__(self, profile, config_dir, certificate, receiving):
        self.profile, self.config_dir = profile, config_dir
        self.certificate, self.spec = certificate, receiving
        self.sni_parts, self.sni_table, self.sni_results = [], None, []
        self.loaded_files, self.next_digests = {}, []

    @property
    def module(self):
        return self.profile.module

    # --- the request ------------------------------------------------------------------

    def request(self, wanted, remove, table_type):
        """Add main.cf's part (chain files, the SNI map) to ``wanted``/``remove``; plan the SNI table. A
        certificate to keep is found in main.cf as planned (``self.certificate`` then names its files)."""
        if (self.certificate or {}).get("keep"):
            self._keep(wanted, remove)
        else:
            self._request_certificate(wanted, remove)
        spec = self.spec
        if not spec:
            return
        self._check_dane_and_hook(spec)
        if spec["sni"]:
            self._plan_sni(wanted, table_type)
        elif SNI_MAPS not in wanted and self._names_our_table(spec):
            remove.append(SNI_MAPS)  # no SNI names any more: the table is no longer consulted

    def _request_certificate(self, wanted, remove):
        chains = (self.certificate or {}).get("chains") or []
        check_chain_paths("certificate", chains)
        if chains:
            given = [name for name in LEGACY_KEY_PARAMETERS if name in wanted]
            if given:
                raise InputError("certificate.chains", "cannot be combined with %s in parameters: with "
                                 "smtpd_tls_chain_files Postfix ignores them" % ", ".join(given))
            wanted[CHAIN_FILES] = chain_files_value(chains)
            remove.extend(name for name in LEGACY_KEY_PARAMETERS if name not in remove)
        elif self.certificate and CHAIN_FILES not in wanted:
            # Back to one pair: chain files left in main.cf would still win over it.
            remove.append(CHAIN_FILES)

    def _check_dane_and_hook(self, spec):
        """Everything the writes after main.cf need, checked before the first write."""
        dane = spec.get("dane")
        if dane is not None:
            for name in dane["names"]:
                check_tlsa_name(name, "receiving.dane.names")
            for port in dane["ports"]:
                check_port(port, "receiving.dane.ports")
            self.next_digests = [next_key_digest(self.module, path, "receiving.dane.next_keys[%d]" % index)
                                 for index, path in enumerate(dane["next_keys"])]
            if dane.get("file"):
                check_new_file(dane["file"], "receiving.dane.file")
        if spec.get("renewal_hook"):
            check_new_file(spec["renewal_hook"], "receiving.renewal_hook")

    def _names_our_table(self, spec):
        current = self.profile.postfix.parameter(self.config_dir, SNI_MAPS)
        return current.endswith(":" + spec["sni_table"])

    def _plan_sni(self, wanted, table_type):
        spec = self.spec
        table_type = spec["sni_table_type"] or table_type
        path = spec["sni_table"]
        check_map_path(path, "receiving.sni_table")
        entries = sni_entries(spec["sni"], self._default_names(), default_pairs(self.certificate))
        for index, item in enumerate(spec["sni"]):
            check_chain_paths("receiving.sni[%d]" % index, item["chains"])
            params = dict(certificate_defaults(self.certificate), chains=item["chains"])
            self.sni_parts.append(("receiving.sni[%d]" % index, params))
        self.sni_table = dict(config_dir=self.config_dir, path=path, type=table_type, key=None, value=None,
                              entries=entries, state="present", exclusive=True, secret=True, backup=False,
                              file_values=True)
        wanted[SNI_MAPS] = "%s:%s" % (table_type, path)

    def _default_names(self):
        """The names of the default certificate (read as the certificate part will), and myhostname."""
        names = []
        if self.certificate:
            try:
                rehearsal = TlsCertificate(self.profile.part_module(self.certificate, check_mode=True))
                rehearsal.execute()
                for found in rehearsal.result.get("certificates", []):
                    names.extend(found.get("names", []))
            except (InputError, ConfigError):
                pass  # the certificate part refuses it with its own message
        names.append(self.profile.postfix.parameter(self.config_dir, "myhostname"))
        return list(dict.fromkeys(names))

    def file_uses(self):
        """Every file this side reads or writes (file_roles): the keys and certificates, given as content
        (written) or by path (read), the SNI table, the hook, the DANE file and next keys, the record."""
        certificate, spec = self.certificate or {}, self.spec or {}
        if certificate.get("chains"):
            uses = chain_uses("certificate", certificate["chains"])
        else:
            write = certificate.get("cert_content") is not None or certificate.get("self_signed")
            uses = [(writes if write else reads)("certificate." + name, certificate[name])
                    for name in ("cert_file", "key_file") if certificate.get(name)]
        for where, params in self.sni_parts:
            uses += chain_uses(where, params["chains"])
        if self.sni_table:
            uses += table_writes("receiving.sni_table", self.sni_table["path"], self.sni_table["type"])
        if spec.get("renewal_hook"):
            uses.append(writes("receiving.renewal_hook", spec["renewal_hook"]))
        dane = spec.get("dane") or {}
        if dane.get("file"):
            uses.append(writes("receiving.dane.file", dane["file"]))
        uses += [reads("receiving.dane.next_keys[%d]" % index, path)
                 for index, path in enumerate(dane.get("next_keys") or [])]
        if self.managed_files():
            # Beside main.cf, wherever config_dir is: the one path here that is not the user's own spelling.
            uses.append(writes("the record of the TLS files Postfix loaded", os.path.abspath(self._record_path())))
        return uses

    # --- writes -------------------------------------------------------------------------

    def rehearse(self):
        parts = [self._run_certificate(where, params, [], check_mode=True) for where, params in self.sni_parts]
        if self.sni_table and not any(part.result["changed"] for part in parts):
            PrivateTable(self.profile.part_module(self.sni_table, check_mode=True)).execute()

    def write_before_main_cf(self):
        """The SNI chains and table (main.cf names them, so they come first); returns a ``ReceivingPart``."""
        part = ReceivingPart()
        self.sni_results = [self._run_certificate(where, params, part.warnings).result
                            for where, params in self.sni_parts]
        if self.sni_results:
            part.result["sni_certificates"] = self.sni_results
            part.changed = any(result["changed"] for result in self.sni_results)
        if not self.sni_table:
            return part
        if self.module.check_mode and part.changed:
            # The files the table names are written by this run: the real run builds its index.
            part.result["sni_table"] = {"changed": True, "postmap_run": True,
                                        "rebuild_reason": "its key and chain files are written by this run"}
            return part
        # Its index holds the private keys (postmap -F): private from the first byte.
        table = PrivateTable(self.profile.part_module(self.sni_table))
        table.execute()
        part.parts["sni_table"] = table.result
        part.warnings.extend(table.warnings)
        return part

    def _run_certificate(self, where, params, warnings, check_mode=None):
        part = TlsCertificate(self.profile.part_module(params, check_mode=check_mode))
        try:
            part.execute()
        except InputError as exc:
            # The part names its own parameter (chains[0].key_content): say which SNI item it is.
            raise InputError(where, str(exc))
        warnings.extend(part.warnings)
        return part

    def write_after_main_cf(self, certificate_result):
        """The DANE records (and their file) and the renewal hook, for the certificates the certificate
        part reported (``certificate_result``); returns a ``ReceivingPart``."""
        part = ReceivingPart()
        spec = self.spec or {}
        if spec.get("dane") is not None:
            self._dane(spec["dane"], (certificate_result or {}).get("certificates", []), part)
        if spec.get("renewal_hook"):
            part.result["renewal_hook"] = {"path": spec["renewal_hook"], "changed": False}
            part.writes.append(FileWrite(spec["renewal_hook"], hook_script(self.config_dir, self._record_path()),
                                         HOOK_MODE, "renewal_hook", "changed"))
        return part

    def _dane(self, dane, certificates, part):
        deployed = [found["tlsa_3_1_1"] for found in certificates]
        upcoming = self.next_digests
        names = [check_tlsa_name(name, "receiving.dane.names") for name in dane["names"]] or \
            [self.profile.postfix.parameter(self.config_dir, "myhostname")]
        records = tlsa_record_lines(names, dane["ports"], list(dict.fromkeys(deployed + upcoming)))
        part.result["tlsa"] = {"current": deployed, "next": upcoming, "records": records}
        if dane.get("file"):
            text = "; DANE TLSA records of this host's SMTP server keys, written by mailtls.postfix\n" + \
                "\n".join(records) + "\n"
            part.result["tlsa"]["file_changed"] = False
            part.writes.append(FileWrite(dane["file"], text, DANE_FILE_MODE, "tlsa", "file_changed"))

    # --- what Postfix loaded ------------------------------------------------------------

    def _record_path(self):
        # Beside main.cf: one record per Postfix instance (instances may share a data_directory).
        return os.path.join(self.config_dir, LOADED_RECORD)

    def managed_files(self):
        """Every key and certificate file Postfix loads that this call manages."""
        paths = []
        for pair in default_pairs(self.certificate):
            paths += [pair["key_file"], pair["cert_file"]]
        for _where, params in self.sni_parts:
            for chain in params["chains"]:
                paths += [chain["key_file"], chain["cert_file"]]
        return list(dict.fromkeys(paths))

    def changed_since_loaded(self, certificate_result=None):
        """The managed files whose bytes Postfix has not loaded yet (a renewal since the last run);
        ``certificate_result`` is the certificate part's (check mode: what it would write)."""
        paths = self.managed_files()
        if not paths:
            return []
        would_write = set(path for result in [certificate_result or {}] + self.sni_results
                          for path in result.get("changed_files", []))
        contents = {}
        for path in paths:
            try:
                contents[path] = read_bytes(path)
            except ConfigError:
                return sorted(path for path in paths if path in would_write) if self.module.check_mode else []
        self.loaded_files = file_digests(contents)
        record = self._record_path()
        found = changed_since_loaded(read_text(record) if os.path.isfile(record) else "", self.loaded_files)
        if self.module.check_mode:
            # The files this run would write differ from what Postfix loaded, as the real run finds.
            found = sorted(set(found) | set(path for path in paths if path in would_write))
        return found

    def record_loaded(self):
        """After the reload (or with Postfix stopped: it loads them at start), the record of what it loads,
        as a ``ReceivingPart`` writing it (a link or FIFO at its name is replaced, never followed)."""
        part = ReceivingPart()
        record = self._record_path()
        if self.loaded_files and not self.module.check_mode and os.path.isdir(os.path.dirname(record)):
            digests = file_digests(dict((path, read_bytes(path)) for path in self.loaded_files))
            part.writes.append(FileWrite(record, record_text(digests), RECORD_MODE, odd_target=REPLACE))
        return part

    def forget_loaded(self):
        """After a failed self-probe: the next run reloads and probes again instead of trusting the record."""
        record = self._record_path()
        if not self.module.check_mode and os.path.isfile(record) and not os.path.islink(record):
            os.unlink(record)
