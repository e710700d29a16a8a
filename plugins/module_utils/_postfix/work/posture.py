# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tls_posture module's work: what this host's TLS really does, in one read-only call (private).

Reads main.cf's effective values and master.cf, probes every inet smtpd listener with the real
``openssl s_client`` (all probes at once, each with a timeout), reads the served certificates,
the DANE records the receiving side wrote, the hardening profile in force and the sending
side's policy tables. The verdicts are plan/posture.py's. With the ``advisor`` option it also reads
the mail log as tls_advisor does (host.log_advice), so that the fleet report needs one call per host.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone

from ..core.errors import ConfigError, InputError
from ..core.lines import normalize_space, split_list
from ..core.versions import parse_version
from ..host.base import PostfixModule
from ..host.commands import parse_parameters
from ..host.files import index_is_fresh, read_text
from ..host.log_advice import LogAdvice
from ..host.tls_client import TlsClient
from ..model.finger import check_host, check_timeout, text_of
from ..model.hardening import HARDENING_PARAMETERS, profile_in_force
from ..model.master_cf import MasterCf
from ..model.served_tls import PROBED_PROTOCOLS, key_facts, parse_tlsa_file
from ..model.table_types import FILE_TYPES, INDEX_SUFFIXES, is_indexed, table_document
from ..model.x509 import parse_x509
from ..plan.posture import certificate_jobs, findings_of, listener_facts, protocol_jobs, sending_side
from ..plan.receiving import listener_options, probe_address, tls_turned_off_by

_MAP = re.compile(r"([a-z0-9]+):(/.*)", re.S)
_READ = ("myhostname", "inet_interfaces", "inet_protocols", "mail_version", "relayhost", "smtp_tls_security_level",
         "smtp_tls_policy_maps", "smtpd_tls_security_level")


class TlsPosture(PostfixModule):
    """Read-only: listeners, protocols, certificates, DANE, hardening and policy of one Postfix instance."""

    def execute(self):
        params = self.module.params
        config_dir = params["config_dir"]
        timeout = check_timeout(params["timeout"])
        dane = self._dane(params["dane_files"])  # bad input is refused before anything is probed
        advice = None if params["advisor"] is None else LogAdvice(
            self.postfix, config_dir, params["advisor"], self.warnings, "advisor.").check(datetime.now(timezone.utc))
        if not os.path.isfile(os.path.join(config_dir, "main.cf")):
            raise ConfigError("config_dir: %s has no main.cf" % config_dir, path=config_dir)
        effective = dict((name, normalize_space(value)) for name, value in
                         parse_parameters(self.postfix.run("postconf", ["-c", config_dir, "-x"])[1]).items())
        defaults = parse_parameters(self.postfix.run("postconf", ["-c", config_dir, "-d"] +
                                                     list(HARDENING_PARAMETERS))[1])
        version = parse_version(effective.get("mail_version", ""))
        master = MasterCf(read_text(os.path.join(config_dir, "master.cf")))
        address = self._address(params["probe_address"]) or probe_address(
            effective.get("inet_interfaces", "all"), effective.get("inet_protocols", "all"))
        listeners = listener_options(master, address)
        client = TlsClient(self.module.get_bin_path("openssl"), timeout, os.environ)
        jobs = [job for listener in listeners for job in protocol_jobs(listener) + certificate_jobs(listener)]
        plain = [listener[:2] for listener in listeners if not listener[2]]
        results = client.run_all([("probe", job[:4]) for job in jobs] + [("offers_starttls", item) for item in plain])
        probes = dict(zip(jobs, results[:len(jobs)]))
        offers = dict(zip(plain, results[len(jobs):]))
        certificates = self._certificates(probes.values())
        profile, differences = profile_in_force(effective, defaults, version)
        posture = {
            "config_dir": config_dir,
            "hostname": effective.get("myhostname"),
            "version": effective.get("mail_version", ""),
            "listeners": listener_facts(listeners, probes, offers, certificates, tls_turned_off_by(master, address),
                                        effective.get("smtpd_tls_security_level", "")),
            "protocols_probed": [name for name, _flag in PROBED_PROTOCOLS],
            "dane": dane,
            "hardening": {"profile": profile, "differences": dict(
                (name, {"value": value, "intermediate": wanted}) for name, (value, wanted) in differences.items())},
            "sending": sending_side(dict((name, effective.get(name, "")) for name in _READ),
                                    self._policy_tables(effective.get("smtp_tls_policy_maps", ""))),
        }
        if advice is not None:  # the log after the probes: the handshakes are not held up by a large log
            posture["advisor"] = advice.run(effective)
        posture["findings"] = findings_of(posture, posture.get("advisor"))
        self.result.update(changed=False, **posture)

    @staticmethod
    def _address(value):
        """probe_address: a host name or an IP address, never an option-looking or multi-line word."""
        if value is None:
            return None
        try:
            return check_host(value)
        except InputError:
            raise InputError("probe_address", "%r is not a host name, IPv4 or IPv6 address" % (value,))

    def _certificates(self, probes):
        """{fingerprint: facts} of every distinct leaf certificate the probes were served."""
        found = {}
        for probe in probes:
            if not probe["chain"] or probe["chain"][0] in found:
                continue
            pem = probe["chain"][0]
            rc, out, err = self.module.run_command(
                [self.module.get_bin_path("openssl", required=True), "x509", "-noout", "-subject", "-issuer",
                 "-enddate", "-fingerprint", "-sha256", "-ext", "subjectAltName"],
                data=pem, environ_update={"LANG": "C", "LC_ALL": "C"})
            facts = parse_x509(text_of(out)) if rc == 0 else {"error": text_of(err).strip()[:200]}
            facts.update(key_facts(pem))
            found[pem] = facts
        return found

    def _dane(self, paths):
        files, records = [], []
        for index, path in enumerate(paths):
            where = "dane_files[%d]" % index
            if not isinstance(path, str) or not path.startswith("/") or "\n" in path or "\x00" in path:
                raise InputError(where, "%r is not an absolute path" % (path,))
            if os.path.islink(path):
                raise InputError(where, "%s is a symbolic link; give the DANE file itself" % path)
            if not os.path.lexists(path):
                raise InputError(where, "%s does not exist" % path)
            try:
                text = read_text(path)
            except ConfigError as error:
                raise InputError(where, str(error))
            files.append(path)
            records += [dict(record, file=path) for record in parse_tlsa_file(text)]
        return {"files": files, "records": records}

    @staticmethod
    def _policy_tables(value):
        """[{table, type, path, exists, index_fresh, entries: [(key, level)]}] of smtp_tls_policy_maps (expanded)."""
        tables = []
        for spec in split_list(value):
            match = _MAP.fullmatch(spec)
            table = {"table": spec, "exists": None, "index_fresh": None, "entries": []}
            if match and match.group(1) in FILE_TYPES:
                table_type, path = match.groups()
                table["exists"] = os.path.isfile(path) and not os.path.islink(path)
                if table["exists"]:
                    entries = table_document(table_type, read_text(path)).entries
                    table["entries"] = [(key, values[0][1]) for key, values in entries.items()]
                    if is_indexed(table_type):
                        table["index_fresh"] = index_is_fresh(path, [path + suffix
                                                                     for suffix in INDEX_SUFFIXES[table_type]])
            tables.append(table)
        return tables
