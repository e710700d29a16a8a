"""master.cf as a document: options, entries, postconf -M edits, and what a module may ask for."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.master_cf import (
    Entry,
    MasterCf,
    check_service,
    check_word,
    split_options,
    wanted_entry,
)

SAMPLE = """\
# a header comment
smtp      inet  n       -       y       -       -       smtpd
#submission inet n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
# a comment between continuation lines
  -o smtpd_tls_security_level=encrypt -osmtpd_sasl_auth_enable=yes
relay     unix  -       -       y       -       -       smtp
        -o syslog_name=postfix/$service_name
maildrop  unix  -       n       n       -       -       pipe
  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}
"""
DIST = Path("/usr/share/postfix/master.cf.dist")
FIELDS = {"private": "n", "unprivileged": None, "chroot": True, "wakeup": None, "maxproc": 100}


def entry(**changes):
    args = dict(service="submission", service_type="inet", fields=dict(FIELDS), command="smtpd", args=[],
                options={"syslog_name": "postfix/submission"})
    args.update(changes)
    return wanted_entry(args["service"], args["service_type"], args["fields"], args["command"], args["args"],
                        args["options"])


@pytest.mark.parametrize("words, options, rest", [
    ([], [], []),
    (["smtpd"], [], ["smtpd"]),
    (["smtpd", "-o", "a=b", "-oc=d", "-v"], [("a", "b"), ("c", "d")], ["smtpd", "-v"]),
    (["smtpd", "-o", "content_filter="], [("content_filter", "")], ["smtpd"]),
    (["smtpd", "-o", "a=b=c"], [("a", "b=c")], ["smtpd"]),
    (["smtpd", "-o"], [], ["smtpd", "-o"]),
    (["smtpd", "-o", "noequals"], [], ["smtpd", "-o", "noequals"]),
])
def test_split_options(words, options, rest):
    assert split_options(words) == (options, rest)


def test_entry_fields_command_and_options():
    parsed = Entry("submission inet n - y - 100 smtpd -o a=b -v -o c=".split())
    assert parsed.key == "submission/inet"
    assert parsed.fields == {"private": "n", "unprivileged": "-", "chroot": "y", "wakeup": "-", "maxproc": "100"}
    assert parsed.command == ["smtpd", "-v"]
    assert parsed.options == [("a", "b"), ("c", "")]
    assert parsed.render() == ("submission inet  n       -       y       -       100     smtpd -v\n"
                               "  -o a=b\n  -o c=\n")
    assert Entry(parsed.render().split()).same_as(parsed)
    with pytest.raises(InputError, match="fewer than 8 fields"):
        Entry("smtp inet n - y -".split())


@pytest.mark.parametrize("text", [SAMPLE, SAMPLE.rstrip("\n"), "", "\n\n# only comments\n"]
                         + ([DIST.read_text()] if DIST.exists() else []))
def test_round_trip_is_byte_identical(text):
    document = MasterCf(text)
    assert document.render() == text
    for key in document.entries:
        assert document.edited(key, document.entry(key)) == text


def test_edited_replaces_in_place_and_keeps_comments():
    document = MasterCf(SAMPLE)
    assert [e.key for e in document.entries["submission/inet"]] == ["submission/inet"]
    new = document.edited("submission/inet", entry())
    assert new == SAMPLE.replace(
        "submission inet n       -       y       -       -       smtpd\n"
        "  -o syslog_name=postfix/submission\n",
        "submission inet  n       -       y       -       100     smtpd\n"
        "  -o syslog_name=postfix/submission\n").replace(
        "  -o smtpd_tls_security_level=encrypt -osmtpd_sasl_auth_enable=yes\n", "")
    assert MasterCf(new).entry("submission/inet").same_as(entry())


def test_edited_removes_and_appends():
    document = MasterCf(SAMPLE)
    removed = document.edited("relay/unix", None)
    assert "relay " not in removed and "$service_name" not in removed
    assert removed.startswith("# a header comment\n") and removed.endswith("argv=/usr/bin/maildrop -d ${recipient}\n")
    assert document.edited("nothere/unix", None) == SAMPLE
    added = MasterCf(SAMPLE.rstrip("\n")).edited("new/unix", entry(service="new", service_type="unix"))
    assert added == SAMPLE + entry(service="new", service_type="unix").render()


def test_hand_written_entry_with_the_same_meaning_is_kept():
    same = entry(options={"syslog_name": "postfix/submission", "smtpd_tls_security_level": "encrypt",
                          "smtpd_sasl_auth_enable": "yes"}, fields={"private": "n", "chroot": "y"})
    assert MasterCf(SAMPLE).edited("submission/inet", same) == SAMPLE


def test_wanted_entry_renders_types_and_defaults():
    built = entry(fields={"private": False, "unprivileged": "-", "chroot": True, "wakeup": "60?", "maxproc": 0},
                  args=["-v"], options={"content_filter": "", "smtpd_sasl_auth_enable": True,
                                        "smtpd_tls_auth_only": False, "smtpd_client_connection_count_limit": 10,
                                        "receive_override_options": None})
    assert built.fields == {"private": "n", "unprivileged": "-", "chroot": "y", "wakeup": "60?", "maxproc": "0"}
    assert built.command == ["smtpd", "-v"]
    assert built.options == [("content_filter", ""), ("smtpd_sasl_auth_enable", "yes"),
                             ("smtpd_tls_auth_only", "no"), ("smtpd_client_connection_count_limit", "10"),
                             ("receive_override_options", "")]


@pytest.mark.parametrize("args, options, expected", [
    (["-o", "smtpd_tls_security_level=encrypt"], {}, [("smtpd_tls_security_level", "encrypt")]),
    (["-osmtpd_tls_security_level=encrypt", "-v"], {"syslog_name": "s"},
     [("smtpd_tls_security_level", "encrypt"), ("syslog_name", "s")]),
    (["-o", "syslog_name=s"], {"syslog_name": "s", "a": "b"}, [("syslog_name", "s"), ("a", "b")]),
])
def test_options_in_args_are_merged(args, options, expected):
    built = entry(args=args, options=options)
    assert built.options == expected
    assert "-o" not in " ".join(built.command)


@pytest.mark.parametrize("args, options, parameter, problem", [
    (["-o", "syslog_name=a"], {"syslog_name": "b"}, "options",
     "syslog_name is given as 'a' in args and as 'b' in options"),
    (["-o", "a=1", "-o", "a=2"], {}, "args", "-o a is given twice, as '1' and as '2'"),
    (["-o"], {}, "args", "-o must be followed by name=value"),
    (["-o", "novalue"], {}, "args", "-o must be followed by name=value"),
    (["-o", "=value"], {}, "args", "'' is not a parameter name"),
    (["-o", "bad name=x"], {}, "args", "must not contain a space"),
])
def test_options_in_args_are_checked(args, options, parameter, problem):
    with pytest.raises(InputError) as caught:
        entry(args=args, options=options)
    assert caught.value.details["parameter"] == parameter
    assert problem in str(caught.value)


# Every free-text field of a wanted entry, and how to put a bad string into it.
def _field(name):
    def build(bad):
        fields = dict(FIELDS)
        fields[name] = bad
        return {"fields": fields}
    return build


TARGETS = {
    "service": lambda bad: {"service": bad},
    "type": lambda bad: {"service_type": bad},
    "private": _field("private"),
    "unprivileged": _field("unprivileged"),
    "chroot": _field("chroot"),
    "wakeup": _field("wakeup"),
    "maxproc": _field("maxproc"),
    "command": lambda bad: {"command": bad},
    "args": lambda bad: {"args": ["-v", bad]},
    "options": lambda bad: {"options": {bad: "yes"}},
    "options value": lambda bad: {"options": {"smtpd_sasl_auth_enable": bad}},
}
# A well-formed value of each, which the bad characters are added to.
GOOD = {"service": "submission", "type": "inet", "private": "n", "unprivileged": "n", "chroot": "y",
        "wakeup": "60", "maxproc": "100", "command": "smtpd", "args": "-v", "options": "syslog_name",
        "options value": "yes"}
BAD_CHARACTERS = {"newline": "\n", "carriage return": "\r", "tab": "\t", "space": " ", "NUL": "\0",
                  "surrogate": "\udcff"}


@pytest.mark.parametrize("where", sorted(BAD_CHARACTERS))
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_bad_characters_are_refused_naming_the_parameter(target, where):
    char = BAD_CHARACTERS[where]
    for bad in (GOOD[target] + char, char + GOOD[target], GOOD[target][:1] + char + GOOD[target][1:]):
        with pytest.raises(InputError) as caught:
            if target == "type":
                check_service("submission", bad)
            entry(**TARGETS[target](bad))
        parameter = "options" if target == "options value" else target
        assert caught.value.details["parameter"] == parameter, (target, bad)


@pytest.mark.parametrize("target", ["service", "type", "private", "unprivileged", "chroot", "wakeup", "maxproc",
                                    "command", "options"])
def test_leading_dash_is_refused(target):
    with pytest.raises(InputError) as caught:
        if target == "type":
            check_service("submission", "-inet")
        entry(**TARGETS[target]("-" + GOOD[target]))
    assert caught.value.details["parameter"] == target


def test_leading_dash_is_an_argument_and_a_value():
    # Daemon flags (-v, -D) are what args are for; a -o value is bound to its name in one word.
    built = entry(args=["-v", "-D"], options={"smtpd_banner": "-x"})
    assert built.command == ["smtpd", "-v", "-D"] and built.options == [("smtpd_banner", "-x")]


@pytest.mark.parametrize("service", ["submission", "127.0.0.1:10025", "[::1]:25", "smtp-amavis", "a.b_c"])
def test_good_service_names(service):
    check_service(service, "inet")


@pytest.mark.parametrize("service", ["", None, "a/b", "sub mission", "smtp\n", "-smtp", "smtp#", "ßmtp"])
def test_bad_service_names(service):
    with pytest.raises(InputError, match="^service: "):
        check_service(service, "inet")


def test_edit_options_removes_replaces_and_appends():
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.master_cf import edit_options

    new_text, changes = edit_options(SAMPLE, {
        "submission/inet": (["smtpd_sasl_auth_enable"], {"smtpd_tls_security_level": "may", "x": "1"}),
        "smtp/inet": ([], {"smtpd_tls_security_level": "encrypt"}),
        "relay/unix": (["not_there"], {}),
    })
    document = MasterCf(new_text)
    assert document.entry("submission/inet").options == [
        ("syslog_name", "postfix/submission"), ("smtpd_tls_security_level", "may"), ("x", "1")]
    assert document.entry("smtp/inet").options == [("smtpd_tls_security_level", "encrypt")]
    assert sorted(changes) == ["smtp/inet", "submission/inet"]
    assert changes["smtp/inet"] == {
        "before": "smtp       inet  n       -       y       -       -       smtpd\n",
        "after": "smtp       inet  n       -       y       -       -       smtpd\n"
                 "  -o smtpd_tls_security_level=encrypt\n"}
    assert "relay     unix  -       -       y       -       -       smtp\n" in new_text  # untouched
    assert edit_options(new_text, {"smtp/inet": ([], {"smtpd_tls_security_level": "encrypt"})}) == (new_text, {})


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029", "\x1c", "\v"])
def test_a_line_break_of_any_kind_in_an_option_value_is_refused(char):
    """Issue 18.8: master.cf -o values are parameter values too; every break str.splitlines knows."""
    with pytest.raises(InputError, match="U\\+%04X" % ord(char)):
        check_word("options", "1" + char + "smtpd_tls_security_level=none", what="smtpd_tls_loglevel")
