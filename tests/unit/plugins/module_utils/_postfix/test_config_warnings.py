"""postconf's warnings before and after an edit, compared as Postfix means them (issue 18)."""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.commands import (
    config_warnings,
    new_warnings,
    warning_identity,
    warning_parameters,
)

OVERRIDE = "warning: <config>/main.cf, line %d: overriding earlier entry: notify_classes=%s"
BRACE = "warning: main.cf: missing '}' in \"{ mx ESMTP\""


def test_config_warnings_keep_what_postconf_says_without_the_directory():
    stderr = ("postconf: warning: /tmp/x/main.cf, line 5: overriding earlier entry: notify_classes=resource\n"
              "postconf: warning: /tmp/x/main.cf: unused parameter: foo_bar=1\n")
    assert config_warnings(stderr, "/tmp/x") == [OVERRIDE % (5, "resource")]


@pytest.mark.parametrize("warning, identity", [
    (OVERRIDE % (5, "resource"), ("<config>/main.cf", "overriding earlier entry: notify_classes")),
    (OVERRIDE % (12, "resource, software = x"), ("<config>/main.cf", "overriding earlier entry: notify_classes")),
    ("warning: <config>/master.cf: line 7: some complaint", ("<config>/master.cf", "some complaint")),
    (BRACE, ("main.cf", "missing '}' in \"{ mx ESMTP\"")),
    ("warning: something unexpected", (None, "warning: something unexpected")),
])
def test_the_identity_of_a_warning_has_no_line_number_and_no_overridden_value(warning, identity):
    assert warning_identity(warning) == identity


def test_a_duplicate_warning_on_another_line_is_not_new():
    assert new_warnings([OVERRIDE % (5, "resource")], [OVERRIDE % (4, "resource")]) == []
    # An edit of the duplicated parameter shows another earlier value: the same duplicate still.
    assert new_warnings([OVERRIDE % (5, "resource")], [OVERRIDE % (4, "delay")]) == []


def test_warnings_are_a_multiset_so_a_second_like_one_is_new():
    before = [OVERRIDE % (5, "resource")]
    after = [OVERRIDE % (4, "resource"), OVERRIDE % (6, "software")]
    assert new_warnings(before, after) == [OVERRIDE % (6, "software")]


def test_a_new_kind_of_warning_is_new_and_reported_as_postconf_gave_it():
    before = [OVERRIDE % (5, "resource")]
    assert new_warnings(before, [OVERRIDE % (3, "resource"), BRACE]) == [BRACE]
    assert new_warnings([], [OVERRIDE % (3, "resource")]) == [OVERRIDE % (3, "resource")]
    # The same broken value somewhere else in the file is another warning.
    assert new_warnings([BRACE], [BRACE, BRACE]) == [BRACE]


def test_a_warning_about_another_parameter_is_new():
    before = [OVERRIDE % (5, "resource")]
    other = "warning: <config>/main.cf, line 5: overriding earlier entry: mydestination=localhost"
    assert new_warnings(before, [other]) == [other]


@pytest.mark.parametrize("warning, values, names", [
    ('warning: truncated macro reference: "${"', {"mailtls_x": "${", "other": "ok"}, ["mailtls_x"]),
    ('warning: attribute name syntax error at: "...a>>>{"', {"mailtls_x": "$(a{)", "b": "a"}, ["mailtls_x"]),
    ('warning: ":" expected at: "...a}>>>b"', {"p": "${x?{a}b}", "q": "a}"}, ["p"]),
    ('warning: empty macro name: "$"', {"p": "$", "q": "$"}, ["p", "q"]),
    # The quoted text is not in any changed value (Postfix quotes it expanded): no guess.
    ("warning: main.cf: missing '}' in \"{ mx ESMTP\"", {"smtpd_banner": "{ $myhostname ESMTP"}, []),
    ("warning: <config>/main.cf: undefined parameter: x", {"p": "${x}", "q": "$xy", "r": "$(x)"}, ["p", "r"]),
    ("warning: <config>/main.cf, line 3: overriding earlier entry: p=1", {"p": "1"}, []),  # names its own
])
def test_a_warning_that_names_no_parameter_is_laid_to_the_changed_values_it_quotes(warning, values, names):
    assert warning_parameters(warning, values) == names
