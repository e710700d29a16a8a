"""Adversarial tests of the relay (tls_profile's ``relay``, role tls_relay) and of the fast table path.

Each test names the claim it attacks:

1. the password never shows (results, diffs, warnings, errors, files others can read), and the
   password table and its index are 0600 from the first byte on, whatever lies at their paths;
2. bad input gets a clear error naming the option, and nothing on disk changes;
3. a password is stored so that ``postmap -q`` returns exactly ``username:password``;
4. no silent TLS downgrade of the relay's next hop;
5. removal removes the relay's things and nothing else; check mode predicts the run;
6. the fast table reader and the batch key check behave as the general grammar and check_key,
   and the read-back never accepts an index that differs from what was asked;
7. a second identical run changes nothing.

Tests that fail show a defect; those that pass keep the claim from regressing. Everything runs
against real postconf/postmap/postfix check on a sandboxed config directory; never /etc/postfix.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import settle
from relay_helpers import PASSWORD, RELAY, USERNAME, absent_spec, profile, relay_spec
from drivers import run_module_process as run
from helpers import ansible_env, snapshot
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model import table as table_module
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.lines import split_list
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.table import LookupTable


# --- helpers -----------------------------------------------------------------------------


def postmap_q(config_dir, table, key):
    """(rc, value) of ``postmap -c config_dir -q key table``, bytes kept as surrogates."""
    proc = subprocess.run(["postmap", "-c", str(config_dir), "-q", key, table], capture_output=True, check=False,
                          env=dict(os.environ, LANG="C", LC_ALL="C"))
    return proc.returncode, proc.stdout.decode("utf-8", "surrogateescape").rstrip("\n")


def parameter(config_dir, name):
    settle(Path(config_dir) / "main.cf")
    return subprocess.run(["postconf", "-c", str(config_dir), "-h", name], capture_output=True, text=True,
                          check=True).stdout.strip()


def failed_cleanly(result, option):
    """A JSON result that failed with a message starting with the option's name."""
    return result is not None and result.get("failed") is True and result["msg"].startswith(option + ":")


# --- claim 4: no silent downgrade ---------------------------------------------------------

def relay_transport_options(config_dir):
    """The -o options of relay-tls, the transport every relay delivery takes, as postconf reads them."""
    out = subprocess.run(["postconf", "-c", str(config_dir), "-P", "relay-tls/unix"], capture_output=True,
                         text=True, check=True).stdout
    options = {}
    for line in filter(None, out.split("\n")):
        name, _sep, value = line.split("/", 2)[2].partition(" =")
        options[name] = value.strip()
    return options


def test_a_later_declaration_cannot_weaken_the_relays_level(config_dir):
    """Claim 4 (found: a later declaration's ``may`` entry for the relay's next hop replaced the
    relay's ``secure`` entry, silently, bypassing allow_password_without_tls). The relay's level
    now lives on its own transport, whose policy maps are emptied: whatever a policy table says
    for its next hop, relay mail is sent at ``secure``."""
    later = {"policy_table": {"path": str(config_dir / "tls_policy"),
                              "policies": [{"destination": RELAY, "level": "may"}]}}
    for downgrade in (True, False):
        result, output = profile(config_dir, relay_spec(config_dir), downgrade=downgrade, declarations=[later])
        assert result is not None and not result.get("failed"), output
        options = relay_transport_options(config_dir)
        assert options["smtp_tls_security_level"] == "secure" and options["smtp_tls_policy_maps"] == ""
        assert parameter(config_dir, "default_transport") == "relay-tls"


def test_a_master_cf_override_of_the_smtp_service_does_not_reach_relay_mail(config_dir):
    """Claim 4 (found: master.cf's smtp service with ``-o smtp_tls_policy_maps=`` and
    ``-o smtp_tls_security_level=may`` carried relayhost mail without the relay's level). Relay
    mail now takes relay-tls (default_transport), whose own -o options set the level."""
    master = config_dir / "master.cf"
    line = "smtp      unix  -       -       y       -       -       smtp\n"
    text = master.read_text()
    assert line in text
    master.write_text(text.replace(line, line + "  -o smtp_tls_policy_maps=\n  -o smtp_tls_security_level=may\n", 1))
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result is not None and not result.get("failed"), output
    assert parameter(config_dir, "default_transport") == "relay-tls"
    assert relay_transport_options(config_dir)["smtp_tls_security_level"] == "secure"


def test_a_weaker_entry_in_a_policy_table_is_never_read_for_relay_mail(config_dir):
    """Claim 4 (held). main.cf lists a policy table with ``may`` for the relay's next hop: relay-tls
    reads no policy table, so ``secure`` applies."""
    weak = config_dir / "weak_policy"
    weak.write_text("%s may\n" % RELAY)
    subprocess.run(["postmap", "-c", str(config_dir), "hash:%s" % weak], check=True)
    with open(str(config_dir / "main.cf"), "a") as handle:
        handle.write("smtp_tls_policy_maps = hash:%s\n" % weak)
    settle(config_dir / "main.cf")
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result["changed"] and not result.get("failed"), output
    assert parameter(config_dir, "smtp_tls_policy_maps") == "hash:%s" % weak, "the host's maps are left alone"
    options = relay_transport_options(config_dir)
    assert options["smtp_tls_policy_maps"] == "" and options["smtp_tls_security_level"] == "secure"


# --- claim 5: removal touches only the relay's files ------------------------------------------

def test_a_sender_table_option_naming_master_cf_never_deletes_it(config_dir):
    """Claim 5. A relay without sender relays deletes whatever lies at ``sender_table`` (its
    tables with no entries go). Pointed (by a typo, or a variable mix-up) at master.cf, the run
    reports success and master.cf is gone: Postfix no longer starts. Files this call also
    writes or reads as Postfix's configuration must never be removed (refused as
    _refuse_one_file_twice refuses them for written tables)."""
    result, output = profile(config_dir, relay_spec(config_dir, sender_table=str(config_dir / "master.cf")))
    assert (config_dir / "master.cf").exists(), "master.cf deleted; result: %s" % (result or output)[:400]


def test_absent_with_password_table_naming_main_cf_never_deletes_it(config_dir):
    """Claim 5. ``state=absent`` deletes the files at password_table (and its index). Pointed at
    main.cf, it deletes main.cf itself right after writing it, and reports success."""
    result, output = profile(config_dir, absent_spec(config_dir, password_table=str(config_dir / "main.cf")))
    assert (config_dir / "main.cf").exists(), "main.cf deleted; result: %s" % (result or output)[:400]


def test_a_transport_table_option_naming_the_policy_table_never_deletes_it(config_dir):
    """Claim 5 (found: a relay without destinations deleted whatever lay at transport_table, the
    host's policy table included, while main.cf named it). A table main.cf or master.cf names
    stays, with a warning; one this call writes is refused."""
    forced = {"policy_table": {"path": str(config_dir / "tls_policy"), "policies": [
        {"destination": "partner.test", "level": "encrypt"}]}, "preflight": {"mode": "skip"}}
    result, output = profile(config_dir, relay_spec(config_dir), declarations=[forced])
    assert result["changed"], output
    result, output = profile(config_dir, relay_spec(config_dir, transport_table=str(config_dir / "tls_policy")))
    assert result.get("failed") or (config_dir / "tls_policy.db").exists(), (
        "the policy table was deleted: %s" % result.get("relay"))
    assert postmap_q(config_dir, "hash:%s/tls_policy" % config_dir, "partner.test")[1] == "encrypt"
    result, output = profile(config_dir, relay_spec(config_dir, transport_table=str(config_dir / "tls_policy")),
                             declarations=[forced])
    assert result.get("failed") or not result["relay"]["removed_files"], output
    assert postmap_q(config_dir, "hash:%s/tls_policy" % config_dir, "partner.test")[1] == "encrypt"
    # Given destinations, the same path is written twice in one call: refused.
    result, output = profile(config_dir, relay_spec(config_dir, transport_table=str(config_dir / "tls_policy"),
                                                    destinations=["example.net"]), declarations=[forced])
    assert result.get("failed") is True and "each file is one thing" in result["msg"], output


def test_check_mode_predicts_each_step_and_writes_nothing(config_dir):
    """Claim 5 and 7 (held). For present, a password change, SMTPS, destinations, absent and a
    no-op absent: check mode writes nothing and returns what the real run returns; a repeated
    identical run changes nothing."""
    steps = [relay_spec(config_dir, sender_relays=[{"sender": "@other.example", "host": "relay.other.test",
                                                    "username": "other", "password": "0ther-s3cret"}]),
             relay_spec(config_dir, password="n3w password"),
             relay_spec(config_dir, port=465),
             relay_spec(config_dir, destinations=["example.net", ".example.net"]),
             absent_spec(config_dir),
             absent_spec(config_dir)]
    for index, spec in enumerate(steps):
        settle(config_dir / "main.cf")
        before = snapshot(config_dir)
        predicted, output = profile(config_dir, spec, check=True)
        assert snapshot(config_dir) == before, "step %d: check mode wrote" % index
        result, output = profile(config_dir, spec)
        assert not result.get("failed"), output
        for name in set(predicted) | set(result):
            if name not in ("invocation",):
                assert predicted.get(name) == result.get(name), "step %d: %s" % (index, name)
        assert "0ther-s3cret" not in output and PASSWORD not in output and "n3w password" not in output
    assert not result["changed"]


# --- claim 1: the password never shows, 0600 from the first byte ----------------------------

def test_a_leftover_temporary_others_could_read_never_receives_the_password(config_dir):
    """Claim 1. ``sasl_passwd.tmp`` is left over (a crash, an earlier non-secret table) as a
    root-owned 0644 file. A local user opens it for reading while it is 0644 and keeps the
    descriptor. EditLock reuses that inode (it only chmods it before writing), so the password is
    written into a file the user already holds open, and renamed into place as the table: the
    user reads the password. A secret table must be written to a fresh inode nobody else has
    open (remove a leftover whose mode was wider than 0600)."""
    leftover = config_dir / "sasl_passwd.tmp"
    leftover.write_text("leftover\n")
    os.chmod(str(leftover), 0o644)
    with open(str(leftover), "rb") as spy:
        result, output = profile(config_dir, relay_spec(config_dir))
        assert result["changed"], output
        spy.seek(0)
        seen = spy.read()
    assert PASSWORD.encode() not in seen, "read through a descriptor opened while the file was 0644: %r" % seen


def test_commented_credentials_in_the_password_table_never_show_in_the_diff(config_dir):
    """Claim 1. An admin's hand-written sasl_passwd keeps the previous credentials commented out
    (``#[relay]:587 user:old-password``). The diff of the secret table masks values of entries
    but prints comment lines verbatim, so ``--diff`` shows the old password to the controller's
    log. A secret table's diff must not show comment text (or must mask it)."""
    (config_dir / "sasl_passwd").write_text("#%s %s:0ld-Secret-1\n%s %s:Current-Secret-2\n"
                                            % (RELAY, USERNAME, RELAY, USERNAME))
    os.chmod(str(config_dir / "sasl_passwd"), 0o600)
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result["changed"], output
    assert "Current-Secret-2" not in output
    assert "0ld-Secret-1" not in output, "the diff shows the commented-out password"


@pytest.mark.parametrize("name, kind", [
    ("sasl_passwd.tmp", "symlink"), ("sasl_passwd.tmp", "fifo"), ("sasl_passwd.tmp", "hardlink"),
])
def test_a_link_or_fifo_at_the_temporary_is_refused_before_any_write(tmp_path, config_dir, name, kind):
    """Claim 1 and 2 (held). A symlink, FIFO or hard link at the table's temporary is refused by
    the rehearsal, before any file changes, and the link's target is never written."""
    target = tmp_path / "target"
    target.write_text("t\n")
    os.chmod(str(target), 0o644)
    path = config_dir / name
    {"symlink": lambda: os.symlink(str(target), str(path)), "fifo": lambda: os.mkfifo(str(path)),
     "hardlink": lambda: os.link(str(target), str(path))}[kind]()
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result["failed"] and "sasl_passwd.tmp" in result["msg"], output
    assert snapshot(config_dir) == before and target.read_text() == "t\n"
    assert PASSWORD not in output


@pytest.mark.parametrize("kind", ["symlink", "fifo", "hardlink"])
def test_a_link_or_fifo_at_the_temporary_index_is_replaced_never_followed(tmp_path, config_dir, kind):
    """Claim 1 (held). At ``sasl_passwd.tmp.db`` a symlink, FIFO or hard link is removed, not
    followed: its target keeps its bytes and the table and index end up 0600."""
    target = tmp_path / "target"
    target.write_text("t\n")
    os.chmod(str(target), 0o644)
    path = config_dir / "sasl_passwd.tmp.db"
    {"symlink": lambda: os.symlink(str(target), str(path)), "fifo": lambda: os.mkfifo(str(path)),
     "hardlink": lambda: os.link(str(target), str(path))}[kind]()
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result["changed"] and not result.get("failed"), output
    assert target.read_text() == "t\n" and not os.path.lexists(str(path))
    for name in ("sasl_passwd", "sasl_passwd.db"):
        assert stat.S_IMODE(os.lstat(str(config_dir / name)).st_mode) == 0o600
    assert postmap_q(config_dir, "hash:%s/sasl_passwd" % config_dir, RELAY)[1] == "%s:%s" % (USERNAME, PASSWORD)


# --- claim 2: bad input -> a clear error naming the option, nothing changed ---------------------

@pytest.mark.parametrize("overrides, option", [
    ({"password": "ab\ud800cd"}, "relay.password"),
    ({"password": "ab\udcffcd"}, "relay.password"),
    ({"username": "u\ud800"}, "relay.username"),
    ({"sender_relays": [{"sender": "a\udcff@other.example", "host": "relay.other.test"}]},
     "relay.sender_relays[0].sender"),
])
def test_surrogates_are_refused_before_any_write(config_dir, overrides, option):
    """Claim 2. A lone surrogate (``\\ud800``) or a non-UTF-8 escape (``\\udcff``) in the password,
    username or a sender passes every check: the run writes the policy table first, then crashes
    with a UnicodeEncodeError traceback (no result at all) or fails the read-back with a message
    that names no option and says "nothing was changed" while tls_policy was just written."""
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result, output = profile(config_dir, relay_spec(config_dir, **overrides))
    assert result is not None, "no result, a traceback: %s" % output[-300:]
    assert failed_cleanly(result, option), result.get("msg")
    assert snapshot(config_dir) == before, "files changed: %s" % sorted(os.listdir(str(config_dir)))


@pytest.mark.parametrize("overrides, option", [
    ({"sender_relays": [{"sender": "#alerts@other.example", "host": "relay.other.test"}]},
     "relay.sender_relays[0].sender"),
    ({"table_type": "regexp"}, "relay.table_type"),
])
def test_errors_name_the_option_the_user_gave(config_dir, overrides, option):
    """Claim 2. A sender starting with '#' (a comment line in the sender table) and a pattern
    table type are refused, but the message blames ``entries:`` (an option tls_profile does not
    have), not the relay option that holds the bad value."""
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result, output = profile(config_dir, relay_spec(config_dir, **overrides))
    assert snapshot(config_dir) == before
    assert failed_cleanly(result, option), result.get("msg")


@pytest.mark.parametrize("name", ["pass words", "pass,words"])
def test_a_table_path_with_a_list_separator_is_refused_or_listed_whole(config_dir, name):
    """Claim 2. ``password_table`` with a space or a comma is written there, but main.cf gets
    ``smtp_sasl_password_maps = hash:/dir/pass words``, which Postfix splits into two maps
    (``hash:/dir/pass`` and ``words``): neither is the table written, SASL lookups fail, yet the
    run passes ``postfix check`` and reports success. It must be refused naming the option."""
    path = str(config_dir / name)
    result, output = profile(config_dir, relay_spec(config_dir, password_table=path))
    if result.get("failed"):
        assert result["msg"].startswith("relay.password_table:"), result["msg"]
        return
    maps = split_list(parameter(config_dir, "smtp_sasl_password_maps"))
    assert maps == ["hash:" + path], "Postfix reads the maps %r, the table written is %s" % (maps, path)


def test_a_stale_berkeley_db_temporary_fails_before_any_write(config_dir):
    """Claim 2 and 5. A postmap killed mid-run leaves ``__db.sasl_passwd.tmp.db`` (Berkeley DB's
    own temporary) behind. Every later run fails in postmap, but only after the policy table was
    written: the rehearsal (check mode) never runs postmap, so "everything is checked before the
    first write" does not hold. Either the leftover is handled, or nothing may change."""
    (config_dir / "__db.sasl_passwd.tmp.db").write_text("stale")
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result, output = profile(config_dir, relay_spec(config_dir))
    assert PASSWORD not in output
    if result.get("failed"):
        assert snapshot(config_dir) == before, "failed after writing: %s" % sorted(os.listdir(str(config_dir)))
    else:
        assert postmap_q(config_dir, "hash:%s/sasl_passwd" % config_dir, RELAY)[1] == "%s:%s" % (USERNAME, PASSWORD)


def test_a_password_table_holding_a_tab_and_a_unicode_space_line_gets_a_result(config_dir):
    """Claim 2 and 6. An existing password table with a tab (so the general grammar reads it) and
    a line holding only U+00A0 (which Postfix reads as a key without value, skipped) makes the
    general reader crash: ``str.split()`` treats U+00A0 as whitespace where Postfix does not, and
    ``split(None, 1)[0]`` raises IndexError. The module prints a traceback instead of a result."""
    (config_dir / "sasl_passwd").write_text("[old.relay.test]:587\told:secret\n\u00a0\n")
    os.chmod(str(config_dir / "sasl_passwd"), 0o600)
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result is not None, "no result, a traceback: %s" % output[-400:]
    assert "old:secret" not in output and PASSWORD not in output


@pytest.mark.parametrize("overrides, option", [
    ({"password": "a\0b"}, "relay.password"),
    ({"password": "a\x0bb"}, "relay.password"),
    ({"password": "ab\x0c"}, "relay.password"),
    ({"password": "two\rlines"}, "relay.password"),
    ({"username": "u\0v"}, "relay.username"),
    ({"username": "u\u00a0"}, "relay.username"),
    ({"username": "u\nv"}, "relay.username"),
    ({"host": "smtp.relay.test\nrelayhost = [evil.test]"}, "relay.host"),
    ({"host": "smtp\0.relay.test"}, "relay.host"),
    ({"host": "a" * 100000 + ".test"}, "relay.host"),
    ({"host": "a.test,b.test"}, "relay.host"),
    ({"host": "$myhostname"}, "relay.host"),
    ({"host": "[2001:db8::1]"}, "relay.host"),
    ({"port": 70000}, "relay.port"),
    ({"mechanisms": ["PLAIN\n"]}, "relay.mechanisms"),
    ({"mechanisms": ["PLA\u0130N"]}, "relay.mechanisms"),
    ({"sasl_security_options": ["noplaintext\n"]}, "relay.sasl_security_options"),
    ({"sender_relays": [{"sender": "a\0@other.example", "host": "r.test"}]}, "relay.sender_relays[0].sender"),
    ({"sender_relays": [{"sender": "a\u2028b@other.example", "host": "r.test"}]}, "relay.sender_relays[0].sender"),
    ({"sender_relays": [{"sender": "a\x1cb@other.example", "host": "r.test"}]}, "relay.sender_relays[0].sender"),
    ({"sender_relays": [{"sender": "@Other.example", "host": "r.test"},
                        {"sender": "@other.EXAMPLE", "host": "s.test"}]}, "relay.sender_relays[1].sender"),
    ({"sender_relays": [{"sender": "@o.example", "host": "r.test", "password": "x"}]},
     "relay.sender_relays[0].username"),
    ({"sender_relays": [{"sender": "@o.example", "host": "a b"}]}, "relay.sender_relays[0].host"),
    ({"destinations": ["a.test\nb.test"]}, "relay.destinations"),
    ({"destinations": ["#a.test"]}, "relay.destinations"),
    ({"destinations": ["[a.test]"]}, "relay.destinations"),
    ({"ca_file": "/etc/ssl/x\ny"}, "relay.ca_file"),
])
def test_bad_input_is_refused_naming_the_option_and_nothing_changes(config_dir, overrides, option):
    """Claim 2 (held). Control characters, Unicode line separators, NUL, very long names, list
    separators and duplicate senders differing in case are refused before any write, the
    message starting with the option and never holding the password."""
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result, output = profile(config_dir, relay_spec(config_dir, **overrides))
    assert failed_cleanly(result, option), (result or {}).get("msg", output[-300:])
    assert PASSWORD not in output
    assert snapshot(config_dir) == before


# --- claim 3: the password Postfix sends is the one given -------------------------------------

@pytest.mark.parametrize("password", [
    "#starts-with-hash", "@starts-with-at", "a:b:c", ":", "\u00fcnic\u00f6de", "\u00a0nbsp\u00a0", "ends\\",
    "x\u2028y", "x\x85y", "${myhostname}", "two  spaces inside", "\u3000ideographic", "zero\u200bwidth",
    "\ufeffbom", "'\"quotes\"'", "y" * 100000,
])
def test_the_stored_password_is_exactly_the_one_given(config_dir, password):
    """Claim 3 (held). ``postmap -q`` returns exactly ``username:password`` for passwords with
    ':', a leading '#' or '@', Unicode spaces and separators, '$', a trailing backslash and a
    100,000-character one; the password is in no output and no file others can read."""
    result, output = profile(config_dir, relay_spec(config_dir, password=password))
    assert result["changed"] and not result.get("failed"), output[-500:]
    rc, stored = postmap_q(config_dir, "hash:%s/sasl_passwd" % config_dir, RELAY)
    assert rc == 0 and stored == "%s:%s" % (USERNAME, password)
    if len(password) > 3:
        assert password not in output
    for root, _dirs, files in os.walk(str(config_dir)):
        for name in files:
            path = os.path.join(root, name)
            if os.stat(path).st_mode & 0o077:
                assert ("%s:%s" % (USERNAME, password)).encode("utf-8") not in Path(path).read_bytes(), path


def test_a_vaulted_password_with_template_characters_reaches_postfix_unchanged(tmp_path, config_dir):
    """Claim 3 (held) through the role: a Vault-encrypted password holding ``{#x#}`` and ``{{`` is
    not templated on its way into the declaration (a plain-text play variable would be: that is
    Ansible's own templating, which the role's defaults tell users to avoid with Vault)."""
    password = "Zq9{#x#}Y7{{"
    vault_password = tmp_path / "vault-password"
    vault_password.write_text("vault-pw\n")
    encrypted = subprocess.run([str(Path(sys.executable).parent / "ansible-vault"), "encrypt_string",
                                "--vault-password-file", str(vault_password), password,
                                "--name", "tls_relay_password"],
                               capture_output=True, text=True, check=True, env=ansible_env()).stdout
    (tmp_path / "vars.yml").write_text(encrypted)
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "vars_files": [str(tmp_path / "vars.yml")],
        "tasks": [{"ansible.builtin.include_role": {"name": "mailtls.postfix.tls_relay"},
                   "vars": dict(server_config_dir=str(config_dir), server_manage_packages=False,
                                server_manage_service=False, tls_relay_host="smtp.relay.test",
                                tls_relay_username=USERNAME, tls_relay_preflight="skip",
                                tls_relay_password_table=str(config_dir / "sasl_passwd"),
                                tls_relay_sender_table=str(config_dir / "sender_relay"),
                                tls_relay_transport_table=str(config_dir / "relay_transport"))}]}]))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                           "--vault-password-file", str(vault_password), "--diff", "-vvv", str(play)],
                          capture_output=True, text=True, check=False, env=ansible_env())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert password not in proc.stdout + proc.stderr
    assert postmap_q(config_dir, "hash:%s/sasl_passwd" % config_dir, RELAY)[1] == "%s:%s" % (USERNAME, password)


# --- claim 6: the fast table path ---------------------------------------------------------------

_NASTY = "ab A#: \t\n\x0b\x0c\r\x1c\x85\u00a0\u2028\0\u00e9\u0130\u0131"


def _view(document):
    return ([(list(members), key, value) for members, key, value in document.logical],
            dict((key, [(list(members), value) for members, value in found])
                 for key, found in document.entries.items()))


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(alphabet=_NASTY, max_size=40))
@example(text="a\tb\n\u00a0\n")
def test_the_plain_reader_and_the_general_grammar_read_nasty_texts_alike(text):
    """Claim 6. With \\x0b, \\x0c, \\r, NUL, '#', U+00A0, U+2028, U+0085 and \\x1c in the alphabet,
    the one-pass reader and the general grammar must read every text alike. The general grammar
    crashes (IndexError) on a line holding only a character Python's str.split() takes for
    whitespace and C's isspace() does not (U+00A0, U+2028, U+0085, \\x1c), as soon as anything
    else in the table (a tab, a continuation) sends it to the general reader."""
    fast = LookupTable(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(table_module, "_needs_grammar", lambda _text: True)
        general = LookupTable(text)
    assert _view(fast) == _view(general)
    assert fast.render() == text


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(alphabet="aB#: \t\n\x0b\x0c\u00e9", max_size=30))
@example(text="k\nk v\n")
def test_the_table_reader_reads_what_postmap_indexes(text):
    """Claim 6. What the document says each key resolves to must be what ``postmap -s`` lists
    after postmap built the index of that very text (tabs, continuations, comments, \\v, \\f;
    \\x1c and Unicode spaces are left out: they crash the general reader, the test above).
    Defect: a key line without a value followed by the same key with a value (``k`` then
    ``k v``): postmap skips the first ("expected format") and stores ``v``; the document keeps
    the first occurrence, whose value is empty. See the downgrade=false test below."""
    document = LookupTable(text)
    scratch = tempfile.mkdtemp(prefix="mailtls-adv-")
    path = os.path.join(scratch, "t")
    Path(path).write_bytes(text.encode("utf-8"))
    subprocess.run(["postmap", "hash:" + path], capture_output=True, check=False)
    listed = {}
    out = subprocess.run(["postmap", "-s", "hash:" + path], capture_output=True, check=False).stdout.decode()
    for line in out.split("\n"):
        if line:
            key, _sep, value = line.partition("\t")
            listed.setdefault(key, value)
    ours = dict((key, document.value(key)) for key in document.entries if document.value(key))
    assert ours == listed


def test_downgrade_false_keeps_the_entry_postfix_reads_behind_a_valueless_line(config_dir):
    """Claim 4 and 6. The policy table has ``[a.test]:25`` (no value: postmap skips it) then
    ``[a.test]:25 secure``; Postfix applies ``secure``. tls_policy with downgrade=false and
    level ``may`` must keep ``secure``, but the document takes the valueless line for the entry,
    sees nothing to protect and writes ``may``: a silent downgrade under downgrade=false."""
    policy = config_dir / "tls_policy"
    policy.write_text("[a.test]:25\n[a.test]:25 secure\n")
    subprocess.run(["postmap", "-c", str(config_dir), "hash:%s" % policy], capture_output=True, check=True)
    table = "hash:%s" % policy
    assert postmap_q(config_dir, table, "[a.test]:25")[1] == "secure"
    result, output = run("tls_policy", dict(config_dir=str(config_dir), path=str(policy), destination="[a.test]:25",
                                            level="may", downgrade=False))
    assert result is not None and not result.get("failed"), output
    assert postmap_q(config_dir, table, "[a.test]:25")[1] == "secure", (
        "downgrade=false weakened secure to %r" % postmap_q(config_dir, table, "[a.test]:25")[1])


def lookup_table(config_dir, **args):
    result, output = run("lookup_table", dict(config_dir=str(config_dir), _ansible_diff=True, **args))
    assert result is not None, output
    return result


@pytest.mark.parametrize("table_type", ["hash", "btree", "lmdb", "cdb"])
def test_keys_postmap_takes_for_one_are_not_silently_merged(config_dir, table_type):
    """Claim 6. entries ``{"A": "1", "a": "2", ...}``: postmap folds both to ``a``. The module
    keeps the last one, verifies only that, reports success, and ``postmap -q A`` answers 2 where
    1 was asked. Contradicting keys must be refused ("given twice"), as tls_profile refuses two
    senders differing in case."""
    path = str(config_dir / "table")
    result = lookup_table(config_dir, path=path, type=table_type,
                          entries={"A": "1", "a": "2", "b": "3", "c": "4"})
    if result.get("failed"):
        return
    table = "%s:%s" % (table_type, path)
    assert (postmap_q(config_dir, table, "A")[1], postmap_q(config_dir, table, "a")[1]) == ("1", "2"), (
        "accepted, but postmap resolves A to %r" % postmap_q(config_dir, table, "A")[1])


def test_an_edit_never_drops_a_key_postmap_keeps_apart(config_dir):
    """Claim 6. With ``smtputf8_enable = no`` Postfix folds keys to lower case in ASCII only, so
    ``ä`` and ``Ä`` are two keys (``postmap -q Ä`` does not find ``ä``). The document folds with
    str.lower(): setting ``Ä`` replaces the ``ä`` line, so ``ä`` silently leaves the table and
    the result reports an update of ``Ä``, no removal."""
    with open(str(config_dir / "main.cf"), "a") as handle:
        handle.write("smtputf8_enable = no\n")
    settle(config_dir / "main.cf")
    path = config_dir / "table"
    path.write_text("\u00e4 2\n")
    subprocess.run(["postmap", "-c", str(config_dir), "hash:%s" % path], check=True)
    table = "hash:%s" % path
    assert postmap_q(config_dir, table, "\u00c4")[0] == 1, "Postfix here keeps the two keys apart"
    result = lookup_table(config_dir, path=str(path), entries={"\u00c4": "1"})
    assert not result.get("failed"), result
    assert postmap_q(config_dir, table, "\u00c4")[1] == "1"
    assert postmap_q(config_dir, table, "\u00e4")[1] == "2", (
        "ä was dropped: %r, result %s" % (path.read_text(), {k: result.get(k) for k in ("updated", "removed")}))


# --- claim 7: idempotence ----------------------------------------------------------------------

def test_the_relays_tables_are_indexed(config_dir):
    """Claim 2. The relay's tables are looked up key by key: texthash (a text file daemons load at
    start) and pattern types are refused, naming the option."""
    for table_type in ("texthash", "regexp"):
        result, _output = profile(config_dir, relay_spec(config_dir, table_type=table_type))
        assert failed_cleanly(result, "relay.table_type"), result


@pytest.mark.parametrize("table_type", ["hash", "btree", "lmdb", "cdb"])
def test_a_second_identical_run_writes_nothing_for_every_table_type(config_dir, table_type):
    """Claim 7 (held). SMTPS, sender relays with mixed case and Unicode, a password
    with ':', '#' and a space: the second run (and its check mode) changes nothing, writes no
    file (bytes and mtimes) and runs no postmap."""
    spec = relay_spec(config_dir, table_type=table_type, port=465, password="\u00fc:#x @y",
                      sender_relays=[{"sender": "@Other.Example", "host": "Relay.Other.test", "username": "\u00d6",
                                      "password": "p w"},
                                     {"sender": "\u00c4@x.example", "host": "r2.test"}])
    result, output = profile(config_dir, spec)
    assert result["changed"] and not result.get("failed"), output[-500:]
    settle(config_dir / "main.cf")
    for name in os.listdir(str(config_dir)):
        os.utime(str(config_dir / name), (1e9, 1e9))
    applied = snapshot(config_dir)
    for check in (False, True):
        again, output = profile(config_dir, spec, check=check)
        assert again["changed"] is False, output[-500:]
        for name in ("password_table", "sender_table"):
            assert again[name]["postmap_run"] is False, name
    assert snapshot(config_dir) == applied
    assert "p w" not in output and "\u00fc:#x @y" not in output
