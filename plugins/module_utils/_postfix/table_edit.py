# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Editing a lookup table and its index, shared by lookup_table and tls_policy (private).

One parse, one write and at most one postmap per call, however many entries.
The new source is written to ``TABLE.tmp`` under Postfix's edit lock, its
index is built from that temp file and every changed key is looked up in it;
only then is the source renamed into place, and then the index. A crash in
between leaves an index older than its source, which the next run rebuilds.
"""

from __future__ import annotations

import errno
import os

from .base import FileEditModule
from .errors import ConfigError, InputError, ValidationError
from .files import EditLock, read_text
from .table import LookupTable, check_key, check_value
from .table_types import INDEX_SUFFIXES, PATTERN_TYPES, check_type, folds_keys, is_indexed
from .tls import normalize_destination, parse_version, policy_keys, render_policy


def _mtime(path):
    try:
        return os.stat(path).st_mtime
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise


def _identity(path):
    """What tells us a file was replaced or rewritten since we read it."""
    try:
        stat = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _index_older(index_paths, source_time):
    """True if an index file is missing or older than its source."""
    for index in index_paths:
        index_time = _mtime(index)
        if index_time is None or index_time < source_time:
            return True
    return False


def names_from(value, where):
    """Keys to remove, given as a list or a mapping's keys."""
    if isinstance(value, (dict, list, tuple)):
        return list(value)
    raise InputError(where, "with state=absent, give a list of keys")


class TableModule(FileEditModule):
    """Base for modules that edit one lookup table."""

    def resolve_table(self):
        """Check config_dir, the table's directory and type; return (config_dir, path, type)."""
        params = self.module.params
        config_dir = params["config_dir"]
        if not os.path.isfile(os.path.join(config_dir, "main.cf")):
            raise ConfigError("config_dir: %s has no main.cf" % config_dir, path=config_dir)
        path = params["path"]
        directory = os.path.dirname(path) or "."
        if not os.path.isdir(directory):
            raise ConfigError("path: the directory %s does not exist" % directory, path=path)
        if os.path.isdir(path):
            raise ConfigError("path: %s is a directory, not a table source" % path, path=path)
        table_type = params["type"] or self.postfix.parameter(config_dir, "default_database_type")
        check_type(table_type, self.postfix.map_types(config_dir))
        return config_dir, path, table_type

    def apply_table(self, config_dir, path, table_type, wanted, remove=(), exclusive=False):
        """Make the table hold ``wanted`` (key -> value) and not ``remove``; fill self.result."""
        fold = folds_keys(table_type)
        indexed = is_indexed(table_type)
        index_paths = [path + suffix for suffix in INDEX_SUFFIXES.get(table_type, [])]

        def plan():
            identity = _identity(path)
            exists = identity is not None
            original = read_text(path) if exists else ""
            new_text, change = LookupTable(original, fold).edited(wanted, remove, exclusive)
            # A table main.cf may name must exist even when it has no entries yet.
            create = not exists and self.module.params["state"] == "present"
            if not indexed:
                stale = False
            elif change or create:
                stale = True
            else:
                stale = exists and _index_older(index_paths, _mtime(path))
            return identity, original, new_text, change, stale, create

        identity, original, new_text, change, stale, create = plan()
        if (change or stale or create) and not self.module.check_mode:
            with EditLock(path) as lock:
                if _identity(path) != identity:
                    # changed meanwhile: again, under the lock
                    identity, original, new_text, change, stale, create = plan()
                if change or stale or create:
                    self._build_and_swap(lock, config_dir, table_type, index_paths, new_text, change,
                                         bool(change or create), wanted)
        self.result.update(
            table="%s:%s" % (table_type, path),
            added=change.added, updated=change.updated, removed=change.removed,
            postmap_run=bool(stale),
            reload_required=bool(change) and not indexed,
        )
        if (change or create) and self.module._diff:
            self.result.setdefault("diff", []).append({
                "before": original, "after": new_text, "before_header": path, "after_header": path})
        changed = bool(change or stale or create)
        if os.path.exists(path) and "mode" in self.module.params:  # tls_policy has no file options
            changed = self._set_attributes(path, changed)
        self.result["changed"] = changed

    def _build_and_swap(self, lock, config_dir, table_type, index_paths, new_text, change, replace_source, wanted):
        tmp_indexes = [lock.tmp_path + suffix for suffix in INDEX_SUFFIXES.get(table_type, [])]
        try:
            lock.write(new_text)
            tmp_table = "%s:%s" % (table_type, lock.tmp_path)
            if tmp_indexes:
                self.postfix.postmap(config_dir, tmp_table)
            self._verify(config_dir, tmp_table, table_type, change, wanted)
            if replace_source:
                if self.module.params.get("backup") and os.path.exists(lock.path):
                    self.result["backup_file"] = self.module.backup_local(lock.path)
                lock.commit()
            for tmp_index, index in zip(tmp_indexes, index_paths):
                os.rename(tmp_index, index)
        finally:
            for tmp_index in tmp_indexes:
                if os.path.exists(tmp_index):
                    os.unlink(tmp_index)

    def _verify(self, config_dir, table, table_type, change, wanted):
        """Every added or updated key must resolve to its value; removed keys to nothing."""
        if table_type in PATTERN_TYPES:
            return
        keys = change.added + change.updated
        found = self.postfix.query(config_dir, table, keys + change.removed)
        for key in keys:
            if found.get(key) != wanted[key]:
                raise ValidationError("%s: postmap resolves %r to %r instead of %r; nothing was changed"
                                      % (table, key, found.get(key), wanted[key]), key=key)
        for key in change.removed:
            if key in found:
                raise ValidationError("%s: removed key %r still resolves to %r; nothing was changed"
                                      % (table, key, found[key]), key=key)


def requested_entries(params):
    """lookup_table arguments -> (wanted, remove); raise InputError on bad input."""
    key, entries, state = params["key"], params["entries"], params["state"]
    if state == "absent":
        if key is not None:
            if params["value"] is not None:
                raise InputError("value", "must not be given with state=absent")
            keys = [key]
        else:
            keys = names_from(entries, "entries")
        for item in keys:
            check_key(item, "key" if key is not None else "entries")
        return {}, keys
    if key is not None:
        if params["value"] is None:
            raise InputError(key, "a value is required with state=present")
        items = {key: params["value"]}
    elif isinstance(entries, dict):
        items = entries
    else:
        raise InputError("entries", "with state=present, give a mapping of keys to values")
    wanted = {}
    for item, value in items.items():
        check_key(item, "key" if key is not None else "entries")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InputError(item, "a value must be a string or a number, not %s" % type(value).__name__)
        wanted[item] = check_value(item, str(value))
    return wanted, []


class LookupTableEdit(TableModule):
    """The lookup_table module: per-entry edits of any file-based table."""

    def execute(self):
        wanted, remove = requested_entries(self.module.params)
        if self.module.params["state"] == "absent" and self.module.params["exclusive"]:
            raise InputError("exclusive", "only applies with state=present")
        config_dir, path, table_type = self.resolve_table()
        self.apply_table(config_dir, path, table_type, wanted, remove, self.module.params["exclusive"])


class TlsPolicyEdit(TableModule):
    """The tls_policy module: typed entries of smtp_tls_policy_maps."""

    def execute(self):
        params = self.module.params
        requests = policy_requests(params)
        if params["state"] == "absent" and params["exclusive"]:
            raise InputError("exclusive", "only applies with state=present")
        config_dir, path, table_type = self.resolve_table()
        version = parse_version(self.postfix.parameter(config_dir, "mail_version"))

        wanted, remove = {}, []
        rendered = {}  # a fleet's table repeats a few policies many times: validate each once
        for request in requests:
            destination = normalize_destination(request["destination"])
            keys = policy_keys(destination, request["include_subdomains"])
            if params["state"] == "absent":
                remove.extend(keys)
                continue
            if request["level"] is None:
                raise InputError("level", "%s: a level is required with state=present" % destination)
            attributes = request["attributes"] or {}
            signature = (request["level"], repr(sorted(attributes.items())))
            if signature not in rendered:
                rendered[signature] = render_policy(request["level"], attributes, version, destination)
            value = rendered[signature]
            for key in keys:
                if wanted.setdefault(key, value) != value:
                    raise InputError("policies", "%s is given twice with different policies" % key)
        self.apply_table(config_dir, path, table_type, wanted, remove, params["exclusive"])


def policy_requests(params):
    """destination, destinations and policies as one list of complete requests.

    The top-level level, attributes and include_subdomains are the defaults of
    every item of ``policies`` that does not set them.
    """
    defaults = {"level": params["level"], "attributes": params["attributes"],
                "include_subdomains": params["include_subdomains"]}
    destinations = ([params["destination"]] if params["destination"] is not None else []) + \
        list(params["destinations"] or [])
    requests = [dict(defaults, destination=destination) for destination in destinations]
    for item in params["policies"] or []:
        request = dict((name, defaults[name] if item.get(name) is None else item[name]) for name in defaults)
        request["destination"] = item["destination"]
        requests.append(request)
    return requests
