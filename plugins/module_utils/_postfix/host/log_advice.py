# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The advisor's reading of a host's mail log, for any module that reads one (private).

tls_advisor's whole answer (files, window, destinations, unused policy entries, proposals) from
the options it takes; tls_posture gives the same options under its ``advisor`` option, so that
the fleet report costs one module call per host. ``prefix`` names the options in errors
(``advisor.paths[0]``). The parsing is ``model.maillog``, the evidence ``plan.delivery_log``,
the rules ``plan.advice``, the reading ``host.maillog_files``, the tables the real ``postmap -q``.
"""

from __future__ import annotations

import os
import re

from ..core.errors import ConfigError, InputError
from ..core.lines import split_list
from ..model.table_types import FILE_TYPES, table_document
from ..model.tls import covering_keys
from ..plan.advice import check_thresholds, parse_when, policy_for, propose, regroup, report, unused_entries
from ..plan.delivery_log import LogReader
from .files import read_text
from .maillog_files import (DEFAULT_LOG, journal_available, local_zone, mx_hosts, read_file, read_journal,
                            rotated_family)

_TABLE = re.compile(r"[a-z0-9_]+:[^\x00-\x1f\x7f]+")
# The main.cf parameters the advice reads (postconf -x).
ADVISOR_PARAMETERS = ("maillog_file", "smtp_tls_policy_maps", "smtp_tls_security_level", "relayhost", "transport_maps",
                      "smtp_tls_connection_reuse")
# tls_advisor's options with their defaults (tls_posture's ``advisor`` suboptions are the same but every_mx_seen).
ADVISOR_DEFAULTS = {"paths": None, "since": None, "until": None, "min_deliveries": 10, "min_days": 3,
                    "every_mx_seen": False, "policy_maps": None}


class LogAdvice(object):
    """One host's log, read once; one proposal per destination.

    ``postfix``: host.commands.Postfix; ``options``: tls_advisor's options (``ADVISOR_DEFAULTS``);
    ``warnings``: a list the advice appends to.
    """

    def __init__(self, postfix, config_dir, options, warnings, prefix=""):
        self.postfix, self.config_dir, self.warnings, self.prefix = postfix, config_dir, warnings, prefix
        self.options = dict(ADVISOR_DEFAULTS, **dict((key, value) for key, value in (options or {}).items()
                                                     if value is not None))
        self.since = self.until = None

    def check(self, now):
        """Every option checked, before anything is read or probed; InputError names the option."""
        options, prefix = self.options, self.prefix
        try:
            check_thresholds(options["min_deliveries"], options["min_days"])
            self.since = parse_when(options["since"], now, "since")
            self.until = parse_when(options["until"], now, "until")
        except InputError as exc:
            raise InputError(prefix + exc.details["parameter"], str(exc).partition(": ")[2])
        if self.since and self.until and self.since > self.until:
            raise InputError(prefix + "since", "%s is after until (%s)" % (self.since.isoformat(),
                                                                           self.until.isoformat()))
        for index, path in enumerate(options["paths"] or []):
            if not isinstance(path, str) or not os.path.isabs(path):
                raise InputError("%spaths[%d]" % (prefix, index), "%r is not an absolute path" % (path,))
        for index, table in enumerate(options["policy_maps"] or []):
            if not isinstance(table, str) or not _TABLE.fullmatch(table):
                raise InputError("%spolicy_maps[%d]" % (prefix, index), "%r is not a table (type:name)" % (table,))
        return self

    def run(self, settings):
        """The advice from ``settings`` (main.cf's ``ADVISOR_PARAMETERS``): tls_advisor's result."""
        reuse = settings.get("smtp_tls_connection_reuse", "no").lower() == "yes"
        if reuse:
            self.warnings.append("smtp_tls_connection_reuse = yes: tlsproxy logs the TLS verdicts, under its own "
                                 "process id; a delivery without one counts as unknown, not plaintext")
        reader = LogReader(self.since, self.until, "unknown" if reuse else "plaintext", local_zone())
        files = self.read_logs(reader, self.options["paths"], settings.get("maillog_file", ""))
        if reader.verdict_lines == 0 and any(log.outcomes["plaintext"] for log in reader.destinations.values()):
            self.warnings.append("the log holds no TLS verdict at all: with smtp_tls_loglevel = 0 Postfix logs none, "
                                 "so the deliveries count as unknown, not plaintext")
            for log in reader.destinations.values():
                log.outcomes["unknown"] += log.outcomes["plaintext"]
                log.outcomes["plaintext"] = 0
        if reader.overflow:
            self.warnings.append("more destinations than the advisor keeps: %d deliveries not counted" % reader.overflow)
        grouped = regroup(reader.destinations, self.nexthops(settings, reader.destinations))
        return self.advise(settings, grouped, files, reader)

    def read_logs(self, reader, paths, maillog_file):
        if paths:
            files = []
            for index, path in enumerate(paths):
                where = "%spaths[%d]" % (self.prefix, index)
                if not os.path.lexists(path):
                    raise InputError(where, "%s does not exist" % path)
                files.append(read_file(reader, path, where))
            return files
        live = maillog_file if maillog_file.startswith("/") else DEFAULT_LOG
        family = rotated_family(live)
        if family:
            files = []
            for path in family:
                try:
                    files.append(read_file(reader, path, "%spaths (default: %s)" % (self.prefix, live)))
                except InputError as exc:  # a link or FIFO among the defaults: said, and left alone
                    self.warnings.append(str(exc))
                except ConfigError as exc:  # a damaged archive among the defaults: said; the others are read
                    self.warnings.append("%s (its lines before the damage are counted)" % exc)
            return files
        if journal_available():
            return [read_journal(reader, since=self.since)]
        self.warnings.append("no mail log found: %s does not exist and journalctl is not installed" % live)
        return []

    def nexthops(self, settings, domains):
        """How a recipient domain maps to the next hop the policy table is keyed by.

        ``relayhost`` set: every domain's next hop is it. Else a ``transport_maps`` entry with a
        next hop (``smtp:[relay.example]:587``) names it; else the domain itself.
        """
        relayhost = settings.get("relayhost", "").strip()
        found = {}
        if not relayhost:
            for table in reversed(split_list(settings.get("transport_maps", ""))):
                found.update(self.postfix.query(self.config_dir, table, sorted(domains)))

        def nexthop_of(domain):
            if relayhost:
                return relayhost
            _transport, _sep, nexthop = found.get(domain, "").partition(":")
            return nexthop.strip() or domain
        return nexthop_of

    def policies(self, settings, destinations):
        """The policy in force per destination, through the real ``postmap -q``; (policies, tables, used keys)."""
        maps = self.options["policy_maps"]
        if maps is None:
            maps = split_list(settings.get("smtp_tls_policy_maps", ""))
        keys = sorted(set(key for destination in destinations for key in covering_keys(destination)))
        found, source = {}, {}
        for table in maps:  # the first table that holds a key decides it, as Postfix looks them up
            for key, value in self.postfix.query(self.config_dir, table,
                                                 [key for key in keys if key not in found]).items():
                found[key], source[key] = value, table
        default = settings.get("smtp_tls_security_level", "").strip().lower() or "none"
        policies = {}
        for destination in destinations:
            policy = policy_for(destination, found, default, "smtp_tls_security_level")
            if policy["key"] is not None:
                policy["source"] = source[policy["key"]]
            policies[destination] = policy
        return policies, maps, set(found)

    def advise(self, settings, grouped, files, reader):
        options = self.options
        policies, maps, used = self.policies(settings, grouped)
        destinations, proposals = [], {}
        for destination in sorted(grouped):
            log, policy = grouped[destination], policies[destination]
            proposal = propose(destination, log, policy, options["min_deliveries"], options["min_days"])
            if proposal["level"] and options["every_mx_seen"]:
                proposal = propose(destination, log, policy, options["min_deliveries"], options["min_days"],
                                   mx_hosts(destination) or ["(MX hosts unknown: no answer from dig)"])
            if proposal["level"]:
                proposals[destination] = proposal["level"]
            destinations.append(report(destination, log, policy, proposal))
        return {"files": files, "window": reader.window(), "destinations": destinations,
                "unused_policy_entries": unused(maps, used), "proposals": proposals}


def unused(maps, used):
    """Entries of the file-based policy tables no destination of the log looked up."""
    found = []
    for table in maps:
        table_type, _sep, path = table.partition(":")
        if table_type not in FILE_TYPES or not os.path.isfile(path):
            continue
        entries = table_document(table_type, read_text(path)).entries
        found += [{"key": key, "table": table} for key in unused_entries(list(entries), used)]
    return found
