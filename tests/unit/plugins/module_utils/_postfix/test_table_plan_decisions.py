"""A table edit's pure decisions (plan/table_plan.py, plan/tls_policy.py).

No postmap, no files: documents are parsed texts, postmap's answers are dicts.
"""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError, ValidationError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.table_types import table_document
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.table_plan import (
    TablePlan,
    check_resolved,
    check_stored,
    edit_diff,
    edit_result,
    names_from,
    pattern_warnings,
    private_mode,
    stale_reason,
)
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.tls_policy import keep_forced, keep_stronger


def planned(original, wanted, remove=(), table_type="hash", expected=None):
    document = table_document(table_type, original)
    new_text, change = document.edited(wanted, remove)
    return TablePlan(None, original, document, new_text, change, False, bool(change), wanted, expected)


def test_keys_to_remove_come_as_a_list_or_a_mappings_keys():
    assert names_from(["a", "b"], "entries") == ["a", "b"]
    assert names_from({"a": 1}, "entries") == ["a"]
    with pytest.raises(InputError, match="^entries: with state=absent, give a list of keys$"):
        names_from("a", "entries")


@pytest.mark.parametrize("mode, secret, given, expected", [
    (0o644, True, False, 0o640),    # a secret table: no other user, whatever an earlier file's mode
    (0o640, True, True, 0o640),     # a mode that lets the group read it is kept
    (0o644, False, False, 0o600),   # a -F index holds private keys: 0600 unless a mode is given
    (0o640, False, True, 0o640),
])
def test_a_private_table_is_never_read_by_every_user(mode, secret, given, expected):
    assert private_mode(mode, secret, given) == expected


@pytest.mark.parametrize("secret, kind", [(True, "secret table"), (False, "table whose index holds private keys")])
def test_a_given_mode_every_user_may_read_is_refused(secret, kind):
    with pytest.raises(InputError) as raised:
        private_mode(0o644, secret, True)
    assert str(raised.value) == "mode: 0644 lets every user read a %s; use 0600 or 0640" % kind


def test_why_an_index_is_stale_names_the_key():
    expected = {"a.example": b"x", "b.example": b"y"}
    assert stale_reason(None, expected, {}) is None
    assert stale_reason("c.example", expected, {"c.example": ""}) == \
        "the index holds 'c.example', which the source does not"
    assert stale_reason("b.example", expected, {}) == "the index has no entry for 'b.example'"
    assert stale_reason("a.example", expected, {"a.example": "eA=="}) == \
        "the files of 'a.example' changed since the index was built"


def test_the_result_and_diff_of_an_edit():
    plan = planned("a.example OK\n", {"b.example": "OK"}, ["a.example"])
    assert edit_result(plan, "hash:/t", ["/t.db"], False) == {
        "table": "hash:/t", "added": ["b.example"], "updated": [], "removed": ["a.example"], "postmap_run": True,
        "reload_required": False}
    assert edit_result(plan, "texthash:/t", [], True)["reload_required"] is True
    assert edit_result(plan, "texthash:/t", [], True)["rebuild_reason"] is None
    assert edit_diff(plan, "/t") == {"before": "a.example OK\n", "after": "b.example OK\n", "before_header": "/t",
                                     "after_header": "/t"}


def test_a_secret_tables_diff_shows_keys_and_never_a_value():
    plan = planned("user@a.example user:old\n", {"user@a.example": "user:new"})
    diff = edit_diff(plan, "/t", table_document("hash", plan.new_text))
    assert "old" not in diff["before"] + diff["after"] and "new" not in diff["before"] + diff["after"]
    assert diff["before"] == diff["after"] == "user@a.example ********\n"


def test_a_key_postmap_does_not_resolve_refuses_the_change():
    plan = planned("", {"a.example": "OK", "b.example": "REJECT"})
    check_resolved("hash:/t", plan, plan.wanted, {"a.example": "OK", "b.example": "REJECT"}, False)
    with pytest.raises(ValidationError, match="postmap resolves 'b.example' to None instead of 'REJECT'"):
        check_resolved("hash:/t", plan, plan.wanted, {"a.example": "OK"}, False)
    with pytest.raises(ValidationError) as raised:
        check_resolved("hash:/t", plan, plan.wanted, {"a.example": "OK", "b.example": "s3cret"}, True)
    assert "s3cret" not in str(raised.value) and "REJECT" not in str(raised.value)
    assert raised.value.details["key"] == "b.example"


def test_a_removed_key_that_still_resolves_refuses_the_change():
    plan = planned("a.example OK\n", {}, ["a.example"])
    with pytest.raises(ValidationError, match="removed key 'a.example' still resolves to 'OK'"):
        check_resolved("hash:/t", plan, {}, {"a.example": "OK"}, False)
    with pytest.raises(ValidationError) as raised:
        check_resolved("hash:/t", plan, {}, {"a.example": "OK"}, True)
    assert str(raised.value) == "hash:/t: removed key 'a.example' still resolves; nothing was changed"


def test_postmap_f_must_store_every_files_content():
    plan = planned("a.example /k /c\n", {"a.example": "/k /c"}, expected={"a.example": b"key\ncert"})
    check_stored("hash:/t", "hash:/t.tmp", plan, {"a.example": b"key\ncert"}, {"a.example": "x"}, [])
    with pytest.raises(ValidationError) as raised:
        check_stored("hash:/t", "hash:/t.tmp", plan, {"a.example": b"other"}, {"a.example": "x"},
                     ["postmap: warning: /t.tmp: something"])
    assert str(raised.value) == ("hash:/t: postmap -F does not store for 'a.example' the content of its files "
                                 "(postmap: warning: /t: something); nothing was changed")
    assert "other" not in str(raised.value)  # never the content: it holds private keys
    with pytest.raises(ValidationError, match="did a file change during this run"):
        check_stored("hash:/t", "hash:/t.tmp", plan, {}, {}, [])


def test_postmap_f_must_not_keep_a_removed_key_in_any_spelling():
    plan = planned("A.example /k /c\n", {}, ["A.example"], expected={})
    with pytest.raises(ValidationError, match="removed key 'A.example' still resolves"):
        check_stored("hash:/t", "hash:/t.tmp", plan, {}, {"a.example": "x"}, [])


def test_a_pattern_postmap_skips_refuses_ours_and_warns_of_others():
    problems = [(1, "bad pattern"), (3, "other bad pattern")]
    assert pattern_warnings("regexp:/t", {2}, problems) == [
        "regexp:/t: postmap skips line 1, which this task did not write: bad pattern",
        "regexp:/t: postmap skips line 3, which this task did not write: other bad pattern"]
    with pytest.raises(ValidationError) as raised:
        pattern_warnings("regexp:/t", {3}, problems)
    assert str(raised.value) == ("regexp:/t: postmap would skip what this task writes (line 3: other bad pattern); "
                                 "nothing was changed")


def test_downgrade_false_keeps_a_stronger_entry_or_its_parents_cover():
    document = table_document("hash", "a.example secure\n.b.example verify\nc.example may\n")
    kept = {}
    wanted = {"a.example": "encrypt", "x.b.example": "may", "c.example": "encrypt", "d.example": "may"}
    adjusted = keep_stronger(document, wanted, set(wanted) - {"d.example"}, kept)
    # Its own entry stays as it is; one a parent's .domain covers is not added (it would override the parent).
    assert adjusted == {"a.example": "secure", "c.example": "encrypt", "d.example": "may"}
    assert kept == {"a.example": "secure", "x.b.example": "verify"}


def test_downgrade_false_keeps_the_forced_entries_a_removal_would_take():
    document = table_document("hash", "a.example secure\nb.example may\nc.example encrypt\n")
    kept = {}
    wanted, remove = keep_forced(document, {"c.example": "verify"}, ["a.example", "b.example"],
                                 {"a.example", "b.example", "c.example", "z.example"}, kept)
    assert wanted == {"c.example": "verify", "a.example": "secure"}
    assert remove == ["b.example"]
    assert kept == {"a.example": "secure"}
