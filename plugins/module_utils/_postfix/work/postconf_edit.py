# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``postconf`` module's work: main.cf edits confirmed by Postfix (private to the collection)."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import tempfile
import time

from ..host.base import FileEditModule
from ..host.commands import (config_warnings, new_warnings, parse_parameters, run_with_terminal, smtp_links_tlsrpt,
                             warning_parameters)
from ..core.errors import ConfigError, InputError, ValidationError
from ..host.commands import check_config_files
from ..host.files import read_text, write_new_file
from ..core.lines import normalize_space
from ..model.main_cf import MainCf, check_parameter_name, list_words, macro_syntax_problem, plan_edit, render_value
from ..model.master_cf import (
    FIELDS as MASTER_FIELDS,
    Entry,
    MasterCf,
    check_service,
    edit_options,
    plan_master_edit,
    wanted_entry,
)
from ..model.parameters import (
    RESTART_PARAMETERS,
    ROLE_PARAMETERS,
    TLS_ROLES,
    Service,
    effective_levels,
    integer_parameters,
    integer_value_problem,
    obsolete_warning,
    plan_tls_migration,
)
from ..core.versions import parse_version
from ..model.tls import TLSRPT_DEFAULTS, TLSRPT_SINCE, protocol_range_problem, tlsrpt_problem

# Postfix waits for a main.cf younger than about two seconds to settle;
# a backdated scratch copy makes the read-back instant.
SETTLED_AGE = 10


def requested_parameters(params):
    """Turn module arguments into ``(wanted, remove, list_valued)``; raise InputError on bad input."""
    name, parameters, state = params["name"], params["parameters"], params["state"]
    if state == "absent":
        if name is not None:
            if params["value"] is not None:
                raise InputError("value", "must not be given with state=absent (postconf -X takes names only)")
            names = [name]
        elif isinstance(parameters, dict):
            names = list(parameters)
        elif isinstance(parameters, list):
            names = parameters
        elif isinstance(parameters, str):
            names = list_words(parameters)  # ad-hoc: parameters=a,b
        else:
            raise InputError("parameters", "with state=absent, give a list of names or a mapping")
        for item in names:
            check_parameter_name(item, "parameters" if name is None else "name")
        return {}, list(names), set()

    if name is not None:
        items = {name: params["value"]}
        where = "name"
    elif isinstance(parameters, dict):
        items = parameters
        where = "parameters"
    else:
        raise InputError("parameters", "with state=present, give a mapping of names to values")
    wanted = {}
    for item, value in items.items():
        check_parameter_name(item, where)
        wanted[item] = render_value(item, value)
    list_valued = set(item for item, value in items.items() if isinstance(value, (list, tuple)))
    return wanted, [], list_valued


class PostconfEdit(FileEditModule):
    """Set or remove main.cf parameters in one locked, validated, atomic edit."""

    def execute(self):
        params = self.module.params
        wanted, remove, list_valued = requested_parameters(params)
        for name in sorted(wanted):
            warning = obsolete_warning(name)
            if warning:
                self.warnings.append(warning)
        self._refuse_what_this_version_cannot_read(wanted, remove)

        def compute(text):
            return plan_edit(text, wanted, remove, list_valued)

        self.edit_main_cf(compute, lambda changes: changes)

    def _refuse_what_this_version_cannot_read(self, wanted, remove=(), services=()):
        """A TLS protocol range on Postfix before 3.6: postconf accepts it, every TLS session would fail.
        TLSRPT turned on where this Postfix cannot report, in main.cf or in a master.cf service's ``-o``."""
        self._refuse_non_integers(wanted)
        self._refuse_tlsrpt_without_support(wanted, remove)
        self.refuse_tlsrpt_in_services(services, wanted, remove)
        ranges = [name for name in sorted(wanted) if name.endswith("_tls_protocols")
                  or name.endswith("_tls_mandatory_protocols")]
        ranges = [name for name in ranges if protocol_range_problem(wanted[name], (0,))]
        if not ranges:
            return
        config_dir, _path = self.main_cf_path()
        version = parse_version(self.postfix.parameter(config_dir, "mail_version"))
        for name in ranges:
            problem = protocol_range_problem(wanted[name], version)
            if problem:
                raise InputError(name, problem)

    def tlsrpt_problems(self, wanted, remove=()):
        """Main.cf's TLSRPT parameters as ``wanted`` and ``remove`` leave them, why smtp would not report with
        them, and why it does not now: (values, after, before); a reason is None where smtp reports or is not
        asked to (model/tls.py tlsrpt_problem)."""
        config_dir, _path = self.main_cf_path()
        version = self.postfix.version(config_dir)
        names = ["daemon_directory", "shlib_directory", "smtp_dns_support_level", "disable_dns_lookups"]
        if version >= TLSRPT_SINCE:  # unknown names to an older postconf
            names += ["smtp_tlsrpt_enable", "smtp_tlsrpt_socket_name"]
        now = self.postfix.parameters(config_dir, names, expand=True)
        linked = version >= TLSRPT_SINCE and smtp_links_tlsrpt(now["daemon_directory"], now["shlib_directory"])
        after = dict(now)
        after.update((name, TLSRPT_DEFAULTS[name]) for name in remove if name in TLSRPT_DEFAULTS)
        after.update((name, wanted[name]) for name in TLSRPT_DEFAULTS if name in wanted)
        return (after,) + tuple(tlsrpt_problem(values.get("smtp_tlsrpt_enable"), values.get("smtp_tlsrpt_socket_name"),
                                               version, linked, values["smtp_dns_support_level"],
                                               values["disable_dns_lookups"]) for values in (after, now))

    def _refuse_tlsrpt_without_support(self, wanted, remove=(), where=""):
        """Refused: a request that leaves smtp_tlsrpt_enable on where smtp would not report, when it asks for it
        or is what turns reporting off (a socket emptied, DNS disabled); a state found so is left alone."""
        touched = [name for name in TLSRPT_DEFAULTS if name in wanted or name in remove]
        if not touched:
            return
        config_dir, _path = self.main_cf_path()
        if "smtp_tlsrpt_enable" not in wanted and self.postfix.version(config_dir) < TLSRPT_SINCE:
            return  # no TLSRPT on this Postfix to turn off
        _values, after, before = self.tlsrpt_problems(wanted, remove)
        if after and (after != before or "smtp_tlsrpt_enable" in wanted):
            name = "smtp_tlsrpt_enable" if "smtp_tlsrpt_enable" in wanted else touched[0]
            raise InputError(where + name, after + ": nothing was written")

    def refuse_tlsrpt_in_services(self, services, wanted=None, remove=()):
        """The same for a master.cf service's ``-o`` overrides, over main.cf as ``wanted`` leaves it;
        ``services``: (key, Entry or None) pairs."""
        for key, entry in services:
            options = dict(entry.options) if entry is not None else {}
            if any(name in options for name in TLSRPT_DEFAULTS):
                self._refuse_tlsrpt_without_support(dict(wanted or {}, **options), remove,
                                                    where="master.cf service %s, -o " % key)

    def _refuse_non_integers(self, wanted):
        """An integer parameter (its default a number, ``postconf -dx``) takes ASCII digits only."""
        suspects = sorted(name for name in wanted if integer_value_problem(wanted[name]))
        if not suspects:
            return
        config_dir, _path = self.main_cf_path()
        _rc, out, _err = self.postfix.run("postconf", ["-c", config_dir, "-dx"] + suspects, check=False)
        refused = sorted(integer_parameters(parse_parameters(out)) & set(suspects))
        if refused:
            raise InputError(refused[0], integer_value_problem(wanted[refused[0]]))

    def main_cf_path(self):
        """Check validate, config_dir, main.cf and Postfix; return (config_dir, main.cf path)."""
        params = self.module.params
        if params.get("validate") is not None and "%s" not in params["validate"]:
            raise InputError("validate", "must contain %s, which stands for the scratch configuration directory")
        config_dir = params["config_dir"]
        if not os.path.isdir(config_dir):
            raise ConfigError("config_dir: %s is not a directory" % config_dir, path=config_dir)
        check_config_files(config_dir)
        path = os.path.join(config_dir, "main.cf")
        if not os.path.isfile(path):
            raise ConfigError("config_dir: %s has no main.cf" % config_dir, path=path)
        self.postfix.binary("postconf")  # fail early, before any work, if Postfix is missing
        return config_dir, path

    def edit_main_cf(self, compute, changes_of):
        """Run the shared edit flow on main.cf; ``compute(text)`` returns (new_text, info)."""
        config_dir, path = self.main_cf_path()

        def validate(new_text, info):
            self._read_back(config_dir, new_text, changes_of(info))

        changed, info = self.edit_file(path, compute, validate)
        changes = changes_of(info)
        self.result.update(
            changed=changed,
            config_file=path,
            changes=dict((change.name, change.as_dict()) for change in changes),
            restart_required=any(change.name in RESTART_PARAMETERS for change in changes),
        )
        return info

    @contextlib.contextmanager
    def scratch_config(self, config_dir, main_cf_text=None, master_cf_text=None):
        """A scratch configuration directory: config_dir's main.cf and master.cf, or the given texts.

        main.cf is backdated, so Postfix reads it without waiting for it to settle.
        """
        scratch = tempfile.mkdtemp(prefix="mailtls-config-", dir=self.module.tmpdir)
        try:
            for name, text in (("main.cf", main_cf_text), ("master.cf", master_cf_text)):
                live = os.path.join(config_dir, name)
                if text is None and os.path.isfile(live):
                    text = read_text(live)
                if text is not None:
                    write_new_file(os.path.join(scratch, name), text,
                                   time.time() - SETTLED_AGE if name == "main.cf" else None)
            yield scratch
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _read_back(self, config_dir, new_text, changes, master_cf_text=None, services=()):
        """Have the real ``postconf`` read ``new_text`` (and ``master_cf_text``) and confirm every change.

        ``services`` are master.cf ``(key, entry or None)`` pairs that ``postconf -M`` must show.
        """
        values = dict((change.name, change.after) for change in changes if change.after is not None)
        for name in sorted(values):
            # Postfix's own warning would name no parameter: this names the one given.
            problem = macro_syntax_problem(values[name])
            if problem:
                raise InputError(name, "%s; nothing was changed" % problem)
        with self.scratch_config(config_dir, main_cf_text=new_text, master_cf_text=master_cf_text) as scratch:
            warnings = config_warnings(self._confirm_changes(scratch, changes), scratch)
            for key, replacement in services:
                self._confirm_service(scratch, key, replacement)
            self._run_validate(scratch, "main.cf" if master_cf_text is None else "configuration")
        if warnings:
            with self.scratch_config(config_dir) as current:
                known_before = config_warnings(self.postfix.non_default(current)[2], current)
            new = new_warnings(known_before, warnings)
            if new:
                # Postfix reads such a value its own way (a '{' without '}', say), with a warning each time.
                # A warning that names no parameter is shown after the changed ones it quotes.
                named = [(warning_parameters(warning, values), warning) for warning in new]
                raise ValidationError("postconf warns about the new main.cf: %s; nothing was changed"
                                      % "; ".join("%s: %s" % (", ".join(names), warning) if names else warning
                                                  for names, warning in named))

    def _confirm_changes(self, scratch, changes):
        """Raise unless ``postconf -n`` of the scratch directory shows every change; return its stderr."""
        known, unknown, stderr = self.postfix.non_default(scratch)
        for change in changes:
            seen = known.get(change.name, unknown.get(change.name))
            if change.after is None:
                if seen is not None:
                    raise ValidationError("%s: still set to %r after removal, according to postconf"
                                          % (change.name, seen), parameter=change.name)
                continue
            if seen is None or normalize_space(seen) != change.after:
                raise ValidationError("%s: postconf reads back %r instead of %r; nothing was changed"
                                      % (change.name, seen, change.after), parameter=change.name)
            if change.name in unknown:
                self.warnings.append("%s is not a parameter this Postfix knows (postconf reports it unused); "
                                     "check its spelling" % change.name)
        return stderr

    def _confirm_service(self, scratch, key, replacement):
        """Raise unless ``postconf -M`` of the scratch directory shows ``replacement`` (None: no entry)."""
        _rc, out, _err = self.postfix.run("postconf", ["-c", scratch, "-M", key])
        words = out.split()
        if replacement is None:
            if words:
                raise ValidationError("%s: postconf -M still shows %r after removal" % (key, out.strip()))
            return
        if not words or not Entry(words).same_as(replacement):
            raise ValidationError("%s: postconf -M reads back %r instead of %r; nothing was changed"
                                  % (key, out.strip(), replacement.render().strip()))

    def _run_validate(self, scratch, edited):
        """Run the user's validate command, if any, on the scratch directory; raise if it fails."""
        template = self.module.params.get("validate")
        if not template:
            return
        argv = [scratch if word == "%s" else word.replace("%s", scratch) for word in shlex.split(template)]
        rc, out, err = run_with_terminal(argv)
        if rc != 0:
            message = (err or out).strip().replace(scratch, "<new config>") or "exit code %d" % rc
            raise ValidationError("validate: %r rejected the new %s: %s; nothing was changed"
                                  % (template, edited, message), rc=rc)


class TlsMigrate(PostconfEdit):
    """Replace the obsolete TLS switches with security levels in main.cf and master.cf.

    The plan is made from what Postfix reads (``postconf -x``), so references such as
    ``$enable_tls`` count, and it keeps the level of every role, globally and in every
    service. master.cf is written before main.cf; both states are confirmed first.
    """

    def execute(self):
        self.plan()
        self.write()

    def plan(self):
        """Plan the migration and have Postfix confirm it, writing nothing.

        Sets ``main_text`` and ``master_text`` (None without master.cf): the files as the
        migration would leave them, which a caller plans its own edit on.
        """
        config_dir, main_path = self.main_cf_path()
        master_path = os.path.join(config_dir, "master.cf")
        main_text = read_text(main_path)
        master_text = read_text(master_path) if os.path.isfile(master_path) else None
        with self.scratch_config(config_dir, main_text, master_text) as scratch:
            defaults = parse_parameters(self.postfix.run("postconf", ["-c", scratch, "-d"] + list(ROLE_PARAMETERS))[1])
            main, services = self._tls_state(scratch, master_text)
        self._config_dir, self._main_path, self._master_path = config_dir, main_path, master_path
        self._migration = plan_tls_migration(_main_raw(main_text), main, services, defaults)
        self._levels, self._defaults, self._old_main = effective_levels(main, services, defaults), defaults, main_text
        self._confirmed = set()
        self.main_text, main_changes = self.migrated_main(main_text)
        self.master_text = None if master_text is None else self.migrated_master(master_text)[0]
        if self.main_text != main_text or self.master_text != master_text:
            self._confirm(self.master_text, self.main_text, main_changes)

    def migrated_main(self, text):
        """(main.cf text with the migration applied, its changes): pure, and a no-op once applied."""
        return plan_edit(text, self._migration.main_set, self._migration.main_remove)

    def migrated_master(self, text):
        """(master.cf text with the migration applied, {service: before/after}): pure, a no-op once applied."""
        return edit_options(text, self._migration.services)

    def _confirm(self, master_cf_text, main_cf_text, main_changes):
        if (master_cf_text, main_cf_text) not in self._confirmed:
            self._confirm_migration(self._config_dir, master_cf_text, self._old_main, main_cf_text, main_changes,
                                    self._levels, self._defaults)
            self._confirmed.add((master_cf_text, main_cf_text))

    def write(self):
        """Write the planned migration: master.cf, then main.cf (each re-planned under its lock)."""
        new_master = {"text": self.master_text}  # the master.cf text main.cf's edit is checked with
        master_changes = {}
        changed = False
        has_master = self.master_text is not None
        if has_master:
            def compute_master(text):
                new_master["text"], changes = self.migrated_master(text)
                return new_master["text"], changes

            changed, master_changes = self.edit_file(
                self._master_path, compute_master,
                lambda text, _info: self._confirm(text, *self.migrated_main(self._old_main)))
            if "backup_file" in self.result:
                self.result["master_cf_backup_file"] = self.result.pop("backup_file")
        main_changed, changes = self.edit_file(
            self._main_path, self.migrated_main,
            lambda text, main_changes: self._confirm(new_master["text"], text, main_changes))
        self.result.update(
            changed=changed or main_changed,
            config_file=self._main_path,
            master_cf_file=self._master_path if has_master else None,
            changes=dict((change.name, change.as_dict()) for change in changes),
            master_cf_changes=master_changes,
            notes=self._migration.notes,
            tls_levels=_levels_by_place(self._levels),
            restart_required=False,
        )

    def _tls_state(self, scratch, master_text):
        """What Postfix reads in a scratch directory: (main.cf's expanded values, master.cf's Services)."""
        main = parse_parameters(self.postfix.run("postconf", ["-c", scratch, "-x", "-n"])[1])
        main.pop("config_directory", None)
        if master_text is None:
            return main, []
        expanded = {}
        for name, value in parse_parameters(self.postfix.run("postconf", ["-c", scratch, "-x", "-P"])[1]).items():
            key, _sep, option = name.rpartition("/")
            expanded.setdefault(key, {})[option] = value
        services = []
        for key, entries in MasterCf(master_text).entries.items():
            entry = entries[-1]
            raw = dict(entry.options)
            overrides = expanded.get(key, {})
            # Postfix 3.0's "-o { name = value }" form is read by Postfix but not by our parser.
            hidden = sorted(name for name in set(overrides) - set(raw) if name in _TLS_PARAMETERS)
            if hidden:
                raise ConfigError("master.cf: %s sets %s in a form this module does not edit (-o { name = value }); "
                                  "write it as -o name=value first; nothing was changed" % (key, ", ".join(hidden)))
            command = os.path.basename(entry.command[0]) if entry.command else ""
            services.append(Service(key, command, overrides, raw))
        return main, services

    def _confirm_migration(self, config_dir, master_cf_text, old_main, new_main, main_changes, levels, defaults):
        """Have Postfix read both states - new master.cf with the old main.cf, then with the new
        one - and confirm every level is what it was and every main.cf change; then validate."""
        for main_cf_text in (old_main, new_main):
            if master_cf_text is None and main_cf_text is old_main:
                continue
            with self.scratch_config(config_dir, main_cf_text, master_cf_text) as scratch:
                main, services = self._tls_state(scratch, master_cf_text)
                if main_cf_text is new_main:
                    self._confirm_changes(scratch, main_changes)
                    self._run_validate(scratch, "configuration")
            now = effective_levels(main, services, defaults)
            for place in sorted(set(levels) | set(now), key=lambda item: (item[0] or "", item[1])):
                if now.get(place) != levels.get(place):
                    raise ValidationError("%s: Postfix would apply the %s TLS level %s instead of %s %s; "
                                          "nothing was changed"
                                          % (place[0] or "main.cf", place[1], now.get(place), levels.get(place),
                                             "once main.cf is written" if main_cf_text is new_main
                                             else "between the two writes"))


def _main_raw(text):
    """What main.cf sets, as written (the last setting of each name)."""
    document = MainCf(text)
    return dict((name, document.value(name)) for name in document.settings if document.value(name) is not None)


def _levels_by_place(levels):
    """``{"main.cf": {role: level}, "service/type": {role: level}}`` for the result."""
    by_place = {}
    for (key, prefix), level in levels.items():
        by_place.setdefault(key or "main.cf", {})[prefix] = level
    return by_place


_TLS_PARAMETERS = frozenset(name for role in TLS_ROLES for name in role.parameters if name)


class MasterCfEdit(PostconfEdit):
    """One master.cf service entry, confirmed by ``postconf -M`` on a scratch copy."""

    def execute(self):
        params = self.module.params
        key = "%s/%s" % (params["service"], params["type"])
        if params["state"] == "present":
            if not params["command"]:
                raise InputError("command", "is required with state=present (for example smtpd)")
            fields = dict((name, params[name]) for name in MASTER_FIELDS)
            replacement = wanted_entry(params["service"], params["type"], fields, params["command"],
                                       params["args"], params["options"])
        else:
            check_service(params["service"], params["type"])
            replacement = None
        self.refuse_tlsrpt_in_services([(key, replacement)])
        config_dir, _main_cf = self.main_cf_path()
        path = os.path.join(config_dir, "master.cf")
        if not os.path.isfile(path):
            raise ConfigError("config_dir: %s has no master.cf" % config_dir, path=path)

        def compute(text):
            new_text, before, after = plan_master_edit(text, key, replacement)
            return new_text, (before, after)

        def validate(new_text, info):
            self._confirm_master(config_dir, new_text, key, replacement)

        changed, (before, after) = self.edit_file(path, compute, validate)
        self.result.update(changed=changed, config_file=path, service=key, before=before, after=after)

    def _confirm_master(self, config_dir, new_text, key, replacement):
        with self.scratch_config(config_dir, master_cf_text=new_text) as scratch:
            self._confirm_service(scratch, key, replacement)
            self._run_validate(scratch, "master.cf")
