# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tls_advisor module's work: TLS policies proposed from the mail log, read-only (private).

Thin: the parsing is ``model.maillog``, the evidence ``plan.delivery_log``, the rules
``plan.advice``, the reading ``host.maillog_files``; another module's work can call them the same way.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone

from ..core.errors import ConfigError, InputError
from ..core.lines import split_list
from ..host.base import PostfixModule
from ..host.commands import parse_parameters
from ..host.files import read_text
from ..host.maillog_files import (DEFAULT_LOG, journal_available, local_zone, mx_hosts, read_file, read_journal,
                                  rotated_family)
from ..model.table_types import FILE_TYPES, table_document
from ..model.tls import covering_keys
from ..plan.advice import check_thresholds, parse_when, policy_for, propose, regroup, report, unused_entries
from ..plan.delivery_log import LogReader

_TABLE = re.compile(r"[a-z0-9_]+:[^\x00-\x1f\x7f]+")
_PARAMETERS = ("maillog_file", "smtp_tls_policy_maps", "smtp_tls_security_level", "relayhost", "transport_maps",
               "smtp_tls_connection_reuse")


class TlsAdvisor(PostfixModule):
    """One host's log, read once; one proposal per destination."""

    def execute(self):
        params = self.module.params
        check_thresholds(params["min_deliveries"], params["min_days"])
        now = datetime.now(timezone.utc)
        since, until = parse_when(params["since"], now, "since"), parse_when(params["until"], now, "until")
        if since and until and since > until:
            raise InputError("since", "%s is after until (%s)" % (since.isoformat(), until.isoformat()))
        config_dir = params["config_dir"]
        if not os.path.isfile(os.path.join(config_dir, "main.cf")):
            raise ConfigError("config_dir: %s has no main.cf" % config_dir, path=config_dir)
        settings = parse_parameters(self.postfix.run("postconf", ["-c", config_dir, "-x"] + list(_PARAMETERS))[1])
        reuse = settings.get("smtp_tls_connection_reuse", "no").lower() == "yes"
        if reuse:
            self.warnings.append("smtp_tls_connection_reuse = yes: tlsproxy logs the TLS verdicts, under its own "
                                 "process id; a delivery without one counts as unknown, not plaintext")
        reader = LogReader(since, until, "unknown" if reuse else "plaintext", local_zone())
        files = self.read_logs(reader, params["paths"], settings.get("maillog_file", ""), since)
        if reader.verdict_lines == 0 and any(log.outcomes["plaintext"] for log in reader.destinations.values()):
            self.warnings.append("the log holds no TLS verdict at all: with smtp_tls_loglevel = 0 Postfix logs none, "
                                 "so the deliveries count as unknown, not plaintext")
            for log in reader.destinations.values():
                log.outcomes["unknown"] += log.outcomes["plaintext"]
                log.outcomes["plaintext"] = 0
        if reader.overflow:
            self.warnings.append("more destinations than the advisor keeps: %d deliveries not counted" % reader.overflow)
        grouped = regroup(reader.destinations, self.nexthops(config_dir, settings, reader.destinations))
        self.advise(config_dir, settings, grouped, files, reader)

    def read_logs(self, reader, paths, maillog_file, since):
        if paths:
            files = []
            for index, path in enumerate(paths):
                if not os.path.isabs(path):
                    raise InputError("paths[%d]" % index, "%r is not an absolute path" % path)
                if not os.path.lexists(path):
                    raise InputError("paths[%d]" % index, "%s does not exist" % path)
                files.append(read_file(reader, path, "paths[%d]" % index))
            return files
        live = maillog_file if maillog_file.startswith("/") else DEFAULT_LOG
        family = rotated_family(live)
        if family:
            files = []
            for path in family:
                try:
                    files.append(read_file(reader, path, "paths (default: %s)" % live))
                except InputError as exc:  # a link or FIFO among the defaults: said, and left alone
                    self.warnings.append(str(exc))
            return files
        if journal_available():
            return [read_journal(reader, since=since)]
        self.warnings.append("no mail log found: %s does not exist and journalctl is not installed" % live)
        return []

    def nexthops(self, config_dir, settings, domains):
        """How a recipient domain maps to the next hop the policy table is keyed by.

        ``relayhost`` set: every domain's next hop is it. Else a ``transport_maps`` entry with a
        next hop (``smtp:[relay.example]:587``) names it; else the domain itself.
        """
        relayhost = settings.get("relayhost", "").strip()
        found = {}
        if not relayhost:
            for table in reversed(split_list(settings.get("transport_maps", ""))):
                found.update(self.postfix.query(config_dir, table, sorted(domains)))

        def nexthop_of(domain):
            if relayhost:
                return relayhost
            _transport, _sep, nexthop = found.get(domain, "").partition(":")
            return nexthop.strip() or domain
        return nexthop_of

    def policies(self, config_dir, settings, destinations):
        """The policy in force per destination, through the real ``postmap -q``; (policies, tables, used keys)."""
        maps = self.module.params["policy_maps"]
        if maps is None:
            maps = split_list(settings.get("smtp_tls_policy_maps", ""))
        for index, table in enumerate(maps):
            if not _TABLE.fullmatch(table):
                raise InputError("policy_maps[%d]" % index, "%r is not a table (type:name)" % table)
        keys = sorted(set(key for destination in destinations for key in covering_keys(destination)))
        found, source = {}, {}
        for table in maps:  # the first table that holds a key decides it, as Postfix looks them up
            for key, value in self.postfix.query(config_dir, table, [key for key in keys if key not in found]).items():
                found[key], source[key] = value, table
        default = settings.get("smtp_tls_security_level", "").strip().lower() or "none"
        policies = {}
        for destination in destinations:
            policy = policy_for(destination, found, default, "smtp_tls_security_level")
            if policy["key"] is not None:
                policy["source"] = source[policy["key"]]
            policies[destination] = policy
        return policies, maps, set(found)

    def advise(self, config_dir, settings, grouped, files, reader):
        params = self.module.params
        policies, maps, used = self.policies(config_dir, settings, grouped)
        destinations, proposals = [], {}
        for destination in sorted(grouped):
            log, policy = grouped[destination], policies[destination]
            proposal = propose(destination, log, policy, params["min_deliveries"], params["min_days"])
            if proposal["level"] and params["every_mx_seen"]:
                proposal = propose(destination, log, policy, params["min_deliveries"], params["min_days"],
                                   mx_hosts(destination) or ["(MX hosts unknown: no answer from dig)"])
            if proposal["level"]:
                proposals[destination] = proposal["level"]
            destinations.append(report(destination, log, policy, proposal))
        self.result.update(changed=False, files=files, window=reader.window(), destinations=destinations,
                           unused_policy_entries=self.unused(maps, used), proposals=proposals)

    def unused(self, maps, used):
        """Entries of the file-based policy tables no destination of the log looked up."""
        unused = []
        for table in maps:
            table_type, _sep, path = table.partition(":")
            if table_type not in FILE_TYPES or not os.path.isfile(path):
                continue
            entries = table_document(table_type, read_text(path)).entries
            unused += [{"key": key, "table": table} for key in unused_entries(list(entries), used)]
        return unused
