# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Postfix's logical-line grammar, shared by main.cf and every lookup table source.

Private to the collection. Pure: no Ansible, no I/O.

Postfix reads its text files with readlline(3): a line whose first non-space
character is ``#`` is a comment, a blank line is ignored, a line starting with
whitespace continues the previous logical line, and comments or blank lines
in between do not end it. Physical lines are joined as they are, without the
newline. We keep the physical lines untouched so that a document renders back
byte for byte.
"""

from __future__ import annotations

import re

# C's isspace() in the "C" locale, which is what Postfix uses; Python's
# str.isspace() would also accept Unicode spaces.
SPACE = " \t\n\v\f\r"
_SPACE_RUN = re.compile("[" + re.escape(SPACE) + "]+")
# Every character Python's str.splitlines() ends a line at. Postfix ends a line at \n only, but
# any reader of main.cf or master.cf that splits lines as Python does would see two settings.
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"

OTHER = 0         # comment, blank or whitespace-only line: never part of content
START = 1         # first line of a logical line
CONTINUATION = 2  # starts with whitespace and carries text


def split_lines(text):
    """Split text on ``\\n`` only, keeping the newline on every line that has one."""
    lines = text.split("\n")
    last = lines.pop()
    result = [line + "\n" for line in lines]
    if last:
        result.append(last)
    return result


def line_kind(line):
    """Classify one physical line as OTHER, START or CONTINUATION."""
    content = line.lstrip(SPACE)
    if not content or content[0] == "#":
        return OTHER
    if line[0] in SPACE:
        return CONTINUATION
    return START


def logical_lines(lines):
    """Yield ``(start, members)`` for each logical line of a list of physical lines.

    ``members`` lists the indexes of the content lines (the start line and its
    continuations). A continuation with no preceding start line is skipped, as
    Postfix skips it with a warning.
    """
    members = None
    for index, line in enumerate(lines):
        kind = line_kind(line)
        if kind == START:
            if members:
                yield members[0], members
            members = [index]
        elif kind == CONTINUATION and members:
            members.append(index)
    if members:
        yield members[0], members


def joined_text(lines, members):
    """The logical line as Postfix sees it: the member lines joined without newlines."""
    if len(members) == 1:
        return lines[members[0]].rstrip("\n")
    return "".join(lines[i].rstrip("\n") for i in members)


def normalize_space(value):
    """Collapse whitespace runs the way ``postconf`` prints a value."""
    return " ".join(word for word in _SPACE_RUN.split(value) if word)


# What separates the elements of a Postfix list (CHARS_COMMA_SP in Postfix's sources).
LIST_SEPARATORS = ", \t\r\n"


def split_list(value):
    """The elements of a Postfix list, as Postfix splits it (mystrtokq).

    Commas and whitespace separate elements, except inside ``{...}``: the
    whole of ``inline:{ {a=b}, {c=d} }`` is one element.
    """
    words, current, depth = [], [], 0
    for char in value:
        if depth == 0 and char in LIST_SEPARATORS:
            if current:
                words.append("".join(current))
                current = []
            continue
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        current.append(char)
    if current:
        words.append("".join(current))
    return words


def ensure_final_newline(lines):
    """Give the last line a newline, as Postfix does when it rewrites a file."""
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines
