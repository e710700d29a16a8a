# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tls_profile module's work: the wanted Postfix state of one or more profiles, in one call (private).

Everything is read, planned and checked before the first write:

1. what the host runs: Postfix installed, the packages asked for, the service running;
2. the declarations merged (a later one wins; one with downgrade=false never weakens);
3. the policy table's plan; the pre-flight probes, in parallel, only the destinations whose
   entry is new or stronger, and refuses (in check mode: warns);
4. every write rehearsed in check mode (the certificate pair, the table with its patterns, the
   temporaries of main.cf and master.cf), so that what a write would refuse is refused now;

then the obsolete TLS switches are migrated (tls_migrate's flow, when asked and present), main.cf
and master.cf are planned together, read back by ``postconf -n``/``-M`` and validated once
(``validate``, such as ``postfix -c %s check``) in one scratch directory, and the files are
written in the order Postfix needs them: certificate, policy table, master.cf, main.cf (main.cf
last: it names the others). Each write is the shared locked, atomic flow of the single modules.
Last, one ``postfix reload`` when something Postfix reads changed.
"""

from __future__ import annotations

import glob
import os
import re
from concurrent.futures import ThreadPoolExecutor

from .base import refuse_as_the_run_would
from .certificate import TlsCertificate
from .commands import output_lines
from .errors import ConfigError, InputError, PostfixError
from .base import TextPlan
from .files import file_identity, read_text, same_file_name
from .hardening import hardening_plan
from .info import obsolete_in
from .lines import split_list
from .main_cf import MainCf, check_parameter_name, plan_edit, render_value
from .master_cf import FIELDS as MASTER_FIELDS, MasterCf, check_service, plan_master_edit, wanted_entry
from .parameters import RESTART_PARAMETERS, obsolete_warning
from .postconf_edit import PostconfEdit, TlsMigrate
from .probe import TlsProbe, preflight_verdict
from .receiving_edit import ReceivingSide
from .relay import RELAY_SERVICE, SASL_CLIENT_PACKAGE, needs_sasl_client, plan_relay, previous_hops, transport_next_hop
from .table import MASK
from .table_edit import LookupTableEdit, PrivateTable, TlsPolicyEdit, policy_requests
from .table_types import INDEX_SUFFIXES, TYPE_PACKAGES, check_map_path, check_type, table_document
from .tls import LEVEL_STRENGTH, covering_keys, normalize_destination, policy_keys, weakens

# The levels a destination's server must be able to take before mail to it is forced.
FORCED_LEVELS = frozenset(level for level, strength in LEVEL_STRENGTH.items() if strength > LEVEL_STRENGTH["may"])
# main.cf's global levels, which downgrade=false never lowers.
LEVEL_PARAMETERS = ("smtp_tls_security_level", "smtpd_tls_security_level", "lmtp_tls_security_level")
# A map list element starts type: (socketmap:inet:host:port:name, inline:{ {a=b} }).
MAP_TYPE = re.compile(r"[a-z0-9_]+:\S")
# Probes at once: each is a posttls-finger process waiting on the network, not on a core.
PROBE_WORKERS = 8
# Every file postmap may have built beside a source, whatever its type.
ALL_INDEX_SUFFIXES = frozenset(suffix for suffixes in INDEX_SUFFIXES.values() for suffix in suffixes)
# What one profile declares: the task's own top-level options, and each item of ``declarations``.
DECLARATION_OPTIONS = ("parameters", "absent_parameters", "downgrade", "policy_table", "master_services",
                       "certificate", "relay", "receiving", "hardening", "preflight")


class Part(object):
    """The AnsibleModule a part (certificate, table, probe, migration) sees: the profile's, with its own params."""

    def __init__(self, module, params, check_mode=None):
        self._module = module
        self.params = params
        if check_mode is not None:
            self.check_mode = check_mode  # a rehearsal of a write runs in check mode

    def __getattr__(self, name):
        return getattr(self._module, name)


def refuse_one_file_twice(files):
    """Refuse two (option, path) of ``files`` that are one file: each file this call touches is one thing."""
    for index, (option, path) in enumerate(files):
        for other_option, other in files[:index]:
            if same_file_name(path, other):
                raise InputError(option, "%s is also %s (%s); each file is one thing" % (path, other_option, other))


class TlsProfile(PostconfEdit):
    """The tls_profile module."""

    def execute(self):
        params = self.module.params
        self.result.update(changed=False, postfix_installed=True, applied=False, missing_packages=[],
                           restart_required=False, reload_required=False, reloaded=False, probes={},
                           check_mode_refusals=[])
        self.result["missing_packages"] = self._missing_packages(self._packages())
        if not self._postfix_installed():
            self.result["postfix_installed"] = False
            self.warnings.append("Postfix is not installed: nothing was read or changed; install %s first"
                                 % ", ".join(self.result["missing_packages"] or ["postfix"]))
            return
        config_dir, main_path = self.main_cf_path()
        self.version = self.postfix.version(config_dir)
        self.result.update(config_dir=config_dir, version=".".join(map(str, self.version)),
                           enabled=self._enabled())
        if self.result["missing_packages"] and not self.module.check_mode:
            # What the state needs comes first (a relay's SASL mechanisms, a map type): Postfix
            # never runs with a configuration its packages cannot serve yet.
            return
        self.result["applied"] = True
        declarations = self._declarations()
        relay = self._relay(config_dir, main_path, declarations)
        wanted, remove, list_valued, protected = self._main_cf_request(declarations)
        self._refuse_what_this_version_cannot_read(wanted)
        services = self._master_cf_request(declarations)
        certificate = self._certificate(declarations)
        receiving = ReceivingSide(self, config_dir, certificate, self._receiving(declarations))
        receiving.request(wanted, remove, self.postfix.parameter(config_dir, "default_database_type"))
        table, table_plan = self._policy_plan(config_dir, declarations)
        self._refuse_one_file_twice(config_dir, certificate, table_plan, relay, receiving.files())
        self._preflight(config_dir, declarations, table_plan, relay)
        if table_plan is not None:
            maps = self._policy_maps(main_path, table_plan)
            if maps is not None:
                wanted["smtp_tls_policy_maps"] = render_value("smtp_tls_policy_maps", maps)
                list_valued.add("smtp_tls_policy_maps")
        if self._uses_dane(wanted, table_plan) and "smtp_dns_support_level" not in wanted:
            # postconf(5), smtp_tls_security_level: dane "requires smtp_dns_support_level = dnssec"
            # (else Postfix does no DNSSEC lookups and every dane policy falls back or defers).
            wanted["smtp_dns_support_level"] = "dnssec"
        kept = self._keep_stronger_levels(config_dir, wanted, remove, protected)
        # What the writes below would still refuse (a pair that does not match, a pattern postmap
        # skips, a link or FIFO at a temporary), found in check mode first: a refusal then
        # leaves every file as it was, the migration's included.
        self._rehearse(config_dir, certificate, table, table_plan, wanted, remove, list_valued, services, relay)
        if not self.module.check_mode:
            receiving.rehearse()

        if params["migrate_obsolete"] and obsolete_in(self.postfix, config_dir):
            self._part(TlsMigrate, "migration", dict(config_dir=config_dir, validate=params["validate"],
                                                     backup=params["backup"]))

        main_text, master_text = self._plan_and_validate(config_dir, wanted, remove, list_valued, services)

        # Written in the order Postfix needs them; main.cf, which names the others, last.
        if certificate:
            self._part(TlsCertificate, "certificate", certificate)
        receiving.write_before_main_cf()
        if table is not None:
            table.apply_table(config_dir, table_plan["path"], table_plan["type"], table_plan["wanted"],
                              table_plan["remove"], table_plan["exclusive"])
            table.report_kept(table_plan["wanted"])
            self._merge(table, "policy_table")
            self.result["policy_table"]["kept"] = sorted(set(table.kept) | set(table_plan["kept"]))
        for name, part_class, part in (relay or {}).get("tables", []):
            self._part(part_class, name, part)
        master_changed = self._write_master_cf(config_dir, services, master_text, main_text)
        main_changed, changes = self._write_main_cf(config_dir, main_path, wanted, remove, list_valued,
                                                    main_text, master_text)
        self.result["main_cf"] = {"changes": dict((change.name, change.as_dict()) for change in changes),
                                  "kept": kept}
        receiving.write_after_main_cf()
        if relay is not None:
            # Only once main.cf no longer names them.
            self.result["relay"]["removed_files"] = self._remove_files(config_dir, relay["remove_files"],
                                                                       main_text, master_text)
        self.result["changed"] = bool(self.result["changed"] or master_changed or main_changed
                                      or (relay or {}).get("remove_files"))
        self.result["restart_required"] = any(change.name in RESTART_PARAMETERS for change in changes)
        # A managed key or certificate whose bytes Postfix has not loaded: renewed outside Ansible.
        self.result["tls_files_not_loaded"] = receiving.changed_since_loaded()
        self.result["changed"] = bool(self.result["changed"] or self.result["tls_files_not_loaded"])
        self.result["reload_required"] = bool(
            not self.result["restart_required"]
            and (master_changed or main_changed
                 or self.result.get("certificate", {}).get("changed")
                 or self.result.get("migration", {}).get("changed")
                 or self.result.get("policy_table", {}).get("reload_required")
                 or self.result.get("sni_table", {}).get("changed")
                 or self.result["tls_files_not_loaded"]))
        self._reload(config_dir)
        # A failed self-probe raises before the record: the next run reloads and probes again.
        self._self_probe(receiving, certificate, master_text)
        # What Postfix loads now (reloaded), at its start, or at the restart the caller owes it.
        if self.result["reloaded"] or not self.result["running"] or self.result["restart_required"]:
            receiving.record_loaded()

    # --- what the host runs ----------------------------------------------------------

    def _postfix_installed(self):
        try:
            self.postfix.binary("postconf")
        except PostfixError:
            return False
        return True

    def _packages(self):
        """The packages asked for, and those that provide the map types asked for."""
        packages = list(self.module.params["packages"] or [])
        relays = [self.module.params["relay"]] + [item["relay"] for item in self.module.params["declarations"] or []]
        if any(needs_sasl_client(relay) for relay in relays) and SASL_CLIENT_PACKAGE not in packages:
            packages.append(SASL_CLIENT_PACKAGE)
        for map_type in self.module.params["map_types"] or []:
            if map_type not in TYPE_PACKAGES:
                raise InputError("map_types", "%r is not a table type a package adds (%s)"
                                 % (map_type, ", ".join(sorted(TYPE_PACKAGES))))
            if TYPE_PACKAGES[map_type] not in packages:
                packages.append(TYPE_PACKAGES[map_type])
        return packages

    def _enabled(self):
        """Whether Postfix starts at boot: systemd's answer, else a SysV start link."""
        systemctl = self.module.get_bin_path("systemctl")
        if systemctl and os.path.isdir("/run/systemd/system"):
            _rc, out, _err = self.module.run_command([systemctl, "is-enabled", "postfix"])
            return out.strip() == "enabled"
        return bool(glob.glob("/etc/rc[2345].d/S*postfix"))

    @staticmethod
    def _uses_dane(wanted, table_plan):
        levels = [wanted.get("smtp_tls_security_level", "")]
        if table_plan is not None:
            levels += [value.split()[0] for value in table_plan["wanted"].values()]
        return any(level in ("dane", "dane-only") for level in levels)

    def _missing_packages(self, packages):
        """The packages of ``packages`` dpkg does not list as installed (none checked without dpkg)."""
        if not packages:
            return []
        dpkg_query = self.module.get_bin_path("dpkg-query")
        if not dpkg_query:
            return []
        _rc, out, _err = self.module.run_command([dpkg_query, "-W", "-f", "${Package} ${db:Status-Status}\\n"]
                                                 + list(packages), environ_update={"LANG": "C", "LC_ALL": "C"})
        installed = set(line.split()[0] for line in output_lines(out) if line.endswith(" installed"))
        return [package for package in packages if package not in installed]

    def _running(self, config_dir):
        rc, _out, _err = self.postfix.run("postfix", ["-c", config_dir, "status"], check=False)
        return rc == 0

    # --- main.cf and master.cf -------------------------------------------------------

    def _declarations(self):
        """The task's own declaration (its top-level options) and those of ``declarations``, in order.

        Each is one profile's wanted state; merged, a later one wins, except that one with
        downgrade=false never weakens a level or a policy an earlier one (or the host) has.
        """
        params = self.module.params
        own = dict((name, params[name]) for name in DECLARATION_OPTIONS)
        own["where"] = ""
        found = [own]
        for index, item in enumerate(params["declarations"] or []):
            found.append(dict(item, where="declarations[%d]." % index))
        return found

    # --- the relay ---------------------------------------------------------------------

    def _relay(self, config_dir, main_path, declarations):
        """The relay's plan; its main.cf and master.cf parts join the declarations as one more.

        Returns None without a relay, else {"tables": [(result name, table class, lookup_table
        arguments)], "remove_files": [tables the relay no longer uses], "probes": [(request,
        preflight)]: the relay's next hops that are new, or all of them when relay-tls changes}.
        """
        given = [(index, item) for index, item in enumerate(declarations) if item["relay"]]
        if not given:
            return None
        if len(given) > 1:
            raise InputError(given[1][1]["where"] + "relay", "two profiles declare a relay; a host has one")
        index, item = given[0]
        spec = dict(item["relay"])
        where = item["where"] + "relay."
        spec["table_type"] = spec["table_type"] or self.postfix.parameter(config_dir, "default_database_type")
        if spec["table_type"] not in INDEX_SUFFIXES:
            raise InputError(where + "table_type", "%r: the relay's tables are looked up key by key; use an indexed "
                                                   "type (%s)" % (spec["table_type"], ", ".join(sorted(INDEX_SUFFIXES))))
        check_type(spec["table_type"], self.postfix.map_types(config_dir), where + "table_type")
        current = MainCf(read_text(main_path)).values()
        local_domains = split_list(self.postfix.run("postconf", ["-c", config_dir, "-xh", "mydestination"])[1])
        plan = plan_relay(spec, current, where, local_domains)
        tables = [("password_table", PrivateTable, spec["password_table"], plan.passwords),
                  ("sender_table", LookupTableEdit, spec["sender_table"], plan.sender_relays),
                  ("transport_table", LookupTableEdit, spec["transport_table"], plan.transports)]
        relay_files = [(where + name, path + suffix) for name, _class, path, _entries in tables
                       for suffix in [""] + INDEX_SUFFIXES[spec["table_type"]]]
        refuse_one_file_twice([("config_dir", os.path.join(config_dir, name)) for name in ("main.cf", "master.cf")]
                              + relay_files)
        self.warnings.extend(plan.warnings)
        master_path = os.path.join(config_dir, "master.cf")
        master = read_text(master_path) if os.path.isfile(master_path) else ""
        service = MasterCf(master).entry("%s/unix" % RELAY_SERVICE)  # the relay-tls there is now
        parts = []
        for name, part_class, path, entries in tables:
            if entries:
                parts.append((name, part_class, dict(config_dir=config_dir, path=path, type=spec["table_type"],
                                                     key=None, value=None, entries=entries, state="present",
                                                     exclusive=True, secret=part_class is PrivateTable,
                                                     backup=False)))
        remove_files = self._unused_relay_tables(spec, current, service, parts)
        self._warn_of_a_foreign_relay_service(spec, current, service)
        declarations.insert(index + 1, dict(
            where=where, downgrade=item["downgrade"], preflight=item["preflight"], certificate=None, relay=None,
            receiving=None, hardening=None,
            parameters=plan.parameters, absent_parameters=plan.absent_parameters, master_services=[plan.service],
            policy_table=None))
        self.result["relay"] = {"state": spec["state"], "relayhost": plan.parameters.get("relayhost"),
                                "senders": sorted(plan.sender_relays), "destinations": sorted(plan.transports),
                                "removed_files": []}
        return {"tables": parts, "remove_files": [pair for pair in remove_files if os.path.lexists(pair[1])],
                "probes": self._relay_probes(spec, plan, current, master, item["preflight"])}

    def _relay_probes(self, spec, plan, current, master, preflight):
        """The relay's next hops to probe: the new ones, or all when relay-tls changes (level, CA, SMTPS)."""
        if not plan.hops:
            return []
        before = previous_hops(current, list(self._table_entries(spec["table_type"], spec["sender_table"]).values())
                               + [transport_next_hop(value) for value in
                                  self._table_entries(spec["table_type"], spec["transport_table"]).values()])
        service = plan.service
        entry = wanted_entry(service["service"], service["type"], dict((name, service[name]) for name in MASTER_FIELDS),
                             service["command"], service["args"], service["options"])
        changed = plan_master_edit(master, "%s/%s" % (service["service"], service["type"]), entry)[0] != master
        return [({"destination": hop, "level": plan.probe["level"], "probe": plan.probe}, preflight)
                for hop in plan.hops if changed or hop not in before]

    def _unused_relay_tables(self, spec, current, service, parts):
        """(source, file) of the tables the relay wired up before and no longer uses: a table now
        empty, one at another path or of another type (its index files). Only what relay-tls or
        main.cf named as the relay's is ever deleted; never a file that merely lies at a default path."""
        wired = [dict(service.options).get("smtp_sasl_password_maps", "")] if service else []
        wired += [current.get("sender_dependent_relayhost_maps") or ""]
        ours = "%s:%s" % (spec["table_type"], spec["transport_table"])
        wired += [item for item in split_list(current.get("transport_maps") or "") if item == ours]
        wired += [current.get("smtp_sasl_password_maps") or ""] if spec["password_table"] in \
            (current.get("smtp_sasl_password_maps") or "") else []
        kept = set((part["type"], os.path.normpath(part["path"])) for _name, _class, part in parts)
        kept_sources = set(path for _type, path in kept)
        files = []
        for reference in wired:
            table_type, sep, path = reference.partition(":")
            if not sep or table_type not in INDEX_SUFFIXES or not os.path.isabs(path):
                continue
            if (table_type, os.path.normpath(path)) in kept:
                continue
            # A source the relay still writes (under another type) stays; only its old index goes.
            sources = [] if os.path.normpath(path) in kept_sources else [""]
            files += [((reference,), path + suffix) for suffix in sources + INDEX_SUFFIXES[table_type]]
        for _name, _class, part in parts:  # the same table, now of another type: the old index goes
            for suffix in sorted(ALL_INDEX_SUFFIXES - set(INDEX_SUFFIXES[part["type"]])):
                names = tuple("%s:%s" % (table_type, part["path"]) for table_type, suffixes in
                              sorted(INDEX_SUFFIXES.items()) if suffix in suffixes)
                files.append((names, part["path"] + suffix))
        found = []
        for pair in files:
            if os.path.lexists(pair[1]) and pair[1] not in [known for _names, known in found]:
                found.append(pair)
        return found

    def _warn_of_a_foreign_relay_service(self, spec, current, service):
        """A relay-tls service nothing of the relay routes to is someone else's: say it is replaced."""
        ours = "%s:%s" % (spec["table_type"], spec["transport_table"])
        routed = (current.get("default_transport") or "").strip() == RELAY_SERVICE or \
            ours in split_list(current.get("transport_maps") or "")
        if service is not None and not routed:
            self.warnings.append("master.cf's %s service, which the relay did not route to, is replaced by the relay's"
                                 % RELAY_SERVICE)

    @staticmethod
    def _table_entries(table_type, path):
        """A table's entries (key -> value) as the source holds them; {} when there is none."""
        if not os.path.isfile(path):
            return {}
        document = table_document(table_type, read_text(path))
        return dict((key, document.value(key)) for key in document.entries)

    def _remove_files(self, config_dir, files, main_text, master_text):
        """Delete the tables a relay no longer uses (in check mode: say so); one main.cf or master.cf names stays.

        ``files`` are (the type:path names that would use it, file) pairs. The texts are
        main.cf and master.cf as planned (None: unchanged, as on disk).
        """
        named = ""
        for name, planned in (("main.cf", main_text), ("master.cf", master_text)):
            path = os.path.join(config_dir, name)
            named += planned if planned is not None else read_text(path) if os.path.isfile(path) else ""
        removed = []
        for names, path in files:
            still = [name for name in names if re.search(r"(?<![^\s,=])%s(?![^\s,])" % re.escape(name), named)]
            if still:
                self.warnings.append("%s stays: main.cf or master.cf still names %s" % (path, still[0]))
                continue
            if not self.module.check_mode:
                os.unlink(path)
            removed.append(path)
        return removed

    def _main_cf_request(self, declarations):
        """(wanted, remove, list_valued, protected): protected names got their value from a downgrade=false profile."""
        wanted, list_valued, remove, protected = {}, set(), [], set()
        hardening = [(item["where"], item["hardening"]) for item in declarations if item.get("hardening")]
        if len(set(name for _where, name in hardening)) > 1:
            raise InputError("declarations", "two profiles choose different hardening profiles (%s); a host has "
                                             "one" % ", ".join("%shardening=%s" % pair for pair in hardening))
        for declaration in declarations:
            where = declaration["where"]
            if declaration.get("hardening"):
                # Before the declaration's own parameters: a parameter given explicitly wins.
                chosen, dropped = hardening_plan(declaration["hardening"], self.version)
                wanted.update(chosen)
                remove.extend(dropped)
                self.result["hardening"] = {"profile": declaration["hardening"], "parameters": chosen,
                                            "absent": list(dropped)}
            own = {}
            for name, value in (declaration["parameters"] or {}).items():
                check_parameter_name(name, where + "parameters")
                own[name] = render_value(name, value)
                warning = obsolete_warning(name)
                if warning and warning not in self.warnings:
                    self.warnings.append(warning)
                if (not declaration["downgrade"] and name in wanted and name in LEVEL_PARAMETERS
                        and weakens(wanted[name], own[name])):
                    self.warnings.append("%s stays %r: %r would weaken it (%sdowngrade=false)"
                                         % (name, wanted[name], own[name], where))
                    continue
                wanted[name] = own[name]
                (list_valued.add if isinstance(value, (list, tuple)) else list_valued.discard)(name)
                (protected.discard if declaration["downgrade"] else protected.add)(name)
            for name in declaration["absent_parameters"] or []:
                check_parameter_name(name, where + "absent_parameters")
                if name in own:
                    raise InputError(where + "absent_parameters", "%s is also in parameters" % name)
                remove.append(name)
                if not declaration["downgrade"]:
                    protected.add(name)  # removing a level lowers it to the default, none
        remove = [name for name in dict.fromkeys(remove) if name not in wanted]
        return wanted, remove, list_valued, protected

    def _master_cf_request(self, declarations):
        """(key, entry or None) pairs; a later profile's entry for a service replaces an earlier one's."""
        services = {}
        for declaration in declarations:
            seen = set()
            for index, item in enumerate(declaration["master_services"] or []):
                where = "%smaster_services[%d]" % (declaration["where"], index)
                key = "%s/%s" % (item["service"], item["type"])
                if key in seen:
                    raise InputError(declaration["where"] + "master_services", "%s is given twice" % key)
                seen.add(key)
                if item["state"] == "absent":
                    check_service(item["service"], item["type"])
                    services[key] = None
                    continue
                if not item["command"]:
                    raise InputError(where, "%s: command is required with state=present (for example smtpd)" % key)
                fields = dict((name, item[name]) for name in MASTER_FIELDS)
                services[key] = wanted_entry(item["service"], item["type"], fields, item["command"], item["args"],
                                             item["options"])
        return list(services.items())

    @staticmethod
    def _receiving(declarations):
        """The one receiving side the profiles declare (two different ones are an error)."""
        given = [dict(item["receiving"]) for item in declarations if item.get("receiving")]
        if any(item != given[0] for item in given[1:]):
            raise InputError("declarations", "two profiles declare different receiving sides (SNI, DANE, renewal "
                                             "hook, self-probe); a host has one")
        return given[0] if given else None

    @staticmethod
    def _certificate(declarations):
        """The one certificate the profiles name (two different ones are an error)."""
        given = [dict(item["certificate"]) for item in declarations if item["certificate"]]
        if any(item != given[0] for item in given[1:]):
            raise InputError("declarations", "two profiles give different certificates; a host has one "
                                             "smtpd certificate here")
        return given[0] if given else None

    def _plan_and_validate(self, config_dir, wanted, remove, list_valued, services):
        """The new main.cf and master.cf texts, read back and validated together once."""
        main_text = plan_edit(read_text(os.path.join(config_dir, "main.cf")), wanted, remove, list_valued)
        master_path = os.path.join(config_dir, "master.cf")
        if services and not os.path.isfile(master_path):
            raise ConfigError("config_dir: %s has no master.cf" % config_dir, path=master_path)
        master_text = None
        if services:
            original = read_text(master_path)
            master_text = self._master_text(original, services)
            if master_text == original:
                master_text = None
        new_main, changes = main_text
        if changes or master_text is not None:
            self._read_back(config_dir, new_main, changes, master_text, services)
        return (new_main if changes else None), master_text

    @staticmethod
    def _master_text(text, services):
        for key, replacement in services:
            text = plan_master_edit(text, key, replacement)[0]
        return text

    def _write_master_cf(self, config_dir, services, planned, main_text):
        if not services:
            return False
        path = os.path.join(config_dir, "master.cf")
        entries = {}

        def compute(text):
            new_text = text
            for key, replacement in services:
                new_text, before, after = plan_master_edit(new_text, key, replacement)
                if before != after:
                    entries[key] = {"before": before, "after": after}
            return new_text, None

        def validate(new_text, _info):
            if new_text != planned:  # master.cf changed since it was planned: check the new plan too
                self._read_back(config_dir, main_text, [], new_text, services)

        changed, _info = self.edit_file(path, compute, validate)
        self._rename_backup("master_cf_backup_file")
        self.result["master_cf"] = {"services": entries}
        return changed

    def _write_main_cf(self, config_dir, path, wanted, remove, list_valued, planned, master_text):
        def compute(text):
            return plan_edit(text, wanted, remove, list_valued)

        def validate(new_text, changes):
            if new_text != planned:  # main.cf changed since it was planned: check the new plan too
                self._read_back(config_dir, new_text, changes, master_text)

        changed, changes = self.edit_file(path, compute, validate)
        self._rename_backup("main_cf_backup_file")
        return changed, changes

    def _rename_backup(self, name):
        if "backup_file" in self.result:
            self.result[name] = self.result.pop("backup_file")

    def _keep_stronger_levels(self, config_dir, wanted, remove, protected):
        """A global level a downgrade=false profile sets or removes stays where the host's is stronger."""
        kept = {}
        for name in LEVEL_PARAMETERS:
            if name not in protected or (name not in wanted and name not in remove):
                continue
            current = self.postfix.parameter(config_dir, name).strip()
            if not current or not weakens(current, wanted.get(name, "")):
                continue
            kept[name] = current
            if name in remove:
                remove.remove(name)
                self.warnings.append("%s stays %r: removing it would weaken it (downgrade=false)" % (name, current))
            else:
                self.warnings.append("%s stays %r: %r would weaken it (downgrade=false)"
                                     % (name, current, wanted.pop(name)))
        return kept

    def _refuse_one_file_twice(self, config_dir, certificate, table_plan, relay, receiving_files):
        """Every file this call writes is a different file (a table is not main.cf, a key not the table)."""
        files = [("config_dir", os.path.join(config_dir, "main.cf")),
                 ("config_dir", os.path.join(config_dir, "master.cf"))]
        files += [("relay (a table it deletes)", path) for _names, path in (relay or {}).get("remove_files", [])]
        for name, _part_class, part in (relay or {}).get("tables", []):
            files += [("relay.%s" % name, part["path"] + suffix)
                      for suffix in [""] + INDEX_SUFFIXES.get(part["type"], [])]
        if table_plan is not None:
            files += [("policy_table.path", table_plan["path"] + suffix)
                      for suffix in [""] + INDEX_SUFFIXES.get(table_plan["type"], [])]
        if certificate:
            for index, chain in enumerate(certificate.get("chains") or [dict(certificate)]):
                where = "certificate.chains[%d]." % index if certificate.get("chains") else "certificate."
                files += [(where + name, chain[name]) for name in ("cert_file", "key_file") if chain.get(name)
                          and not (name == "key_file" and chain[name] == chain.get("cert_file"))]  # one combined file
        refuse_one_file_twice(files + receiving_files)

    def _rehearse(self, config_dir, certificate, table, table_plan, wanted, remove, list_valued, services, relay):
        """Check mode of every write to come: what it would refuse, it refuses now, before any write."""
        if self.module.check_mode:
            return  # the writes themselves run in check mode
        if certificate:
            TlsCertificate(Part(self.module, certificate, check_mode=True)).execute()
        for _name, part_class, part in (relay or {}).get("tables", []):
            part_class(Part(self.module, part, check_mode=True)).execute()
        if table is not None:
            rehearsal = TlsPolicyEdit(Part(self.module, table.module.params, check_mode=True))
            rehearsal.protected, rehearsal.guarded_removals = table.protected, table.guarded_removals
            rehearsal.guard_exclusive = table.guard_exclusive
            rehearsal.apply_table(config_dir, table_plan["path"], table_plan["type"], table_plan["wanted"],
                                  table_plan["remove"], table_plan["exclusive"])
        main_path, master_path = os.path.join(config_dir, "main.cf"), os.path.join(config_dir, "master.cf")
        if plan_edit(read_text(main_path), wanted, remove, list_valued)[1]:
            refuse_as_the_run_would(main_path)
        if services and self._master_text(read_text(master_path), services) != read_text(master_path):
            refuse_as_the_run_would(master_path)

    # --- the policy table and its pre-flight -----------------------------------------

    def _policy_plan(self, config_dir, declarations):
        """The table part and what it will write, merged from every profile; (None, None) without a table."""
        specs = [item for item in declarations if item["policy_table"]]
        if not specs:
            return None, None
        first = specs[0]["policy_table"]
        for item in specs[1:]:
            other = item["policy_table"]
            if os.path.normpath(other["path"]) != os.path.normpath(first["path"]) or \
                    (other["type"] and first["type"] and other["type"] != first["type"]):
                raise InputError(item["where"] + "policy_table", "%s names another policy table than %s; "
                                 "the profiles of one host share one table" % (other["path"], first["path"]))
        table = TlsPolicyEdit(Part(self.module, dict(
            config_dir=config_dir, path=first["path"], state="present", downgrade=True,
            type=next((item["policy_table"]["type"] for item in specs if item["policy_table"]["type"]), None),
            exclusive=any(item["policy_table"]["exclusive"] for item in specs), backup=self.module.params["backup"])))
        _config_dir, path, table_type = table.resolve_table()
        if any(item["policy_table"]["maps"] != "untouched" for item in specs):
            check_map_path(path, specs[0]["where"] + "policy_table.path")
        version = self.postfix.version(config_dir)
        original = read_text(path) if os.path.exists(path) else ""
        document = table_document(table_type, original)
        wanted, remove, probes, kept = {}, [], [], []
        for item in specs:
            spec = item["policy_table"]
            requests = policy_requests(dict(destination=None, destinations=spec["destinations"],
                                            policies=spec["policies"], level=spec["level"],
                                            attributes=spec["attributes"],
                                            include_subdomains=spec["include_subdomains"]))
            own, _remove = table.wanted_policies(requests, "present", version)
            for key, value in own.items():
                if not item["downgrade"] and key in wanted and weakens(wanted[key], value):
                    kept.append(key)  # an earlier profile asks for more: the later one keeps it
                    self.warnings.append("%s keeps %r: %r would weaken it (%sdowngrade=false)"
                                         % (key, wanted[key], value, item["where"]))
                    continue
                wanted[key] = value
                (table.protected.discard if item["downgrade"] else table.protected.add)(key)
            for destination in spec["absent"] or []:
                keys = policy_keys(normalize_destination(destination, item["where"] + "policy_table.absent"),
                                   spec["include_subdomains"])
                remove.extend(keys)
                if not item["downgrade"]:
                    table.guarded_removals.update(keys)
            table.guard_exclusive = table.guard_exclusive or (spec["exclusive"] and not item["downgrade"])
            for extra in spec["extra_maps"] or []:
                if not MAP_TYPE.match(extra) or split_list(extra) != [extra] or \
                        any(ord(char) < 32 or char == "\x7f" for char in extra):
                    raise InputError(item["where"] + "policy_table.extra_maps",
                                     "%r is not one type:name table as Postfix lists them" % (extra,))
            probes.extend((request, item) for request in requests if self._needs_probe(document, request))
        maps = [item["policy_table"]["maps"] for item in specs]
        return table, {"path": path, "type": table_type, "table": "%s:%s" % (table_type, path), "wanted": wanted,
                       "remove": [key for key in dict.fromkeys(remove) if key not in wanted], "probe": probes,
                       "kept": kept,
                       "exclusive": table.module.params["exclusive"],
                       "maps": "only" if "only" in maps else "first" if "first" in maps else "untouched",
                       "extra_maps": list(dict.fromkeys(extra for item in specs
                                                        for extra in item["policy_table"]["extra_maps"] or []))}

    @staticmethod
    def _needs_probe(document, request):
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

    @staticmethod
    def _policy_maps(main_path, plan):
        """smtp_tls_policy_maps with our table first: then extra_maps, then (unless replaced) the others."""
        if plan["maps"] == "untouched":
            return None
        table = plan["table"]
        maps = [table] + [item for item in plan["extra_maps"] if item != table]
        if plan["maps"] == "first":
            current = MainCf(read_text(main_path)).value("smtp_tls_policy_maps") or ""
            maps += [item for item in split_list(current) if item not in maps]
        return maps

    def _preflight(self, config_dir, declarations, table_plan, relay):
        """Probe, all at once, each forced entry that is new or stronger and each new relay; refuse, warn or
        (check mode) report."""
        probes = [(request, item["preflight"]) for request, item in (table_plan or {}).get("probe", [])]
        probes = [(request, spec) for request, spec in probes + (relay or {}).get("probes", [])
                  if spec["mode"] != "skip"]
        unable = {"refuse": [], "warn": []}
        if probes:
            with ThreadPoolExecutor(max_workers=min(PROBE_WORKERS, len(probes))) as pool:
                results = list(pool.map(lambda probe: self._probe(*probe), probes))
            for (request, spec), result in zip(probes, results):
                destination = normalize_destination(request["destination"])
                self.result["probes"][destination] = result
                verdict = preflight_verdict(destination, request["level"], result)
                if verdict:
                    unable[spec["mode"]].append(verdict)
        for item in declarations:
            spec = item["preflight"]
            if spec["mode"] != "skip" and spec["mta_sts_socketmap"]:
                problem = self._mta_sts_problem(config_dir, spec["mta_sts_socketmap"])
                if problem:
                    unable[spec["mode"]].append(problem)
        if unable["warn"]:
            self.warnings.append("%s; forcing TLS anyway (preflight: warn)" % "; ".join(unable["warn"]))
        if not unable["refuse"]:
            return
        message = "; ".join(unable["refuse"])
        if self.module.check_mode:
            # A check on a fresh fleet runs before the receivers it probes have TLS.
            self.warnings.append("check mode: the real run would refuse now: %s" % message)
            self.result["check_mode_refusals"].append(message)
            return
        raise ConfigError("preflight: %s. Mail to it would wait in the queue until it bounces, so nothing "
                          "was changed; set preflight.mode to warn to force it anyway" % message,
                          unable=unable["refuse"])

    def _probe(self, request, spec):
        # A relay's own CA file is what its SMTP client trusts (smtp_tls_CAfile), and only that.
        how = request.get("probe") or {}
        probe = TlsProbe(Part(self.module, dict(
            destination=request["destination"], host=None, port=None,
            ca_path=None if how.get("ca_file") else "/etc/ssl/certs", ca_file=how.get("ca_file"),
            wrappermode=bool(how.get("wrappermode")), helo=None, host_lookup=spec["host_lookup"],
            timeout=spec["timeout"])))
        try:
            probe.execute()
        except PostfixError as exc:
            return {"established": False, "starttls": False, "errors": [str(exc)], "passes": {}}
        result = dict((key, value) for key, value in probe.result.items() if key != "changed")
        if result.get("certificate"):
            result["certificate"] = dict((key, value) for key, value in result["certificate"].items() if key != "pem")
        return result

    def _mta_sts_problem(self, config_dir, socketmap):
        table = "socketmap:%s" % socketmap
        rc, _out, err = self.postfix.run("postmap", ["-c", config_dir, "-q", "mailtls-preflight.invalid", table],
                                         check=False)
        fatal = [line for line in output_lines(err) if "fatal:" in line]
        if fatal:
            return "the MTA-STS policy server at %s does not answer (%s); Postfix would defer all mail " \
                   "while it is down" % (table, fatal[0].strip())
        return None

    # --- parts, certificate, reload --------------------------------------------------

    def _part(self, part_class, name, params):
        part = part_class(Part(self.module, params))
        part.execute()
        self._merge(part, name)
        return part

    def _merge(self, part, name):
        result = dict(part.result)
        diff = result.pop("diff", [])
        self.result.setdefault("diff", []).extend(diff if isinstance(diff, list) else [diff])
        self.result[name] = result
        self.result["changed"] = bool(self.result["changed"] or result.get("changed"))
        self.warnings.extend(part.warnings)

    def _reload(self, config_dir):
        """postfix reload when Postfix runs and reads something that changed (never in check mode)."""
        running = self._running(config_dir)
        self.result["running"] = running
        if not (self.module.params["reload"] and running and self.result["reload_required"]):
            return
        if not self.module.check_mode:
            self.postfix.run("postfix", ["-c", config_dir, "reload"])
        self.result["reloaded"] = True

    def _self_probe(self, receiving, certificate, master_text):
        """After a reload, the host's own listeners must offer TLS with the certificate just deployed."""
        when = self.module.params["self_probe"] or (receiving.spec or {}).get("self_probe", "changed")
        timeout = (receiving.spec or {}).get("self_probe_timeout", 20)
        if not certificate or when == "never" or self.module.check_mode:
            return
        if when == "changed" and not (self.result["reloaded"] or self.result["restart_required"]):
            return
        if not self.result["running"] or self.result["restart_required"]:
            # Postfix is started or restarted after this call (the server role does it): probe then.
            self.result["self_probe"] = {"status": "pending", "listeners": []}
            return
        config_dir = self.result["config_dir"]
        text = master_text if master_text is not None else read_text(os.path.join(config_dir, "master.cf"))
        listeners, failures = receiving.self_probe(text, timeout)
        if not listeners:
            self.warnings.append("self-probe: master.cf has no smtpd or postscreen inet listener to probe")
        status = "failed" if failures else "passed" if listeners else "nothing_to_probe"
        self.result["self_probe"] = {"status": status, "listeners": listeners}
        if failures:
            # Postfix does not serve what it should: no record says it loaded these files.
            receiving.forget_loaded()
            raise ConfigError("self-probe after deploying: " + "; ".join(failures))

    # --- what the receiving side needs of the profile ----------------------------------

    def part_module(self, params, check_mode=None):
        return Part(self.module, params, check_mode=check_mode)

    def merge_part(self, part, name):
        part.execute()
        self._merge(part, name)
        return part

    def write_whole_file(self, path, text, attributes):
        """A whole small file of ours (DANE records, the renewal hook, the loaded record): the one write flow."""
        def plan():
            original = read_text(path) if os.path.lexists(path) else None
            return TextPlan(file_identity(path), original, text, None)

        def commit(lock, _planned):
            lock.replace(text, attributes)

        planned = self.locked_edit(path, plan, commit)
        if planned.needs_work and self.module._diff:
            self.result.setdefault("diff", []).append({"before": planned.original or "", "after": text,
                                                       "before_header": path, "after_header": path})

    def keep_mode(self, path, mode):
        """Give a file of ours its mode back; returns whether it had another."""
        if (os.stat(path).st_mode & 0o7777) == mode:
            return False
        if not self.module.check_mode:
            os.chmod(path, mode)
        return True

    def echoed_arguments(self):
        """The echo of the arguments, every certificate's key_content masked."""
        echoed = super().echoed_arguments()

        def masked_chains(chains):
            if not isinstance(chains, list):
                return chains
            return [dict(chain, key_content=MASK if chain.get("key_content") is not None else None)
                    if isinstance(chain, dict) else chain for chain in chains]

        def masked(declaration):
            certificate = declaration.get("certificate")
            if isinstance(certificate, dict):
                hidden = dict(certificate, chains=masked_chains(certificate.get("chains")))
                if certificate.get("key_content") is not None:
                    hidden["key_content"] = MASK
                declaration = dict(declaration, certificate=hidden)
            receiving = declaration.get("receiving")
            if isinstance(receiving, dict) and isinstance(receiving.get("sni"), list):
                sni = [dict(item, chains=masked_chains(item.get("chains"))) if isinstance(item, dict) else item
                       for item in receiving["sni"]]
                declaration = dict(declaration, receiving=dict(receiving, sni=sni))
            relay = declaration.get("relay")
            if isinstance(relay, dict):
                hidden = dict(relay, password=MASK if relay.get("password") is not None else None)
                if isinstance(relay.get("sender_relays"), list):
                    hidden["sender_relays"] = [dict(item, password=MASK if item.get("password") is not None
                                                    else None) if isinstance(item, dict) else item
                                               for item in relay["sender_relays"]]
                declaration = dict(declaration, relay=hidden)
            return declaration

        echoed = masked(echoed)
        if isinstance(echoed.get("declarations"), list):
            echoed["declarations"] = [masked(item) if isinstance(item, dict) else item
                                      for item in echoed["declarations"]]
        return echoed
