"""Relaying through a smarthost (tls_profile's relay, the tls_relay role) with this machine's Postfix tools.

Real postconf, postmap and `postfix check` on a sandboxed config directory; the probes and
real mail through a SASL relay are the molecule scenario's job (extensions/molecule/tls_relay).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess

import pytest
from conftest import effective_config, postconf, settle
from helpers import run_playbook, snapshot
from relay_helpers import PASSWORD, RELAY, profile, relay_spec

OTHER_PASSWORD = "0ther-s3cret"


def relay_options(config_dir):
    """The -o options of the relay's master.cf transport, as postconf reads them."""
    found = postconf("-c", str(config_dir), "-P", "relay-tls/unix").stdout.split("\n")
    options = []
    for line in filter(None, found):
        name, _sep, value = line.split("/", 2)[2].partition(" =")
        options.append("%s=%s" % (name, value.strip()))
    return options


def world_readable_with(directory, secret):
    """Files under ``directory`` that others may read and that hold ``secret``."""
    found = []
    for root, _dirs, files in os.walk(str(directory)):
        for name in files:
            path = os.path.join(root, name)
            if os.stat(path).st_mode & stat.S_IROTH and secret.encode() in open(path, "rb").read():
                found.append(path)
    return found


def postmap_query(table, key):
    return subprocess.run(["postmap", "-q", key, table], capture_output=True, text=True, check=False).stdout.strip()


def test_relay_with_credentials_then_rerun_changes_nothing(config_dir):
    settle(config_dir / "main.cf")
    pristine = snapshot(config_dir)
    predicted, output = profile(config_dir, relay_spec(config_dir), check=True)
    assert predicted["changed"] is True and PASSWORD not in output
    assert snapshot(config_dir) == pristine, "check mode wrote nothing"

    result, output = profile(config_dir, relay_spec(config_dir))
    assert result["changed"] is True and not result.get("failed"), output
    assert PASSWORD not in output, "the password is in no result, diff or warning"
    assert result["main_cf"]["changes"] == predicted["main_cf"]["changes"], "check mode predicted the run"
    assert result["password_table"]["added"] == [RELAY]
    assert result["relay"] == {"state": "present", "relayhost": RELAY, "senders": [], "destinations": [],
                               "removed_files": []}
    lines = effective_config(config_dir)[0]
    assert "relayhost = %s" % RELAY in lines and "default_transport = relay-tls" in lines
    # The level and the SASL client bind the relay's transport only: main.cf offers the password
    # to no other server, and no policy table can lower the level (its maps are emptied).
    assert not [line for line in lines if line.startswith(("smtp_sasl", "smtp_sender", "smtp_tls_CAfile"))], lines
    assert sorted(relay_options(config_dir)) == sorted([
        "smtp_tls_security_level=secure", "smtp_tls_policy_maps=", "smtp_fallback_relay=",
        "smtp_tls_CAfile=/etc/ssl/certs/ca-certificates.crt", "smtp_tls_CApath=", "smtp_tls_trust_anchor_file=",
        "tls_append_default_CA=no", "smtp_tls_secure_cert_match=nexthop,dot-nexthop", "smtp_sasl_auth_enable=yes",
        "smtp_sasl_password_maps=hash:%s/sasl_passwd" % config_dir,
        "smtp_sasl_security_options=noplaintext,noanonymous", "smtp_sasl_tls_security_options=noanonymous"])
    assert not (config_dir / "tls_policy").exists()
    for name in ("sasl_passwd", "sasl_passwd.db"):
        assert stat.S_IMODE(os.stat(str(config_dir / name)).st_mode) == 0o600, name
    assert postmap_query("hash:%s/sasl_passwd" % config_dir, RELAY) == "mailer@example.org:%s" % PASSWORD
    assert world_readable_with(config_dir, PASSWORD) == []
    assert not (config_dir / "sender_relay").exists()

    settle(config_dir / "main.cf")
    applied = snapshot(config_dir)
    for check in (True, False):
        again, output = profile(config_dir, relay_spec(config_dir), check=check)
        assert again["changed"] is False, output
        assert again["password_table"]["postmap_run"] is False and again["reloaded"] is False
    assert snapshot(config_dir) == applied, "the no-op wrote no file"


def test_a_new_password_is_a_masked_change(config_dir):
    profile(config_dir, relay_spec(config_dir))
    result, output = profile(config_dir, relay_spec(config_dir, password=OTHER_PASSWORD))
    assert result["changed"] is True and result["password_table"]["updated"] == [RELAY]
    assert PASSWORD not in output and OTHER_PASSWORD not in output
    assert "%s ********" % RELAY in json.dumps(result["diff"])
    assert postmap_query("hash:%s/sasl_passwd" % config_dir, RELAY).endswith(":" + OTHER_PASSWORD)


def test_smtps_on_465_is_the_relay_transports_only(config_dir):
    result, output = profile(config_dir, relay_spec(config_dir, port=465))
    assert result["changed"] is True, output
    lines = effective_config(config_dir)[0]
    assert "relayhost = [smtp.relay.test]:465" in lines and "default_transport = relay-tls" in lines
    assert not [line for line in lines if line.startswith("smtp_tls_wrappermode")], "no other delivery uses SMTPS"
    assert "smtp_tls_wrappermode=yes" in relay_options(config_dir)
    # Back to 587: STARTTLS again.
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result["changed"] is True, output
    assert "smtp_tls_wrappermode=yes" not in relay_options(config_dir)
    assert "relayhost = %s" % RELAY in effective_config(config_dir)[0]


def test_no_policy_entry_or_later_declaration_weakens_the_relay(config_dir):
    """The relay's level is its transport's own: a weaker policy entry for its next hop, from a
    later declaration or already in the host's table, is never read for relay mail."""
    spec = relay_spec(config_dir)
    later = [{"policy_table": {"path": str(config_dir / "tls_policy"), "maps": "only",
                               "policies": [{"destination": RELAY, "level": "may"}]}}]
    result, output = profile(config_dir, spec, declarations=later)
    assert result["changed"] is True, output
    assert (config_dir / "tls_policy").read_text() == "%s may\n" % RELAY
    assert {"smtp_tls_security_level=secure", "smtp_tls_policy_maps="} <= set(relay_options(config_dir))


def test_sender_relays_with_their_own_credentials(config_dir):
    spec = relay_spec(config_dir, sender_relays=[
        {"sender": "@Other.example", "host": "relay.other.test", "username": "other", "password": OTHER_PASSWORD},
        {"sender": "alerts@example.org", "host": "relay.alerts.test", "port": 2525}])
    result, output = profile(config_dir, spec)
    assert result["changed"] is True and OTHER_PASSWORD not in output, output
    lines = effective_config(config_dir)[0]
    assert "sender_dependent_relayhost_maps = hash:%s/sender_relay" % config_dir in lines
    assert "smtp_sender_dependent_authentication=yes" in relay_options(config_dir)
    assert (config_dir / "sender_relay").read_text() == (
        "@other.example [relay.other.test]:587\nalerts@example.org [relay.alerts.test]:2525\n")
    assert postmap_query("hash:%s/sasl_passwd" % config_dir, "@other.example") == "other:" + OTHER_PASSWORD
    assert world_readable_with(config_dir, OTHER_PASSWORD) == []
    # Without sender relays, their table goes.
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result["relay"]["removed_files"] == [str(config_dir / "sender_relay"), str(config_dir / "sender_relay.db")]
    assert not (config_dir / "sender_relay").exists()
    assert "sender_dependent_relayhost_maps" not in "\n".join(effective_config(config_dir)[0])
    assert "smtp_sender_dependent_authentication=yes" not in relay_options(config_dir)


def test_only_some_destinations_through_the_relay(config_dir):
    postconf("-c", str(config_dir), "-e", "transport_maps = hash:%s/transport" % config_dir)
    result, output = profile(config_dir, relay_spec(config_dir, destinations=["partner.example", ".partner.example"]))
    assert result["changed"] is True and result["relay"]["destinations"] == [".partner.example", "partner.example"]
    lines = effective_config(config_dir)[0]
    assert "transport_maps = hash:%s/relay_transport, hash:%s/transport" % (config_dir, config_dir) in lines
    assert "relayhost = [" not in "\n".join(lines)
    table = "hash:%s/relay_transport" % config_dir
    assert postmap_query(table, "partner.example") == postmap_query(table, ".partner.example") == "relay-tls:" + RELAY
    assert "default_transport" not in "\n".join(lines), "other mail goes as before"
    assert postmap_query("hash:%s/sasl_passwd" % config_dir, RELAY).startswith("mailer@example.org:")
    # All mail through the relay again: the transport table and its place in transport_maps go.
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result["relay"]["removed_files"] == [str(config_dir / "relay_transport"),
                                                str(config_dir / "relay_transport.db")], output
    lines = effective_config(config_dir)[0]
    assert "transport_maps = hash:%s/transport" % config_dir in lines and "relayhost = %s" % RELAY in lines


def test_turning_the_relay_off_removes_credentials_and_parameters(config_dir):
    profile(config_dir, relay_spec(config_dir, port=465))
    settle(config_dir / "main.cf")
    applied = snapshot(config_dir)
    absent = {"state": "absent", "password_table": str(config_dir / "sasl_passwd"),
              "sender_table": str(config_dir / "sender_relay"), "transport_table": str(config_dir / "relay_transport")}
    predicted, _output = profile(config_dir, absent, check=True)
    assert snapshot(config_dir) == applied
    result, output = profile(config_dir, absent)
    assert result["changed"] is True, output
    assert result["relay"]["removed_files"] == predicted["relay"]["removed_files"] == [
        str(config_dir / "sasl_passwd"), str(config_dir / "sasl_passwd.db")]
    assert sorted(result["main_cf"]["changes"]) == sorted(predicted["main_cf"]["changes"]) == [
        "default_transport", "relayhost"]
    assert result["master_cf"] == predicted["master_cf"]
    assert not (config_dir / "sasl_passwd").exists() and not (config_dir / "sasl_passwd.db").exists()
    assert postconf("-c", str(config_dir), "-M", "relay-tls/unix").stdout.strip() == ""
    again, _output = profile(config_dir, absent)
    assert again["changed"] is False and again["relay"]["removed_files"] == []


def test_absent_on_a_host_without_a_relay_changes_nothing(config_dir):
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result, output = profile(config_dir, {"state": "absent", "password_table": str(config_dir / "sasl_passwd"),
                                          "sender_table": str(config_dir / "sender_relay"),
                                          "transport_table": str(config_dir / "relay_transport")})
    assert result["changed"] is False, output
    assert snapshot(config_dir) == before, "no policy table, no maps appear"


@pytest.mark.parametrize("overrides, option, problem", [
    ({"level": "may"}, "relay.level", "clear text"),
    ({"level": "none"}, "relay.level", "clear text"),
    ({"port": 465, "level": "may", "allow_password_without_tls": True}, "relay.level", "SMTPS"),
    ({"password": " leading"}, "relay.password", "starts or ends with a space"),
    ({"password": "trailing "}, "relay.password", "starts or ends with a space"),
    ({"password": "two\nlines"}, "relay.password", "control character"),
    ({"password": "tab\there"}, "relay.password", "control character"),
    ({"username": "a:b"}, "relay.username", "':'"),
    ({"username": None}, "relay.username", "together"),
    ({"host": "smtp.relay.test:587"}, "relay.host", "the port is its own option"),
    ({"host": ""}, "relay.host", "required"),
    ({"port": 0}, "relay.port", "not a TCP port"),
    ({"mechanisms": ["PLAIN LOGIN"]}, "relay.mechanisms", "not a SASL mechanism"),
    ({"sasl_tls_security_options": ["noplain"]}, "relay.sasl_tls_security_options", "not a SASL security option"),
    ({"password_table": "sasl_passwd"}, "relay.password_table", "not an absolute path"),
    ({"ca_file": "/etc/ssl/certs/no-such-bundle.crt"}, "relay.ca_file", "does not exist"),
    ({"sender_relays": [{"sender": "no-at-sign", "host": "r.test"}]}, "relay.sender_relays[0].sender",
     "not a sender address"),
])
def test_bad_input_names_the_option_and_changes_nothing(config_dir, overrides, option, problem):
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result, output = profile(config_dir, relay_spec(config_dir, **overrides))
    assert result.get("failed") is True, output
    assert result["msg"].startswith(option + ":") and problem in result["msg"], result["msg"]
    for secret in (PASSWORD, "leading", "trailing", "two\nlines", "tab\there"):
        assert secret not in result["msg"]
    assert snapshot(config_dir) == before


def test_weaker_levels_are_warned_about(config_dir):
    result, output = profile(config_dir, relay_spec(config_dir, level="encrypt"))
    # ansible-core 2.19 returns warnings as objects when a module runs without a controller.
    assert result["changed"] is True and "does not authenticate the relay" in json.dumps(result["warnings"])
    result, output = profile(config_dir, relay_spec(config_dir, level="may", allow_password_without_tls=True))
    assert "clear text" in json.dumps(result["warnings"]), output
    assert "smtp_tls_security_level=may" in relay_options(config_dir)
    assert PASSWORD not in output


def test_two_relays_for_one_host_are_refused(config_dir):
    result, _output = profile(config_dir, relay_spec(config_dir),
                              declarations=[{"relay": relay_spec(config_dir, host="other.relay.test")}])
    assert result["failed"] and result["msg"].startswith("declarations[0].relay: two profiles declare a relay")


def test_a_symlink_at_the_password_table_is_replaced_never_followed(tmp_path, config_dir):
    target = tmp_path / "elsewhere"
    target.write_text("")
    os.chmod(str(target), 0o644)
    os.symlink(str(target), str(config_dir / "sasl_passwd"))
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result["changed"] is True, output
    assert target.read_text() == "", "the link's target was not written"
    table = config_dir / "sasl_passwd"
    assert not table.is_symlink() and stat.S_IMODE(table.stat().st_mode) == 0o600


def test_an_earlier_group_readable_password_table_becomes_0600(config_dir):
    (config_dir / "sasl_passwd").write_text("[old.relay.test]:587 old:secret\n")
    os.chmod(str(config_dir / "sasl_passwd"), 0o644)
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result["changed"] is True and result["password_table"]["removed"] == ["[old.relay.test]:587"], output
    for name in ("sasl_passwd", "sasl_passwd.db"):
        assert stat.S_IMODE(os.stat(str(config_dir / name)).st_mode) == 0o600, name
    assert "old:secret" not in output


def test_the_role_never_shows_the_password(tmp_path, config_dir):
    role_vars = dict(server_config_dir=str(config_dir), server_manage_packages=False, server_manage_service=False,
                     tls_relay_host="smtp.relay.test", tls_relay_username="mailer@example.org",
                     tls_relay_password=PASSWORD, tls_relay_password_table=str(config_dir / "sasl_passwd"),
                     tls_relay_sender_table=str(config_dir / "sender_relay"), tls_relay_preflight="skip",
                     tls_relay_transport_table=str(config_dir / "relay_transport"),
                     tls_relay_sender_relays=[{"sender": "@other.example", "host": "relay.other.test",
                                               "username": "other", "password": OTHER_PASSWORD}])
    task = {"name": "relay", "ansible.builtin.include_role": {"name": "mailtls.postfix.tls_relay"}, "vars": role_vars}
    rc, _results, output = run_playbook(tmp_path, [task], check=True, diff=True, extra_args=["-vvvv"])
    assert rc == 0 and PASSWORD not in output and OTHER_PASSWORD not in output, output
    rc, _results, output = run_playbook(tmp_path, [task], diff=True, extra_args=["-vvvv"])
    assert rc == 0 and re.search(r"\bchanged=1 ", output), output
    assert PASSWORD not in output and OTHER_PASSWORD not in output
    assert "relayhost = [smtp.relay.test]:587" in effective_config(config_dir)[0]
    settle(config_dir / "main.cf")
    applied = snapshot(config_dir)
    rc, _results, output = run_playbook(tmp_path, [task], extra_args=["-vvvv"])
    assert rc == 0 and "changed=0" in output and PASSWORD not in output, output
    assert snapshot(config_dir) == applied
    assert world_readable_with(config_dir, PASSWORD) == [] and world_readable_with(config_dir, OTHER_PASSWORD) == []


def test_nothing_is_applied_while_a_package_the_state_needs_is_missing(config_dir):
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result, output = profile(config_dir, relay_spec(config_dir), packages=["mailtls-no-such-package"])
    assert result["applied"] is False and result["changed"] is False, output
    assert result["missing_packages"] == ["mailtls-no-such-package"]
    assert snapshot(config_dir) == before
    # Check mode plans the state all the same, so that a check of a fresh host predicts the run.
    result, output = profile(config_dir, relay_spec(config_dir), check=True, packages=["mailtls-no-such-package"])
    assert result["applied"] is True and result["changed"] is True, output
    assert snapshot(config_dir) == before


@pytest.mark.parametrize("level", ["secure", "verify"])
def test_a_missing_ca_file_is_refused_only_where_the_relay_trusts_it(config_dir, level):
    """relay-tls reads ca_file as its only trust anchor at the verified levels: a missing file fails every
    delivery ("cannot load Certification Authority data"); at encrypt it is never read, so never refused."""
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    missing = str(config_dir / "no-such-ca.pem")
    for check in (True, False):
        result, output = profile(config_dir, relay_spec(config_dir, level=level, ca_file=missing), check=check)
        assert result.get("failed") is True, output
        assert result["msg"].startswith("relay.ca_file:") and missing in result["msg"], result["msg"]
        assert "nothing was changed" in result["msg"]
    assert snapshot(config_dir) == before
    result, output = profile(config_dir, relay_spec(config_dir, level="encrypt", ca_file=missing))
    assert result.get("failed") is not True, output
