# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A lookup-table source file as a document of entries (private to the collection).

Pure: no Ansible, no I/O. Built on the same logical-line grammar as main.cf.

In pattern tables (regexp, pcre, cidr) ``if``/``endif`` lines open and close
blocks: they are structure, not entries, and the entries inside a block belong
to it. Only entries outside every block are managed; the same pattern inside
two blocks is two rules, never a duplicate.

An entry is a logical line ``key value``: the key is the first
whitespace-delimited word, the value the rest with surrounding whitespace
removed (continuation lines are joined as Postfix joins them). For indexed
and hash-like tables postmap folds keys to lower case and keeps the *first*
of duplicate keys, warning about the rest; documents here do the same, so the
same key written twice is one entry.
"""

from __future__ import annotations

import re
import string

from ..core.errors import InputError
from ..core.lines import SPACE, ensure_final_newline, joined_text, logical_lines, split_lines

_FORBIDDEN = {"\n": "a newline", "\r": "a carriage return", "\0": "a NUL byte"}
MASK = "********"
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_FIRST_WORD = re.compile("[^%s]*" % re.escape(SPACE))


def ascii_lower(text):
    """Lower case as postmap folds a key whatever its build and settings: ASCII letters only.

    With SMTPUTF8 Postfix folds other letters too, without it not: a table that differs from
    ours there is caught by the read-back, never silently merged (Python's lower() would merge
    keys postmap keeps apart).
    """
    return text.translate(_ASCII_LOWER)


def _first_word(text):
    """The first word as Postfix splits words: at C's isspace() characters only."""
    return _FIRST_WORD.match(text.lstrip(SPACE)).group()


# A key that is one word and no comment: what almost every key is, checked in one match.
_WORD_KEY = re.compile("[^#%s\0][^%s\0]*" % ((re.escape(SPACE),) * 2))
_WORD_KEYS = re.compile("(?:[^#%s\0][^%s\0]*\n)*" % ((re.escape(SPACE),) * 2))
_BLOCK_KEYWORDS = ("if", "endif")
_BLOCK_KEYWORD_LINE = re.compile("^(?:[iI][fF]|[eE][nN][dD][iI][fF])$", re.M)  # ASCII, as Postfix reads them


def all_word_keys(keys):
    """Whether every key is a plain word key: one pass over them all instead of one check each."""
    if not all(isinstance(key, str) for key in keys):
        return False
    if not keys:
        return True
    joined = "\n".join(keys) + "\n"
    # One newline per key: none inside a key, where it would pass for a separator.
    return joined.count("\n") == len(keys) and bool(_WORD_KEYS.fullmatch(joined)) and \
        not _BLOCK_KEYWORD_LINE.search(joined)


def check_key(key, where="key", delimited=False):
    """Raise InputError unless ``key`` can be a table key.

    In regexp and pcre tables (``delimited``) a key is a whole ``/pattern/flags``
    (or ``!/pattern/``), which may hold spaces; elsewhere a key is one word.
    ``delimited=None``: the table type is not known yet, spaces are left to a later check.
    """
    if not delimited and isinstance(key, str) and _WORD_KEY.fullmatch(key) and \
            ascii_lower(key) not in _BLOCK_KEYWORDS:
        return
    if not isinstance(key, str) or not key:
        raise InputError(where, "a key must be a non-empty string, got %r" % (key,))
    for char, label in _FORBIDDEN.items():
        if char in key:
            raise InputError(where, "key %r contains %s, which a table line cannot hold" % (key, label))
    if key.startswith("#"):
        raise InputError(where, "key %r starts with '#', which makes the line a comment" % key)
    keyword = _block_keyword(_first_word(key))
    if keyword:
        raise InputError(where, "key %r is a pattern table's %s keyword, not a key" % (key, keyword))
    if delimited:
        if key[0] in SPACE or _split_pattern(key + " x")[0] != key:
            raise InputError(where, "key %r is not one /pattern/flags (or !/pattern/flags) with its closing "
                                    "delimiter" % key)
    elif delimited is not None and any(char in key for char in SPACE):
        raise InputError(where, "key %r contains whitespace; postmap keys are one word" % key)


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


_INLINE_SPACE = SPACE.replace("\n", "")


def _needs_grammar(text):
    """Whether a table needs the general reader: a line starts with whitespace (a
    continuation), or words are separated by whitespace other than spaces."""
    return text[:1] in _INLINE_SPACE or any(char in text for char in "\t\v\f\r") or \
        any("\n" + char in text for char in _INLINE_SPACE)


_ENTRY = re.compile(r"([^%s]*)[%s]*(.*?)[%s]*\Z" % ((re.escape(SPACE),) * 3), re.S)


def _split_entry(text):
    """(key, value) of a logical line: the first word, and the rest without surrounding space."""
    return _ENTRY.match(text).groups()


def _split_pattern(text):
    """(key, value) of a regexp or pcre rule: the key is ``[!]/pattern/flags``, spaces and all.

    As Postfix reads it: the first character (after ``!``) delimits the pattern, a backslash
    escapes the next character, letters after the closing delimiter are flags.
    """
    start = 1 if text.startswith("!") else 0
    if start >= len(text) or text[start] in SPACE:
        return _split_entry(text)
    delimiter, index = text[start], start + 1
    while index < len(text) and text[index] != delimiter:
        index += 2 if text[index] == "\\" else 1
    index += 1
    while index < len(text) and text[index] not in SPACE:
        index += 1
    return text[:index], text[index:].strip(SPACE)


def _block_keyword(word):
    """'if' or 'endif' (any case, as Postfix's pattern tables read them), else None."""
    folded = ascii_lower(word)
    return folded if folded in _BLOCK_KEYWORDS else None


def _unchanged(key):
    return key


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

    def __init__(self, text, fold_case=True, blocks=False, delimited=False):
        self.fold_case = fold_case
        self.fold = ascii_lower if fold_case else _unchanged  # the key as postmap stores it
        self.delimited = delimited
        self.lines = split_lines(text)
        # folded key -> [(members, value)] in file order; the first one is what postmap keeps
        self.entries = {}
        self.logical = []  # (members, key, value) of every content line, blocks and nested rules included
        self.has_blocks = False
        self.open_blocks = 0
        if not blocks and not delimited and not _needs_grammar(text):
            self._read_plain()
            return
        depth = 0
        for start, members in logical_lines(self.lines):
            key, value = self._split(joined_text(self.lines, members))
            self.logical.append((members, key, value))
            keyword = _block_keyword(key) if blocks else None
            if keyword:
                self.has_blocks = True
                depth = depth + 1 if keyword == "if" else max(depth - 1, 0)
            elif depth == 0:
                self.entries.setdefault(self.fold(key), []).append((members, value))
        self.open_blocks = depth

    def _read_plain(self):
        """The common table: one entry per line, words separated by spaces only.

        The same result as the general grammar (no line starts with whitespace, so
        none continues another), in one pass without a match per line.
        """
        entries, logical, fold = self.entries, self.logical, self.fold
        for index, line in enumerate(self.lines):
            if line[0] in "#\n":
                continue
            key, _sep, rest = line.partition(" ")
            key = key.rstrip("\n")
            value = rest.strip(" \n")
            members = (index,)
            logical.append((members, key, value))
            found = entries.get(fold(key))
            if found is None:
                entries[fold(key)] = [(members, value)]
            else:
                found.append((members, value))

    def _split(self, text):
        if self.delimited and not _block_keyword(_first_word(text)):
            return _split_pattern(text)
        return _split_entry(text)

    def render(self):
        return "".join(self.lines)

    def masked(self):
        """The text with every value, and every comment, replaced by a mask: what a secret table may show.

        A comment may hold an old password ("#[relay]:587 user:old"): it is shown as one.
        """
        out = []
        starts = dict((members[0], (members, key)) for members, key, _value in self.logical)
        hidden = set(index for members, _key, _value in self.logical for index in members[1:])
        for index, line in enumerate(self.lines):
            if index in starts:
                key = starts[index][1]
                out.append(line if _block_keyword(key) else "%s %s\n" % (key, MASK))
            elif line.lstrip(SPACE).startswith("#"):
                out.append("# %s\n" % MASK)
            elif index not in hidden:
                out.append(line)
        return "".join(out)

    def line_numbers(self, keys):
        """The physical line numbers (1-based) of the top-level entries of ``keys``."""
        numbers = set()
        for key in keys:
            for members, _value in self.entries.get(self.fold(key), []):
                numbers.update(index + 1 for index in members)
        return numbers

    def value(self, key):
        """The value postmap would store for ``key`` (it skips a line without one), or None."""
        return next((value for _members, value in self.entries.get(self.fold(key), []) if value), None)

    def edited(self, wanted, remove=(), exclusive=False):
        """Return ``(text, TableChange)`` after setting ``wanted`` (key -> value) and removing keys.

        An entry already holding its value on a single line stays as it is.
        Otherwise its first line is replaced by ``key value``, and any
        duplicates of the key go (postmap would ignore them anyway). With
        ``exclusive``, every key not in ``wanted`` is removed.
        """
        change = TableChange()
        wanted_folded = self._checked(wanted)
        replace, drop = self._updates(wanted_folded, change)
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
        if change.added and self.open_blocks:
            # Appended rules would land inside the block and match only when its condition does.
            raise InputError("entries", "the table has an if block without its endif, so a new rule would be "
                                        "read inside it; close the block first")
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

    def _checked(self, wanted):
        """folded key -> (key, value checked): raise InputError for what a table line cannot hold,
        or for two keys postmap folds into one with different values."""
        wanted_folded = {}
        checked = {}  # value -> checked value: a large table repeats a few values
        fold = self.fold
        keys_checked = not self.delimited and all_word_keys(list(wanted))
        for key, value in wanted.items():
            if not keys_checked:
                check_key(key, "entries", self.delimited)
            # Nothing reaches the file that a table line cannot hold, whoever built the value.
            clean = checked.get(value) if isinstance(value, str) else None
            if clean is None:
                clean = checked[value] = check_value(key, value)
            folded = fold(key)
            if folded in wanted_folded and wanted_folded[folded][1] != clean:
                raise InputError("entries", "%r and %r are one key to postmap, which folds case; give it once"
                                 % (wanted_folded[folded][0], key))
            wanted_folded[folded] = (key, clean)
        return wanted_folded

    def _updates(self, wanted_folded, change):
        """(first line index -> new line, line indexes to leave out) setting ``wanted_folded``;
        the keys added and updated go into ``change``."""
        replace = {}
        drop = set()
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
        return replace, drop

    def _spelling(self, folded):
        """The key as the file writes it (first occurrence)."""
        members = self.entries[folded][0][0]
        return self._split(joined_text(self.lines, members))[0]
