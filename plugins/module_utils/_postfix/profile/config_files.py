# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tls_profile's main.cf and master.cf: planned on what the migration leaves, read back and validated
together once, written main.cf last (private).

The profile's merged request (declarations.ConfigRequest) is what they must say; this part plans
the texts, validates them on a scratch copy, and writes them through the one locked edit flow
(``edit_file``), keeping a concurrent writer's edit. Its result part is ``master_cf`` and the backups.
"""

from __future__ import annotations

import os

from ..plan.declarations import LEVEL_PARAMETERS
from ..core.errors import ConfigError
from ..host.files import read_text
from ..work.info import obsolete_in
from ..model.main_cf import plan_edit
from ..host.base import refuse_as_the_run_would
from ..model.master_cf import MasterCf, plan_master_edit
from ..plan.receiving import POSTSCREEN_AFTER_GREETING_TESTS, postscreen_without_tlsproxy
from ..work.postconf_edit import TlsMigrate
from ..model.tls import weakens


def migrated_main(migration, text):
    """main.cf's ``text`` as the planned migration (None: none) leaves it."""
    return text if migration is None else migration.migrated_main(text)[0]


def migrated_master(migration, text):
    """master.cf's ``text`` as the planned migration (None: none) leaves it."""
    return text if migration is None else migration.migrated_master(text)[0]


def master_text_with(text, services):
    """master.cf's ``text`` with each (service/type, entry or None) of ``services`` applied."""
    for key, replacement in services:
        text = plan_master_edit(text, key, replacement)[0]
    return text


class ConfigFiles(object):
    """main.cf and master.cf for one call; ``profile`` lends the read-back, the edit flow and the tools."""

    def __init__(self, profile):
        self.profile = profile
        self.result = {}

    def plan_migration(self, config_dir):
        """The migration of the obsolete TLS switches, planned and confirmed, nothing written; None without one."""
        params = self.profile.module.params
        if not (params["migrate_obsolete"] and obsolete_in(self.profile.postfix, config_dir)):
            return None
        migration = TlsMigrate(self.profile.part_module(dict(config_dir=config_dir, validate=params["validate"],
                                                             backup=params["backup"])))
        migration.plan()
        return migration

    def planned_main(self, call, text=None):
        """main.cf's text (``text``, else the file's) as this call plans it, on the migration's."""
        config = call.config
        text = read_text(call.main_path) if text is None else text
        return plan_edit(migrated_main(call.migration, text), config.wanted, config.remove, config.list_valued)[0]

    def keep_levels(self, call):
        """keep_stronger_levels on the host as the planned migration leaves it (smtpd_use_tls = yes is may)."""
        if call.migration is None:
            return self.keep_stronger_levels(call.config_dir, call.config)
        with self.profile.scratch_config(call.config_dir, call.migration.main_text,
                                         call.migration.master_text) as migrated:
            return self.keep_stronger_levels(migrated, call.config)

    def rehearse(self, call):
        """Refuse now what the writes of main.cf and master.cf would refuse (a link or FIFO at a temporary)."""
        services, migration = call.config.services, call.migration
        main_path, master_path = call.main_path, os.path.join(call.config_dir, "master.cf")
        main_cf = read_text(main_path)
        if self.planned_main(call, main_cf) != main_cf:
            refuse_as_the_run_would(main_path)
        if services or (migration is not None and migration.master_text is not None):
            master_cf = read_text(master_path)
            if master_text_with(migrated_master(migration, master_cf), services) != master_cf:
                refuse_as_the_run_would(master_path)

    def postscreen_warnings(self, config_dir, master_text):
        """postscreen running its after-greeting tests (main.cf) without a tlsproxy service (``master_text``):
        the clients it holds get no STARTTLS."""
        if not postscreen_without_tlsproxy(MasterCf(master_text)):
            return []
        if any(self.profile.postfix.parameter(config_dir, name).strip().lower() == "yes"
               for name in POSTSCREEN_AFTER_GREETING_TESTS):
            return ["self-probe: postscreen runs its after-greeting tests but master.cf has no tlsproxy "
                    "service: clients it holds get '454 4.7.0 TLS not available' instead of STARTTLS "
                    "(the probe from 127.0.0.1 is let through to smtpd and cannot see it); enable "
                    "tlsproxy in master.cf (postscreen(8))"]
        return []

    def plan_and_validate(self, call):
        """The new main.cf and master.cf texts (planned on the migration's), read back and validated together once."""
        config_dir, config, migration, services = call.config_dir, call.config, call.migration, call.config.services
        main_text = plan_edit(migrated_main(migration, read_text(call.main_path)),
                              config.wanted, config.remove, config.list_valued)
        master_path = os.path.join(config_dir, "master.cf")
        if services and not os.path.isfile(master_path):
            raise ConfigError("config_dir: %s has no master.cf" % config_dir, path=master_path)
        master_text = None
        if services:
            original = read_text(master_path)
            master_text = master_text_with(migrated_master(migration, original), services)
            if master_text == original:
                master_text = None
        new_main, changes = main_text
        if changes or master_text is not None:
            # master.cf as the migration leaves it, when the services leave it alone.
            read_master = master_text if master_text is not None or migration is None else migration.master_text
            self.profile._read_back(config_dir, new_main, changes, read_master, services)
        return (new_main if changes else None), master_text

    def write_master_cf(self, call):
        config_dir, services, migration = call.config_dir, call.config.services, call.migration
        planned, main_text = call.master_text, call.main_text
        if not services:
            return False
        path = os.path.join(config_dir, "master.cf")
        entries = {}

        def compute(text):
            new_text = migrated_master(migration, text)  # a no-op once the migration is written
            for key, replacement in services:
                new_text, before, after = plan_master_edit(new_text, key, replacement)
                if before != after:
                    entries[key] = {"before": before, "after": after}
            return new_text, None

        def validate(new_text, _info):
            if new_text != planned:  # master.cf changed since it was planned: check the new plan too
                self.profile._read_back(config_dir, main_text, [], new_text, services)

        changed, _info = self.profile.edit_file(path, compute, validate)
        self._rename_backup("master_cf_backup_file")
        self.result["master_cf"] = {"services": entries}
        return changed

    def write_main_cf(self, call):
        config_dir, planned, master_text, migration = call.config_dir, call.main_text, call.master_text, call.migration
        wanted, remove, list_valued = call.config.wanted, call.config.remove, call.config.list_valued

        def compute(text):
            # Check mode reads main.cf before the migration: its changes are the run's all the same.
            return plan_edit(migrated_main(migration, text), wanted, remove, list_valued)

        def validate(new_text, changes):
            if new_text != planned:  # main.cf changed since it was planned: check the new plan too
                self.profile._read_back(config_dir, new_text, changes, master_text)

        changed, changes = self.profile.edit_file(call.main_path, compute, validate)
        self._rename_backup("main_cf_backup_file")
        return changed, changes

    def _rename_backup(self, name):
        result = self.profile.result
        if "backup_file" in result:
            self.result[name] = result.pop("backup_file")

    def keep_stronger_levels(self, config_dir, config):
        """A global level a downgrade=false profile sets or removes stays where the host's is stronger:
        (the levels kept, warnings saying so)."""
        wanted, remove, protected = config.wanted, config.remove, config.protected
        kept, warnings = {}, []
        for name in LEVEL_PARAMETERS:
            if name not in protected or (name not in wanted and name not in remove):
                continue
            current = self.profile.postfix.parameter(config_dir, name).strip()
            if not current or not weakens(current, wanted.get(name, "")):
                continue
            kept[name] = current
            if name in remove:
                remove.remove(name)
                warnings.append("%s stays %r: removing it would weaken it (downgrade=false)" % (name, current))
            else:
                warnings.append("%s stays %r: %r would weaken it (downgrade=false)" % (name, current, wanted.pop(name)))
        return kept, warnings
