# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One edit of a lookup table, decided: its plan, its result and diff, the verdicts on what postmap
read back (private to the collection).

Pure: no Ansible, no I/O. The table module (work/table_edit.py) reads the table, runs postmap and
hands what they said to these functions.
"""

from __future__ import annotations

from ..core.errors import InputError, ValidationError


def names_from(value, where):
    """Keys to remove, given as a list or a mapping's keys."""
    if isinstance(value, (dict, list, tuple)):
        return list(value)
    raise InputError(where, "with state=absent, give a list of keys")


class TablePlan(object):
    """What one edit of a table source and its index will do."""

    __slots__ = ("identity", "original", "document", "new_text", "change", "create", "stale", "wanted",
                 "expected", "reason")

    def __init__(self, identity, original, document, new_text, change, create, stale, wanted=None,
                 expected=None, reason=None):
        self.identity, self.original, self.document = identity, original, document
        self.new_text, self.change, self.create, self.stale = new_text, change, create, stale
        self.wanted = wanted  # key -> value as written: what was asked, less what a module kept
        # file_values: folded key -> the bytes the index must hold (private keys: never reported)
        self.expected = expected
        self.reason = reason  # why the index is rebuilt, when it is

    @property
    def writes_source(self):
        return bool(self.change or self.create)

    @property
    def needs_work(self):
        return bool(self.change or self.create or self.stale)


def private_mode(mode, secret, given):
    """The mode of a private table (a secret one, or one whose -F index holds private keys) and its index;
    raise InputError when a ``given`` mode lets every user read it."""
    if given and mode & 0o007:
        raise InputError("mode", "%04o lets every user read a %s; use 0600 or 0640" % (
            mode, "secret table" if secret else "table whose index holds private keys"))
    # The -F index holds private keys: 0600 unless a mode says the group may read it.
    return mode & (~0o007 if secret or given else ~0o077)


def stale_reason(key, expected, found):
    """Why the index no longer holds what the files hold, given the first ``key`` that differs (None: none)."""
    if key is None:
        return None
    if key not in expected:
        return "the index holds %r, which the source does not" % key
    if key not in found:
        return "the index has no entry for %r" % key
    return "the files of %r changed since the index was built" % key


def edit_result(plan, table, index_paths, file_values):
    """The module's result for an applied ``plan`` of ``table`` (type:path)."""
    change = plan.change
    result = dict(table=table, added=change.added, updated=change.updated, removed=change.removed,
                  postmap_run=bool(plan.stale), reload_required=bool(change) and not index_paths)
    if file_values:
        result["rebuild_reason"] = plan.reason
    return result


# The most keys ``added``, ``updated`` and ``removed`` list each unless the caller asks for all (report=all):
# Ansible sanitises and serialises every key of a result, which costs more than the edit at 100,000.
REPORT_SAMPLE = 1000


def reported_change(change, report_all=False):
    """What a result says of a TableChange: ``added_count``, ``updated_count`` and ``removed_count`` count
    every key; ``added``, ``updated`` and ``removed`` list them all when there are few or ``report_all``, else
    the first REPORT_SAMPLE each."""
    result = {}
    for name in ("added", "updated", "removed"):
        keys = getattr(change, name)
        result[name] = keys if report_all or len(keys) <= REPORT_SAMPLE else keys[:REPORT_SAMPLE]
        result[name + "_count"] = len(keys)
    return result


def edit_diff(plan, path, secret_after=None):
    """The diff of the source a ``plan`` writes. A secret table's, given ``secret_after`` (the
    document of the new text), shows keys and never a value."""
    before, after = plan.original, plan.new_text
    if secret_after is not None:
        before, after = plan.document.masked(), secret_after.masked()
    return {"before": before, "after": after, "before_header": path, "after_header": path}


def check_resolved(name, plan, wanted, found, secret):
    """postmap's read-back (key -> value ``found``) holds every key written with its value and no key removed;
    raise ValidationError naming the first that does not (a secret table's value is never shown)."""
    change = plan.change
    for key in change.added + change.updated:
        if found.get(key) != wanted[key]:
            if secret:
                raise ValidationError("%s: postmap does not resolve %r to the value given; nothing was changed"
                                      % (name, key), key=key)
            raise ValidationError("%s: postmap resolves %r to %r instead of %r; nothing was changed"
                                  % (name, key, found.get(key), wanted[key]), key=key)
    for key in change.removed:
        if key in found:
            raise ValidationError("%s: removed key %r still resolves%s; nothing was changed"
                                  % (name, key, "" if secret else " to %r" % found[key]), key=key)


def check_stored(name, table, plan, stored, found, warnings):
    """postmap -F's read-back of ``table`` (the temporary built for ``name``): every entry holds exactly
    its files' content (``stored``: folded key -> the bytes its index value decodes to) and no removed key is
    left in ``found``; raise ValidationError naming the first that does not, never the content."""
    expected = plan.expected
    for key in sorted(expected):
        if key not in found or stored[key] != expected[key]:
            # Never the content: it holds private keys.
            said = "; ".join(warnings).replace(table.split(":", 1)[1], name.split(":", 1)[1])
            raise ValidationError("%s: postmap -F does not store for %r the content of its files (%s); nothing "
                                  "was changed" % (name, key, said or "did a file change during this run?"),
                                  key=key)
    for key in plan.change.removed:
        if key in found or plan.document.fold(key) in found:
            raise ValidationError("%s: removed key %r still resolves; nothing was changed" % (name, key), key=key)


def pattern_warnings(name, ours, problems):
    """postmap's warnings (line, message) on a pattern table: raise ValidationError when one is about
    a line this task writes (``ours``), else return the warnings the others deserve."""
    rejected = ["line %d: %s" % (line, message) for line, message in problems if line in ours]
    if rejected:
        raise ValidationError("%s: postmap would skip what this task writes (%s); nothing was changed"
                              % (name, "; ".join(rejected)))
    return ["%s: postmap skips line %d, which this task did not write: %s" % (name, line, message)
            for line, message in problems]
