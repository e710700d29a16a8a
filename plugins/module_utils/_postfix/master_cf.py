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

from .errors import InputError
from .lines import SPACE, ensure_final_newline, joined_text, logical_lines, split_lines

FIELDS = ("private", "unprivileged", "chroot", "wakeup", "maxproc")
TYPES = ("inet", "unix", "unix-dgram", "fifo", "pass")
_WORDS = re.compile("[^%s]+" % re.escape(SPACE))
_SERVICE = re.compile(r"^[A-Za-z0-9_.:\[\]\-]+$")
_FIELD_VALUE = {
    "private": re.compile(r"^[yn-]$"),
    "unprivileged": re.compile(r"^[yn-]$"),
    "chroot": re.compile(r"^[yn-]$"),
    "wakeup": re.compile(r"^(-|\d+\??)$"),
    "maxproc": re.compile(r"^(-|\d+)$"),
}


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

    def render(self):
        head = "%-10s %-5s %-7s %-7s %-7s %-7s %-7s %s" % (
            self.service, self.type, self.fields["private"], self.fields["unprivileged"],
            self.fields["chroot"], self.fields["wakeup"], self.fields["maxproc"], self.command[0])
        lines = [" ".join([head] + self.command[1:]).rstrip() + "\n"]
        lines.extend("  -o %s=%s\n" % option for option in self.options)
        return "".join(lines)


def check_service(service, service_type):
    """Raise InputError unless ``service/service_type`` can key a master.cf entry."""
    if not _SERVICE.match(service or ""):
        raise InputError("service", "%r is not a master.cf service name" % (service,))
    if service_type not in TYPES:
        raise InputError("type", "%r is not a service type; use one of %s" % (service_type, ", ".join(TYPES)))


def wanted_entry(service, service_type, fields, command, options):
    """Validate and build the entry a module asks for."""
    check_service(service, service_type)
    words = [service, service_type]
    for name in FIELDS:
        value = "-" if fields.get(name) is None else fields[name]
        if isinstance(value, bool):
            value = "y" if value else "n"
        value = str(value)
        if not _FIELD_VALUE[name].match(value):
            raise InputError(name, "%r is not a valid %s field" % (value, name))
        words.append(value)
    if not command or any(not word or any(char in SPACE for char in word) for word in command):
        raise InputError("command", "give the command and its arguments as a list of words without spaces")
    words.extend(command)
    entry = Entry(words)
    entry.options = check_options(options)
    return entry


def check_options(options):
    checked = []
    for name, value in (options or {}).items():
        if not re.match(r"^[A-Za-z0-9_.\-]+$", str(name)):
            raise InputError("options", "%r is not a parameter name" % (name,))
        value = "yes" if value is True else "no" if value is False else str(value)
        if not value or any(char in SPACE for char in value):
            raise InputError("options", "%s: a -o value must be one word without spaces (Postfix 3.0's "
                                        "'{ ... }' form is not written by this module)" % name)
        checked.append((str(name), value))
    return checked


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
