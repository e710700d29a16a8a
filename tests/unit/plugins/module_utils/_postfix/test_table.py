"""The lookup-table document: postmap's key rules, per-entry edits, exclusive mode."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model import table as table_module
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.table import (
    LookupTable,
    all_word_keys,
    check_key,
    check_value,
)

SOURCE = """\
# TLS policy for partners
partner.example   encrypt
# a comment between
bank.example secure
    match=nexthop:dot-nexthop
PARTNER.example may
"""


def test_round_trip_and_postmap_semantics():
    table = LookupTable(SOURCE)
    assert table.render() == SOURCE
    assert table.value("Partner.Example") == "encrypt"  # folded; the first duplicate wins
    assert table.value("bank.example") == "secure    match=nexthop:dot-nexthop"
    assert table.value("nope") is None


def test_pattern_tables_do_not_fold():
    table = LookupTable("/^A/ OK\n", fold_case=False)
    assert table.value("/^A/") == "OK" and table.value("/^a/") is None


def test_unchanged_entry_is_left_alone():
    text, change = LookupTable("a.example encrypt\n").edited({"A.EXAMPLE": "encrypt"})
    assert text == "a.example encrypt\n" and not change


def test_update_replaces_first_line_and_drops_continuations_and_duplicates():
    text, change = LookupTable(SOURCE).edited({"bank.example": "verify", "partner.example": "encrypt"})
    assert text == ("# TLS policy for partners\n"
                    "partner.example encrypt\n"
                    "# a comment between\n"
                    "bank.example verify\n")
    assert change.as_dict() == {"added": [], "updated": ["bank.example", "partner.example"], "removed": []}


def test_add_appends_in_given_order_after_a_final_newline():
    text, change = LookupTable("x.example may").edited({"z.example": "encrypt", "b.example": "may"})
    assert text == "x.example may\nz.example encrypt\nb.example may\n"
    assert change.added == ["z.example", "b.example"]


def test_remove_and_exclusive():
    text, change = LookupTable(SOURCE).edited({}, remove=["BANK.example", "missing"])
    assert text == "# TLS policy for partners\npartner.example   encrypt\n# a comment between\nPARTNER.example may\n"
    assert change.removed == ["bank.example"]
    text, change = LookupTable(SOURCE).edited({"new.example": "may"}, exclusive=True)
    assert text == "# TLS policy for partners\n# a comment between\nnew.example may\n"
    assert sorted(change.removed) == ["bank.example", "partner.example"] and change.added == ["new.example"]


def test_exclusive_keeps_listed_entries_untouched():
    text, change = LookupTable(SOURCE).edited({"partner.example": "encrypt",
                                               "bank.example": "secure    match=nexthop:dot-nexthop"},
                                              exclusive=True)
    # bank.example already holds its value (over two lines): untouched. partner.example has a
    # duplicate that postmap ignores: rewritten once, the duplicate dropped.
    assert text == ("# TLS policy for partners\n"
                    "partner.example encrypt\n"
                    "# a comment between\n"
                    "bank.example secure\n"
                    "    match=nexthop:dot-nexthop\n")
    assert change.as_dict() == {"added": [], "updated": ["partner.example"], "removed": []}


def test_large_table_edit_is_one_pass():
    source = "".join("dest%d.example encrypt\n" % i for i in range(100000))
    text, change = LookupTable(source).edited({"dest5.example": "may"})
    assert change.updated == ["dest5.example"]
    assert text.count("\n") == 100000 and "dest5.example may\n" in text


@pytest.mark.parametrize("key", ["", "a b", "a\tb", "#x", "a\nb", "a\0b", None, 5])
def test_bad_keys(key):
    with pytest.raises(InputError):
        check_key(key)


@pytest.mark.parametrize("value, problem", [
    ("encrypt\nevil.example may", "newline"), ("a\rb", "carriage return"), ("   ", "empty"), (7, "string"),
])
def test_bad_values(value, problem):
    with pytest.raises(InputError, match=problem):
        check_value("k.example", value)


def test_check_type_names_the_package_that_adds_a_type():
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.table_types import check_type

    check_type("hash", {"hash", "pcre"})
    with pytest.raises(InputError, match=r"type: this Postfix does not support the 'pcre' table type: postconf -m "
                                         r"does not list it \(on Debian and Ubuntu install the package 'postfix-pcre'\)"):
        check_type("pcre", {"hash"})
    with pytest.raises(InputError, match="'mysql' is not a file-based lookup table type"):
        check_type("mysql", {"hash", "mysql"})


@pytest.mark.parametrize("text, keys", [
    ("if /^From:/\n/a/ X\nendif\nif /^To:/\n/a/ Y\nendif\n/b/ Z\n", ["/b/"]),
    ("IF /x/\n  /a/ X\nENDIF\n/a/ top\n", ["/a/"]),
    ("/^Subject: a b/i REJECT spaced\n!/x\\/y/ OK\n", ["/^Subject: a b/i", "!/x\\/y/"]),
])
def test_pattern_tables_manage_top_level_rules_only(text, keys):
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.table_types import table_document

    document = table_document("regexp", text)
    assert sorted(document.entries) == sorted(keys)
    assert document.render() == text
    new_text, change = document.edited({keys[0]: "NEW"})
    assert change.updated == [keys[0]] and new_text.count("NEW") == 1


def test_masked_shows_keys_and_structure_never_values():
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.table import LookupTable

    document = LookupTable("# relay\n[smtp.example]:587 user:secret\n  continued-secret\n\n"
                           "  #[smtp.example]:587 user:old-secret\n")
    # A comment may hold an old password: it is masked too, its place kept.
    assert document.masked() == "# ********\n[smtp.example]:587 ********\n\n# ********\n"


# The plain reader (one entry per line, spaces only) must read every table exactly as the
# general grammar does; the general one is forced by making every text look like it needs it.
_WORDS = st.text(alphabet="abAB.#:-[]é\0", min_size=1, max_size=6)
_PLAIN_LINES = st.one_of(
    st.builds(lambda key, gap, value, tail: key + gap + value + tail,
              _WORDS, st.sampled_from(["", " ", "   "]), st.text(alphabet="ab #x", max_size=8),
              st.sampled_from(["", " ", "  "])),
    st.just(""), st.just("#"), st.just("# comment"))


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_PLAIN_LINES, max_size=12), final_newline=st.booleans())
def test_plain_reader_reads_as_the_general_grammar(lines, final_newline):
    text = "\n".join(lines) + ("\n" if final_newline and lines else "")
    fast = LookupTable(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(table_module, "_needs_grammar", lambda _text: True)
        general = LookupTable(text)
    assert [(list(members), key, value) for members, key, value in fast.logical] == \
        [(list(members), key, value) for members, key, value in general.logical]
    assert dict((key, [(list(m), v) for m, v in found]) for key, found in fast.entries.items()) == \
        dict((key, [(list(m), v) for m, v in found]) for key, found in general.entries.items())
    assert fast.render() == text


@pytest.mark.parametrize("text", ["a x\n\tb y\n", "a\tx\n", " a x\n", "a x\r\n", "a x\n \n", "a x\n\vb\n"])
def test_texts_the_plain_reader_leaves_to_the_grammar(text):
    assert table_module._needs_grammar(text)


@settings(max_examples=2000, deadline=None)
@given(keys=st.lists(st.text(alphabet="aIfFeENnDd# \t\n\0é./\u0130\u0131\u00a0\x1c", min_size=0, max_size=6),
                     max_size=5))
@example(keys=["\u0130F"])  # re.IGNORECASE would take it for "if", Postfix does not
@example(keys=["end\u0131f"])
def test_batch_key_check_agrees_with_check_key(keys):
    def accepted(key):
        try:
            check_key(key, "entries", False)
            return True
        except InputError:
            return False

    assert all_word_keys(keys) == all(accepted(key) for key in keys)
