"""The logical-line grammar shared by main.cf and lookup tables."""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.lines import (
    CONTINUATION,
    OTHER,
    START,
    joined_text,
    line_kind,
    logical_lines,
    normalize_space,
    split_lines,
)


@pytest.mark.parametrize("text, lines", [
    ("", []),
    ("a\n", ["a\n"]),
    ("a\nb", ["a\n", "b"]),
    ("a\n\n", ["a\n", "\n"]),
    ("a\x0bb\x0cc\n", ["a\x0bb\x0cc\n"]),  # only \n ends a line, unlike str.splitlines()
    ("a\r\nb\n", ["a\r\n", "b\n"]),
])
def test_split_lines_round_trips(text, lines):
    assert split_lines(text) == lines
    assert "".join(split_lines(text)) == text


@pytest.mark.parametrize("line, kind", [
    ("name = value\n", START),
    ("  more\n", CONTINUATION),
    ("\tmore", CONTINUATION),
    ("# comment\n", OTHER),
    ("   # indented comment\n", OTHER),
    ("\n", OTHER),
    ("  \t \n", OTHER),
    ("\x0b\n", OTHER),
    ("name=#notacomment\n", START),
])
def test_line_kind(line, kind):
    assert line_kind(line) == kind


def test_comments_inside_a_logical_line_do_not_end_it():
    lines = split_lines("a = 1,\n# note\n\n  2\nb = 3\n  4")
    assert list(logical_lines(lines)) == [(0, [0, 3]), (4, [4, 5])]
    assert joined_text(lines, [0, 3]) == "a = 1,  2"


def test_orphan_continuation_is_skipped_like_postfix():
    lines = split_lines("  orphan\n  more\nname = x\n")
    assert list(logical_lines(lines)) == [(2, [2])]


def test_normalize_space_uses_c_whitespace_only():
    assert normalize_space(" a \t b\x0b c ") == "a b c"
    assert normalize_space("a\u00a0b") == "a\u00a0b"
