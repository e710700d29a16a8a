"""The main.cf document: postconf -e/-X semantics without needless rewrites."""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.main_cf import (
    MainCf,
    check_parameter_name,
    macro_syntax_problem,
    plan_edit,
    render_value,
)

SAMPLE = """\
# header comment
myhostname = mx.example.com
mynetworks = 127.0.0.0/8,
# a comment inside the list
  [::1]/128

smtp_tls_security_level=may
relayhost =
"""


def test_round_trip_is_byte_identical():
    assert MainCf(SAMPLE).render() == SAMPLE


def test_values_are_read_like_postfix():
    doc = MainCf(SAMPLE)
    assert doc.value("mynetworks") == "127.0.0.0/8, [::1]/128"
    assert doc.value("smtp_tls_security_level") == "may"
    assert doc.value("relayhost") == ""
    assert doc.value("unset") is None


def test_replace_keeps_interleaved_comment_and_drops_continuation():
    text, changes = plan_edit(SAMPLE, {"mynetworks": "10.0.0.0/8"}, [])
    assert text == SAMPLE.replace("mynetworks = 127.0.0.0/8,\n", "mynetworks = 10.0.0.0/8\n").replace(
        "  [::1]/128\n", "")
    assert [(c.name, c.before, c.after) for c in changes] == [
        ("mynetworks", "127.0.0.0/8, [::1]/128", "10.0.0.0/8")]


def test_new_parameters_are_appended_in_name_order():
    text = plan_edit(SAMPLE, {"zeta": "1", "alpha": "2"}, [])[0]
    assert text == SAMPLE + "alpha = 2\nzeta = 1\n"


def test_missing_final_newline_is_added_before_appending():
    text = plan_edit("a = 1", {"b": "2"}, [])[0]
    assert text == "a = 1\nb = 2\n"


def test_unchanged_value_is_not_rewritten_even_when_spelled_differently():
    text, changes = plan_edit(SAMPLE, {"smtp_tls_security_level": "may", "relayhost": ""}, [])
    assert text == SAMPLE
    assert changes == []


def test_list_value_compares_elements_not_separators():
    source = "mynetworks = 127.0.0.0/8 [::1]/128\n"
    wanted = {"mynetworks": render_value("mynetworks", ["127.0.0.0/8", "[::1]/128"])}
    text, changes = plan_edit(source, wanted, [], list_valued={"mynetworks"})
    assert text == source and changes == []
    text, changes = plan_edit(source, wanted, [])
    assert changes, "as a plain string the value differs"


def test_duplicates_are_all_rewritten_like_postconf():
    source = "a = 1\nb = 2\na = 3\n"
    text, changes = plan_edit(source, {"a": "3"}, [])
    assert text == "a = 3\nb = 2\na = 3\n"
    assert [(c.before, c.after) for c in changes] == [("3", "3")]


def test_remove_drops_every_setting_and_its_continuations():
    source = "a = 1\n  2\n# keep\nb = 2\na = 3\n"
    text, changes = plan_edit(source, {}, ["a", "missing"])
    assert text == "# keep\nb = 2\n"
    assert [(c.name, c.before, c.after) for c in changes] == [("a", "3", None)]


def test_name_must_match_whole_key():
    text, changes = plan_edit("smtp_tls_security_levelx = 1\n", {"smtp_tls_security_level": "may"}, [])
    assert text.endswith("smtp_tls_security_level = may\n") and text.startswith("smtp_tls_security_levelx = 1\n")


@pytest.mark.parametrize("value, text", [
    (True, "yes"), (False, "no"), (3600, "3600"), ("  may  ", "may"),
    (["a", "b"], "a, b"), ([], ""), ("", ""), (["x", True], "x, yes"),
])
def test_render_value(value, text):
    assert render_value("p", value) == text


@pytest.mark.parametrize("value, problem", [
    ("may\nsmtpd_use_tls = yes", "newline"),
    ("a\rb", "carriage return"),
    ("a\0b", "NUL"),
    ({"a": 1}, "mapping"),
    (None, "value is required"),
    (["ok", "bad\nline"], "newline"),
])
def test_render_value_refuses(value, problem):
    with pytest.raises(InputError, match=problem) as info:
        render_value("smtp_tls_security_level", value)
    assert str(info.value).startswith("smtp_tls_security_level: ")


@pytest.mark.parametrize("name", ["", "a b", "a=b", "#a", "a\nb", "-x", 7, None, "ä"])
def test_bad_parameter_names(name):
    with pytest.raises(InputError, match="not a valid Postfix parameter name"):
        check_parameter_name(name)


@pytest.mark.parametrize("name", ["myhostname", "smtp-amavis_destination_recipient_limit", "x.y", "_u1"])
def test_good_parameter_names(name):
    check_parameter_name(name)


# --- $-macro syntax, as Postfix's mac_parse() reads every main.cf value ---------------------------

@pytest.mark.parametrize("value", [
    "", "plain", "$myhostname ESMTP", "${myhostname}", "$(myhostname)", "$$", "$${", "a $$ b",
    "${x?{y}}", "${x?{a}:{b}}", "${a}{", "}", "{a}", "$(a{)",  # the last: mac_expand's business, not the syntax
])
def test_macro_syntax_postfix_parses(value):
    assert macro_syntax_problem(value) is None


@pytest.mark.parametrize("value, problem", [
    ("${", "'${' is never closed"),
    ("$(", "'$(' is never closed"),
    ("a ${x:y", "'${' is never closed"),
    ("${x?{y}", "'${' is never closed"),  # braces nest: the inner '}' closes the inner '{'
    ("$(x", "'$(' is never closed"),
    ("$", "'$' names no parameter"),
    ("a $", "'$' names no parameter"),
    ("$-x", "'$' names no parameter"),
    ("${}", "'$' names no parameter"),
    ("$()", "'$' names no parameter"),
    ("$\u00e9", "'$' names no parameter"),  # Postfix names are ASCII
])
def test_macro_syntax_postfix_warns_about(value, problem):
    assert problem in macro_syntax_problem(value)


# --- every line break Python knows, and integers (issue 18.8) ---------------------------------------

def splitlines_breaks():
    """Every character str.splitlines breaks a line at, found by asking it about each code point."""
    return set(char for char in map(chr, range(0x110000)) if len(("a" + char + "b").splitlines()) > 1)


def test_only_a_line_break_postfix_reads_as_one_is_refused_in_a_value():
    """main.cf's lines end at a newline (Postfix's readlline): the other breaks Python's splitlines
    knows are part of a value, read back whole (test_files_adversarial); an integer refuses them."""
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.lines import LINE_BREAKS
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.parameters import integer_value_problem

    assert set(LINE_BREAKS) == splitlines_breaks()
    for char in sorted(splitlines_breaks()):
        value = "1" + char + "smtp_tls_security_level = none"
        if char in "\n\r":
            with pytest.raises(InputError) as refused:
                render_value("smtp_tls_loglevel", value)
            assert refused.value.details["parameter"] == "smtp_tls_loglevel"
        else:
            assert render_value("smtpd_banner", value) == value
        assert integer_value_problem(value)


def test_integer_parameters_take_ascii_digits_or_a_reference_only():
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.parameters import (
        integer_parameters, integer_value_problem)

    defaults = {"smtp_tls_loglevel": "0", "message_size_limit": "10240000", "compatibility_level": "0",
                "lmtp_tcp_port": "24", "smtpd_banner": "$myhostname ESMTP", "delay_warning_time": "0h"}
    assert integer_parameters(defaults) == {"smtp_tls_loglevel", "message_size_limit"}
    for good in ("0", "1", "10240000", "$default_process_limit", "${default_process_limit}"):
        assert integer_value_problem(good) is None, good
    for bad in ("\u0661", "\u00b2", "1x", "1 2", "", "-", "1.5", "$", "\uff11"):
        assert integer_value_problem(bad), bad
