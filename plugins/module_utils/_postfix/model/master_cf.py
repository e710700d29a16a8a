# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""master.cf as a document of service entries (private to the collection). Pure.

An entry is a logical line ``service type private unpriv chroot wakeup maxproc
command [args]``, keyed by ``service/type``. Edits follow ``postconf -M`` (a whole
entry is replaced in place, its continuation lines go, comments between them stay,
new entries are appended) and ``postconf -P`` (``-o name=value`` options of one
entry). An entry that already says what is wanted - the same fields, the same
command words and options, however spaced - is left untouched.
"""

from __future__ import annotations

import re

from ..core.errors import ConfigError, InputError
from ..core.lines import LINE_BREAKS, SPACE, ensure_final_newline, joined_text, logical_lines, split_lines

FIELDS = ("private", "unprivileged", "chroot", "wakeup", "maxproc")
TYPES = ("inet", "unix", "unix-dgram", "fifo", "pass")
_WORDS = re.compile("[^%s]+" % re.escape(SPACE))
# Validating patterns are used with fullmatch: "$" would also match before a final newline.
_SERVICE = re.compile(r"[A-Za-z0-9_.:\[\]][A-Za-z0-9_.:\[\]\-]*")
_OPTION_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_FIELD_VALUE = {
    "private": re.compile(r"[yn-]"),
    "unprivileged": re.compile(r"[yn-]"),
    "chroot": re.compile(r"[yn-]"),
    "wakeup": re.compile(r"-|[0-9]+\??"),
    "maxproc": re.compile(r"-|[0-9]+"),
}
# What must never reach a master.cf word: it would end the word or the line, or is not text
# (a surrogate is what a byte that is not UTF-8 becomes).
_BAD_CHARACTER = re.compile("[%s\x00-\x1f\x7f\ud800-\udfff]" % re.escape(SPACE + LINE_BREAKS))
_CHARACTER_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", " ": "a space",
                    "\0": "a NUL byte"}


def split_options(args):
    """Split command arguments into (options as an ordered list of (name, value), other words)."""
    options, rest, index = [], [], 0
    while index < len(args):
        word = args[index]
        if word == "-o" and index + 1 < len(args) and "=" in args[index + 1]:
            name, value = args[index + 1].split("=", 1)
            options.append((name, value))
            index += 2
            continue
        if word.startswith("-o") and "=" in word[2:]:
            name, value = word[2:].split("=", 1)
            options.append((name, value))
        else:
            rest.append(word)
        index += 1
    return options, rest


class Entry(object):
    """One service entry as its fields and words."""

    __slots__ = ("service", "type", "fields", "command", "options", "members")

    def __init__(self, words, members=()):
        if len(words) < 8:
            raise InputError("master.cf", "entry %r has fewer than 8 fields" % " ".join(words))
        self.service, self.type = words[0], words[1]
        self.fields = dict(zip(FIELDS, words[2:7]))
        self.options, self.command = split_options(words[7:])  # options in file order
        self.members = list(members)

    @property
    def key(self):
        return "%s/%s" % (self.service, self.type)

    def same_as(self, other):
        return (self.fields == other.fields and self.command == other.command
                and self.options == other.options)

    def with_options(self, options):
        """A copy of this entry with other ``-o`` options."""
        copy = Entry([self.service, self.type] + [self.fields[name] for name in FIELDS] + self.command)
        copy.options = list(options)
        return copy

    def render(self):
        head = "%-10s %-5s %-7s %-7s %-7s %-7s %-7s %s" % (
            self.service, self.type, self.fields["private"], self.fields["unprivileged"],
            self.fields["chroot"], self.fields["wakeup"], self.fields["maxproc"], self.command[0])
        lines = [" ".join([head] + self.command[1:]).rstrip() + "\n"]
        lines.extend("  -o %s=%s\n" % option for option in self.options)
        return "".join(lines)


def check_service(service, service_type):
    """Raise InputError unless ``service/service_type`` can key a master.cf entry."""
    if not isinstance(service, str) or not _SERVICE.fullmatch(service):
        raise InputError("service", "%r is not a master.cf service name" % (service,))
    if service_type not in TYPES:
        raise InputError("type", "%r is not a service type; use one of %s" % (service_type, ", ".join(TYPES)))


def check_word(parameter, word, what=None, may_be_empty=False, may_start_with_dash=False):
    """Raise InputError (naming ``parameter``) unless ``word`` is one clean master.cf word."""
    label = "%s: %r" % (what, word) if what else repr(word)
    if not word and not may_be_empty:
        raise InputError(parameter, "%s must not be empty" % label)
    bad = _BAD_CHARACTER.search(word)
    if bad:
        char = bad.group()
        problem = _CHARACTER_NAMES.get(char) or (
            "bytes that are not UTF-8" if "\ud800" <= char <= "\udfff" else
            "the line break U+%04X" % ord(char) if char in LINE_BREAKS else "the control character %r" % char)
        raise InputError(parameter, "%s must not contain %s" % (label, problem))
    if word.startswith("-") and not may_start_with_dash:
        raise InputError(parameter, "%s must not start with '-'" % label)


def _text(value):
    """A module value as master.cf text: booleans as yes/no, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def wanted_entry(service, service_type, fields, command, args, options):
    """Validate and build the entry a module asks for.

    ``-o name=value`` words in ``args`` are options too, merged with ``options``; a name
    given in both with different values is refused.
    """
    check_service(service, service_type)
    words = [service, service_type]
    for name in FIELDS:
        value = "-" if fields.get(name) is None else fields[name]
        if isinstance(value, bool):
            value = "y" if value else "n"
        value = str(value)
        if not _FIELD_VALUE[name].fullmatch(value):
            raise InputError(name, "%r is not a valid %s field" % (value, name))
        words.append(value)
    if not isinstance(command, str):
        raise InputError("command", "give the daemon's name, such as smtpd")
    check_word("command", command)
    args = [_text(word) for word in args or []]
    for word in args:
        check_word("args", word, may_start_with_dash=True)
    from_args, rest = split_options(args)
    if "-o" in rest:
        raise InputError("args", "-o must be followed by name=value (one word, as in -o syslog_name=x)")
    entry = Entry(words + [command] + rest)
    entry.options = merge_options(check_options(from_args, "args"), check_options(options, "options"))
    return entry


def check_options(options, parameter="options"):
    """``options`` (a mapping or (name, value) pairs) as checked (name, text) pairs."""
    items = options.items() if isinstance(options, dict) else options or []
    checked = {}
    for name, value in items:
        if not isinstance(name, str) or not _OPTION_NAME.fullmatch(name):
            raise InputError(parameter, "%r is not a parameter name" % (name,))
        value = _text(value)
        # Empty is fine (-o content_filter= is common); Postfix 3.0's "{ ... }" form is not written.
        check_word(parameter, value, what=name, may_be_empty=True, may_start_with_dash=True)
        if name in checked and checked[name] != value:
            raise InputError(parameter, "-o %s is given twice, as %r and as %r" % (name, checked[name], value))
        checked[name] = value
    return list(checked.items())


def merge_options(from_args, from_options):
    """Options from args first, then those from the options mapping; conflicts are refused."""
    merged = dict(from_args)
    for name, value in from_options:
        if name in merged and merged[name] != value:
            raise InputError("options", "%s is given as %r in args and as %r in options; give it once"
                                        % (name, merged[name], value))
    return from_args + [(name, value) for name, value in from_options if name not in merged]


class MasterCf(object):
    """A master.cf text that renders back byte for byte until it is edited."""

    def __init__(self, text):
        self.lines = split_lines(text)
        self.entries = {}
        for start, members in logical_lines(self.lines):
            words = _WORDS.findall(joined_text(self.lines, members))
            if len(words) < 8:
                continue  # Postfix rejects such a line; we leave it alone
            entry = Entry(words, members)
            self.entries.setdefault(entry.key, []).append(entry)

    def render(self):
        return "".join(self.lines)

    def entry(self, key):
        found = self.entries.get(key)
        return found[-1] if found else None

    def edited(self, key, replacement):
        """The text with every entry ``key`` replaced by ``replacement`` (None removes them)."""
        found = self.entries.get(key, [])
        if replacement is not None and len(found) == 1 and found[0].same_as(replacement):
            return self.render()
        if replacement is None and not found:
            return self.render()
        starts = dict((entry.members[0], entry) for entry in found)
        drop = set(index for entry in found for index in entry.members)
        out = []
        for index, line in enumerate(self.lines):
            if index in starts and replacement is not None and starts[index] is found[0]:
                out.append(replacement.render())
            elif index not in drop:
                out.append(line)
        ensure_final_newline(out)
        if replacement is not None and not found:
            out.append(replacement.render())
        return "".join(out)


def plan_master_edit(text, key, replacement):
    """(new_text, before, after): ``before``/``after`` are the entry's rendered text or None."""
    document = MasterCf(text)
    current = document.entry(key)
    new_text = document.edited(key, replacement)
    before = current.render() if current else None
    after = replacement.render() if replacement is not None else None
    return new_text, before, after


def edit_options(text, edits):
    """Remove and set ``-o`` options of existing entries, as ``postconf -P`` and ``-PX`` do.

    ``edits`` maps ``service/type`` to ``(names to remove, {name: value} to set)``; a set
    option replaces the first one of its name in place, or is appended. Entries not in the
    text are skipped. Returns ``(new_text, changes)``: ``changes`` maps each key whose entry
    changes to its rendered text ``before`` and ``after``.
    """
    changes = {}
    for key, (remove, values) in edits.items():
        document = MasterCf(text)
        found = document.entries.get(key, [])
        if not found:
            continue
        entry = found[-1]
        options, placed = [], set()
        for name, value in entry.options:
            if name in remove or name in placed:
                continue
            if name in values:
                value = values[name]
                placed.add(name)
            options.append((name, value))
        options.extend((name, value) for name, value in values.items() if name not in placed)
        replacement = entry.with_options(options)
        if len(found) == 1 and entry.same_as(replacement):
            continue
        if len(found) > 1:
            raise ConfigError("master.cf: %s is defined %d times; merge the entries by hand first"
                              % (key, len(found)))
        if not entry.command:
            raise ConfigError("master.cf: %s has no command; fix it by hand first" % key)
        text = document.edited(key, replacement)
        changes[key] = {"before": entry.render(), "after": replacement.render()}
    return text, changes
