"""Adversarial: tls_profile's promises (plan and check everything, then write; no-op writes nothing;
check mode predicts; bad input changes nothing; secrets stay secret) against the real Postfix.

A test marked xfail(strict=True) demonstrates a defect that still exists; the others guard
attacks the module resists today.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time

import pytest
from conftest import effective_config, postmap, settle
from drivers import run_as_ansible
from helpers import run_module, run_playbook, snapshot

PROFILE = "mailtls.postfix.tls_profile"
UNREACHABLE = "[127.0.0.1]:9"  # nothing listens on the discard port: a probe fails at once


def profile(localhost, config_dir, **args):
    args.setdefault("preflight", {"mode": "skip"})
    return run_module(localhost, PROFILE, config_dir=str(config_dir), **args)


def frozen(config_dir):
    """A snapshot of the config dir after backdating main.cf (so Postfix does not wait)."""
    settle(config_dir / "main.cf")
    return snapshot(config_dir)


def table_args(config_dir, **extra):
    args = {"path": str(config_dir / "tls_policy"), "destinations": ["partner.example"], "level": "encrypt"}
    args.update(extra)
    return args


OTHER_KEY = subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                           check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A self-signed certificate and its key, as PEM text."""
    base = tmp_path_factory.mktemp("pair")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mx.test",
                    "-keyout", str(base / "k"), "-out", str(base / "c")], check=True, capture_output=True)
    return (base / "c").read_text(), (base / "k").read_text()


def certificate(tmp_path, pair):
    files = tmp_path / "certs"
    files.mkdir(exist_ok=True)
    return {"cert_file": str(files / "mx.pem"), "key_file": str(files / "mx.key"),
            "cert_content": pair[0], "key_content": pair[1]}


def with_obsolete_switch(config_dir):
    with open(config_dir / "main.cf", "a") as handle:
        handle.write("smtpd_use_tls = yes\n")
    settle(config_dir / "main.cf")


# --- A failure after the first write ---------------------------------------------------------------

LATER_FAILURES = {
    "bad destination": lambda config_dir, pair: {"policy_table": table_args(config_dir, destinations=["not a host"])},
    "one destination, two levels": lambda config_dir, pair: {"policy_table": table_args(
        config_dir, policies=[{"destination": "partner.example", "level": "verify"}])},
    "preflight refusal": lambda config_dir, pair: {"policy_table": table_args(config_dir, destinations=[UNREACHABLE]),
                                                   "preflight": {"mode": "refuse", "timeout": 5}},
    # Refused when main.cf is read back: the plan made on the migration's text, before any write.
    "postconf warning": lambda config_dir, pair: {"parameters": {"mailtls_x": "$(a{)"}},
    "master.cf read back": lambda config_dir, pair: {"master_services": [{
        "service": "submission", "type": "inet", "command": "smtpd",
        "options": {"smtpd_tls_security_level": "{encrypt"}}]},
    "mismatched certificate": lambda config_dir, pair: {"certificate": {
        "cert_file": str(config_dir / "mx.pem"), "key_file": str(config_dir / "mx.key"),
        "cert_content": pair[0], "key_content": OTHER_KEY}},
}


@pytest.mark.parametrize("later", sorted(LATER_FAILURES))
def test_migration_is_not_written_when_a_later_check_refuses(localhost, config_dir, pair, later):
    with_obsolete_switch(config_dir)
    before = frozen(config_dir)
    result = profile(localhost, config_dir, migrate_obsolete=True, **LATER_FAILURES[later](config_dir, pair))
    assert result.get("failed"), result
    assert snapshot(config_dir) == before, "the run failed, yet main.cf was migrated"


def test_migration_is_not_written_when_validate_refuses(localhost, config_dir):
    """validate reaches the migration part too: its refusal comes before the migration's write."""
    with_obsolete_switch(config_dir)
    before = frozen(config_dir)
    result = profile(localhost, config_dir, migrate_obsolete=True, validate="false %s",
                     parameters={"smtp_tls_loglevel": 1})
    assert result.get("failed") and "rejected" in result["msg"], result
    assert snapshot(config_dir) == before


def plant(path, kind, tmp_path):
    """What an attacker leaves at the temporary's name: a link to a victim file, or a FIFO."""
    if kind == "symlink":
        victim = tmp_path / "victim"
        victim.write_text("do not touch\n")
        os.symlink(str(victim), str(path))
    else:
        os.mkfifo(str(path))


@pytest.mark.parametrize("target", ["tls_policy.tmp", "master.cf.tmp", "main.cf.tmp"])
@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_refused_temporary_of_a_later_file_leaves_nothing_half_done(localhost, tmp_path, config_dir, pair,
                                                                      target, kind):
    cert = certificate(tmp_path, pair)
    plant(config_dir / target, kind, tmp_path)
    before = frozen(config_dir)
    result = profile(localhost, config_dir, certificate=cert, parameters={"smtp_tls_loglevel": 1},
                     policy_table=table_args(config_dir),
                     master_services=[{"service": "submission", "type": "inet", "private": "n",
                                       "command": "smtpd"}])
    assert result.get("failed") and target in result["msg"], result
    assert snapshot(config_dir) == before
    assert not os.path.exists(cert["cert_file"]) and not os.path.exists(cert["key_file"]), \
        "the run failed, yet the certificate pair was installed"


@pytest.mark.parametrize("table_type", ["pcre", "regexp"])
def test_a_pattern_table_type_fails_before_the_certificate_is_written(localhost, tmp_path, config_dir, pair,
                                                                      table_type):
    cert = certificate(tmp_path, pair)
    before = frozen(config_dir)
    result = profile(localhost, config_dir, certificate=cert, policy_table=table_args(config_dir, type=table_type))
    assert result.get("failed"), result
    assert snapshot(config_dir) == before
    assert not os.path.exists(cert["key_file"]), "the run failed, yet the key was installed"


# --- Paths that overlap ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["main.cf", "master.cf"])
def test_policy_table_path_that_is_a_config_file_is_refused_untouched(localhost, config_dir, name):
    before = frozen(config_dir)
    result = profile(localhost, config_dir, validate="postfix -c %s check",
                     policy_table=table_args(config_dir, path=str(config_dir / name)))
    assert result.get("failed") and "path" in result["msg"], result
    assert snapshot(config_dir) == before
    assert effective_config(config_dir)[0] != ["fatal"]


@pytest.mark.parametrize("which, name, mode", [
    pytest.param("key_file", "main.cf", 0o644, id="key_file=main.cf 0644"),
    pytest.param("key_file", "main.cf", 0o640, id="key_file=main.cf 0640"),
    pytest.param("cert_file", "main.cf", 0o644, id="cert_file=main.cf"),
    pytest.param("key_file", "tls_policy", 0o600, id="key_file=policy table"),
])
def test_certificate_path_that_is_a_config_file_is_refused_untouched(tmp_path, config_dir, pair, which, name, mode):
    """Only an exposed key mode stops key_file=main.cf today; the key never shows in any case."""
    cert = certificate(tmp_path, pair)
    cert[which] = str(config_dir / name)
    if (config_dir / name).exists():
        (config_dir / name).chmod(mode)
    task = {"name": "p", PROFILE: {"config_dir": str(config_dir), "preflight": {"mode": "skip"},
                                   "certificate": cert, "parameters": {"smtp_tls_loglevel": 1},
                                   "policy_table": table_args(config_dir)}}
    before = frozen(config_dir)
    rc, results, output = run_playbook(tmp_path, [task], diff=True)
    secret = pair[1].split("\n")[1]
    assert secret not in output and secret not in str(results), "the private key is shown"
    assert rc != 0, output
    assert snapshot(config_dir) == before


def test_relative_policy_table_path_is_refused(localhost, config_dir):
    before = frozen(config_dir)
    result = profile(localhost, config_dir, policy_table=table_args(config_dir, path="tls_policy-mailtls-test"))
    leftovers = [path for path in ("tls_policy-mailtls-test", "tls_policy-mailtls-test.db") if os.path.exists(path)]
    for path in leftovers:
        os.unlink(path)
    assert result.get("failed") and "path" in result["msg"], (result, leftovers)
    assert snapshot(config_dir) == before


def test_policy_table_outside_the_config_dir_is_written_and_named_absolutely(localhost, tmp_path, config_dir):
    """Postfix reads a table anywhere: allowed, but the map names the absolute path."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    result = profile(localhost, config_dir, policy_table=table_args(config_dir, path=str(outside / "tls_policy")))
    assert result["changed"] is True, result
    assert "smtp_tls_policy_maps = hash:%s" % (outside / "tls_policy") in effective_config(config_dir)[0]


# --- downgrade=false -------------------------------------------------------------------------------

def seed_table(config_dir, text):
    table = config_dir / "tls_policy"
    table.write_text(text)
    postmap("hash:%s" % table)
    with open(config_dir / "main.cf", "a") as handle:
        handle.write("smtp_tls_policy_maps = hash:%s\nsmtp_tls_security_level = encrypt\n" % table)
    settle(config_dir / "main.cf")
    return table


@pytest.mark.parametrize("args", [
    {"absent_parameters": ["smtp_tls_security_level"]},
    {"policy_table": {"absent": ["bank.example"], "destinations": [], "level": "may"}},
    {"policy_table": {"destinations": ["other.example"], "level": "may", "exclusive": True}},
], ids=["absent_parameters", "policy_table.absent", "exclusive"])
def test_downgrade_false_weakens_nothing(localhost, config_dir, args):
    table = seed_table(config_dir, "bank.example secure\n")
    if "policy_table" in args:
        args["policy_table"]["path"] = str(table)
    result = profile(localhost, config_dir, downgrade=False, **args)
    assert not result.get("failed"), result
    assert "smtp_tls_security_level = encrypt" in effective_config(config_dir)[0], result
    assert postmap("-q", "bank.example", "hash:%s" % table, check=False).stdout.strip() == "secure", result


def test_kept_by_a_parent_domain_entry_is_not_probed_on_every_run(localhost, config_dir):
    seed_table(config_dir, ".mailtls.invalid secure\n")
    args = dict(downgrade=False, preflight={"mode": "refuse", "timeout": 5, "host_lookup": "native"},
                policy_table=table_args(config_dir, destinations=["mx.mailtls.invalid"], include_subdomains=True))
    before = frozen(config_dir)
    result = profile(localhost, config_dir, **args)
    assert snapshot(config_dir) == before
    assert not result.get("failed"), result["msg"]
    assert result["probes"] == {}, result


def test_downgrade_false_keeps_a_parent_domain_entry_over_a_weaker_child(localhost, config_dir):
    """A .domain entry covers the child and its subdomains: no weaker child entry is added."""
    table = seed_table(config_dir, ".example.com secure\n")
    result = profile(localhost, config_dir, downgrade=False,
                     policy_table=table_args(config_dir, destinations=["a.example.com"], level="may",
                                             include_subdomains=True))
    assert sorted(result["policy_table"]["kept"]) == [".a.example.com", "a.example.com"], result
    assert table.read_text() == ".example.com secure\n"


# --- check mode against the run ----------------------------------------------------------------------

def test_check_mode_predicts_main_cf_changes_with_a_migration(tmp_path, config_dir):
    with_obsolete_switch(config_dir)
    task = {"name": "p", PROFILE: {"config_dir": str(config_dir), "preflight": {"mode": "skip"},
                                   "migrate_obsolete": True, "absent_parameters": ["smtpd_use_tls"],
                                   "parameters": {"smtpd_tls_security_level": "encrypt"}}}
    rc, check, output = run_playbook(tmp_path, [task], check=True)
    assert rc == 0, output
    rc, real, output = run_playbook(tmp_path, [task])
    assert rc == 0, output
    assert check["p"]["main_cf"] == real["p"]["main_cf"]
    assert check["p"]["migration"]["changes"] == real["p"]["migration"]["changes"]


def test_downgrade_false_keeps_the_level_the_migration_gives(localhost, config_dir):
    """smtpd_use_tls = yes is level may: a downgrade=false profile asking for none keeps it."""
    main_cf = config_dir / "main.cf"
    main_cf.write_text("".join(line for line in main_cf.read_text().splitlines(True)
                               if not line.startswith("smtpd_tls_security_level")))
    with_obsolete_switch(config_dir)
    result = profile(localhost, config_dir, migrate_obsolete=True, downgrade=False,
                     parameters={"smtpd_tls_security_level": "none"})
    assert not result.get("failed"), result
    assert result["main_cf"]["kept"] == {"smtpd_tls_security_level": "may"}, result
    assert "smtpd_tls_security_level = may" in effective_config(config_dir)[0]


def test_check_mode_predicts_a_certificate_and_parameters_run(tmp_path, config_dir, pair):
    cert = certificate(tmp_path, pair)
    task = {"name": "p", PROFILE: {"config_dir": str(config_dir), "preflight": {"mode": "skip"},
                                   "validate": "postfix -c %s check", "certificate": cert,
                                   "parameters": {"smtpd_tls_cert_file": cert["cert_file"],
                                                  "smtpd_tls_key_file": cert["key_file"]},
                                   "policy_table": table_args(config_dir)}}
    before = frozen(config_dir)
    rc, check, output = run_playbook(tmp_path, [task], check=True, diff=True)
    assert rc == 0 and snapshot(config_dir) == before and not os.path.exists(cert["cert_file"]), output
    rc, real, output = run_playbook(tmp_path, [task], diff=True)
    assert rc == 0, output
    for key in ("changed", "reload_required", "restart_required", "main_cf"):
        assert check["p"][key] == real["p"][key], key
    for key in ("changed", "cert_changed", "key_changed"):
        assert check["p"]["certificate"][key] == real["p"]["certificate"][key], key


# --- The pre-flight against a real TLS server --------------------------------------------------------

class StartTlsServer(object):
    """A minimal SMTP server on 127.0.0.1 offering STARTTLS with a self-signed certificate."""

    def __init__(self, cert_path, key_path, max_version=None):
        import socket
        import ssl
        import threading

        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_path, key_path)
        if max_version:
            self.context.maximum_version = max_version
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import socket

        end = time.monotonic() + 120
        while self.running and time.monotonic() < end:
            try:
                conn, _address = self.sock.accept()
            except socket.timeout:
                continue
            try:
                conn.settimeout(10)
                self._talk(conn)
            except (OSError, ValueError):
                pass
            finally:
                conn.close()
        self.sock.close()

    def _talk(self, conn):
        conn.sendall(b"220 tls.test ESMTP\r\n")
        reader = conn.makefile("rb")
        tls = False
        while True:
            line = reader.readline()
            if not line:
                return
            verb = line.strip().split(b" ")[0].upper()
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250-tls.test\r\n" + (b"" if tls else b"250-STARTTLS\r\n") + b"250 8BITMIME\r\n")
            elif verb == b"STARTTLS" and not tls:
                conn.sendall(b"220 2.0.0 go ahead\r\n")
                conn = self.context.wrap_socket(conn, server_side=True)
                reader = conn.makefile("rb")
                tls = True
            elif verb == b"QUIT":
                conn.sendall(b"221 2.0.0 bye\r\n")
                return
            else:
                conn.sendall(b"250 2.0.0 ok\r\n")

    def stop(self):
        self.running = False
        self.thread.join(5)


@pytest.fixture
def tls_server(tmp_path, pair):
    (tmp_path / "server.pem").write_text(pair[0])
    (tmp_path / "server.key").write_text(pair[1])
    servers = []

    def start(**kwargs):
        servers.append(StartTlsServer(str(tmp_path / "server.pem"), str(tmp_path / "server.key"), **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def finger(*args):
    return subprocess.run(["posttls-finger", "-t", "5", "-T", "5", "-c"] + list(args), capture_output=True,
                          text=True, check=False).stdout


WRONG_FINGERPRINT = ":".join(["AB"] * 32)


@pytest.mark.parametrize("level, attributes, server_args, postfix_says", [
    ("fingerprint", {"match": WRONG_FINGERPRINT}, {}, ("-l", "fingerprint", "DEST", WRONG_FINGERPRINT)),
    ("dane-only", None, {}, ("-l", "dane-only", "DEST")),
    ("encrypt", {"protocols": ">=TLSv1.3"}, {"max_version": "TLSv1_2"},
     ("-l", "encrypt", "-p", ">=TLSv1.3", "DEST")),
], ids=["fingerprint mismatch", "dane-only without TLSA", "protocol floor"])
def test_preflight_refuses_a_policy_the_server_cannot_take(localhost, config_dir, tls_server, level, attributes,
                                                           server_args, postfix_says):
    import ssl

    if "max_version" in server_args:
        server_args = {"max_version": getattr(ssl.TLSVersion, server_args["max_version"])}
    server = tls_server(**server_args)
    destination = "[127.0.0.1]:%d" % server.port
    # What Postfix's own client says about this policy: no session it would deliver over.
    said = finger(*[destination if word == "DEST" else word for word in postfix_says])
    assert "Verified TLS connection" not in said, said
    assert "verification failed" in said or "TLS connection established" not in said, said
    before = frozen(config_dir)
    policy = {"destination": destination, "level": level}
    if attributes:
        policy["attributes"] = attributes
    result = profile(localhost, config_dir, preflight={"mode": "refuse", "timeout": 5, "host_lookup": "native"},
                     policy_table=table_args(config_dir, destinations=[], policies=[policy]))
    assert result.get("failed") and "cannot take level %s" % level in result["msg"], result
    assert snapshot(config_dir) == before


def server_fingerprint(pem):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    digest = x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256())
    return ":".join("%02X" % byte for byte in digest)


@pytest.mark.parametrize("level, attributes, server_args", [
    ("fingerprint", "FINGERPRINT", {}),
    ("fingerprint", "OTHER|FINGERPRINT", {}),
    ("encrypt", {"protocols": ">=TLSv1.2"}, {"max_version": "TLSv1_2"}),
], ids=["fingerprint match", "second of two fingerprints", "protocol floor met"])
def test_preflight_passes_a_policy_the_server_takes(localhost, config_dir, tls_server, pair, level, attributes,
                                                    server_args):
    """The exact-policy probe refuses only what Postfix would not deliver over."""
    import ssl

    if "max_version" in server_args:
        server_args = {"max_version": getattr(ssl.TLSVersion, server_args["max_version"])}
    server = tls_server(**server_args)
    destination = "[127.0.0.1]:%d" % server.port
    if isinstance(attributes, str):
        attributes = {"match": attributes.replace("FINGERPRINT", server_fingerprint(pair[0]))
                      .replace("OTHER", WRONG_FINGERPRINT)}
    result = profile(localhost, config_dir, preflight={"mode": "refuse", "timeout": 5, "host_lookup": "native"},
                     policy_table=table_args(config_dir, destinations=[],
                                             policies=[{"destination": destination, "level": level,
                                                        "attributes": attributes}]))
    assert result["changed"] is True and result["probes"][destination]["policy"]["passes"] is True, result


def test_preflight_passes_a_server_that_takes_encrypt(localhost, config_dir, tls_server):
    """The fake server is good enough: an encrypt policy passes and is written."""
    server = tls_server()
    destination = "[127.0.0.1]:%d" % server.port
    result = profile(localhost, config_dir, preflight={"mode": "refuse", "timeout": 5, "host_lookup": "native"},
                     policy_table=table_args(config_dir, destinations=[destination]))
    assert result["changed"] is True and result["probes"][destination]["established"] is True, result


MODULE_PATH = "ansible_collections.mailtls.postfix.plugins.modules.tls_profile"


def run_direct(args, timeout):
    """The module as Ansible runs it (JSON on stdin), killed after ``timeout`` s; None when it hangs."""
    run = run_as_ansible(MODULE_PATH, args, python="/usr/bin/python3", timeout=timeout, cwd=args["config_dir"])
    if run.timed_out:
        return None
    return run.parsed()


def test_cert_and_key_the_same_file_through_a_linked_directory_is_refused(tmp_path, config_dir, pair):
    (tmp_path / "certs").mkdir()
    os.symlink(str(tmp_path / "certs"), str(tmp_path / "alias"))
    args = {"config_dir": str(config_dir), "preflight": {"mode": "skip"},
            "certificate": {"cert_file": str(tmp_path / "certs" / "mx.pem"),
                            "key_file": str(tmp_path / "alias" / "mx.pem"),
                            "cert_content": pair[0], "key_content": pair[1]}}
    result = run_direct(args, timeout=30)
    assert result is not None, "the module hung (and left %s)" % os.listdir(str(tmp_path / "certs"))
    assert result.get("failed") and "key_file" in result["msg"], result


# --- Bad input: an error naming the option, nothing changed --------------------------------------------

@pytest.mark.parametrize("args, option", [
    pytest.param({"policy_table": {"destinations": ["a.example"], "level": "encrypt",
                                   "extra_maps": ["hash:/x\nrelayhost = [evil.example]"]}}, "extra_maps",
                 id="newline in extra_maps"),
    pytest.param({"policy_table": {"destinations": ["a.example"], "level": "encrypt",
                                   "extra_maps": ["inline:{ {a.example=may}"]}}, "missing '}'", id="unbalanced brace"),
    pytest.param({"policy_table": {"destinations": ["#a.example"], "level": "encrypt"}}, "#a.example", id="# key"),
    pytest.param({"policy_table": {"destinations": ["a.example\tsecure"], "level": "encrypt"}}, "a.example",
                 id="tab in destination"),
    pytest.param({"policy_table": {"destinations": ["a.example"], "level": "verify",
                                   "attributes": {"match": "hostname\n.evil secure"}}}, "attributes.match",
                 id="newline in attribute"),
    pytest.param({"policy_table": {"destinations": ["a.example"], "level": "fingerprint",
                                   "attributes": {"match": "{AB:CD}"}}}, "attributes.match", id="brace in fingerprint"),
    pytest.param({"policy_table": {"destinations": ["a.example", "A.EXAMPLE"], "level": "encrypt",
                                   "policies": [{"destination": "a.example", "level": "secure"}]}},
                 "given twice", id="one destination, two levels"),
    pytest.param({"master_services": [{"service": "submission", "type": "inet", "command": "smtpd",
                                       "args": ["x\n  -o smtpd_tls_security_level=none"]}]}, "args",
                 id="newline in master args"),
    pytest.param({"master_services": [{"service": "submission", "type": "inet", "command": "smtpd",
                                       "args": ["{evil"]}]}, "submission/inet", id="brace in master args"),
    pytest.param({"master_services": [{"service": "submission", "type": "inet", "command": "smtpd",
                                       "options": {"smtpd_tls_security_level": "{encrypt"}}]}, "missing '}'",
                 id="brace in master option"),
    pytest.param({"master_services": [{"service": "submission", "type": "inet", "command": "smtpd",
                                       "maxproc": "100 -o x=y"}]}, "maxproc", id="space in maxproc"),
    pytest.param({"parameters": {"smtpd_banner": "x\ry = z"}}, "smtpd_banner", id="CR in value"),
    pytest.param({"parameters": {"smtpd_tls_security_level": {"level": "may"}}}, "smtpd_tls_security_level",
                 id="mapping as value"),
    pytest.param({"parameters": {"mailtls_x": "${"}}, "mailtls_x", id="unclosed ${"),
    pytest.param({"parameters": {"mailtls_x": "ok $"}}, "mailtls_x", id="$ without a name"),
    pytest.param({"parameters": {"mailtls_x": "$(a{)"}}, "mailtls_x", id="bad macro name"),
    pytest.param({"certificate": {"cert_file": "CERT", "key_file": "KEY", "self_signed": True,
                                  "self_signed_subject": "CN=no-slash"}}, "self_signed_subject",
                 id="bad subject"),
    pytest.param({"validate": "postfix -c %s check; touch PWNED", "parameters": {"smtp_tls_loglevel": 1}},
                 "validate", id="shell in validate"),
])
def test_bad_input_names_the_option_and_changes_nothing(localhost, tmp_path, config_dir, args, option):
    if "policy_table" in args:
        args["policy_table"]["path"] = str(config_dir / "tls_policy")
    if "certificate" in args:
        args["certificate"].update(cert_file=str(tmp_path / "c.pem"), key_file=str(tmp_path / "c.key"))
    if "validate" in args:
        args["validate"] = args["validate"].replace("PWNED", str(tmp_path / "pwned"))
    before = frozen(config_dir)
    result = profile(localhost, config_dir, **args)
    assert result.get("failed") and option in result["msg"], result
    assert snapshot(config_dir) == before
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "c.key").exists()


# --- Files that are not what they seem -----------------------------------------------------------------

@pytest.mark.parametrize("name", ["main.cf", "master.cf", "tls_policy", "certs/mx.pem", "certs/mx.key"])
def test_a_fifo_where_a_file_is_expected_is_refused_without_hanging(tmp_path, config_dir, pair, name):
    cert = certificate(tmp_path, pair)
    where = config_dir / name if not name.startswith("certs/") else tmp_path / name
    if where.exists():
        where.unlink()
    os.mkfifo(str(where))
    args = {"config_dir": str(config_dir), "preflight": {"mode": "skip"}, "certificate": cert,
            "policy_table": table_args(config_dir),
            "master_services": [{"service": "submission", "type": "inet", "command": "smtpd"}]}
    if name != "main.cf":
        settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result = run_direct(args, timeout=60)
    assert result is not None, "the module hung on a FIFO"
    assert result.get("failed") and str(where) in result["msg"], result
    assert snapshot(config_dir) == before
    assert name == "certs/mx.key" or not os.path.exists(cert["key_file"])


@pytest.mark.parametrize("name", ["tls_policy", "certs/mx.pem", "certs/mx.key"])
def test_a_symlink_to_a_victim_is_never_written_through(localhost, tmp_path, config_dir, pair, name):
    cert = certificate(tmp_path, pair)
    victim = tmp_path / "victim"
    victim.write_text("do not touch\n")
    victim.chmod(0o600)
    where = config_dir / name if not name.startswith("certs/") else tmp_path / name
    os.symlink(str(victim), str(where))
    profile(localhost, config_dir, certificate=cert, policy_table=table_args(config_dir))
    assert victim.read_text() == "do not touch\n" and stat.S_IMODE(victim.stat().st_mode) == 0o600


LATIN1 = b"# Gr\xfc\xdfe aus M\xfcnchen\n"


def test_bytes_that_are_not_utf8_survive_and_are_reported(tmp_path, config_dir):
    table = config_dir / "tls_policy"
    table.write_bytes(LATIN1 + b"old.example encrypt\n")
    postmap("hash:%s" % table)
    for name in ("main.cf", "master.cf"):
        with open(config_dir / name, "ab") as handle:
            handle.write(LATIN1)
    task = {"name": "p", PROFILE: sender_args(config_dir)}
    settle(config_dir / "main.cf")
    rc, results, output = run_playbook(tmp_path, [task], diff=True)
    assert rc == 0 and results["p"]["changed"] is True, output
    for path in (table, config_dir / "main.cf", config_dir / "master.cf"):
        assert LATIN1 in path.read_bytes(), path
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    rc, results, output = run_playbook(tmp_path, [task], diff=True)
    assert rc == 0 and results["p"]["changed"] is False and snapshot(config_dir) == before, output


def sender_args(config_dir):
    return {"config_dir": str(config_dir), "preflight": {"mode": "skip"}, "validate": "postfix -c %s check",
            "parameters": {"smtp_tls_loglevel": 1}, "policy_table": table_args(config_dir),
            "master_services": [{"service": "submission", "type": "inet", "private": "n", "command": "smtpd",
                                 "options": {"smtpd_tls_security_level": "encrypt"}}]}


# --- Reload, size ----------------------------------------------------------------------------------------

def test_reload_when_postfix_is_not_running_reports_and_does_nothing(localhost, tmp_path, config_dir):
    """A private queue_directory: `postfix status` and reload never reach the system's Postfix."""
    (tmp_path / "queue").mkdir()
    with open(config_dir / "main.cf", "a") as handle:
        handle.write("queue_directory = %s\n" % (tmp_path / "queue"))
    settle(config_dir / "main.cf")
    result = profile(localhost, config_dir, reload=True, parameters={"smtp_tls_loglevel": 1})
    assert result["changed"] is True and result["running"] is False, result
    assert result["reload_required"] is True and result["reloaded"] is False


def huge_policy_table(config_dir):
    return table_args(config_dir, destinations=[], include_subdomains=True, policies=[
        {"destination": "d%d.example" % index, "level": "verify" if index % 2 else "encrypt",
         "attributes": {"match": "hostname"} if index % 2 else None} for index in range(10000)])


def test_ten_thousand_policies_and_a_quick_noop(localhost, config_dir):
    first = profile(localhost, config_dir, policy_table=huge_policy_table(config_dir))
    assert first["changed"] is True and len(first["policy_table"]["added"]) == 20000, first.get("msg")
    before = frozen(config_dir)
    start = time.monotonic()
    again = profile(localhost, config_dir, policy_table=huge_policy_table(config_dir))
    elapsed = time.monotonic() - start
    assert again["changed"] is False and again["policy_table"]["postmap_run"] is False
    assert snapshot(config_dir) == before
    assert elapsed < 30, "a no-op of 10,000 policies took %.1f s" % elapsed


def test_ten_thousand_policies_are_not_echoed_back(localhost, config_dir):
    result = profile(localhost, config_dir, policy_table=huge_policy_table(config_dir))
    echoed = result["invocation"]["module_args"]["policy_table"]["policies"]
    assert not isinstance(echoed, list) or len(echoed) <= 1000


def test_an_empty_level_with_downgrade_false_keeps_the_level(localhost, config_dir):
    """An empty level is Postfix's default, none: with downgrade=false it weakens nothing (it crashed once)."""
    main_cf = config_dir / "main.cf"
    before = effective_config(config_dir)[0]
    assert "smtp_tls_security_level = may" in before
    result = profile(localhost, config_dir, downgrade=False, parameters={"smtp_tls_security_level": ""})
    assert result["changed"] is False and result["main_cf"]["kept"] == {"smtp_tls_security_level": "may"}, result
    assert effective_config(config_dir)[0] == before and main_cf.exists()
