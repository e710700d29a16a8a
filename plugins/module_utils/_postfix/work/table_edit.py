# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Editing a lookup table and its index, shared by lookup_table and tls_policy (private).

One parse, one write and at most one postmap per call, however many entries.
The new source is written to ``TABLE.tmp`` under Postfix's edit lock, its
index is built from that temp file and every changed key is looked up in it;
only then is the source renamed into place, and then the index. A crash in
between leaves an index older than its source, which the next run rebuilds.

With ``file_values`` (the SNI table) values are lists of files and the index,
built with ``postmap -F``, holds their content: it is also rebuilt when a file's
content differs from what the index holds, even though the source did not change.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile

from ..host.base import FileEditModule
from ..core.errors import ConfigError, InputError
from ..host.table_source import read_source
from ..host.file_values import check_contents, check_paths, decoded, index_content, read_value_files, render_value, stale_key
from ..host.files import (
    Selinux,
    file_identity,
    index_is_fresh,
    install_index,
    hold,
    open_regular,
    read_text,
    remove_leftover,
    same_file_name,
    write_new_file,
)
from ..model.table import MASK, check_key, check_value
from ..model.table_types import (
    DELIMITED_TYPES,
    INDEX_SUFFIXES,
    LISTABLE_TYPES,
    PATTERN_TYPES,
    berkeley_db_temporaries,
    check_type,
    table_document,
)
from ..plan.table_plan import (
    TablePlan,
    check_resolved,
    check_stored,
    edit_diff,
    edit_result,
    names_from,
    pattern_warnings,
    private_mode,
    reported_change,
    stale_reason,
)
from ..plan.table_src import source_entries, source_policies
from ..plan.tls_policy import keep_forced, keep_stronger, policy_requests, wanted_policies


def check_table_path(config_dir, path):
    """Raise unless ``config_dir`` holds main.cf and ``path`` can be a table source there."""
    if not os.path.isfile(os.path.join(config_dir, "main.cf")):
        raise ConfigError("config_dir: %s has no main.cf" % config_dir, path=config_dir)
    if not os.path.isabs(path):
        raise InputError("path", "%r is not an absolute path: Postfix would look for it relative to "
                                 "its own working directory" % path)
    for name in ("main.cf", "master.cf"):
        if same_file_name(path, os.path.join(config_dir, name)):
            raise InputError("path", "%s is Postfix's %s, not a lookup table" % (path, name))
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise ConfigError("path: the directory %s does not exist" % directory, path=path)
    if os.path.isdir(path):
        raise ConfigError("path: %s is a directory, not a table source" % path, path=path)


class TableModule(FileEditModule):
    """Base for modules that edit one lookup table."""

    # Set by a module whose table holds secrets: no value is ever shown, and others cannot read it.
    secret = False
    # Set per apply_table call: values are files whose content postmap -F puts in the index.
    file_values = False
    values_option = "entries"  # the option a bad file value is reported under
    postmap_warnings = ()  # what the last build's postmap warned about

    def resolve_table(self):
        """Check config_dir, the table's directory and type; return (config_dir, path, type)."""
        params = self.module.params
        config_dir, path = params["config_dir"], params["path"]
        check_table_path(config_dir, path)
        table_type = params["type"] or self.postfix.parameter(config_dir, "default_database_type")
        check_type(table_type, self.postfix.map_types(config_dir))
        return config_dir, path, table_type

    def table_attributes(self, path):
        """Mode and owner of the source, and so of its index and every temporary."""
        private = self.secret or self.file_values
        attributes = self.wanted_attributes(path, 0o600 if private else 0o644)
        if private:
            attributes.mode = private_mode(attributes.mode, self.secret, self.module.params.get("mode") is not None)
        return attributes

    def adjusted(self, document, wanted):
        """The entries to write, given what the table holds; a module may keep some it has."""
        return wanted

    def guarded(self, document, wanted, remove, exclusive):
        """(wanted, remove) once entries a module must not remove are kept; all of them here."""
        return wanted, remove

    def _plan(self, config_dir, path, table_type, index_paths, wanted, remove, exclusive):
        identity = file_identity(path)
        exists = identity is not None
        original = read_text(path) if exists else ""
        document = table_document(table_type, original)
        if exclusive and document.has_blocks:
            raise InputError("exclusive", "%s has if/endif blocks, which this module does not manage; "
                                          "it cannot own the whole table" % path)
        wanted = self.adjusted(document, wanted)
        wanted, remove = self.guarded(document, wanted, remove, exclusive)
        new_text, change = document.edited(wanted, remove, exclusive)
        # A table main.cf may name must exist even when it has no entries yet.
        create = not exists and self.module.params["state"] == "present"
        expected = None
        if self.file_values:
            # Before anything is written, in check mode too: every file of every entry.
            expected = self._file_contents(path, table_type, document if not change else None, new_text, wanted)
        reason = None
        if not index_paths:
            pass
        elif change:
            reason = "the source changes"
        elif create:
            reason = "the table is created"
        elif exists and not index_is_fresh(path, index_paths):
            reason = "the index is missing or older than its source"
        elif exists and self.file_values:
            reason = self._stale_content(config_dir, "%s:%s" % (table_type, path), table_type, expected)
        return TablePlan(identity, original, document, new_text, change, create, reason is not None, wanted,
                         expected, reason)

    def _file_contents(self, path, table_type, document, new_text, wanted):
        """file_values: folded key -> what the index must hold, each entry's files checked; raise InputError.

        Entries this call does not manage are checked too: postmap -F builds the whole table.
        """
        document = document or table_document(table_type, new_text)
        asked = dict((document.fold(key), key) for key in wanted)
        expected = {}
        for folded in document.entries:
            value = document.value(folded)
            if value is None:
                continue
            key = asked.get(folded)
            where, label = (self.values_option, key) if key is not None else \
                ("path", "%s (an entry of %s)" % (folded, path))
            paths = check_paths(value, where, label)
            contents = read_value_files(where, label, paths)
            check_contents(where, label, paths, contents)
            expected[folded] = index_content(contents)
        return expected

    def _stale_content(self, config_dir, table, table_type, expected):
        """Why the index no longer holds what the files hold now, or None.

        Compared by content, not by time: a file copied with its old mtime (cp -p, tar, a
        restored backup) or renamed into place (certbot) is still found; only a read, no build.
        """
        found, listed = self._read_index(config_dir, table, table_type, sorted(expected))
        return stale_reason(stale_key(expected, found, listed), expected, found)

    def _read_index(self, config_dir, table, table_type, keys):
        """(key -> stored value, whether that is every entry): one postmap process, no build."""
        if table_type in LISTABLE_TYPES:
            found = self.postfix.dump(config_dir, table)
            # Postfix may fold a key the listing spells otherwise: look those up.
            found.update(self.postfix.query(config_dir, table, [key for key in keys if key not in found]))
            return found, True
        return self.postfix.query(config_dir, table, keys), False

    def apply_table(self, config_dir, path, table_type, wanted, remove=(), exclusive=False, file_values=False):
        """Make the table hold ``wanted`` (key -> value) and not ``remove``; fill self.result.

        ``file_values``: each value is a list of files (key first, then its chain) and the index is
        built with postmap -F; the table and its index are private (0600), the files are checked
        before anything is written, and the index is rebuilt whenever their content changed.
        """
        self.file_values = bool(file_values)
        if self.file_values and table_type not in INDEX_SUFFIXES:
            raise InputError("file_values", "postmap -F builds only indexed tables (%s), not %s: Postfix loads "
                                            "the files of a %s table itself when it opens it, so it has no index "
                                            "to keep fresh" % (", ".join(sorted(INDEX_SUFFIXES)), table_type,
                                                               table_type))
        index_paths = [path + suffix for suffix in INDEX_SUFFIXES.get(table_type, [])]
        attributes = self.table_attributes(path)
        pattern_check = table_type in PATTERN_TYPES

        def rehearse(planned):
            if pattern_check and planned.change:
                self._check_patterns_aside(config_dir, table_type, planned, path)

        plan = self.locked_edit(
            path, lambda: self._plan(config_dir, path, table_type, index_paths, wanted, remove, exclusive),
            lambda lock, planned: self._build_and_swap(lock, config_dir, table_type, index_paths, planned,
                                                       attributes, planned.wanted),
            rehearse)
        self.result.update(edit_result(plan, "%s:%s" % (table_type, path), index_paths, self.file_values))
        self.result.update(reported_change(plan.change, report_all(self.module.params)))
        if plan.writes_source and self.module._diff:
            after = table_document(table_type, plan.new_text) if self.secret else None
            self.result.setdefault("diff", []).append(edit_diff(plan, path, after))
        changed = plan.needs_work
        if plan.identity is not None or not self.module.check_mode:
            changed = self._keep_attributes([path] + index_paths, attributes) or changed
        if os.path.exists(path) and "mode" in self.module.params:  # tls_policy has no file options
            changed = self._set_attributes(path, changed)
        self.result["changed"] = changed

    def _keep_attributes(self, paths, attributes):
        """Give the source and its index files ``attributes``; True if any had others."""
        changed = False
        for path in paths:
            try:
                found = os.stat(path)
            except OSError:
                continue  # an index check mode would create
            if (stat.S_IMODE(found.st_mode), found.st_uid, found.st_gid) == \
                    (attributes.mode, attributes.uid, attributes.gid):
                continue
            changed = True
            if not self.module.check_mode:
                fd, _info = open_regular(path, os.O_RDONLY | os.O_NOFOLLOW)
                try:
                    attributes.apply(fd)
                finally:
                    os.close(fd)
        return changed

    def _build_and_swap(self, lock, config_dir, table_type, index_paths, plan, attributes, wanted):
        tmp_indexes = [lock.tmp_path + suffix for suffix in INDEX_SUFFIXES.get(table_type, [])]
        # postmap would write through a link left there, and Berkeley DB refuses to create an index
        # while its own temporary of a killed postmap (__db.NAME.db) is left beside it.
        for leftover in tmp_indexes + berkeley_db_temporaries(table_type, tmp_indexes):
            remove_leftover(leftover)
        held = []
        self.postmap_warnings = []
        try:
            # The one writer's commit step: backup (when the source is replaced), owner, mode and
            # the old source's SELinux context before the first byte.
            backup = lock.write(plan.new_text, attributes, selinux=Selinux(self.module),
                                backup=bool(self.module.params.get("backup")) and plan.writes_source)
            if backup:
                self.result["backup_file"] = backup
            tmp_table = "%s:%s" % (table_type, lock.tmp_path)
            if tmp_indexes:
                self.postmap_warnings = self.postfix.postmap(config_dir, tmp_table,
                                                             file_values=plan.expected is not None)
                self._keep_attributes(tmp_indexes, attributes)
            self._verify(config_dir, tmp_table, table_type, plan, wanted, lock.path)
            # Committing the source releases its lock; the next writer must still wait until
            # our index is renamed into place. (Not earlier: postmap -q takes a shared lock.)
            held = [hold(tmp_index) for tmp_index in tmp_indexes]
            if plan.writes_source:
                lock.commit(self.module.params.get("unsafe_writes", False))
            for tmp_index, index in zip(tmp_indexes, index_paths):
                install_index(tmp_index, index)
        finally:
            for tmp_index in tmp_indexes:
                if os.path.lexists(tmp_index):
                    os.unlink(tmp_index)
            for fd in held:
                os.close(fd)

    def _verify(self, config_dir, table, table_type, plan, wanted, path):
        """Postfix itself must read every entry written: keys resolve to their values, patterns parse."""
        change = plan.change
        keys = change.added + change.updated
        name = "%s:%s" % (table_type, path)
        if plan.expected is not None:
            self._verify_file_values(config_dir, table, table_type, plan, name)
            return
        if table_type in PATTERN_TYPES:
            self._verify_patterns(config_dir, table, table_type, keys, plan.new_text, name)
            return
        asked = keys + change.removed
        entries = len(plan.document.entries) + len(change.added) - len(change.removed)
        if table_type in LISTABLE_TYPES and len(asked) * 2 > entries:
            # Most of the table changed: one listing costs less than a lookup per key.
            listed = self.postfix.dump(config_dir, table)  # keys as stored: folded
            fold = plan.document.fold
            found = dict(pair for pair in zip(asked, map(listed.get, map(fold, asked))) if pair[1] is not None)
            # Postfix folds non-ASCII keys its own way: what the listing misses, it looks up.
            found.update(self.postfix.query(config_dir, table, [key for key in asked if key not in found]))
        else:
            found = self.postfix.query(config_dir, table, asked)
        check_resolved(name, plan, wanted, found, self.secret)

    def _verify_file_values(self, config_dir, table, table_type, plan, name):
        """Every entry, decoded, holds exactly its files' content (joined by newlines), and removed keys are gone."""
        found, _listed = self._read_index(config_dir, table, table_type, sorted(plan.expected) + plan.change.removed)
        stored = dict((key, decoded(found[key])) for key in plan.expected if key in found)
        check_stored(name, table, plan, stored, found, self.postmap_warnings)

    def _check_patterns_aside(self, config_dir, table_type, plan, path):
        """Check mode: Postfix reads the new patterns from a private copy, so the check predicts the run."""
        scratch = tempfile.mkdtemp(prefix="mailtls-table-", dir=self.module.tmpdir)
        try:
            copy = os.path.join(scratch, os.path.basename(path))
            write_new_file(copy, plan.new_text)
            keys = plan.change.added + plan.change.updated
            self._verify_patterns(config_dir, "%s:%s" % (table_type, copy), table_type, keys, plan.new_text,
                                  "%s:%s" % (table_type, path))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _verify_patterns(self, config_dir, table, table_type, keys, new_text, name):
        """postmap skips a pattern it cannot parse, with a warning: ours must raise none."""
        ours = table_document(table_type, new_text).line_numbers(keys)
        self.warnings.extend(pattern_warnings(name, ours, self.postfix.table_warnings(config_dir, table)))


def requested_entries(params):
    """lookup_table arguments -> (wanted, remove); raise InputError on bad input.

    Keys are checked for what no table can hold; whether one may hold spaces (a
    regexp ``/pattern/``) depends on the table type, checked once it is known.
    """
    key, entries, state = params["key"], params["entries"], params["state"]
    if params.get("src") is not None:
        return {}, []  # read once the table type is known (LookupTableEdit.execute)
    if state == "absent":
        if key is not None:
            if params["value"] is not None:
                raise InputError("value", "must not be given with state=absent")
            keys = [key]
        else:
            keys = names_from(entries, "entries")
        for item in keys:
            check_key(item, "key" if key is not None else "entries", delimited=None)
        return {}, keys
    if key is not None:
        if params["value"] is None:
            raise InputError(key, "a value is required with state=present")
        return checked_entries({key: params["value"]}, "key", params.get("file_values")), []
    if not isinstance(entries, dict):
        raise InputError("entries", "with state=present, give a mapping of keys to values")
    return checked_entries(entries, "entries", params.get("file_values")), []


def checked_entries(items, where, file_values=False):
    """key -> value as given (by ``key``, ``entries`` or ``src``) -> key -> value checked; raise InputError."""
    wanted = {}
    for item, value in items.items():
        check_key(item, where, delimited=None)
        if file_values:
            value = render_value(value, "value" if where == "key" else where, item)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InputError(item, "a value must be a string or a number, not %s" % type(value).__name__)
        wanted[item] = check_value(item, str(value))
    return wanted


def report_all(params):
    """Whether the result lists every key: report=all, or by default when the task listed the keys itself."""
    report = params.get("report")
    return report == "all" or (report is None and params.get("src") is None)


def check_src(params):
    """``src`` gives the whole request: with state=present only."""
    if params.get("src") is not None and params["state"] == "absent":
        raise InputError("src", "only applies with state=present; list the keys to remove in the task")


class LookupTableEdit(TableModule):
    """The lookup_table module: per-entry edits of any file-based table."""

    def __init__(self, module):
        super().__init__(module)
        self.secret = bool(module.params.get("secret"))
        if module.params.get("key") is not None:
            self.values_option = "value"

    def execute(self):
        params = self.module.params
        wanted, remove = requested_entries(params)
        if params["state"] == "absent" and params["exclusive"]:
            raise InputError("exclusive", "only applies with state=present")
        check_src(params)
        config_dir, path, table_type = self.resolve_table()
        if params.get("src") is not None:
            # No name holds the file's text or document: both are freed before the table is read.
            wanted = checked_entries(source_entries(table_document(table_type, read_source(params["src"]))), "src",
                                     params.get("file_values"))
        # Keys once more, now that the type says whether they are words or /patterns/.
        where = "key" if params["key"] is not None else "src" if params.get("src") is not None else "entries"
        for key in list(wanted) + list(remove):
            check_key(key, where, table_type in DELIMITED_TYPES)
        self.apply_table(config_dir, path, table_type, wanted, remove, self.module.params["exclusive"],
                         file_values=params.get("file_values", False))

    def echoed_arguments(self):
        """With ``secret``, the echo shows keys and never a value."""
        echoed = super().echoed_arguments()
        if self.secret:
            if echoed.get("value") is not None:
                echoed["value"] = MASK
            if isinstance(echoed.get("entries"), dict):
                echoed["entries"] = dict((key, MASK) for key in echoed["entries"])
        return echoed


class PrivateTable(LookupTableEdit):
    """A table whose content is private (a relay's passwords; the SNI index, which holds keys): 0600 with its
    index, whatever an earlier file's mode, and no value ever shown."""

    def __init__(self, module):
        super().__init__(module)
        self.secret = True

    def table_attributes(self, path):
        attributes = super().table_attributes(path)
        attributes.mode = 0o600
        return attributes


class TlsPolicyEdit(TableModule):
    """The tls_policy module: typed entries of smtp_tls_policy_maps."""

    def __init__(self, module):
        super().__init__(module)
        self.kept = {}  # key -> the stronger policy downgrade=false left in place
        self.protected = set()  # keys that never weaken what the table has, whatever downgrade says
        self.guarded_removals = set()  # keys whose forced entry is never removed, whatever downgrade says
        self.guard_exclusive = False  # exclusive never removes a forced entry

    def execute(self):
        params = self.module.params
        requests = policy_requests(params)
        if params["state"] == "absent" and params["exclusive"]:
            raise InputError("exclusive", "only applies with state=present")
        check_src(params)
        config_dir, path, table_type = self.resolve_table()
        if params.get("src") is not None:
            items = source_policies(read_source(params["src"]), params.get("src_format") or "postfix")
            requests = policy_requests(params, items)
        wanted, remove = wanted_policies(requests, params["state"], self.postfix.version(config_dir))
        self.apply_table(config_dir, path, table_type, wanted, remove, params["exclusive"])
        self.report_kept(wanted)

    def report_kept(self, wanted):
        """The entries downgrade=false left stronger than asked, in the result and as warnings."""
        self.result["kept"] = sorted(self.kept)
        for key in self.result["kept"]:
            if key in wanted:
                self.warnings.append("%s keeps %r: %r would weaken it (downgrade=false)"
                                     % (key, self.kept[key], wanted[key]))
            else:
                self.warnings.append("%s keeps %r: removing it would weaken it (downgrade=false)"
                                     % (key, self.kept[key]))

    # Requests -> (wanted, remove), as the module renders them (plan/tls_policy.py decides).
    wanted_policies = staticmethod(wanted_policies)

    def guarded(self, document, wanted, remove, exclusive):
        """With downgrade=false, removing a forced entry (by absent or exclusive) weakens it too: it stays."""
        downgrade = self.module.params["downgrade"]
        guarded = self.guarded_removals if downgrade else set(remove)
        guard_exclusive = exclusive and (self.guard_exclusive or not downgrade)
        if not guarded and not guard_exclusive:
            return wanted, remove
        candidates = set(guarded) | (set(document.entries) if guard_exclusive else set())
        return keep_forced(document, wanted, remove, candidates, self.kept)

    def adjusted(self, document, wanted):
        """With downgrade=false, an entry whose level is stronger than the wanted one stays."""
        self.kept = {}
        protected = self.protected if self.module.params["downgrade"] else set(wanted)
        if not protected:
            return wanted
        return keep_stronger(document, wanted, protected, self.kept)
