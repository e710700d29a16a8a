# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tls_profile's relay side: reads and writes for the relay's pure plan (relay.py) (private).

Inside the profile's one call: the relay plans against what main.cf will say without it (the
file with this call's other declarations applied), its promises are checked again on the
merged plan of the whole call, its tables are written through the table parts, and it deletes
and takes away only what its record (``mailtls-relay.json`` beside main.cf) says it created.
"""

from __future__ import annotations

import os
import re

from ..core.file_names import RECORD_MODE
from ..core.errors import InputError
from ..plan.file_roles import reads, table_writes, writes
from ..host.files import FileAttributes, read_text
from ..core.lines import split_list
from ..model.main_cf import MainCf, render_value
from ..model.master_cf import FIELDS as MASTER_FIELDS, MasterCf, plan_master_edit, wanted_entry
from ..plan.relay import (RELAY_RECORD, RELAY_SERVICE, check_planned_state, ownership_before_the_record, parse_record,
                          plan_relay, previous_hops, record_text, table_paths, table_source, transport_next_hop)
from ..work.table_edit import LookupTableEdit, PrivateTable
from ..model.table_types import INDEX_SUFFIXES, check_type, table_document

# The record lists which tables and settings are the relay's; others may read that, not its secrets.


def main_cf_after(current, declarations):
    """main.cf's values once ``declarations`` set and remove their parameters, in order (name -> value)."""
    values = dict(current)
    for declaration in declarations:
        for name, value in (declaration["parameters"] or {}).items():
            try:
                values[name] = render_value(name, value)
            except InputError:
                continue  # refused, naming its option, where main.cf's request is merged
        for name in declaration["absent_parameters"] or []:
            values.pop(name, None)
    return values


class RelaySide(object):
    """The relay of one tls_profile call; ``profile`` is the TlsProfile it works for."""

    def __init__(self, profile, config_dir):
        self.profile, self.config_dir = profile, config_dir
        self.spec = self.plan = self.where = None
        self.tables, self.remove_files, self.probes = [], [], []
        self.record_path = os.path.join(config_dir, RELAY_RECORD)

    @property
    def module(self):
        return self.profile.module

    def __bool__(self):
        return self.spec is not None

    # --- the request ------------------------------------------------------------------

    def request(self, main_path, declarations):
        """Plan the relay; its main.cf and master.cf parts join ``declarations`` right after its own."""
        given = [(index, item) for index, item in enumerate(declarations) if item["relay"]]
        if not given:
            return
        if len(given) > 1:
            raise InputError(given[1][1]["where"] + "relay", "two profiles declare a relay; a host has one")
        index, item = given[0]
        postfix, config_dir = self.profile.postfix, self.config_dir
        spec = dict(item["relay"])
        where = item["where"] + "relay."
        spec["table_type"] = spec["table_type"] or postfix.parameter(config_dir, "default_database_type")
        if spec["table_type"] not in INDEX_SUFFIXES:
            raise InputError(where + "table_type", "%r: the relay's tables are looked up key by key; use an indexed "
                                                   "type (%s)" % (spec["table_type"], ", ".join(sorted(INDEX_SUFFIXES))))
        check_type(spec["table_type"], postfix.map_types(config_dir), where + "table_type")
        disk = MainCf(read_text(main_path)).values()
        master_path = os.path.join(config_dir, "master.cf")
        master = read_text(master_path) if os.path.isfile(master_path) else ""
        service = MasterCf(master).entry("%s/unix" % RELAY_SERVICE)  # the relay-tls there is now
        owned_parameters, owned_files = self._owned(spec, disk, service)
        local_domains = split_list(postfix.run("postconf", ["-c", config_dir, "-xh", "mydestination"])[1])
        plan = plan_relay(spec, main_cf_after(disk, declarations), where, local_domains, owned_parameters,
                          os.path.abspath(config_dir))
        self.spec, self.plan, self.where = spec, plan, where
        tables = [("password_table", PrivateTable, spec["password_table"], plan.passwords),
                  ("sender_table", LookupTableEdit, spec["sender_table"], plan.sender_relays),
                  ("transport_table", LookupTableEdit, spec["transport_table"], plan.transports)]
        for name, part_class, path, entries in tables:
            if entries:
                self.tables.append((name, part_class, dict(
                    config_dir=config_dir, path=path, type=spec["table_type"], key=None, value=None, entries=entries,
                    state="present", exclusive=True, secret=part_class is PrivateTable, backup=False)))
        self.remove_files = [path for path in owned_files if path not in self.written_files() and os.path.lexists(path)]
        self._warn_of_a_foreign_relay_service(spec, disk, service)
        self.profile.warnings.extend(plan.warnings)
        declarations.insert(index + 1, dict(
            where=where, downgrade=item["downgrade"], preflight=item["preflight"], certificate=None, relay=None,
            receiving=None, hardening=None, relay_plan=True,
            parameters=plan.parameters, absent_parameters=plan.absent_parameters, master_services=[plan.service],
            policy_table=None))
        self.profile.result["relay"] = {"state": spec["state"], "relayhost": plan.parameters.get("relayhost"),
                                        "senders": sorted(plan.sender_relays),
                                        "destinations": sorted(plan.transports), "removed_files": []}
        self.probes = self._probes(spec, plan, disk, master, item["preflight"])

    def _owned(self, spec, disk, service):
        """(main.cf parameters, files) the relay created: its record, or what relay-tls proves before one."""
        if os.path.lexists(self.record_path):
            return parse_record(read_text(self.record_path), self.record_path)
        # Before the record: a relay-tls that nothing of ours routes to is someone else's.
        routed = (disk.get("default_transport") or "").strip() == RELAY_SERVICE or \
            "%s:%s" % (spec["table_type"], spec["transport_table"]) in split_list(disk.get("transport_maps") or "")
        return ownership_before_the_record(spec, disk, dict(service.options) if service and routed else None)

    def written_files(self):
        """Every file the relay's tables write this call: each source and its index."""
        return [part["path"] + suffix for _name, _class, part in self.tables
                for suffix in [""] + INDEX_SUFFIXES[part["type"]]]

    def file_uses(self):
        """Every file this side writes, deletes or reads, for the profile's one-file-one-role refusal."""
        if not self:
            return []
        uses = []
        for name, _class, part in self.tables:
            uses += table_writes(self.where + name, part["path"], part["type"])
        uses += [writes(self.where[:-1] + " (a table it deletes)", path) for path in self.remove_files]
        uses.append(writes("the relay's record of what it owns", self.record_path))
        if self.spec["state"] == "present":
            uses.append(reads(self.where + "ca_file", self.spec["ca_file"]))
        return uses

    def _probes(self, spec, plan, current, master, preflight):
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

    def _warn_of_a_foreign_relay_service(self, spec, current, service):
        """A relay-tls service nothing of the relay routes to is someone else's: say it is replaced."""
        ours = "%s:%s" % (spec["table_type"], spec["transport_table"])
        routed = (current.get("default_transport") or "").strip() == RELAY_SERVICE or \
            ours in split_list(current.get("transport_maps") or "")
        if service is not None and not routed and spec["state"] == "present":
            self.profile.warnings.append("master.cf's %s service, which the relay did not route to, is replaced by "
                                         "the relay's" % RELAY_SERVICE)

    @staticmethod
    def _table_entries(table_type, path):
        """A table's entries (key -> value) as the source holds them; {} when there is none."""
        if not os.path.isfile(path):
            return {}
        document = table_document(table_type, read_text(path))
        values = dict((key, document.value(key)) for key in document.entries)
        # A key without a value names no hop (postmap skips it); a file that is no table at all is refused later.
        return dict((key, value) for key, value in values.items() if value is not None)

    # --- the merged plan --------------------------------------------------------------

    def check_plan(self, main_text, declarations):
        """The relay's promises on what main.cf (``main_text``, planned) and master.cf will say after the call."""
        if not self:
            return
        planned = MainCf(main_text).values()
        disk = MainCf(read_text(os.path.join(self.config_dir, "main.cf"))).values()
        key = "%s/unix" % RELAY_SERVICE

        def source(name):
            if name == "master.cf:" + key:  # another declaration's entry for relay-tls replaces the relay's
                for item in declarations:
                    for index, service in enumerate(item["master_services"] or []):
                        if "%s/%s" % (service["service"], service["type"]) == key and not item.get("relay_plan"):
                            return "%smaster_services[%d]" % (item["where"], index)
                return None
            for item in reversed(declarations):
                for option in ("parameters", "absent_parameters"):
                    if not item.get("relay_plan") and name in (item[option] or ()):
                        return item["where"] + option
            return "main.cf" if name in disk else self.where[:-1]

        check_planned_state(self.plan, self.spec, planned, source, self.where, os.path.abspath(self.config_dir))

    # --- writes -------------------------------------------------------------------------

    def rehearse(self):
        """The tables' writes in check mode: what they would refuse (a link or FIFO at a temporary), refused now."""
        for _name, part_class, part in self.tables:
            part_class(self.profile.part_module(part, check_mode=True)).execute()

    def write_tables(self):
        for name, part_class, part in self.tables:
            self.profile.merge_part(part_class(self.profile.part_module(part)), name)

    def remove_unused(self, main_text, master_text):
        """Delete the tables the relay created and no longer uses; then keep its record up to date."""
        if not self:
            return False
        removed = self._remove_files(self.remove_files, main_text, master_text)
        self.profile.result["relay"]["removed_files"] = removed
        return self._write_record(removed) or bool(removed)

    def _remove_files(self, files, main_text, master_text):
        """Delete ``files`` (in check mode: say so); a table main.cf or master.cf still names, in whatever
        spelling (another type, proxy:, $config_directory), stays. The texts are main.cf and master.cf
        as planned (None: unchanged, as on disk).
        """
        named = ""
        for name, planned in (("main.cf", main_text), ("master.cf", master_text)):
            path = os.path.join(self.config_dir, name)
            named += planned if planned is not None else read_text(path) if os.path.isfile(path) else ""
        words = [word.strip("{}") for word in re.split(r"[\s,=]+", named)]  # {} quote -o values with spaces
        still_read = set(table_paths(" ".join(words), os.path.abspath(self.config_dir)))
        removed = []
        for path in files:
            if os.path.normpath(table_source(path)) in still_read:
                self.profile.warnings.append("%s stays: main.cf or master.cf still names its table" % path)
                continue
            if not (os.path.islink(path) or os.path.isfile(path)):
                self.profile.warnings.append("%s stays: the relay created a table file there, this is not one"
                                             % path)
                continue
            if not self.module.check_mode:
                os.unlink(path)  # a link itself, never what it points to
            removed.append(path)
        return removed

    def _write_record(self, removed):
        """The record of what the relay owns now; gone with the relay. Returns whether it changed."""
        kept = [path for path in self.remove_files if path not in removed]  # named still: still ours
        if self.spec["state"] == "absent" and not kept:
            if not os.path.lexists(self.record_path):
                return False
            if not self.module.check_mode:
                os.unlink(self.record_path)
            return True
        text = record_text(self.plan.parameters, self.written_files() + kept)
        if os.path.isfile(self.record_path) and read_text(self.record_path) == text:
            return False
        # Check mode writes nothing here either: it shows the diff the run will make.
        self.profile.write_whole_file(self.record_path, text, FileAttributes(RECORD_MODE, os.geteuid(), os.getegid()))
        return True
