# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The postfix_info module's work: what a Postfix instance runs, read-only (private)."""

from __future__ import annotations

import os
import re

from ..host.base import PostfixModule
from ..host.commands import output_lines, parse_parameters
from ..core.errors import ConfigError
from ..host.files import index_is_fresh, read_text
from ..core.lines import normalize_space, split_list
from ..model.parameters import OBSOLETE_PARAMETERS
from ..model.table_types import FILE_TYPES, INDEX_SUFFIXES, is_indexed, table_document
from ..core.versions import parse_version

_TLS_NAME = re.compile(r"(^|_)tls_|_tls$|^tls")
_MAP = re.compile(r"([a-z0-9]+):(.*)", re.S)
POLICY_PARAMETERS = ("smtp_tls_policy_maps", "lmtp_tls_policy_maps")


def table_summary(spec, count_entries=True):
    """Describe one table of a list as Postfix reads it: existence, entries, index freshness.

    ``spec`` is one element of an expanded map list: ``hash:/etc/postfix/x``,
    ``inline:{ {a=b} }``, ``socketmap:inet:...``. Only types with a source file
    are looked at on disk.
    """
    match = _MAP.fullmatch(spec)
    table_type, path = match.groups() if match else (None, None)
    if table_type not in FILE_TYPES or not path.startswith("/"):
        return {"table": spec, "file": False, "type": table_type}
    summary = {"table": spec, "file": True, "type": table_type, "path": path, "exists": os.path.isfile(path)}
    if summary["exists"] and count_entries:
        entries = table_document(table_type, read_text(path)).entries
        summary["entries"] = len(entries)
        summary["_levels"] = entry_levels(entries)
        summary["forced"] = [{"destination": key, "level": level} for key, level in summary["_levels"] if is_forced(level)]
    if is_indexed(table_type) and summary["exists"]:
        summary["index_fresh"] = index_is_fresh(path, [path + suffix for suffix in INDEX_SUFFIXES[table_type]])
    return summary


def entry_levels(entries):
    """Each key of a policy table (LookupTable.entries) with its level, in table order.

    postmap keeps a key's first value; a level is a keyword in any case (postconf(5), smtp_tls_policy_maps).
    """
    return [(key, (values[0][1].split() or [""])[0].lower()) for key, values in entries.items()]


def is_forced(level):
    return level not in ("", "none", "may")


def forced_destinations(tables):
    """The forced destinations of a list of table summaries: the first table that holds a key decides it."""
    decided, forced = set(), []
    for table in tables:
        for key, level in table.pop("_levels", []):
            if key not in decided:
                decided.add(key)
                if is_forced(level):
                    forced.append({"destination": key, "level": level})
    return forced


def obsolete_in(postfix, config_dir, non_default=None):
    """The obsolete TLS parameters main.cf sets, and those master.cf services set with ``-o``.

    ``non_default`` is ``postconf -n``'s (known, unknown), when the caller has read it already.
    """
    explicit, unknown = non_default or postfix.non_default(config_dir)[:2]
    # Postfix 3.7 no longer knows some obsolete names (smtpd_tls_cipherlist): they show up
    # only as "unused parameter" warnings, and are reported all the same.
    set_in_main_cf = dict(unknown, **explicit)
    found = [{"name": name, "value": set_in_main_cf[name], "replacement": OBSOLETE_PARAMETERS[name]}
             for name in sorted(set_in_main_cf) if name in OBSOLETE_PARAMETERS]
    if not os.path.isfile(os.path.join(config_dir, "master.cf")):
        return found
    for line in output_lines(postfix.run("postconf", ["-c", config_dir, "-P"])[1]):
        key, sep, value = line.partition(" = ")
        service, _slash, name = key.rpartition("/")
        if sep and name in OBSOLETE_PARAMETERS:
            found.append({"name": name, "value": value, "replacement": OBSOLETE_PARAMETERS[name],
                          "service": service})
    return found


class PostfixInfo(PostfixModule):
    """Read-only facts about one Postfix instance."""

    def execute(self):
        config_dir = self.module.params["config_dir"]
        if not os.path.isfile(os.path.join(config_dir, "main.cf")):
            raise ConfigError("config_dir: %s has no main.cf" % config_dir, path=config_dir)
        _rc, out, _err = self.postfix.run("postconf", ["-c", config_dir])
        effective = self._parse(out)
        explicit, unknown, _err = self.postfix.non_default(config_dir)
        version = effective.get("mail_version", "")
        # The tables Postfix opens: $name expanded, {...} groups kept whole.
        expanded = parse_parameters(self.postfix.run("postconf", ["-c", config_dir, "-x"] + list(POLICY_PARAMETERS))[1])
        policy_tables = dict((name, [table_summary(spec, self.module.params["count_entries"])
                                     for spec in split_list(expanded.get(name, ""))])
                             for name in POLICY_PARAMETERS)
        forced = forced_destinations(policy_tables["smtp_tls_policy_maps"])
        forced_destinations(policy_tables["lmtp_tls_policy_maps"])  # lmtp's levels are not reported
        # What main.cf writes, element by element, for a caller that rewrites the list.
        policy_maps = dict((name, split_list(explicit.get(name, ""))) for name in POLICY_PARAMETERS)
        self.result.update(
            changed=False,
            config_dir=config_dir,
            version=version,
            version_info=list(parse_version(version)),
            map_types=sorted(self.postfix.map_types(config_dir)),
            default_database_type=effective.get("default_database_type"),
            tls=dict((name, value) for name, value in sorted(effective.items()) if _TLS_NAME.search(name)),
            tls_explicit=dict((name, value) for name, value in sorted(explicit.items()) if _TLS_NAME.search(name)),
            policy_tables=policy_tables,
            policy_maps=policy_maps,
            # The first table that holds a destination decides it, as Postfix looks them up.
            forced_destinations=forced,
            obsolete=obsolete_in(self.postfix, config_dir, (explicit, unknown)),
        )

    @staticmethod
    def _parse(output):
        return dict((name, normalize_space(value)) for name, value in parse_parameters(output).items())
