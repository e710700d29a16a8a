"""master_cf against the real postconf -M / -MX."""

from __future__ import annotations

import pytest
from conftest import postconf, settle
from helpers import run_module, run_playbook, snapshot

SUBMISSION = {"service": "submission", "type": "inet", "private": "n", "chroot": "y", "command": "smtpd",
              "options": {"syslog_name": "postfix/submission", "smtpd_tls_security_level": "encrypt",
                          "smtpd_sasl_auth_enable": "yes"}}


def master(localhost, config_dir, **args):
    return run_module(localhost, "mailtls.postfix.master_cf", config_dir=str(config_dir), **args)


def entry(config_dir, key):
    return postconf("-c", str(config_dir), "-M", key).stdout.split()


def test_add_matches_postconf_m_and_is_idempotent(localhost, config_dir, tmp_path):
    original = (config_dir / "master.cf").read_text()
    result = master(localhost, config_dir, **SUBMISSION)
    assert result["changed"] is True and result["before"] is None
    ours = entry(config_dir, "submission/inet")
    theirs_dir = tmp_path / "theirs"
    theirs_dir.mkdir()
    (theirs_dir / "main.cf").write_text((config_dir / "main.cf").read_text())
    (theirs_dir / "master.cf").write_text(original)
    settle(theirs_dir / "main.cf")
    postconf("-c", str(theirs_dir), "-Me",
             "submission/inet=submission inet n - y - - smtpd -o syslog_name=postfix/submission "
             "-o smtpd_tls_security_level=encrypt -o smtpd_sasl_auth_enable=yes")
    assert ours == entry(theirs_dir, "submission/inet")
    new_text = (config_dir / "master.cf").read_text()
    assert new_text.startswith(original)
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    assert master(localhost, config_dir, **SUBMISSION)["changed"] is False
    assert snapshot(config_dir) == before


def test_hand_written_entry_with_same_meaning_is_untouched(localhost, config_dir):
    text = (config_dir / "master.cf").read_text()
    text += ("submission inet n - y - - smtpd\n  -o syslog_name=postfix/submission\n"
             "# a comment\n     -o smtpd_tls_security_level=encrypt -o smtpd_sasl_auth_enable=yes\n")
    (config_dir / "master.cf").write_text(text)
    assert master(localhost, config_dir, **SUBMISSION)["changed"] is False
    assert (config_dir / "master.cf").read_text() == text


def test_change_option_and_remove(localhost, config_dir):
    master(localhost, config_dir, **SUBMISSION)
    options = dict(SUBMISSION["options"])
    options["smtpd_tls_security_level"] = "may"
    changed = dict(SUBMISSION)
    changed["options"] = options
    result = master(localhost, config_dir, **changed)
    assert result["changed"] is True and "smtpd_tls_security_level=may" in result["after"]
    assert "smtpd_tls_security_level=may" in entry(config_dir, "submission/inet")
    result = master(localhost, config_dir, service="submission", type="inet", state="absent")
    assert result["changed"] is True and entry(config_dir, "submission/inet") == []
    assert master(localhost, config_dir, service="submission", type="inet", state="absent")["changed"] is False


@pytest.mark.parametrize("args, message", [
    ({"service": "bad service", "type": "inet", "command": "smtpd"}, "service: 'bad service' is not a master.cf"),
    ({"service": "submission", "type": "inet", "chroot": "maybe", "command": "smtpd"},
     "chroot: 'maybe' is not a valid chroot field"),
    ({"service": "submission", "type": "inet"}, "command: is required with state=present"),
    ({"service": "submission", "type": "inet", "command": "smtpd", "options": {"a": "two words"}},
     "options: a: 'two words' must not contain a space"),
    ({"service": "submission", "type": "inet", "command": "smtpd", "args": ["has space"]},
     "args: 'has space' must not contain a space"),
])
def test_bad_input_changes_nothing(localhost, config_dir, args, message):
    before = snapshot(config_dir)
    result = master(localhost, config_dir, **args)
    assert result.get("failed") is True and message in result["msg"], result
    assert snapshot(config_dir) == before


def test_options_in_args_are_kept_and_merged(localhost, config_dir):
    args = dict(SUBMISSION)
    args.update(args=["-o", "smtpd_tls_security_level=encrypt", "-osmtpd_tls_auth_only=yes"],
                options={"syslog_name": "postfix/submission", "smtpd_tls_security_level": "encrypt"})
    result = master(localhost, config_dir, **args)
    assert result["changed"] is True, result
    assert entry(config_dir, "submission/inet") == [
        "submission", "inet", "n", "-", "y", "-", "-", "smtpd", "-o", "smtpd_tls_security_level=encrypt",
        "-o", "smtpd_tls_auth_only=yes", "-o", "syslog_name=postfix/submission"]
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    assert master(localhost, config_dir, **args)["changed"] is False
    assert snapshot(config_dir) == before


def test_option_in_args_and_options_with_different_values_is_refused(localhost, config_dir):
    before = snapshot(config_dir)
    result = master(localhost, config_dir, **dict(SUBMISSION, args=["-o", "smtpd_tls_security_level=may"]))
    assert result.get("failed") is True
    assert result["msg"] == ("options: smtpd_tls_security_level is given as 'may' in args and as 'encrypt' "
                             "in options; give it once")
    assert snapshot(config_dir) == before


def _bad(field, value):
    args = dict(SUBMISSION)
    if field == "options":
        args["options"] = {value: "yes"}
    elif field == "options value":
        args["options"] = {"syslog_name": value}
    elif field == "args":
        args["args"] = ["-v", value]
    else:
        args[field] = value
    return args


@pytest.mark.parametrize("field, value, message", [
    ("service", "submission\n", "service: 'submission\\n' is not a master.cf service name"),
    ("service", "-submission", "service: '-submission' is not a master.cf service name"),
    ("private", "n\n", "private: 'n\\n' is not a valid private field"),
    ("unprivileged", "n\r", "unprivileged: 'n\\r' is not a valid unprivileged field"),
    ("chroot", "y\n", "chroot: 'y\\n' is not a valid chroot field"),
    ("wakeup", "60\n", "wakeup: '60\\n' is not a valid wakeup field"),
    ("maxproc", "100\n", "maxproc: '100\\n' is not a valid maxproc field"),
    ("command", "smtpd\n", "command: 'smtpd\\n' must not contain a newline"),
    ("command", "-smtpd", "command: '-smtpd' must not start with '-'"),
    ("args", "-v\t", "args: '-v\\t' must not contain a tab"),
    ("options", "syslog_name\n", "options: 'syslog_name\\n' is not a parameter name"),
    ("options value", "yes\0", "options: syslog_name: 'yes\\x00' must not contain a NUL byte"),
])
def test_bad_field_fails_before_anything_is_written(localhost, config_dir, field, value, message):
    before = snapshot(config_dir)
    result = master(localhost, config_dir, **_bad(field, value))
    assert result.get("failed") is True and result["msg"] == message, result
    assert snapshot(config_dir) == before


def test_bad_type_is_refused_by_the_argument_spec(localhost, config_dir):
    before = snapshot(config_dir)
    args = dict(SUBMISSION)
    args["type"] = "inet\n"
    result = master(localhost, config_dir, **args)
    assert result.get("failed") is True and "value of type must be one of" in result["msg"], result
    assert snapshot(config_dir) == before


@pytest.mark.parametrize("field, value, message", [
    ("service", "submission\n", "service: 'submission\\n'"),
    ("wakeup", "60\n", "wakeup: '60\\n'"),
    ("options", "syslog_name\n", "options: 'syslog_name\\n'"),
    ("command", "smtpd\r", "command: 'smtpd\\r' must not contain a carriage return"),
])
def test_check_diff_of_an_injected_line_shows_nothing(tmp_path, config_dir, field, value, message):
    before = snapshot(config_dir)
    task = {"name": "inject", "mailtls.postfix.master_cf": dict(_bad(field, value), config_dir=str(config_dir))}
    rc, results, output = run_playbook(tmp_path, [task], check=True, diff=True)
    assert rc != 0 and results["inject"]["msg"].startswith(message), output
    assert "diff" not in results["inject"] and "+submission" not in output
    assert snapshot(config_dir) == before
