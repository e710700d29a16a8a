"""The postconf module against the real Postfix: results, idempotence, warnings and errors."""

from __future__ import annotations

import os
import subprocess

import pytest
from conftest import effective_config, make_config_dir, postconf, settle
from helpers import ROOT, ansible_env, run_module, snapshot

POSTCONF = "mailtls.postfix.postconf"


def postconf_module(localhost, config_dir, **args):
    return run_module(localhost, POSTCONF, config_dir=str(config_dir), **args)


def test_apply_twice_changes_once_and_second_run_touches_nothing(localhost, config_dir):
    first = postconf_module(localhost, config_dir, name="smtp_tls_security_level", value="encrypt")
    assert first["changed"] is True
    assert first["changes"] == {"smtp_tls_security_level": {"before": "may", "after": "encrypt"}}
    assert first["restart_required"] is False
    assert "smtp_tls_security_level = encrypt" in effective_config(config_dir)[0]

    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    second = postconf_module(localhost, config_dir, name="smtp_tls_security_level", value="encrypt")
    assert second["changed"] is False
    assert second["changes"] == {}
    assert snapshot(config_dir) == before, "a no-op run must not write or leave any file"


def test_many_parameters_of_every_type_in_one_call(localhost, config_dir):
    params = {
        "smtp_tls_security_level": "may",            # already so: untouched
        "smtp_tls_loglevel": 1,
        "smtp_tls_note_starttls_offer": True,
        "smtpd_tls_received_header": False,
        "smtp_tls_mandatory_protocols": ["!SSLv2", "!SSLv3", "!TLSv1", "!TLSv1.1"],
        "smtpd_tls_session_cache_timeout": "3600s",
    }
    result = postconf_module(localhost, config_dir, parameters=params)
    assert result["changed"] is True
    assert sorted(result["changes"]) == sorted(set(params) - {"smtp_tls_security_level"})
    lines, unused = effective_config(config_dir)
    for expected in ("smtp_tls_loglevel = 1", "smtp_tls_note_starttls_offer = yes",
                     "smtpd_tls_received_header = no",
                     "smtp_tls_mandatory_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1",
                     "smtpd_tls_session_cache_timeout = 3600s"):
        assert expected in lines
    assert unused == []
    again = postconf_module(localhost, config_dir, parameters=params)
    assert again["changed"] is False


def test_list_already_written_with_spaces_is_not_rewritten(localhost, config_dir):
    text = (config_dir / "main.cf").read_text()
    assert "mynetworks = 127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128\n" in text
    result = postconf_module(localhost, config_dir, name="mynetworks",
                             value=["127.0.0.0/8", "[::ffff:127.0.0.0]/104", "[::1]/128"])
    assert result["changed"] is False
    assert (config_dir / "main.cf").read_text() == text


def test_remove_and_its_idempotence(localhost, config_dir):
    result = postconf_module(localhost, config_dir, parameters=["smtpd_tls_cert_file", "not_there"], state="absent")
    assert result["changed"] is True
    assert result["changes"] == {"smtpd_tls_cert_file": {"before": "/etc/ssl/certs/ssl-cert-snakeoil.pem",
                                                         "after": None}}
    assert not any(line.startswith("smtpd_tls_cert_file") for line in effective_config(config_dir)[0])
    assert postconf_module(localhost, config_dir, name="smtpd_tls_cert_file", state="absent")["changed"] is False


def test_restart_required_for_inet_interfaces(localhost, config_dir):
    wanted = {"inet_interfaces": "loopback-only", "smtp_tls_loglevel": 1}
    result = postconf_module(localhost, config_dir, parameters=wanted)
    assert result["restart_required"] is True
    assert postconf_module(localhost, config_dir, name="smtp_tls_loglevel", value=2)["restart_required"] is False


def test_backup_and_file_attributes(localhost, config_dir):
    result = postconf_module(localhost, config_dir, name="smtp_tls_loglevel", value=1, backup=True, mode="0640")
    assert result["changed"] is True
    backup = result["backup_file"]
    assert os.path.dirname(backup) == str(config_dir)
    assert "smtp_tls_loglevel" not in open(backup).read()
    assert oct(os.stat(config_dir / "main.cf").st_mode & 0o777) == "0o640"
    # Only the mode differs now: that alone is a change, and it does not rewrite the file.
    settle(config_dir / "main.cf")
    content = (config_dir / "main.cf").read_bytes()
    result = postconf_module(localhost, config_dir, name="smtp_tls_loglevel", value=1, mode="0644")
    assert result["changed"] is True and "backup_file" not in result
    assert (config_dir / "main.cf").read_bytes() == content


def test_obsolete_parameter_warns_with_replacement(localhost, config_dir):
    result = postconf_module(localhost, config_dir, name="smtpd_use_tls", value=True)
    assert result["changed"] is True
    assert "smtpd_use_tls is obsolete; use smtpd_tls_security_level = may instead" in result["warnings"]


def test_unknown_parameter_warns(localhost, config_dir):
    result = postconf_module(localhost, config_dir, name="smtp_tls_securty_level", value="may")
    assert result["changed"] is True
    assert any("smtp_tls_securty_level is not a parameter this Postfix knows" in w for w in result["warnings"])


def test_user_defined_parameter_referenced_elsewhere_does_not_warn(localhost, config_dir):
    result = postconf_module(localhost, config_dir, parameters={
        "my_restrictions": "permit_mynetworks, reject",
        "smtpd_relay_restrictions": "$my_restrictions"})
    assert result["changed"] is True
    assert not result.get("warnings")


@pytest.mark.parametrize("args, message", [
    ({"name": "smtp tls", "value": "may"}, "name: 'smtp tls' is not a valid Postfix parameter name"),
    ({"name": "#smtp", "value": "may"}, "name: '#smtp' is not a valid Postfix parameter name"),
    ({"name": "relayhost", "value": "x\nsmtpd_use_tls = yes"},
     "relayhost: the value contains a newline, which main.cf cannot hold"),
    ({"name": "relayhost", "value": "x\0y"}, "relayhost: the value contains a NUL byte"),
    ({"name": "relayhost"}, "relayhost: a value is required with state=present"),
    ({"name": "relayhost", "value": {"a": 1}}, "relayhost: a value must be a string, number, boolean or list"),
    ({"parameters": {"ok": "1", "bad name": "2"}}, "parameters: 'bad name' is not a valid Postfix parameter name"),
    ({"parameters": ["a", "b"]}, "parameters: with state=present, give a mapping of names to values"),
    ({"name": "relayhost", "value": "x", "state": "absent"}, "value: must not be given with state=absent"),
    ({"name": "relayhost", "parameters": {"a": 1}}, "parameters are mutually exclusive: name|parameters"),
    ({"value": "x"}, "one of the following is required: name, parameters"),
])
def test_bad_input_fails_clearly_and_changes_nothing(localhost, config_dir, args, message):
    before = snapshot(config_dir)
    result = postconf_module(localhost, config_dir, **args)
    assert result.get("failed") is True
    assert message in result["msg"]
    assert snapshot(config_dir) == before


def test_missing_config_dir_and_main_cf(localhost, tmp_path):
    result = postconf_module(localhost, tmp_path / "nope", name="relayhost", value="x")
    assert result["failed"] and result["msg"] == "config_dir: %s is not a directory" % (tmp_path / "nope")
    result = postconf_module(localhost, tmp_path, name="relayhost", value="x")
    assert result["failed"] and result["msg"] == "config_dir: %s has no main.cf" % tmp_path
    assert list(tmp_path.iterdir()) == []


def test_postfix_refusing_the_new_file_leaves_it_untouched(localhost, tmp_path):
    # A line without '=' is fatal to postconf: the read-back fails, nothing is written.
    config_dir = make_config_dir(tmp_path / "broken", "myhostname = mx.example.com\nthis line is broken\n")
    before = snapshot(config_dir)
    result = postconf_module(localhost, config_dir, name="relayhost", value="[smarthost]")
    assert result["failed"] is True
    assert "postconf" in result["msg"] and "missing '='" in result["msg"]
    assert snapshot(config_dir) == before


def test_postfix_not_installed(tmp_path, config_dir):
    # Hide postconf in a private mount namespace: the module must say what is missing.
    script = ("mount --bind /dev/null /usr/sbin/postconf && "
              "ansible localhost -i localhost, -c local -m mailtls.postfix.postconf "
              "-a 'name=relayhost value=x config_dir=%s'" % config_dir)
    before = snapshot(config_dir)
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, check=False, env=ansible_env(), cwd=ROOT)
    assert proc.returncode != 0
    assert "postconf not found" in proc.stdout and "the package 'postfix'" in proc.stdout
    assert snapshot(config_dir) == before


def test_non_utf8_bytes_survive_an_edit(localhost, tmp_path):
    raw = b"# Konfiguration f\xfcr den Server (Latin-1)\nmyhostname = mx.example.com\n"
    config_dir = make_config_dir(tmp_path / "latin1", raw.decode("utf-8", "surrogateescape"))
    result = postconf_module(localhost, config_dir, name="relayhost", value="[smart.example.com]")
    assert result["changed"] is True
    assert (config_dir / "main.cf").read_bytes() == raw + b"relayhost = [smart.example.com]\n"


def test_a_bind_mounted_main_cf_is_written_in_place_only_with_unsafe_writes(localhost, config_dir, tmp_path):
    """A container's main.cf may be a bind mount, which rename cannot replace (EBUSY)."""
    source = tmp_path / "mounted-main.cf"
    source.write_bytes((config_dir / "main.cf").read_bytes())
    subprocess.run(["mount", "--bind", str(source), str(config_dir / "main.cf")], check=True)
    try:
        refused = run_module(localhost, "mailtls.postfix.postconf", config_dir=str(config_dir),
                             parameters={"smtp_tls_loglevel": "1"})
        assert refused.get("failed") and "Device or resource busy (a mount point: unsafe_writes=true" \
            in refused["msg"], refused
        assert "smtp_tls_loglevel" not in source.read_text()
        assert not (config_dir / "main.cf.tmp").exists()
        written = run_module(localhost, "mailtls.postfix.postconf", config_dir=str(config_dir),
                             parameters={"smtp_tls_loglevel": "1"}, unsafe_writes=True)
        assert written["changed"] is True, written
        assert "smtp_tls_loglevel = 1" in source.read_text()
        assert not (config_dir / "main.cf.tmp").exists()
        settle(config_dir / "main.cf")
        assert "smtp_tls_loglevel = 1" in effective_config(config_dir)[0]
    finally:
        subprocess.run(["umount", str(config_dir / "main.cf")], check=False)


# Issue 18. Admins append settings at the end of main.cf; postconf then warns
# "line N: overriding earlier entry", and every edit that changes the number of lines
# above the duplicate moves N. The real postconf -e / -X succeed; so must we.
DUPLICATED = ("compatibility_level = 3.6\n"
              "mydestination = localhost,\n"
              "    localhost.localdomain\n"
              "notify_classes = resource\n"
              "notify_classes = resource, software\n")


@pytest.mark.parametrize("args, postconf_args", [
    ({"name": "mydestination", "value": "localhost"}, ["-e", "mydestination=localhost"]),  # two lines become one
    ({"name": "mydestination", "state": "absent"}, ["-X", "mydestination"]),
    ({"parameters": ["compatibility_level", "mydestination"], "state": "absent"},
     ["-X", "compatibility_level", "mydestination"]),
])
def test_an_edit_above_a_duplicate_entry_is_not_refused(localhost, tmp_path, args, postconf_args):
    ours = make_config_dir(tmp_path / "ours", DUPLICATED)
    theirs = make_config_dir(tmp_path / "theirs", DUPLICATED)
    result = postconf_module(localhost, ours, **args)
    assert result.get("failed") is not True and result["changed"] is True, result
    postconf("-c", str(theirs), *postconf_args)
    assert (ours / "main.cf").read_text() == (theirs / "main.cf").read_text()


def test_debian_main_cf_with_an_appended_override_can_be_edited(localhost, config_dir):
    with open(config_dir / "main.cf", "a") as main_cf:
        main_cf.write("smtpd_banner = $myhostname ESMTP\n")
    settle(config_dir / "main.cf")
    assert "overriding earlier entry: smtpd_banner" in postconf("-c", str(config_dir), "-n").stderr
    removed = postconf_module(localhost, config_dir, name="biff", state="absent")
    assert removed.get("failed") is not True and removed["changed"] is True, removed
    result = postconf_module(localhost, config_dir, parameters={
        "mydestination": ["$myhostname", "localhost"], "mailtls_note": "managed"})
    assert result.get("failed") is not True and result["changed"] is True, result
    assert "smtpd_banner = $myhostname ESMTP" in effective_config(config_dir)[0]


def test_a_new_warning_is_still_refused_next_to_a_moved_one(localhost, tmp_path):
    config_dir = make_config_dir(tmp_path / "postfix", DUPLICATED)
    before = snapshot(config_dir)
    result = postconf_module(localhost, config_dir, parameters={
        "mydestination": "localhost", "smtpd_banner": "{ $myhostname ESMTP"})
    assert result["failed"] is True
    hostname = postconf("-c", str(config_dir), "-h", "myhostname").stdout.strip()
    # Only the new warning: the duplicate's, on another line now, is the one Postfix gave before.
    assert result["msg"] == ("postconf warns about the new main.cf: warning: main.cf: missing '}' in "
                             "\"{ %s ESMTP\"; nothing was changed" % hostname)
    assert snapshot(config_dir) == before


@pytest.mark.parametrize("name, control, sneaky", [
    # "missing '}' in ..." quotes the value
    ("smtpd_tls_cert_file", "{/etc/ssl/mail/cert.pem", "{/etc/ssl/deprecated/cert.pem"),
    # "undefined parameter: NAME"
    ("relayhost", "$relay_host_typo", "$obsolete_relay_host"),
])
def test_a_new_warning_is_refused_whatever_words_the_value_holds(tmp_path, name, control, sneaky):
    """Hostile review: a warning whose text held "obsolete", "deprecated" or "will be removed" anywhere
    (in the quoted value, in an undefined parameter's name) was taken for Postfix's obsolete-parameter
    notice and let through."""
    from conftest import debian_main_cf, make_config_dir
    from helpers import snapshot
    from drivers import run_module_process

    for value in (control, sneaky):
        config_dir = make_config_dir(tmp_path / value.strip("{$/").replace("/", "_"), debian_main_cf())
        before = snapshot(config_dir)
        result = run_module_process("postconf", dict(config_dir=str(config_dir), name=name, value=value))[0]
        assert result["failed"] is True and "postconf warns" in result["msg"], result
        assert snapshot(config_dir) == before
