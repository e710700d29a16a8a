"""master_cf against the real postconf -M / -MX."""

from __future__ import annotations

import pytest
from conftest import postconf, settle
from helpers import run_module, snapshot

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
     "a: a -o value must be one word"),
    ({"service": "submission", "type": "inet", "command": "smtpd", "args": ["has space"]},
     "command: give the command and its arguments as a list of words"),
])
def test_bad_input_changes_nothing(localhost, config_dir, args, message):
    before = snapshot(config_dir)
    result = master(localhost, config_dir, **args)
    assert result.get("failed") is True and message in result["msg"], result
    assert snapshot(config_dir) == before
