# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""main.cf as a document of parameters, edited with ``postconf -e`` / ``-X`` semantics.

Private to the collection. Pure: no Ansible, no I/O.

Edits follow Postfix's own editor (postconf_edit.c): every logical line that
sets an edited parameter is replaced by ``name = value`` (or dropped for a
removal), its continuation lines go with it, comments and blank lines in
between stay, and parameters not found are appended in name order. Unlike
``postconf -e`` we leave a parameter alone when every line that sets it
already holds the wanted value, so a no-op edit renders the original text.
"""

from __future__ import annotations

import re

from ..core.errors import InputError
from ..core.lines import (
    OTHER,
    START,
    ensure_final_newline,
    joined_text,
    line_kind,
    logical_lines,
    normalize_space,
    split_lines,
    split_list,
)

# Names Postfix accepts in main.cf: built-in and user-defined parameters, and
# per-service ones such as ``smtp-amavis_destination_recipient_limit``.
PARAMETER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")  # fullmatch: "$" accepts a final newline
# The end of a name at the start of a logical line, as strcspn(" \t\r\n=").
_NAME_END = re.compile(r"[ \t\r\n=]")
# main.cf's lines end at a newline only (Postfix's readlline): \v, \f, U+2028 and the other breaks
# Python's splitlines knows are part of a value, read back whole; an integer parameter refuses them
# as it refuses any non-digit (parameters.integer_value_problem).
# What Postfix trims around a value (ISSPACE in the C locale).
ASCII_SPACE = " \t\n\r\v\f"
_FORBIDDEN_IN_VALUE = {"\n": "a newline", "\r": "a carriage return", "\0": "a NUL byte"}


def check_parameter_name(name, where="name"):
    """Raise InputError unless ``name`` is a well-formed main.cf parameter name."""
    if not isinstance(name, str) or not PARAMETER_NAME.fullmatch(name):
        raise InputError(where, "%r is not a valid Postfix parameter name "
                                "(letters, digits, '_', '-' and '.' only)" % (name,))


def render_value(name, value):
    """Turn a module value into main.cf text.

    Booleans become yes/no, numbers their decimal text, and lists are joined
    with ", " as Postfix lists are written. Text is stripped of surrounding ASCII
    whitespace as postconf does (never of U+0085 or U+2028, which Python's strip() would drop).
    A newline, carriage return or NUL byte is refused: it would smuggle a second parameter
    into main.cf.
    """
    if value is None:
        raise InputError(name, "a value is required with state=present (use an empty string to set it empty)")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(render_value(name, item) for item in value)
    if isinstance(value, dict):
        raise InputError(name, "a value must be a string, number, boolean or list, not a mapping")
    text = str(value)
    for char, label in _FORBIDDEN_IN_VALUE.items():
        if char in text:
            raise InputError(name, "the value contains %s, which main.cf cannot hold" % label)
    return text.strip(ASCII_SPACE)


# What may follow "$" as a name: ASCII letters, digits and "_" (mac_parse.c's ISALNUM).
_MACRO_NAME = re.compile(r"[A-Za-z0-9_]*")
_MACRO_CLOSE = {"{": "}", "(": ")"}


def macro_syntax_problem(value):
    """What Postfix's macro parser (mac_parse.c) warns about in ``value``; None when it parses.

    Postfix parses every main.cf value for ``$name``, ``${name}`` and ``$(name)``: an unclosed
    ``${`` or ``$(`` ("truncated macro reference") or a ``$`` without a name ("empty macro name")
    makes it warn, in words that name no parameter, each time it reads main.cf. ``$$`` is a
    literal ``$``. What a well-formed reference says (``${x?{y}}``) is mac_expand's business.
    """
    index = 0
    while index < len(value):
        if value[index] != "$":
            index += 1
        elif value.startswith("$$", index):
            index += 2
        elif value[index + 1:index + 2] in _MACRO_CLOSE:
            opener = value[index + 1]
            closer, level, end = _MACRO_CLOSE[opener], 1, index + 2
            while level:  # the same bracket nests; the other kind is plain text inside
                if end == len(value):
                    return ("'$%s' is never closed: Postfix warns \"truncated macro reference\" and reads "
                            "the value its own way; write '$$' for a literal '$'" % opener)
                level += {opener: 1, closer: -1}.get(value[end], 0)
                end += 1
            if end == index + 3:
                return "'$' names no parameter ('$%s%s'); write '$$' for a literal '$'" % (opener, closer)
            index = end
        else:
            name = _MACRO_NAME.match(value, index + 1).group()
            if not name:
                return ("'$' names no parameter (Postfix warns \"empty macro name\"); write '$$' for a "
                        "literal '$'")
            index += 1 + len(name)
    return None


def list_words(value):
    """The elements of a Postfix list, ignoring how they are separated (``{...}`` groups kept whole)."""
    return split_list(value)


def _split_assignment(text):
    """Split a logical line into (name, value); value is None if there is no '='."""
    name = _NAME_END.split(text, 1)[0]
    rest = text[len(name):].lstrip(" \t\n\v\f\r")
    if not rest.startswith("="):
        return name, None
    return name, rest[1:].strip(" \t\n\v\f\r")


class Setting(object):
    """One logical line that sets a parameter."""

    __slots__ = ("name", "value", "members")

    def __init__(self, name, value, members):
        self.name = name
        self.value = value
        self.members = members


class MainCf(object):
    """A main.cf text that renders back byte for byte until it is edited."""

    def __init__(self, text):
        self.lines = split_lines(text)
        self.settings = {}
        for start, members in logical_lines(self.lines):
            name, value = _split_assignment(joined_text(self.lines, members))
            self.settings.setdefault(name, []).append(Setting(name, value, members))

    def render(self):
        return "".join(self.lines)

    def value(self, name):
        """The value Postfix uses (the last setting wins), whitespace-normalised; None if unset."""
        found = self.settings.get(name)
        if not found or found[-1].value is None:
            return None
        return normalize_space(found[-1].value)

    def values(self):
        """Every parameter main.cf sets, as ``value`` reads it."""
        return dict((name, self.value(name)) for name in self.settings if self.value(name) is not None)

    def holds(self, name, wanted, as_list=False):
        """True if every line setting ``name`` already gives it ``wanted``."""
        found = self.settings.get(name)
        if not found:
            return False
        for setting in found:
            if setting.value is None:
                return False
            if as_list:
                if list_words(setting.value) != list_words(wanted):
                    return False
            elif normalize_space(setting.value) != normalize_space(wanted):
                return False
        return True

    def edited(self, assignments, removals):
        """Return the text after ``postconf -e`` of ``assignments`` and ``-X`` of ``removals``.

        ``assignments`` maps names to rendered values; ``removals`` is a set of
        names. Callers pass only the parameters that really change.
        """
        if not assignments and not removals:
            return self.render()
        out = []
        dropping = False
        for line in self.lines:
            kind = line_kind(line)
            if kind == OTHER:
                out.append(line)
                continue
            if kind == START:
                name = _NAME_END.split(line, 1)[0]
                if name in assignments:
                    out.append("%s = %s\n" % (name, assignments[name]))
                    dropping = True
                    continue
                dropping = name in removals
            if not dropping:
                out.append(line)
        ensure_final_newline(out)
        for name in sorted(set(assignments) - set(self.settings)):
            out.append("%s = %s\n" % (name, assignments[name]))
        return "".join(out)


class ParameterChange(object):
    """What one parameter looked like before and after an edit."""

    __slots__ = ("name", "before", "after")

    def __init__(self, name, before, after):
        self.name = name
        self.before = before
        self.after = after

    def as_dict(self):
        return {"before": self.before, "after": self.after}


def plan_edit(text, wanted, remove, list_valued=()):
    """Compute the edit of a main.cf text.

    ``wanted`` maps names to rendered values, ``remove`` lists names to drop,
    ``list_valued`` names whose value is compared as a list. Returns
    ``(new_text, changes)`` where ``changes`` lists a ParameterChange for each
    parameter whose lines change; the text is the original when nothing does.
    """
    document = MainCf(text)
    assignments = {}
    changes = []
    for name in sorted(wanted):
        if not document.holds(name, wanted[name], as_list=name in list_valued):
            assignments[name] = wanted[name]
            changes.append(ParameterChange(name, document.value(name), normalize_space(wanted[name])))
    removals = set()
    for name in sorted(set(remove)):
        if name in document.settings:
            removals.add(name)
            changes.append(ParameterChange(name, document.value(name), None))
    return document.edited(assignments, removals), changes
