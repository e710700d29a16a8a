# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A lookup-table source file as a document of entries (private to the collection).

Pure: no Ansible, no I/O. Built on the same logical-line grammar as main.cf.

An entry is a logical line ``key value``: the key is the first
whitespace-delimited word, the value the rest with surrounding whitespace
removed (continuation lines are joined as Postfix joins them). For indexed
and hash-like tables postmap folds keys to lower case and keeps the *first*
of duplicate keys, warning about the rest; documents here do the same, so the
same key written twice is one entry.
"""

from __future__ import annotations

import re

from .errors import InputError
from .lines import SPACE, ensure_final_newline, joined_text, logical_lines, split_lines

_FORBIDDEN = {"\n": "a newline", "\r": "a carriage return", "\0": "a NUL byte"}


def check_key(key, where="key"):
    """Raise InputError unless ``key`` can be a table key."""
    if not isinstance(key, str) or not key:
        raise InputError(where, "a key must be a non-empty string, got %r" % (key,))
    for char in SPACE + "\0":
        if char in key:
            raise InputError(where, "key %r contains whitespace or a NUL byte; postmap keys are one word" % key)
    if key.startswith("#"):
        raise InputError(where, "key %r starts with '#', which makes the line a comment" % key)


def check_value(key, value):
    """Raise InputError unless ``value`` can be the value of ``key``; return it stripped."""
    if not isinstance(value, str):
        raise InputError(key, "a value must be a string, got %s" % type(value).__name__)
    for char, label in _FORBIDDEN.items():
        if char in value:
            raise InputError(key, "the value contains %s, which a table line cannot hold" % label)
    value = value.strip(SPACE)
    if not value:
        raise InputError(key, "the value is empty; postmap needs a value for every key")
    return value


_ENTRY = re.compile(r"([^%s]*)[%s]*(.*?)[%s]*\Z" % ((re.escape(SPACE),) * 3), re.S)


def _split_entry(text):
    """(key, value) of a logical line: the first word, and the rest without surrounding space."""
    return _ENTRY.match(text).groups()


class TableChange(object):
    """The keys an edit adds, updates and removes."""

    __slots__ = ("added", "updated", "removed")

    def __init__(self):
        self.added = []
        self.updated = []
        self.removed = []

    def __bool__(self):
        return bool(self.added or self.updated or self.removed)

    __nonzero__ = __bool__

    def as_dict(self):
        return {"added": self.added, "updated": self.updated, "removed": self.removed}


class LookupTable(object):
    """A table source that renders back byte for byte until it is edited."""

    def __init__(self, text, fold_case=True):
        self.fold_case = fold_case
        self.lines = split_lines(text)
        # folded key -> [(members, value)] in file order; the first one is what postmap keeps
        self.entries = {}
        for start, members in logical_lines(self.lines):
            key, value = _split_entry(joined_text(self.lines, members))
            self.entries.setdefault(self.fold(key), []).append((members, value))

    def fold(self, key):
        return key.lower() if self.fold_case else key

    def render(self):
        return "".join(self.lines)

    def value(self, key):
        """The value postmap would store for ``key``, or None."""
        found = self.entries.get(self.fold(key))
        return found[0][1] if found else None

    def edited(self, wanted, remove=(), exclusive=False):
        """Return ``(text, TableChange)`` after setting ``wanted`` (key -> value) and removing keys.

        An entry already holding its value on a single line stays as it is.
        Otherwise its first line is replaced by ``key value``, and any
        duplicates of the key go (postmap would ignore them anyway). With
        ``exclusive``, every key not in ``wanted`` is removed.
        """
        change = TableChange()
        replace = {}   # first line index -> new line
        drop = set()   # line indexes to leave out
        wanted_folded = {}
        for key, value in wanted.items():
            wanted_folded[self.fold(key)] = (key, value)
        for folded, (key, value) in wanted_folded.items():
            found = self.entries.get(folded)
            if not found:
                change.added.append(key)
                continue
            (members, current), duplicates = found[0], found[1:]
            if current == value and not duplicates:
                continue
            change.updated.append(key)
            replace[members[0]] = "%s %s\n" % (key, value)
            drop.update(members[1:])
            for other, _value in duplicates:
                drop.update(other)
        removals = set(self.fold(key) for key in remove)
        if exclusive:
            removals.update(folded for folded in self.entries if folded not in wanted_folded)
        for folded in sorted(removals):
            found = self.entries.get(folded)
            if found and folded not in wanted_folded:
                change.removed.append(self._spelling(folded))
                for members, _value in found:
                    drop.update(members)
        if not change:
            return self.render(), change
        out = []
        for index, line in enumerate(self.lines):
            if index in replace:
                out.append(replace[index])
            elif index not in drop:
                out.append(line)
        ensure_final_newline(out)
        for key in change.added:
            out.append("%s %s\n" % (key, wanted_folded[self.fold(key)][1]))
        return "".join(out), change

    def _spelling(self, folded):
        """The key as the file writes it (first occurrence)."""
        members = self.entries[folded][0][0]
        return _split_entry(self.lines[members[0]].rstrip("\n"))[0]
