"""Adversarial tests of the relay's own transport (relay-tls) and of what main.cf only routes.

A second hostile review of tls_profile's ``relay`` after the redesign: everything that protects
the password sits on master.cf's ``relay-tls`` as ``-o`` options; main.cf only routes to it.
Each test names the claim it attacks:

1. no delivery path carries relay mail, or a password, without relay-tls's level and only to
   the relay's own next hops (Postfix's routing precedence, inherited main.cf parameters);
2. the host's own routing (default_transport, relayhost, its own relay-tls) is not lost;
3. removal leaves no credentials on disk and deletes nothing that is not the relay's;
4. a re-run is a no-op (no write, no probe, no postmap) and check mode predicts the run;
5. what is written is a configuration Postfix reads as meant.

Tests that fail show a defect; those that pass keep the claim from regressing. Everything runs
against real postconf/postmap/postfix check on a sandboxed config directory; never /etc/postfix.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import settle
from relay_helpers import PASSWORD, RELAY, absent_spec, profile, relay_spec
from helpers import snapshot

SENDER_PASSWORD = "S3nder-only s3cret"


# --- helpers -----------------------------------------------------------------------------

SENDER_RELAYS = [{"sender": "@other.example", "host": "relay.other.test", "username": "other",
                  "password": SENDER_PASSWORD}]


def add_to_main_cf(config_dir, text):
    with open(str(config_dir / "main.cf"), "a") as handle:
        handle.write(text)
    settle(config_dir / "main.cf")


def make_table(config_dir, name, text, mode=0o644):
    path = config_dir / name
    path.write_text(text)
    os.chmod(str(path), mode)
    subprocess.run(["postmap", "-c", str(config_dir), "hash:%s" % path], check=True, capture_output=True)
    os.chmod(str(path) + ".db", mode)
    return path


def postconf(config_dir, *args):
    settle(Path(config_dir) / "main.cf")
    return subprocess.run(["postconf", "-c", str(config_dir)] + list(args), capture_output=True, text=True,
                          check=True, env=dict(os.environ, LANG="C", LC_ALL="C")).stdout


def parameter(config_dir, name):
    return postconf(config_dir, "-h", name).strip()


def relay_tls_effective(config_dir, name):
    """What relay-tls runs with: its -o override (expanded), else main.cf's value (expanded)."""
    override = postconf(config_dir, "-P", "-x", "relay-tls/unix/%s" % name).strip()
    if override:
        return override.split(" =", 1)[1].strip()
    return postconf(config_dir, "-x", "-h", name).strip()


def ok(result, output):
    assert result is not None and not result.get("failed"), output[-1500:]


def refused_or_warned(result, word):
    """The run failed with ``word`` in its message, or a warning mentions ``word``."""
    if result.get("failed"):
        return word in result.get("msg", "")
    return word in json.dumps(result.get("warnings") or [])


def first_certificate():
    """One CA certificate of the system bundle, as PEM: a stand-in for a private CA."""
    bundle = Path("/etc/ssl/certs/ca-certificates.crt").read_text()
    end = "-----END CERTIFICATE-----"
    return bundle[bundle.index("-----BEGIN CERTIFICATE-----"):bundle.index(end) + len(end)] + "\n"


def files_holding(directory, secret):
    """The files under ``directory`` whose bytes hold ``secret``."""
    needle = secret.encode("utf-8")
    return sorted(str(path.relative_to(directory)) for path in Path(directory).rglob("*")
                  if path.is_file() and not path.is_symlink() and needle in path.read_bytes())


# --- claim 1: no delivery path around relay-tls, no password to another server --------------------

def test_a_host_per_site_policy_cannot_lower_relay_tls(config_dir):
    """Claim 1. relay-tls empties smtp_tls_policy_maps so that no policy entry lowers its level.
    But Postfix's smtp client (smtp_tls_policy.c, tls_policy_init) reads the obsolete
    ``smtp_tls_per_site`` exactly when smtp_tls_policy_maps is empty, and "(non-wildcard)
    per-site policies consistently override global policies": a host's per-site entry
    ``[smtp.relay.test]:587 MUST_NOPEERMATCH`` (or ``NONE``), inherited by relay-tls from
    main.cf, turns ``secure`` into ``encrypt`` (a man in the middle with any certificate gets the
    password) or into plaintext. relay-tls must empty smtp_tls_per_site too."""
    table = make_table(config_dir, "tls_per_site", "%s MUST_NOPEERMATCH\n" % RELAY)
    add_to_main_cf(config_dir, "smtp_tls_per_site = hash:%s\n" % table)
    result, output = profile(config_dir, relay_spec(config_dir))
    if result is not None and result.get("failed"):  # refused: the obsolete table must go first
        assert "smtp_tls_per_site" in result["msg"], result["msg"]
        return
    ok(result, output)
    assert relay_tls_effective(config_dir, "smtp_tls_policy_maps") == ""
    assert relay_tls_effective(config_dir, "smtp_tls_per_site") == "", (
        "relay-tls reads the host's per-site table %s, which overrides its secure level"
        % relay_tls_effective(config_dir, "smtp_tls_per_site"))


def test_relay_domains_mail_to_the_relayhost_takes_relay_tls(config_dir):
    """Claim 1. postconf(5) relay_transport: for $relay_domains "the nexthop destination is taken
    from $relay_transport, $sender_dependent_relayhost_maps, $relayhost". With the host's
    ``relay_domains = partner.example``, mail for it goes to the relay's relayhost through
    the ``relay`` transport (main.cf's level ``may``, no CA file), not relay-tls: relay mail
    without the relay's level. relay_transport must be relay-tls too (or the run refuse or warn)."""
    add_to_main_cf(config_dir, "relay_domains = partner.example\n")
    result, output = profile(config_dir, relay_spec(config_dir))
    ok(result, output)
    assert parameter(config_dir, "relayhost") == RELAY
    transport = parameter(config_dir, "relay_transport").split(":", 1)[0]
    assert transport == "relay-tls" or refused_or_warned(result, "relay_domains"), (
        "relay_domains mail goes to %s through %r, at main.cf's level %r"
        % (RELAY, transport, parameter(config_dir, "smtp_tls_security_level")))


def test_sender_dependent_default_transport_maps_cannot_route_relay_mail_around_relay_tls(config_dir):
    """Claim 1. postconf(5) default_transport: the nexthop is taken from
    $sender_dependent_default_transport_maps, $default_transport, ..., $relayhost, and the
    sender-dependent map overrides default_transport. A host entry ``@example.org smtp`` sends
    that sender's mail to the relayhost through plain ``smtp`` (level may): relay mail without
    the relay's level, and without a word. It must be refused or warned about."""
    table = make_table(config_dir, "sender_transport", "@example.org smtp\n")
    add_to_main_cf(config_dir, "sender_dependent_default_transport_maps = hash:%s\n" % table)
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result is not None, output
    assert refused_or_warned(result, "sender_dependent_default_transport_maps"), (
        "mail from @example.org goes to %s through smtp at level %r; default_transport = %s"
        % (RELAY, parameter(config_dir, "smtp_tls_security_level"), parameter(config_dir, "default_transport")))


def test_sender_credentials_never_reach_the_fallback_relay(config_dir):
    """Claim 1. With a sender relay's password, relay-tls has
    smtp_sender_dependent_authentication = yes: the password is looked up by the envelope sender
    first, whatever server the connection goes to (smtp_sasl_glue.c). smtp_connect.c appends
    $smtp_fallback_relay to every nexthop, relayhost's included: when relay.other.test is down,
    the sender's password goes to the host's fallback relay. relay-tls inherits the host's
    ``smtp_fallback_relay`` from main.cf; it must empty it (or the run refuse)."""
    add_to_main_cf(config_dir, "smtp_fallback_relay = [fallback.test]:25\n")
    result, output = profile(config_dir, relay_spec(config_dir, sender_relays=SENDER_RELAYS))
    if result.get("failed"):
        assert "smtp_fallback_relay" in result["msg"], result["msg"]
        return
    assert relay_tls_effective(config_dir, "smtp_sender_dependent_authentication") == "yes"
    assert relay_tls_effective(config_dir, "smtp_fallback_relay") == "", (
        "relay-tls falls back to %s with sender-dependent credentials"
        % relay_tls_effective(config_dir, "smtp_fallback_relay"))


def test_sender_credentials_never_reach_a_host_transport_entry_without_transport(config_dir):
    """Claim 1. transport(5): "A null transport field with non-null nexthop field does not modify
    the transport information." The host's own entry ``partner.test :[mx.partner.test]`` now
    sends mail for partner.test through default_transport = relay-tls to mx.partner.test, and
    with sender-dependent authentication the sender's password is offered to that server (its
    certificate verifies for its own name at ``secure``). The credentials reach a server that is
    none of the relay's next hops, silently. Refuse, or at least warn naming the entry."""
    table = make_table(config_dir, "transport", "partner.test :[mx.partner.test]\n")
    add_to_main_cf(config_dir, "transport_maps = hash:%s\n" % table)
    result, output = profile(config_dir, relay_spec(config_dir, sender_relays=SENDER_RELAYS))
    assert result is not None, output
    if not result.get("failed"):
        assert parameter(config_dir, "default_transport") == "relay-tls"
        assert relay_tls_effective(config_dir, "smtp_sender_dependent_authentication") == "yes"
    assert refused_or_warned(result, "partner.test") or refused_or_warned(result, "transport_maps"), (
        "mail from @other.example to partner.test takes relay-tls to [mx.partner.test] with the sender's "
        "password, without a warning")


def test_a_private_ca_file_is_the_only_trust_anchor(config_dir, tmp_path):
    """Claim 1. ``ca_file`` names what the relay's certificate must chain to; the pre-flight
    probes with that file alone ("its own CA file is what its SMTP client trusts, and only
    that"). But relay-tls sets only smtp_tls_CAfile and inherits Debian's
    ``smtp_tls_CApath = /etc/ssl/certs``: Postfix trusts both, so any public CA's certificate
    for the relay's name passes ``secure`` and receives the password. A private CA pins nothing.
    relay-tls must empty smtp_tls_CApath when ca_file is given."""
    ca_file = tmp_path / "private-ca.pem"
    ca_file.write_text(first_certificate())
    result, output = profile(config_dir, relay_spec(config_dir, ca_file=str(ca_file)))
    ok(result, output)
    assert relay_tls_effective(config_dir, "smtp_tls_CAfile") == str(ca_file)
    assert relay_tls_effective(config_dir, "smtp_tls_CApath") == "", (
        "relay-tls also trusts every CA in %s" % relay_tls_effective(config_dir, "smtp_tls_CApath"))


def test_verify_with_mx_lookups_and_a_password_is_not_silent(config_dir):
    """Claim 1. VERIFIED_LEVELS says verify and secure both "authenticate the relay: a password
    goes only to the server it was meant for". With mx_lookup=true, verify matches the
    certificate against the MX host name from insecure DNS (smtp_tls_verify_cert_match =
    hostname; TLS_README: verify with MX lookups is open to DNS forgery): a forged MX record
    pointing at any host with a valid certificate gets the password. The module warns for
    encrypt, but says nothing here."""
    result, output = profile(config_dir, relay_spec(config_dir, level="verify", mx_lookup=True))
    assert result is not None, output
    assert refused_or_warned(result, "verify"), "no warning: %s" % result.get("warnings")


def test_a_main_cf_sasl_client_naming_the_relays_password_table_is_not_left_silently(config_dir):
    """Claim 1. The classic smarthost set-up (SASL_README) has ``smtp_sasl_auth_enable = yes`` and
    ``smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd`` in main.cf. Taken over by the
    relay, the same table now holds the relay's password, and main.cf still offers it through
    every smtp client (``smtp``, ``relay``) at main.cf's level ``may`` -- what relay.py says
    main.cf must never do. The run neither removes those lines nor warns."""
    add_to_main_cf(config_dir, "smtp_sasl_auth_enable = yes\nsmtp_sasl_password_maps = hash:%s/sasl_passwd\n"
                   % config_dir)
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result is not None, output
    still = parameter(config_dir, "smtp_sasl_auth_enable") == "yes" and \
        str(config_dir / "sasl_passwd") in parameter(config_dir, "smtp_sasl_password_maps")
    assert not still or refused_or_warned(result, "smtp_sasl"), (
        "main.cf still offers the relay's password through every smtp client at level %r"
        % parameter(config_dir, "smtp_tls_security_level"))


@pytest.mark.parametrize("domain", ["localhost", "vm"])
def test_destinations_that_are_delivered_here_are_not_sent_away_silently(config_dir, domain):
    """Claim 1 and 2. transport_maps is searched for every address class, local ones included.
    A destination that is in $mydestination (``localhost``; ``vm``, Debian's $myhostname here)
    makes root@localhost and every cron mail leave the host for the relay, with no word.
    Refuse it, or warn naming mydestination."""
    assert domain in parameter(config_dir, "mydestination")
    result, output = profile(config_dir, relay_spec(config_dir, destinations=[domain]))
    assert result is not None, output
    assert refused_or_warned(result, "mydestination"), "local mail for %s now goes to the relay" % domain


# --- claim 2: the host's own routing is kept -------------------------------------------------------

def test_a_hosts_default_transport_comes_back_when_the_relay_goes(config_dir):
    """Claim 2. A host that must not send mail out has ``default_transport = error:outbound mail
    disabled``. The relay replaces it by relay-tls (no warning); state=absent then removes
    default_transport, so the host falls back to ``smtp`` and delivers straight to the Internet:
    turning the relay off opened a path that was closed before. Either the replacement is
    refused, or absent gives the host its own value back."""
    original = "error:outbound mail disabled"
    add_to_main_cf(config_dir, "default_transport = %s\n" % original)
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result is not None, output
    if result.get("failed"):
        assert "default_transport" in result["msg"], result["msg"]
        return
    result, output = profile(config_dir, absent_spec(config_dir))
    ok(result, output)
    assert parameter(config_dir, "default_transport") == original, (
        "after absent default_transport = %r (was %r)" % (parameter(config_dir, "default_transport"), original))


def test_destinations_keep_the_hosts_own_relayhost(config_dir):
    """Claim 2. With ``destinations`` the relay routes only those domains. A host that sends
    everything else through its own ``relayhost = [corp.relay.test]:25`` loses it: the plan
    removes any relayhost, ours or not, so all other mail now goes straight to the
    recipients' MX hosts, without a warning. A relayhost that is not the relay's stays (or the
    run refuses)."""
    add_to_main_cf(config_dir, "relayhost = [corp.relay.test]:25\n")
    result, output = profile(config_dir, relay_spec(config_dir, destinations=["example.com"]))
    assert result is not None, output
    if result.get("failed"):
        return
    assert parameter(config_dir, "relayhost") == "[corp.relay.test]:25", (
        "the host's relayhost was removed: %s" % result["main_cf"]["changes"].get("relayhost"))


def test_a_users_own_relay_tls_service_is_not_replaced_silently(config_dir):
    """Claim 2. master.cf already has a ``relay-tls`` service of the admin's (another purpose,
    chrooted, its own -o options). The relay overwrites it without a word, and state=absent
    later deletes it: whatever used it breaks. Refuse, or warn naming relay-tls."""
    with open(str(config_dir / "master.cf"), "a") as handle:
        handle.write("relay-tls unix  -       -       y       -       -       smtp\n  -o syslog_name=postfix/mine\n")
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result is not None, output
    assert refused_or_warned(result, "relay-tls"), (
        "replaced: %s" % result.get("master_cf", {}).get("services", {}).get("relay-tls/unix", {}).get("before"))


# --- claim 3: removal leaves no credentials and deletes nothing not ours ----------------------------

def test_a_moved_password_table_leaves_no_password_behind(config_dir):
    """Claim 3. password_table changes between runs (a new path in the inventory). The old table
    and its index keep the password, orphaned: nothing names them any more, no later run (not
    even state=absent with the new path) removes them."""
    result, output = profile(config_dir, relay_spec(config_dir))
    ok(result, output)
    result, output = profile(config_dir, relay_spec(config_dir, password_table=str(config_dir / "relay_passwd")))
    ok(result, output)
    assert files_holding(config_dir, PASSWORD) == ["relay_passwd", "relay_passwd.db"], (
        "the password stays in %s" % files_holding(config_dir, PASSWORD))
    result, output = profile(config_dir, absent_spec(config_dir, password_table=str(config_dir / "relay_passwd")))
    ok(result, output)
    assert files_holding(config_dir, PASSWORD) == [], "after absent: %s" % files_holding(config_dir, PASSWORD)


def test_absent_removes_the_password_table_relay_tls_names(config_dir):
    """Claim 3. The relay ran with password_table=/…/smarthost_passwd; the admin turns it off with
    the role's defaults (state=absent, default password_table). relay-tls, which named the
    secret table, is removed, the table is not: the password stays on disk with nothing left
    to find it by. master.cf's relay-tls says which table is the relay's."""
    custom = str(config_dir / "smarthost_passwd")
    result, output = profile(config_dir, relay_spec(config_dir, password_table=custom))
    ok(result, output)
    result, output = profile(config_dir, absent_spec(config_dir))
    ok(result, output)
    assert "relay-tls" not in postconf(config_dir, "-M")
    assert files_holding(config_dir, PASSWORD) == [], (
        "relay removed, the password stays in %s" % files_holding(config_dir, PASSWORD))


def test_a_table_type_change_leaves_no_index_with_the_password(config_dir):
    """Claim 3. table_type changes from hash to lmdb (or the default_database_type does).
    ``sasl_passwd.db`` keeps the password: the new run writes sasl_passwd.lmdb, and absent
    removes only the suffixes of the type it is given, so the Berkeley DB index with the
    password is never removed."""
    result, output = profile(config_dir, relay_spec(config_dir, table_type="hash"))
    ok(result, output)
    result, output = profile(config_dir, relay_spec(config_dir, table_type="lmdb"))
    ok(result, output)
    result, output = profile(config_dir, absent_spec(config_dir, table_type="lmdb"))
    ok(result, output)
    assert files_holding(config_dir, PASSWORD) == [], "after absent: %s" % files_holding(config_dir, PASSWORD)


@pytest.mark.parametrize("named", ["hash:$config_directory/sasl_passwd", "hash:${{config_directory}}/sasl_passwd",
                                   "hash:{dir}//sasl_passwd", "hash:{dir}/./sasl_passwd"],
                         ids=["$config_directory", "${config_directory}", "double-slash", "dot-segment"])
def test_a_table_main_cf_names_another_way_is_never_deleted(config_dir, named):
    """Claim 3. A relay without credentials deletes the files at password_table "unless main.cf
    or master.cf still names them". The check is a literal match of the path: main.cf's
    ``smtp_sasl_password_maps = hash:$config_directory/sasl_passwd`` (or ``//``, ``/./``) names
    that very table, yet it and its index are deleted; Postfix's smtp client then dies on the
    missing table and no mail leaves the host."""
    make_table(config_dir, "sasl_passwd", "[other.relay.test]:587 other:secret\n", mode=0o600)
    add_to_main_cf(config_dir, "smtp_sasl_password_maps = %s\n" % named.format(dir=config_dir))
    assert parameter(config_dir, "smtp_sasl_password_maps").endswith("sasl_passwd")
    result, output = profile(config_dir, relay_spec(config_dir, username=None, password=None, level="encrypt"))
    assert result is not None, output
    assert (config_dir / "sasl_passwd.db").exists(), (
        "deleted a table main.cf names: %s" % (result.get("relay") or {}).get("removed_files"))


@pytest.mark.parametrize("option", ["password_table", "ca_file"])
def test_a_path_with_a_dollar_is_refused_or_read_as_written(config_dir, option):
    """Claim 5. Postfix expands ``$name`` in main.cf and in master.cf's -o values. A
    password_table ``/…/sasl$mail_name`` is written there, but relay-tls reads
    ``/…/saslPostfix``: the relay gets no credentials (or the CA file is another one), and
    ``postfix check`` passes. Such a path must be refused, naming the option."""
    path = str(config_dir / "x$mail_name")
    if option == "ca_file":
        Path(path).write_text(first_certificate())
    result, output = profile(config_dir, relay_spec(config_dir, **{option: path}))
    assert result is not None, output
    if result.get("failed"):
        assert result["msg"].startswith("relay.%s:" % option), result["msg"]
        return
    name = {"password_table": "smtp_sasl_password_maps", "ca_file": "smtp_tls_CAfile"}[option]
    read = relay_tls_effective(config_dir, name)
    assert read.endswith(path), "written at %s, Postfix reads %s" % (path, read)


# --- claims 4 and 5 (held): no-op re-runs, check mode, what Postfix reads --------------------------

@pytest.mark.parametrize("overrides", [
    dict(destinations=["example.com", ".example.com"]),
    dict(mechanisms=["PLAIN", "LOGIN"], level="verify"),
    dict(host="localhost", mx_lookup=True),
    dict(host="::1", port=465),
    dict(port=465, level="encrypt"),
    dict(username=None, password=None, level="may"),
    dict(sasl_security_options=["noanonymous"], sasl_tls_security_options=["noanonymous", "noplaintext"]),
    dict(sender_relays=[{"sender": "@other.example", "host": "127.0.0.2", "username": "o", "password": "p w"}]),
], ids=["destinations", "mechanisms", "mx", "ipv6-smtps", "encrypt", "no-password", "options", "senders"])
def test_a_re_run_is_a_no_op_without_probe_or_postmap(config_dir, overrides):
    """Claim 4 (held). For each combination, the second run and its check mode change nothing,
    write no file (bytes, mtimes, modes), rewrite no master.cf entry, run no postmap and probe
    nothing, while the first run probed every hop (preflight warn against closed local ports)."""
    spec = relay_spec(config_dir, **dict(dict(host="127.0.0.1"), **overrides))
    preflight = {"mode": "warn", "timeout": 3}
    result, output = profile(config_dir, spec, preflight=preflight)
    ok(result, output)
    assert result["changed"] and result["probes"], output[-500:]
    settle(config_dir / "main.cf")
    for name in os.listdir(str(config_dir)):
        os.utime(str(config_dir / name), (1e9, 1e9))
    applied = snapshot(config_dir)
    for check in (True, False):
        again, output = profile(config_dir, spec, check=check, preflight=preflight)
        ok(again, output)
        assert again["changed"] is False and again["probes"] == {}, (check, again["probes"])
        assert again.get("master_cf", {}).get("services") == {}
        for name in ("password_table", "sender_table", "transport_table"):
            if name in again:
                assert again[name]["postmap_run"] is False, name
    assert snapshot(config_dir) == applied


def test_check_mode_predicts_every_switch_and_postfix_reads_it_cleanly(config_dir):
    """Claims 4 and 5 (held). Sender relays with mechanisms, destinations, SMTPS at verify, back to
    all mail, no password at may, another table type, absent twice: each check run writes
    nothing and predicts the real run's result; after each run ``postfix check`` and
    ``postconf -n``/``-P`` print no warning, master.cf never holds a password, and only the
    0600 password table and its index do."""
    steps = [relay_spec(config_dir, sender_relays=SENDER_RELAYS, mechanisms=["PLAIN"]),
             relay_spec(config_dir, destinations=["example.com"]),
             relay_spec(config_dir, level="verify", port=465),
             relay_spec(config_dir),
             relay_spec(config_dir, username=None, password=None, level="may"),
             relay_spec(config_dir, sender_relays=SENDER_RELAYS, table_type="btree"),
             absent_spec(config_dir, table_type="btree"),
             absent_spec(config_dir)]
    for index, spec in enumerate(steps):
        settle(config_dir / "main.cf")
        before = snapshot(config_dir)
        predicted, output = profile(config_dir, spec, check=True)
        ok(predicted, output)
        assert snapshot(config_dir) == before, "step %d: check mode wrote" % index
        result, output = profile(config_dir, spec)
        ok(result, output)
        for name in set(predicted) | set(result):
            if name != "invocation":
                assert predicted.get(name) == result.get(name), "step %d: %s" % (index, name)
        assert PASSWORD not in output and SENDER_PASSWORD not in output
        checked = subprocess.run(["postfix", "-c", str(config_dir), "check"], capture_output=True, text=True,
                                 check=False)
        assert checked.returncode == 0 and checked.stdout + checked.stderr == "", (index, checked.stderr)
        settle(config_dir / "main.cf")
        for args in (["-n"], ["-P"], ["-M"]):
            read = subprocess.run(["postconf", "-c", str(config_dir)] + args, capture_output=True, text=True,
                                  check=False)
            assert read.returncode == 0 and "warning" not in read.stderr, (index, args, read.stderr)
        assert PASSWORD not in (config_dir / "master.cf").read_text()
        holding = files_holding(config_dir, PASSWORD) + files_holding(config_dir, SENDER_PASSWORD)
        for name in holding:
            assert name.startswith("sasl_passwd"), (index, name)
            assert stat.S_IMODE(os.stat(str(config_dir / name)).st_mode) == 0o600, (index, name)
    assert not result["changed"]
    assert files_holding(config_dir, PASSWORD) == [] and files_holding(config_dir, SENDER_PASSWORD) == []


# --- issue 18: the relay's promises hold on the merged plan of the whole call ----------------------

def relay_with_parameters(config_dir, setting, where):
    """The relay with main.cf ``setting`` in the same call: the task's own parameters or a later declaration's;
    (result, output, the option that sets it)."""
    if where == "parameters":
        return profile(config_dir, relay_spec(config_dir), parameters=setting) + ("parameters",)
    return profile(config_dir, relay_spec(config_dir), declarations=[{"parameters": setting}]) + (
        "declarations[0].parameters",)


def refused_naming(result, output, option, word):
    assert result is not None and result.get("failed"), output[-1500:]
    assert result["msg"].startswith(option + ":") and word in result["msg"], result["msg"]


def test_a_sender_without_credentials_is_never_sent_its_domains_credentials(config_dir):
    """Class 2. Postfix looks a sender up in smtp_sasl_password_maps as in the relay table,
    user@domain then @domain: director@example.org routed to R1 finds @example.org's password,
    meant for R2, and R1 receives it (proven with real mail in test_relay_mail.py)."""
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    spec = relay_spec(config_dir, sender_relays=[
        {"sender": "@example.org", "host": "r2.relay.test", "username": "u2", "password": SENDER_PASSWORD},
        {"sender": "director@example.org", "host": "r1.relay.test"}])
    result, output = profile(config_dir, spec)
    refused_naming(result, output, "relay.sender_relays[1].username", "@example.org")
    assert snapshot(config_dir) == before
    # Its own credentials, or the same relay as its domain: nothing is offered to another server.
    for director in ({"sender": "director@example.org", "host": "r1.relay.test", "username": "d", "password": "p"},
                     {"sender": "director@example.org", "host": "r2.relay.test"}):
        spec["sender_relays"][1] = director
        result, output = profile(config_dir, spec)
        ok(result, output)


@pytest.mark.parametrize("where", ["parameters", "declarations"])
@pytest.mark.parametrize("name", ["smtp_tls_per_site", "sender_dependent_default_transport_maps"])
def test_a_parameter_of_the_same_call_cannot_route_around_relay_tls(config_dir, name, where):
    """Class 3. Checked on main.cf as it is, a setting made by the same call passed: with
    smtp_tls_per_site ``[relay]:587 NONE`` the relay got MAIL FROM in clear."""
    table = make_table(config_dir, "per_site", "%s NONE\n" % RELAY)
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    setting = {name: "hash:%s" % table}
    result, output, option = relay_with_parameters(config_dir, setting, where)
    refused_naming(result, output, option, name)
    assert snapshot(config_dir) == before


def test_a_later_declaration_cannot_replace_relay_tls_or_its_routing(config_dir):
    """Class 3. A later declaration replaced the relay-tls service (level none) or set
    default_transport back to smtp, silently."""
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    weak = {"service": "relay-tls", "type": "unix", "chroot": "n", "command": "smtp",
            "options": {"smtp_tls_security_level": "none"}}
    result, output = profile(config_dir, relay_spec(config_dir), declarations=[{"master_services": [weak]}])
    refused_naming(result, output, "declarations[0].master_services[0]", "relay-tls")
    result, output = profile(config_dir, relay_spec(config_dir),
                             declarations=[{"parameters": {"default_transport": "smtp"}}])
    refused_naming(result, output, "declarations[0].parameters", "default_transport")
    result, output = profile(config_dir, relay_spec(config_dir),
                             declarations=[{"parameters": {"relayhost": "[elsewhere.test]:25"}}])
    refused_naming(result, output, "declarations[0].parameters", "relayhost")
    assert snapshot(config_dir) == before


@pytest.mark.parametrize("setting, name, value", [
    ("smtp_tls_trust_anchor_file = /etc/ssl/certs/ca-certificates.crt", "smtp_tls_trust_anchor_file", ""),
    ("tls_append_default_CA = yes", "tls_append_default_CA", "no")])
def test_a_host_wide_trust_anchor_is_not_the_relays(config_dir, setting, name, value):
    """Class 3. main.cf's smtp_tls_trust_anchor_file replaces smtp_tls_CAfile's roots, and
    tls_append_default_CA adds the system's: relay-tls trusts its ca_file alone."""
    add_to_main_cf(config_dir, setting + "\n")
    result, output = profile(config_dir, relay_spec(config_dir))
    ok(result, output)
    assert relay_tls_effective(config_dir, name) == value


def test_the_relay_never_deletes_an_admins_sender_table(config_dir):
    """Class 4. A relay without sender_relays removed the admin's own
    sender_dependent_relayhost_maps from main.cf and deleted its table and index."""
    table = make_table(config_dir, "sender_relay", "@partner.example [smtp.partner.example]:25\n")
    add_to_main_cf(config_dir, "sender_dependent_relayhost_maps = hash:%s\n" % table)
    result, output = profile(config_dir, relay_spec(config_dir))
    ok(result, output)
    assert result["relay"]["removed_files"] == []
    assert table.exists() and Path(str(table) + ".db").exists()
    assert parameter(config_dir, "sender_dependent_relayhost_maps") == "hash:%s" % table
    assert refused_or_warned(result, "sender_dependent_relayhost_maps")
    # Turned off: the relay's own files go, the admin's stay.
    result, output = profile(config_dir, absent_spec(config_dir))
    ok(result, output)
    assert sorted(result["relay"]["removed_files"]) == sorted([str(config_dir / "sasl_passwd"),
                                                               str(config_dir / "sasl_passwd.db")])
    assert table.exists() and parameter(config_dir, "sender_dependent_relayhost_maps") == "hash:%s" % table
    assert not (config_dir / "mailtls-relay.json").exists()


def test_absent_on_a_host_that_never_had_a_relay_keeps_its_relayhost(config_dir):
    """Class 4. relay: {state: absent} dropped the admin's relayhost and deleted tables at the
    relay's default paths."""
    table = make_table(config_dir, "sasl_passwd", "[smtp.isp.example]:587 me:secret\n", mode=0o600)
    add_to_main_cf(config_dir, "relayhost = [smtp.isp.example]:587\n")
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result, output = profile(config_dir, absent_spec(config_dir))
    ok(result, output)
    assert result["changed"] is False and result["relay"]["removed_files"] == []
    assert snapshot(config_dir) == before and table.exists()


def test_a_relay_set_up_before_its_record_still_comes_off_cleanly(config_dir):
    """Before the record: what relay-tls names (its password table) and the relayhost it routes
    are the relay's; absent removes them."""
    result, output = profile(config_dir, relay_spec(config_dir))
    ok(result, output)
    (config_dir / "mailtls-relay.json").unlink()
    result, output = profile(config_dir, absent_spec(config_dir))
    ok(result, output)
    assert sorted(result["relay"]["removed_files"]) == sorted([str(config_dir / "sasl_passwd"),
                                                               str(config_dir / "sasl_passwd.db")])
    assert parameter(config_dir, "relayhost") == ""


@pytest.mark.parametrize("content", ["not json", '{"parameters": {}, "files": ["relative"]}', "[]",
                                     '{"parameters": {}, "files": ["/etc/postfix/main.cf"]}',
                                     '{"parameters": {"relayhost": 1}, "files": []}'])
def test_a_record_that_is_not_the_relays_is_refused_changing_nothing(config_dir, content):
    (config_dir / "mailtls-relay.json").write_text(content)
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result, output = profile(config_dir, relay_spec(config_dir))
    assert result is not None and result.get("failed") and "mailtls-relay.json" in result["msg"], output[-1500:]
    assert snapshot(config_dir) == before


def test_the_record_is_private_and_a_rerun_leaves_it(config_dir):
    result, output = profile(config_dir, relay_spec(config_dir))
    ok(result, output)
    record = config_dir / "mailtls-relay.json"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600 and PASSWORD not in record.read_text()
    settle(config_dir / "main.cf")
    applied = snapshot(config_dir)
    again, output = profile(config_dir, relay_spec(config_dir))
    assert again["changed"] is False and snapshot(config_dir) == applied, output[-1500:]


@pytest.mark.parametrize("where", ["parameters", "declarations"])
def test_a_main_cf_sasl_client_set_in_the_same_call_is_refused_not_claimed_removed(config_dir, where):
    """Class 5. parameters setting main.cf's SASL client on the relay's table: every run warned
    "it is removed, relay-tls carries it", reported changed=false, and main.cf kept it."""
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    setting = {"smtp_sasl_auth_enable": "yes", "smtp_sasl_password_maps": "hash:%s/sasl_passwd" % config_dir}
    result, output, option = relay_with_parameters(config_dir, setting, where)
    refused_naming(result, output, option, "smtp_sasl_password_maps")
    assert snapshot(config_dir) == before


def test_a_recorded_path_that_is_no_table_file_is_never_deleted(config_dir):
    """A record (tampered, or stale) naming a directory: the relay deletes only files, never follows a link."""
    result, output = profile(config_dir, relay_spec(config_dir))
    ok(result, output)
    record = config_dir / "mailtls-relay.json"
    found = json.loads(record.read_text())
    (config_dir / "a-directory").mkdir()
    target = config_dir / "precious"
    target.write_text("keep me\n")
    os.symlink(str(target), str(config_dir / "a-link"))
    found["files"] += [str(config_dir / "a-directory"), str(config_dir / "a-link")]
    record.write_text(json.dumps(found))
    result, output = profile(config_dir, absent_spec(config_dir))
    ok(result, output)
    assert (config_dir / "a-directory").is_dir() and target.read_text() == "keep me\n"
    assert not os.path.lexists(str(config_dir / "a-link")), "the link itself goes, not what it names"
    assert refused_or_warned(result, "a-directory")


@pytest.mark.parametrize("spelling", ["proxy:hash:{conf}/sender_relay", "hash:${{config_directory}}/sender_relay",
                                      "texthash:{conf}/sender_relay", "hash:{conf}//sender_relay"])
def test_absent_keeps_a_table_main_cf_still_names_in_any_spelling(config_dir, spelling):
    """Hostile review: state absent deleted the relay's sender table (source and index) that the admin
    kept in main.cf under another spelling; Postfix's lookups of it then failed."""
    senders = [{"sender": "@example.org", "host": "r2.test"}]
    result, output = profile(config_dir, relay_spec(config_dir, sender_relays=senders))
    ok(result, output)
    postconf(config_dir, "-e", "sender_dependent_relayhost_maps = " + spelling.format(conf=config_dir))
    result, output = profile(config_dir, absent_spec(config_dir))
    ok(result, output)
    assert (config_dir / "sender_relay").exists() and (config_dir / "sender_relay.db").exists(), \
        result["relay"]["removed_files"]
    assert refused_or_warned(result, "still names")


@pytest.mark.parametrize("name", ["sasl_passwd.tmp", "sasl_passwd.tmp.db", "__db.sasl_passwd.tmp.db"])
def test_a_ca_file_at_a_tables_temporary_is_refused_not_deleted(config_dir, name):
    """Hostile review: the relay's ca_file at the password table's temporary was deleted as an editing
    leftover, and relay-tls named a CA file that no longer existed."""
    ca_file = config_dir / name
    ca_file.write_text(first_certificate())
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result, output = profile(config_dir, relay_spec(config_dir, ca_file=str(ca_file)))
    assert result is not None and result.get("failed") and result["msg"].startswith("relay."), output[-1500:]
    assert snapshot(config_dir) == before
