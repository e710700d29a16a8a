# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tls_profile's policy side: the one TLS policy table every profile of a host shares (private).

Its contract with the profile: it plans from the declarations' ``policy_table`` parts and the
table on disk (``request``), offers the probes the pre-flight owes its new or stronger forced
entries, the smtp_tls_policy_maps value main.cf needs, the files it writes, a rehearsal of its
write, and the write itself; it returns its result part and its warnings and touches nothing else.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ..core.errors import InputError
from ..plan.file_roles import table_writes
from ..host.files import read_text
from ..core.lines import split_list
from ..model.main_cf import MainCf, render_value
from ..plan.tls_policy import policy_requests, wanted_policies
from ..work.table_edit import TlsPolicyEdit
from ..model.table_types import check_map_path, table_document
from ..model.tls import LEVEL_STRENGTH, covering_keys, normalize_destination, policy_keys, weakens

# The levels a destination's server must be able to take before mail to it is forced.
FORCED_LEVELS = frozenset(level for level, strength in LEVEL_STRENGTH.items() if strength > LEVEL_STRENGTH["may"])
# A map list element starts type: (socketmap:inet:host:port:name, inline:{ {a=b} }).
MAP_TYPE = re.compile(r"[a-z0-9_]+:\S")


@dataclass
class PolicyPlan(object):
    """What the merged declarations want of the policy table."""

    path: str
    type: str
    wanted: dict = field(default_factory=dict)     # key -> "level [attributes]"
    remove: list = field(default_factory=list)     # keys to take out
    probes: list = field(default_factory=list)     # (request, preflight spec) the pre-flight owes
    kept: list = field(default_factory=list)       # keys an earlier downgrade=false profile kept stronger
    exclusive: bool = False
    maps: str = "untouched"                        # only, first or untouched: smtp_tls_policy_maps
    extra_maps: list = field(default_factory=list)
    absent_maps: list = field(default_factory=list)  # maps to take out of smtp_tls_policy_maps (a kill switch)
    stale_maps: list = field(default_factory=list)   # predicates: a listed map they accept goes (unless wired)

    @property
    def table(self):
        return "%s:%s" % (self.type, self.path)


def needs_probe(document, request):
    """A forced entry that is new, or stronger than the one the table holds."""
    level = request["level"]
    if level not in FORCED_LEVELS:
        return False
    key = normalize_destination(request["destination"])
    # As Postfix looks it up: the key, else the nearest parent .domain entry that covers it.
    for candidate in covering_keys(key):
        words = (document.value(candidate) or "").split()  # a key without a value: postmap skips it
        if words:
            return LEVEL_STRENGTH.get(words[0].lower(), 0) < LEVEL_STRENGTH[level]
    return True


def uses_dane(parameters, policies):
    """Whether main.cf's level (``parameters``, planned) or a policy entry (key -> value) is dane or dane-only."""
    levels = [parameters.get("smtp_tls_security_level", "")] + [value.split()[0] for value in (policies or {}).values()]
    return any(level in ("dane", "dane-only") for level in levels)


def check_extra_map(extra, where):
    if not MAP_TYPE.match(extra) or split_list(extra) != [extra] or \
            any(ord(char) < 32 or char == "\x7f" for char in extra):
        raise InputError(where, "%r is not one type:name table as Postfix lists them" % (extra,))


class PolicySide(object):
    """The policy table of one tls_profile call; ``profile`` lends the module and the Postfix tools."""

    def __init__(self, profile, config_dir):
        self.profile, self.config_dir = profile, config_dir
        self.table, self.plan = None, None
        self.warnings = []

    def __bool__(self):
        return self.plan is not None

    @property
    def probes(self):
        return self.plan.probes if self else []

    def request(self, declarations):
        """Merge every profile's policy_table part: a later one wins, a downgrade=false one never weakens."""
        specs = [item for item in declarations if item["policy_table"]]
        if not specs:
            return
        table = self._table(specs)
        path, table_type = self._resolve(table, specs)
        version = self.profile.postfix.version(self.config_dir)
        document = table_document(table_type, read_text(path) if os.path.exists(path) else "")
        plan = PolicyPlan(path=path, type=table_type, exclusive=table.module.params["exclusive"])
        remove = []
        for item in specs:
            spec = item["policy_table"]
            requests = policy_requests(dict(destination=None, destinations=spec["destinations"],
                                            policies=spec["policies"], level=spec["level"],
                                            attributes=spec["attributes"],
                                            include_subdomains=spec["include_subdomains"]))
            own, _remove = wanted_policies(requests, "present", version)
            own.update(spec.get("restore") or {})  # a released entry's replaced value, back (ownership_side)
            remove.extend(spec.get("drop") or [])  # a released entry that replaced nothing
            self._merge_entries(table, plan, item, own)
            for destination in spec["absent"] or []:
                keys = policy_keys(normalize_destination(destination, item["where"] + "policy_table.absent"),
                                   spec["include_subdomains"])
                remove.extend(keys)
                if not item["downgrade"]:
                    table.guarded_removals.update(keys)
            table.guard_exclusive = table.guard_exclusive or (spec["exclusive"] and not item["downgrade"])
            for name in ("extra_maps", "absent_maps"):
                for extra in spec[name] or []:
                    check_extra_map(extra, item["where"] + "policy_table." + name)
            plan.probes.extend((request, item["preflight"]) for request in requests if needs_probe(document, request))
        maps = [item["policy_table"]["maps"] for item in specs]
        plan.maps = "only" if "only" in maps else "first" if "first" in maps else "untouched"
        plan.extra_maps = list(dict.fromkeys(extra for item in specs for extra in item["policy_table"]["extra_maps"]
                                             or []))
        plan.absent_maps = list(dict.fromkeys(absent for item in specs
                                              for absent in item["policy_table"]["absent_maps"] or []))
        plan.extra_maps = [extra for extra in plan.extra_maps if extra not in plan.absent_maps]
        plan.remove = [key for key in dict.fromkeys(remove) if key not in plan.wanted]
        self.table, self.plan = table, plan

    def _table(self, specs):
        first = specs[0]["policy_table"]
        for item in specs[1:]:
            other = item["policy_table"]
            if os.path.normpath(other["path"]) != os.path.normpath(first["path"]) or \
                    (other["type"] and first["type"] and other["type"] != first["type"]):
                raise InputError(item["where"] + "policy_table", "%s names another policy table than %s; "
                                 "the profiles of one host share one table" % (other["path"], first["path"]))
        return TlsPolicyEdit(self.profile.part_module(dict(
            config_dir=self.config_dir, path=first["path"], state="present", downgrade=True,
            type=next((item["policy_table"]["type"] for item in specs if item["policy_table"]["type"]), None),
            exclusive=any(item["policy_table"]["exclusive"] for item in specs),
            backup=self.profile.module.params["backup"])))

    @staticmethod
    def _resolve(table, specs):
        try:
            _config_dir, path, table_type = table.resolve_table()
        except InputError as exc:  # the table part names its own option (path): say it is the policy table's
            parameter = exc.details["parameter"]
            raise InputError(specs[0]["where"] + "policy_table." + parameter, str(exc)[len(parameter) + 2:])
        if any(item["policy_table"]["maps"] != "untouched" for item in specs):
            check_map_path(path, specs[0]["where"] + "policy_table.path")
        return path, table_type

    def _merge_entries(self, table, plan, item, own):
        for key, value in own.items():
            if not item["downgrade"] and key in plan.wanted and weakens(plan.wanted[key], value):
                plan.kept.append(key)  # an earlier profile asks for more: the later one keeps it
                self.warnings.append("%s keeps %r: %r would weaken it (%sdowngrade=false)"
                                     % (key, plan.wanted[key], value, item["where"]))
                continue
            plan.wanted[key] = value
            (table.protected.discard if item["downgrade"] else table.protected.add)(key)

    # --- what the profile needs of it ----------------------------------------------------

    def policy_maps(self, main_path):
        """smtp_tls_policy_maps with our table first, then (unless replaced) the tables already there, then
        extra_maps: the first table that answers decides, so a static entry, ours or the admin's, always
        wins over a dynamic one (an MTA-STS socketmap), and no table of the admin's is dropped unasked."""
        if not self or self.plan.maps == "untouched":
            return None
        table = self.plan.table
        extra = [item for item in self.plan.extra_maps if item != table]
        maps = [table]
        if self.plan.maps == "first":
            current = MainCf(read_text(main_path)).value("smtp_tls_policy_maps") or ""
            maps += [item for item in split_list(current)
                     if item not in maps and item not in extra and item not in self.plan.absent_maps
                     and not any(stale(item) for stale in self.plan.stale_maps)]
        return maps + extra

    def wire(self, socketmap, wired, where):
        """A policy server's socketmap after every static table (``wired``), or taken out of the maps."""
        if not self:
            raise InputError(where, "an MTA-STS policy server needs the policy table that comes before it "
                                    "(policy_table)")
        if wired:
            self.plan.extra_maps = [item for item in self.plan.extra_maps if item != socketmap] + [socketmap]
            self.plan.absent_maps = [item for item in self.plan.absent_maps if item != socketmap]
        else:
            self.plan.extra_maps = [item for item in self.plan.extra_maps if item != socketmap]
            self.plan.absent_maps = list(dict.fromkeys(self.plan.absent_maps + [socketmap]))

    def unwire_stale(self, stale):
        """Take every map listed now that ``stale`` accepts out of smtp_tls_policy_maps; one a declaration wires
        (extra_maps) still comes last. Without a policy table (none declared) the maps are not this call's."""
        if self:
            self.plan.stale_maps.append(stale)

    def request_main_cf(self, config, main_path):
        """What main.cf's request (``config``) needs for the table: smtp_tls_policy_maps naming it, and
        DNSSEC lookups when main.cf's level or an entry is dane."""
        maps = self.policy_maps(main_path)
        if maps is not None:
            config.wanted["smtp_tls_policy_maps"] = render_value("smtp_tls_policy_maps", maps)
            config.list_valued.add("smtp_tls_policy_maps")
        if uses_dane(config.wanted, self.entries) and "smtp_dns_support_level" not in config.wanted:
            # postconf(5), smtp_tls_security_level: dane "requires smtp_dns_support_level = dnssec"
            # (else Postfix does no DNSSEC lookups and every dane policy falls back or defers).
            config.wanted["smtp_dns_support_level"] = "dnssec"

    @property
    def entries(self):
        """What the table will hold (key -> value); None without a table."""
        return self.plan.wanted if self else None

    def file_uses(self):
        return table_writes("policy_table.path", self.plan.path, self.plan.type) if self else []

    def rehearse(self):
        """The table's write in check mode: what it would refuse (a pattern postmap skips), refused now."""
        if not self:
            return
        rehearsal = TlsPolicyEdit(self.profile.part_module(self.table.module.params, check_mode=True))
        rehearsal.protected, rehearsal.guarded_removals = self.table.protected, self.table.guarded_removals
        rehearsal.guard_exclusive = self.table.guard_exclusive
        self._apply(rehearsal)

    def write(self):
        """Write the table; returns (its result part, its warnings)."""
        self._apply(self.table)
        self.table.report_kept(self.plan.wanted)
        result = dict(self.table.result)
        result["kept"] = sorted(set(self.table.kept) | set(self.plan.kept))
        return result, list(self.table.warnings)

    def _apply(self, table):
        plan = self.plan
        table.apply_table(self.config_dir, plan.path, plan.type, plan.wanted, plan.remove, plan.exclusive)
