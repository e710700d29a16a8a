# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tls_profile's record of what each named profile wrote, and taking it back (private).

Its contract with the profile: before the other sides plan (``request``), it reads the record
beside main.cf and turns what a named declaration no longer lists (all of it, with
``state: absent``) into a declaration that restores the replaced values and removes the entries
and parameters still holding what the profile wrote; it notes which files the call will create
(``note_files``); after main.cf is written (``write``) it deletes the files an absent profile
created and nothing names any more, warns of every destination whose TLS level went down, and
writes the record (through the one writer) or deletes it when nothing is left.
"""

from __future__ import annotations

import os

from ..core.errors import ConfigError
from ..core.file_names import RECORD_MODE, TMP_SUFFIX
from ..host.files import FileAttributes, read_text
from ..model.hardening import hardening_plan
from ..model.main_cf import MainCf
from ..model.tls_files import LOADED_RECORD
from ..model.table_types import INDEX_SUFFIXES, table_document
from ..plan.ownership import (HOST_PROFILE, HOST_UNASKED, PROFILES_RECORD, SERVICE_KIND, changed_warning, empty_profile,
                              entries_of, listed_services, lowered, lowered_parameter_warnings, lowered_warning, outside,
                              parameters_of, parse_profiles_record, recorded_services, release, render_profiles_record,
                              replaced_value, service_texts, services_back, services_of, unasked_parameters)
from ..plan.tls_policy import policy_requests, wanted_policies


def listed_parameters(item, version):
    """The main.cf parameters a declaration writes or removes (its hardening's too, its table's maps)."""
    names = list(item["parameters"] or {}) + list(item["absent_parameters"] or [])
    if item.get("hardening"):
        chosen, dropped = hardening_plan(item["hardening"], version)
        names += list(chosen) + list(dropped)
    if item.get("policy_table") and item["policy_table"]["maps"] != "untouched":
        names.append("smtp_tls_policy_maps")
    return set(names)


def own_entries(item, version):
    """The policy-table keys a declaration writes (key -> value)."""
    spec = item.get("policy_table")
    if not spec or spec.get("release"):
        return {}
    requests = policy_requests(dict(destination=None, destinations=spec["destinations"], policies=spec["policies"],
                                    level=spec["level"], attributes=spec["attributes"],
                                    include_subdomains=spec["include_subdomains"]))
    return wanted_policies(requests, "present", version)[0] if requests else {}


def named_files(declarations):
    """The files the declarations name: a record may list such a file outside config_dir."""
    found = set()
    for item in declarations:
        table = item.get("policy_table") or {}
        certificate, receiving = item.get("certificate") or {}, item.get("receiving") or {}
        paths = [table.get("path"), receiving.get("sni_table"), certificate.get("cert_file"),
                 certificate.get("key_file"), receiving.get("renewal_hook"), (receiving.get("dane") or {}).get("file")]
        paths += [chain.get(name) for chain in certificate.get("chains") or [] for name in ("cert_file", "key_file")]
        for path in filter(None, paths):
            found.update(os.path.normpath(path) + suffix for suffix in [""] + sorted(
                {suffix for suffixes in INDEX_SUFFIXES.values() for suffix in suffixes}))
    return found


class OwnershipSide(object):
    """The named profiles of one call and the record of what they wrote; ``profile`` is the TlsProfile."""

    def __init__(self, profile, config_dir):
        self.profile, self.config_dir = profile, os.path.abspath(config_dir)
        self.path = os.path.join(self.config_dir, PROFILES_RECORD)
        self.profiles, self.owners, self.releasing, self.released = None, {}, set(), {}
        self.before, self.table_before, self.created, self.named, self.services_before = {}, {}, {}, set(), {}
        self.warnings = []

    def __bool__(self):
        return self.profiles is not None

    def request(self, declarations, main_path, version):
        """Read the record; rewrite ``declarations`` so that what a named one no longer lists is taken back."""
        self.owners = dict((item["name"], item) for item in declarations if item.get("name"))
        if not self.owners:
            return
        self.version = version
        self.profiles = self._read(declarations)
        self.before = MainCf(read_text(main_path)).values()
        self.services_before = service_texts(self._master_text())
        self.releasing = set(name for name, item in self.owners.items() if item["state"] == "absent")
        host = self.owners.get(HOST_PROFILE)
        if host is not None and host["state"] == "absent":
            self.releasing |= set(self.profiles)
        present = [item for item in declarations if item.get("state", "present") == "present"]
        for owner in sorted(set(self.profiles) & (set(self.owners) | self.releasing)):
            item = self.owners.get(owner)
            others = [other for other in present if other is not item]
            release_item = self._release(owner, item, others)
            if release_item is not None:
                declarations.append(release_item)
        for index, item in enumerate(declarations):
            if item.get("name") and item["state"] == "absent":
                declarations[index] = dict(item, parameters={}, absent_parameters=[], policy_table=None, master_services=[],
                                           certificate=None, receiving=None, hardening=None, mta_sts_resolver=None)

    def _master_text(self, text=None):
        path = os.path.join(self.config_dir, "master.cf")
        return text if text is not None else read_text(path) if os.path.isfile(path) else ""

    def _read(self, declarations):
        if not os.path.lexists(self.path):
            return {}
        if os.path.islink(self.path) or not os.path.isfile(self.path):
            raise ConfigError("%s is not the collection's record of what its profiles wrote (a link or not a "
                              "regular file); nothing was changed: move it away" % self.path, path=self.path)
        self.named = named_files(declarations)
        return parse_profiles_record(read_text(self.path), self.path, self.config_dir, self.named)

    def _release(self, owner, item, others):
        """The declaration taking back what ``owner`` no longer lists; None when nothing is to be done."""
        record, absent = self.profiles[owner], owner in self.releasing
        restore = self._release_section(owner, record["parameters"], set() if absent else listed_parameters(
            item, self.version), parameters_of, self.before, set().union(
            *[listed_parameters(other, self.version) for other in others]), "main.cf's")
        services = self._release_section(owner, record["services"], set() if absent else listed_services(item),
                                         services_of, self.services_before,
                                         set().union(*[listed_services(other) for other in others]), SERVICE_KIND)
        table, entries = record["table"], {}
        if table:
            own = set() if absent else set(own_entries(item, self.version))
            entries = self._release_section(owner, table["entries"], own, entries_of, self._table_values(table), set().union(
                *[own_entries(other, self.version) for other in others]), "The policy table's entry")
        self.released[owner] = {"parameters": restore, "entries": entries, "table": table, "services": services}
        if not restore and not entries and not services:
            return None
        base = item or next(iter(self.owners.values()))
        policy = None
        if entries:
            policy = dict(path=table["path"], type=table["type"], destinations=[], policies=[], level=None,
                          attributes={}, include_subdomains=False, absent=[], exclusive=False, maps="untouched",
                          extra_maps=[], absent_maps=[], release=True, drop=[key for key, value in entries.items() if value is None],
                          restore=dict((key, value) for key, value in entries.items() if value is not None))
        return dict(base, name=None, state="present", downgrade=True, certificate=None, receiving=None, relay=None,
                    hardening=None, mta_sts_resolver=None, master_services=services_back(services), policy_table=policy,
                    parameters=dict((name, value) for name, value in restore.items() if value is not None),
                    absent_parameters=[name for name, value in restore.items() if value is None])

    def _release_section(self, owner, recorded, listed, section, current, still_wanted, kind):
        """What taking back the names ``owner`` no longer lists restores (name -> value or None), warnings said."""
        restore, changed = release(owner, sorted(set(recorded) - set(listed)), section, self.profiles, self.releasing,
                                   current, still_wanted)
        self.warnings.extend(changed_warning(owner, kind, name, written, now) for name, (written, now) in changed.items())
        self.warnings.extend(lowered_parameter_warnings(owner, restore, current) if section is parameters_of else [])
        return restore

    def _table_values(self, table):
        path = table["path"]
        if path not in self.table_before:
            document = table_document(table["type"], read_text(path) if os.path.isfile(path) else "")
            self.table_before[path] = dict((key, document.value(key)) for key in document.entries)
        return self.table_before[path]

    def note_files(self, policy, receiving, mta_sts=None):
        """Which files this call creates, and for which named profile: the policy, receiving and MTA-STS sides'."""
        if not self:
            return
        present = [(name, item) for name, item in self.owners.items() if item["state"] == "present"]
        sides = ((policy, lambda item: item.get("policy_table")),
                 (receiving, lambda item: item.get("certificate") or item.get("receiving")),
                 (mta_sts, lambda item: (item.get("receiving") or {}).get("mta_sts")))
        for side, declares in sides:
            owner = next((name for name, item in present if declares(item)), None)
            if owner is None or side is None:
                continue
            for use in side.file_uses():
                path = os.path.normpath(os.path.abspath(use.path))
                # The record of the TLS files Postfix loaded is always the receiving side's, written after the
                # reload (so after this record): its profile owns it whether or not this call creates it.
                if use.writes and TMP_SUFFIX not in path and "__db." not in path and (
                        path.endswith(os.sep + LOADED_RECORD) or not os.path.lexists(path)):
                    self.created.setdefault(path, owner)
        if policy:
            self._table_values({"path": policy.plan.path, "type": policy.plan.type})

    # --- after main.cf is written -------------------------------------------------------------

    def write(self, call):
        """Delete what absent profiles created and nothing names, warn of lowered TLS, keep the record.
        Returns whether something changed (in check mode: would)."""
        if not self:
            return False
        main_text = call.main_text if call.main_text is not None else read_text(call.main_path)
        master_text = self._master_text(call.master_text)
        named = main_text + master_text
        after = MainCf(main_text).values()
        self.services_after = service_texts(master_text)
        table_after = self._table_after(call.policy)
        profiles, result, lowered_all = {}, {}, []
        unasked = {HOST_UNASKED} if HOST_PROFILE in self.owners else set()
        for owner in sorted(set(self.profiles) | set(self.owners) | unasked):
            if owner in self.releasing:
                profiles[owner] = self._forgotten(owner, named, table_after, result.setdefault(owner, {}))
            elif owner in unasked:
                profiles[owner] = self._unasked(after)
            else:
                profiles[owner] = self._remembered(owner, after, table_after, call.policy)
            released = self.released.get(owner)
            if released and released["entries"]:
                table = released["table"]
                found = lowered(dict((key, table["entries"][key]["value"]) for key, value in released["entries"].items()
                                     if value is None), table_after.get(table["path"], {}),
                                "%s:%s" % (table["type"], table["path"]) in (after.get("smtp_tls_policy_maps") or ""),
                                after.get("smtp_tls_security_level"))
                self.warnings.extend(lowered_warning(owner, item, table["path"]) for item in found)
                lowered_all.extend(dict(item, profile=owner) for item in found)
            if released and (released["parameters"] or released["entries"] or released["services"]
                             or owner in self.releasing):
                result.setdefault(owner, {}).update(
                    state="absent" if owner in self.releasing else "present",
                    parameters_restored=released["parameters"], services_restored=released["services"],
                    entries_removed=sorted(
                        key for key, value in released["entries"].items() if value is None))
        self.profile.result.update(profiles_released=result, tls_lowered=lowered_all)
        self.profile.warnings.extend(self.warnings)
        return self._write_record(profiles) or any(part.get("removed_files") for part in result.values())

    def _table_after(self, policy):
        """Each table's entries as the call leaves them (key -> value), as planned: the same in check mode."""
        found = dict((path, dict(values)) for path, values in self.table_before.items())
        if policy:
            values = found.setdefault(policy.plan.path, {})
            values.update(policy.plan.wanted)
            for key in policy.plan.remove:
                values.pop(key, None)
        return found

    def _remembered(self, owner, after, table_after, policy):
        """The record of a present profile: what it lists now, with the values it replaced."""
        item = self.owners.get(owner)
        old = self.profiles.get(owner) or empty_profile()
        if item is None:
            return old  # recorded, not in this call: as it was
        names = listed_parameters(item, self.version)
        parameters = dict((name, {"value": after.get(name), "replaced": replaced_value(
            name, parameters_of, self.profiles, owner, self.before.get(name))}) for name in sorted(names))
        parameters = dict((name, item) for name, item in parameters.items() if item != {"value": None, "replaced": None})
        table = None
        own = own_entries(item, self.version)
        if own and policy:
            path, entries = policy.plan.path, table_after.get(policy.plan.path, {})
            before = self.table_before.get(path, {})
            table = {"path": path, "type": policy.plan.type, "entries": dict(
                (key, {"value": entries[key], "replaced": replaced_value(key, entries_of, self.profiles, owner,
                                                                         before.get(key))})
                for key in sorted(own) if key in entries)}
        files = [path for path in old["files"] if os.path.lexists(path)]
        files += [path for path, creator in sorted(self.created.items()) if creator == owner and path not in files
                  and (self.profile.module.check_mode or os.path.lexists(path) or path.endswith(LOADED_RECORD))]
        services = recorded_services(listed_services(item), owner, self.profiles, self.services_before,
                                     self.services_after)
        return {"parameters": parameters, "table": table, "files": files, "services": services}

    def _unasked(self, after):
        """The record of what the server's calls changed that no declaration lists (kept until absent)."""
        listed = set().union(*[listed_parameters(item, self.version) for item in self.owners.values()])
        restored = set().union(*[released["parameters"] for released in self.released.values()])
        changed = set(name for name in set(after) | set(self.before) if after.get(name) != self.before.get(name)
                      and name not in restored and not self._relay_sets(name))
        old = (self.profiles.get(HOST_UNASKED) or empty_profile())["parameters"]
        return dict(empty_profile(), parameters=unasked_parameters(old, changed, listed, self.profiles, self.before,
                                                                   after))

    def _relay_sets(self, name):
        relay = self.profile.result.get("relay")
        return bool(relay) and name in ("relayhost", "default_transport", "transport_maps", "sender_dependent_relayhost_maps",
                                        "smtp_sasl_password_maps", "smtp_sasl_auth_enable")

    def _forgotten(self, owner, named, table_after, result):
        """What stays of an absent profile's record: the files it created that something still names."""
        kept, removed = [], []
        for path in (self.profiles.get(owner) or empty_profile())["files"]:
            if not os.path.lexists(path):
                continue
            source = next((path[:-len(suffix)] for suffixes in INDEX_SUFFIXES.values() for suffix in suffixes
                           if suffix and path.endswith(suffix) and path[:-len(suffix)] in table_after), path)
            if source in named or table_after.get(source):
                self.warnings.append("%s stays: %s created it, and %s" % (
                    path, owner, "main.cf or master.cf still names it" if source in named
                    else "the table still holds entries of another owner"))
                kept.append(path)
                continue
            if outside(path, self.config_dir, self.named):
                self.warnings.append("%s stays: %s created it, but it is outside %s and this call does not name it"
                                     % (path, owner, self.config_dir))
                kept.append(path)
                continue
            if not (os.path.islink(path) or os.path.isfile(path)):
                self.warnings.append("%s stays: %s created a file there, this is not one" % (path, owner))
                continue
            if not self.profile.module.check_mode:
                os.unlink(path)  # a link itself, never what it points to
            removed.append(path)
        result["removed_files"] = removed
        return dict(empty_profile(), files=kept)

    def _write_record(self, profiles):
        text = render_profiles_record(profiles)
        if text is None:
            if not os.path.lexists(self.path):
                return False
            if not self.profile.module.check_mode:
                os.unlink(self.path)
            return True
        if os.path.isfile(self.path) and read_text(self.path) == text:
            return False
        self.profile.write_whole_file(self.path, text, FileAttributes(RECORD_MODE, os.geteuid(), os.getegid()))
        return True
