"""The read-back after postmap: a listing when most of a table changed, lookups otherwise."""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import ValidationError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.table_plan import TablePlan
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.table_edit import TableModule
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.table_types import table_document


class StubPostfix(object):
    """postmap as this test makes it answer: ``stored`` is what the built index holds."""

    def __init__(self, stored):
        self.stored = stored
        self.calls = []

    def dump(self, _config_dir, _table):
        self.calls.append("dump")
        return dict(self.stored)

    def query(self, _config_dir, _table, keys):
        self.calls.append(("query", list(keys)))
        # As postmap with SMTPUTF8 folds: every letter, where the document folds ASCII only.
        return dict((key, self.stored[key.lower()]) for key in keys if key.lower() in self.stored)


def verify(original, wanted, stored, table_type="hash", secret=False):
    document = table_document(table_type, original)
    new_text, change = document.edited(wanted)
    plan = TablePlan(None, original, document, new_text, change, False, True)
    editor = TableModule.__new__(TableModule)
    editor.postfix, editor.secret = StubPostfix(stored), secret
    editor._verify("/etc/postfix", "%s:/etc/postfix/t.tmp" % table_type, table_type, plan, wanted, "/etc/postfix/t")
    return editor.postfix.calls


def test_a_mostly_new_table_is_read_back_in_one_listing():
    wanted = dict(("k%d.example" % i, "OK") for i in range(10))
    calls = verify("", wanted, dict((key, "OK") for key in wanted))
    assert calls == ["dump", ("query", [])]


def test_a_small_change_is_looked_up_key_by_key():
    original = "".join("k%d.example OK\n" % i for i in range(10))
    calls = verify(original, {"k3.example": "REJECT"}, dict(("k%d.example" % i, "OK") for i in range(10)) |
                   {"k3.example": "REJECT"})
    assert calls == [("query", ["k3.example"])]


def test_keys_the_listing_holds_folded_are_found_and_others_looked_up():
    wanted = {"Mixed.Example": "OK", "ÉCOLE.example": "OK"}
    # This postmap folds É too, the document ASCII only: that one key is looked up, and found.
    stored = {"mixed.example": "OK", "école.example": "OK"}
    assert verify("", wanted, stored) == ["dump", ("query", ["ÉCOLE.example"])]


@pytest.mark.parametrize("table_type", ["hash", "cdb"])
def test_a_value_postmap_does_not_hold_refuses_the_change(table_type):
    wanted = dict(("k%d.example" % i, "OK") for i in range(4))
    stored = dict((key, "OK") for key in wanted)
    stored["k2.example"] = "REJECT"
    with pytest.raises(ValidationError, match="postmap resolves 'k2.example' to 'REJECT' instead of 'OK'"):
        verify("", wanted, stored, table_type)


def test_a_secret_mismatch_names_the_key_and_no_value():
    wanted = {"user@example.net": "user:s3cret"}
    with pytest.raises(ValidationError) as raised:
        verify("", wanted, {"user@example.net": "user:other"}, secret=True)
    assert "s3cret" not in str(raised.value) and "other" not in str(raised.value)
    assert "user@example.net" in str(raised.value)
