"""Relay mail for real: a Postfix instance set up by tls_profile's relay sends to relays that record
what they receive (TLS or not, the AUTH they are offered, the envelope).

Issue 18 proved two defects with real mail: a sender without credentials was offered its
@domain's password by Postfix, at another relay; and a ``smtp_tls_per_site`` entry made in the
same call sent MAIL FROM to the relay in clear. Each test shows the danger with the Postfix
configuration itself (the premise), then that the module refuses to write it, and that what it
does write sends each password to its own relay only, inside TLS.
"""

from __future__ import annotations

import base64
import json
import os
import smtplib
import socketserver
import ssl
import subprocess
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from conftest import debian_main_cf, make_config_dir
from tls_material import make_cert, write_pair
from drivers import run_module_process, scratch_postfix, start_postfix

WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
PORT = 25620 + WORKER * 10  # the sending instance's smtpd; the relays listen above it
R1_PASSWORD, R2_PASSWORD = "r1-s3cret", "r2-s3cret"


class RecordingRelay(socketserver.ThreadingTCPServer):
    """An SMTP server on 127.0.0.1 that offers STARTTLS (or not) and AUTH, accepts all mail, and
    records each session: whether it was inside TLS, the credentials offered, the envelope."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port, context=None, auth=True):
        self.context, self.auth, self.sessions, self.lock = context, auth, [], threading.Lock()
        super().__init__(("127.0.0.1", port), SmtpSession)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.shutdown()
        self.server_close()

    def mail_from(self):
        return [(session["tls"], session["mail_from"], session["auth"]) for session in self.sessions
                if session["mail_from"] is not None]


class SmtpSession(socketserver.StreamRequestHandler):
    timeout = 20

    def handle(self):
        session = {"tls": False, "auth": None, "mail_from": None, "rcpt": []}
        with self.server.lock:
            self.server.sessions.append(session)
        self.reply("220 relay.test ESMTP")
        while True:
            line = self.rfile.readline(4096).decode("ascii", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if not line or verb == "QUIT":
                self.reply("221 bye")
                return
            if verb in ("EHLO", "HELO"):
                offers = ["STARTTLS"] if self.server.context and not session["tls"] else []
                offers += ["AUTH PLAIN LOGIN"] if self.server.auth else []
                self.reply("\r\n".join("250-" + item for item in ["relay.test"] + offers)
                           + "\r\n250 8BITMIME")
            elif verb == "STARTTLS" and self.server.context and not session["tls"]:
                self.reply("220 go ahead")
                self.connection = self.server.context.wrap_socket(self.connection, server_side=True)
                self.rfile, self.wfile = self.connection.makefile("rb"), self.connection.makefile("wb", 0)
                session["tls"] = True
            elif verb == "AUTH":
                session["auth"] = self.authenticate(line.split()[1:])
                self.reply("235 ok")
            elif verb == "MAIL":
                session["mail_from"] = line[10:].split(">")[0].lstrip("<")
                self.reply("250 ok")
            elif verb == "RCPT":
                session["rcpt"].append(line)
                self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go")
                while self.rfile.readline(65536).rstrip(b"\r\n") != b".":
                    pass
                self.reply("250 queued")
            else:
                self.reply("250 ok")

    def authenticate(self, words):
        mechanism = words[0].upper()
        if mechanism == "PLAIN":
            answer = words[1] if len(words) > 1 else self.ask("334 ")
            _authz, user, password = base64.b64decode(answer).decode().split("\0")
            return user, password
        user = base64.b64decode(words[1] if len(words) > 1 else self.ask("334 VXNlcm5hbWU6")).decode()
        return user, base64.b64decode(self.ask("334 UGFzc3dvcmQ6")).decode()

    def ask(self, prompt):
        self.reply(prompt)
        return self.rfile.readline(4096).strip()

    def reply(self, text):
        self.wfile.write((text + "\r\n").encode())


@pytest.fixture
def sender():
    """A Postfix instance of its own, started, that relays whatever its smtpd on PORT receives."""
    with scratch_postfix("mailtls-relay-mail-", PORT) as info:
        with open(str(info["conf"] / "main.cf"), "a") as handle:
            handle.write("mynetworks = 127.0.0.0/8\nsmtp_tls_loglevel = 1\nsmtp_connect_timeout = 5s\n")
        start_postfix(info["conf"], PORT)
        yield info


@pytest.fixture
def tls_context(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert("relay.test", None, None, key, -1, 30)
    write_pair(tmp_path, "relay", cert, key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tmp_path / "relay.pem"), str(tmp_path / "relay.key"))
    return context


@pytest.fixture
def relays(tls_context):
    made = []

    def make(offset, tls=True, auth=True):
        made.append(RecordingRelay(PORT + offset, tls_context if tls else None, auth))
        return made[-1]

    yield make
    for relay in made:
        relay.close()


def configure(conf, relay, **more):
    args = dict(config_dir=str(conf), validate="postfix -c %s check", reload=True, preflight={"mode": "skip"},
                relay=dict(dict(password_table=str(conf / "sasl_passwd"), sender_table=str(conf / "sender_relay"),
                                transport_table=str(conf / "relay_transport"), table_type="hash"), **relay), **more)
    return run_module_process("tls_profile", args)


def send(port, sender_address, recipient="someone@far.example"):
    """Hand one message to the sending instance's smtpd, as a client of it would."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail(sender_address, [recipient], b"Subject: relay test\r\n\r\nhello\r\n")


def wait_for(condition, conf, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        subprocess.run(["postqueue", "-c", str(conf), "-f"], capture_output=True, check=False)
        if condition():
            return True
        time.sleep(0.5)
    return False


def mail_log(info):
    path = info["root"] / "mail.log"
    return path.read_text() if path.exists() else ""


def test_a_senders_domain_credentials_reach_another_relay_unless_refused(sender, relays):
    """Class 2, with real mail. Premise: with a credentialed @example.org entry for R2 and
    director@example.org routed to R1 without credentials, Postfix offers R1 the R2 password.
    The module refuses that set-up; given director's own credentials, each relay receives its own."""
    conf = sender["conf"]
    r1, r2 = relays(1), relays(2)
    sender_relays = [{"sender": "@example.org", "host": "127.0.0.1", "port": PORT + 2, "username": "u2",
                      "password": R2_PASSWORD},
                     {"sender": "director@example.org", "host": "127.0.0.1", "port": PORT + 1}]
    relay = dict(host="127.0.0.1", port=PORT + 2, level="encrypt", username="u2", password=R2_PASSWORD,
                 sender_relays=sender_relays)
    before = dict((name, (conf / name).read_bytes()) for name in ("main.cf", "master.cf"))
    result, output = configure(conf, relay)
    assert result["failed"] and result["msg"].startswith("relay.sender_relays[1].username:"), output[-2000:]
    assert dict((name, (conf / name).read_bytes()) for name in ("main.cf", "master.cf")) == before

    # The premise, with the module's own set-up plus the one password line the refused plan implied.
    relay["sender_relays"][1] = dict(sender_relays[1], username="director", password=R1_PASSWORD)
    result, output = configure(conf, relay)
    assert not result.get("failed"), output[-2000:]
    lines = [line for line in (conf / "sasl_passwd").read_text().splitlines() if not line.startswith("director@")]
    (conf / "sasl_passwd").write_text("\n".join(lines) + "\n")
    subprocess.run(["postmap", "-c", str(conf), "hash:%s" % (conf / "sasl_passwd")], check=True)
    send(PORT, "director@example.org")
    assert wait_for(r1.mail_from, conf), mail_log(sender)
    assert r1.mail_from() == [(True, "director@example.org", ("u2", R2_PASSWORD))], \
        "premise: Postfix offers @example.org's password to director's relay"

    # What the module writes: each relay gets its own credentials, inside TLS.
    r1.sessions.clear()
    result, output = configure(conf, relay)
    assert result["changed"] and not result.get("failed"), output[-2000:]
    send(PORT, "director@example.org")
    send(PORT, "other@example.org")
    assert wait_for(lambda: r1.mail_from() and r2.mail_from(), conf), mail_log(sender)
    assert r1.mail_from() == [(True, "director@example.org", ("director", R1_PASSWORD))]
    assert r2.mail_from() == [(True, "other@example.org", ("u2", R2_PASSWORD))]


def test_a_per_site_entry_would_send_relay_mail_in_clear_and_is_refused(sender, relays):
    """Class 3, with real mail. The relay offers neither STARTTLS nor AUTH (so no SASL mechanism
    check stops the client before the envelope). What the module writes defers
    the mail (TLS is required) and sends no MAIL FROM; an smtp_tls_per_site entry ``NONE`` for the
    relay, given in the same call, is refused: in main.cf it sends the envelope in clear."""
    conf = sender["conf"]
    cleartext = relays(3, tls=False, auth=False)
    hop = "[127.0.0.1]:%d" % (PORT + 3)
    relay = dict(host="127.0.0.1", port=PORT + 3, level="encrypt", username="u", password=R1_PASSWORD)
    (conf / "per_site").write_text("%s NONE\n" % hop)
    subprocess.run(["postmap", "-c", str(conf), "hash:%s" % (conf / "per_site")], check=True)
    before = dict((name, (conf / name).read_bytes()) for name in ("main.cf", "master.cf"))
    result, output = configure(conf, relay, parameters={"smtp_tls_per_site": "hash:%s" % (conf / "per_site")})
    assert result["failed"] and result["msg"].startswith("parameters:") and "smtp_tls_per_site" in result["msg"], \
        output[-2000:]
    assert dict((name, (conf / name).read_bytes()) for name in ("main.cf", "master.cf")) == before

    result, output = configure(conf, relay)
    assert not result.get("failed"), output[-2000:]
    send(PORT, "someone@example.org")
    assert wait_for(lambda: "TLS is required, but was not offered" in mail_log(sender), conf), mail_log(sender)
    assert cleartext.mail_from() == [], "no envelope, no password without TLS"

    # The premise: the same entry in main.cf sends MAIL FROM (and the password) in clear.
    subprocess.run(["postconf", "-c", str(conf), "-e", "smtp_tls_per_site = hash:%s" % (conf / "per_site")],
                   check=True, stderr=subprocess.DEVNULL)
    subprocess.run(["postfix", "-c", str(conf), "reload"], check=True, capture_output=True)
    assert wait_for(cleartext.mail_from, conf), mail_log(sender)
    assert cleartext.mail_from()[0][:2] == (False, "someone@example.org")
    # And the module's next run refuses it, naming main.cf.
    result, output = configure(conf, relay)
    assert result["failed"] and result["msg"].startswith("main.cf:") and "smtp_tls_per_site" in result["msg"], \
        output[-2000:]


def test_the_recording_relay_sees_what_it_records(relays):
    """The instrument itself: a session inside TLS with AUTH PLAIN is recorded as such."""
    relay = relays(5)
    client = ssl.create_default_context()
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", PORT + 5, timeout=10) as smtp:
        smtp.starttls(context=client)
        smtp.login("me", "pw")
        smtp.sendmail("a@example.org", ["b@far.example"], b"Subject: x\r\n\r\ny\r\n")
    assert relay.mail_from() == [(True, "a@example.org", ("me", "pw"))]


# --- issue 18, hostile review: each was a password offered to another server ---------------------

def test_a_sender_with_an_address_extension_is_never_sent_the_plain_addresss_credentials(sender, relays):
    """With recipient_delimiter = + (Debian's default), Postfix looks up director+news@ as
    director+news@, director@, @domain: a sender relay for director+news@ without credentials
    would be offered director@'s password, meant for another relay. Refused; its own credentials
    go to its own relay."""
    conf = sender["conf"]
    r1, r2 = relays(1), relays(2)
    relay = dict(host="127.0.0.1", port=PORT + 2, level="encrypt", username="u2", password=R2_PASSWORD,
                 sender_relays=[{"sender": "director@example.org", "host": "127.0.0.1", "port": PORT + 2,
                                 "username": "director", "password": R2_PASSWORD},
                                {"sender": "director+news@example.org", "host": "127.0.0.1", "port": PORT + 1}])
    result, output = configure(conf, relay, parameters={"recipient_delimiter": "+"})
    assert result["failed"] and result["msg"].startswith("relay.sender_relays[1].username:"), output[-2000:]
    relay["sender_relays"][1].update(username="news", password=R1_PASSWORD)
    result, output = configure(conf, relay, parameters={"recipient_delimiter": "+"})
    assert not result.get("failed"), output[-2000:]
    send(PORT, "director+news@example.org")
    assert wait_for(r1.mail_from, conf), mail_log(sender)
    assert r1.mail_from() == [(True, "director+news@example.org", ("news", R1_PASSWORD))]
    assert r2.mail_from() == []


@pytest.mark.parametrize("name", ["relay_transport", "virtual_transport", "fallback_transport"])
def test_no_other_class_of_mail_is_routed_through_relay_tls_with_sender_credentials(sender, relays, name):
    """relay_transport = relay-tls:[other] (or virtual/fallback) would carry relay_domains mail
    through relay-tls to another server, which Postfix offers the sender's password (it is looked
    up by sender, whatever the next hop). Refused, in the same call or already in main.cf."""
    conf = sender["conf"]
    other = relays(3)
    relay = dict(host="127.0.0.1", port=PORT + 1, level="encrypt",
                 sender_relays=[{"sender": "@example.org", "host": "127.0.0.1", "port": PORT + 1,
                                 "username": "u1", "password": R1_PASSWORD}])
    route = {"relay_domains": "far.example", name: "relay-tls:[127.0.0.1]:%d" % (PORT + 3)}
    result, output = configure(conf, relay, parameters=route)
    assert result["failed"] and result["msg"].startswith("parameters:") and name in result["msg"], output[-2000:]
    result, output = configure(conf, relay)
    assert not result.get("failed"), output[-2000:]
    for key, value in route.items():
        subprocess.run(["postconf", "-c", str(conf), "-e", "%s = %s" % (key, value)], check=True)
    result, output = configure(conf, relay)
    assert result["failed"] and result["msg"].startswith("main.cf:") and name in result["msg"], output[-2000:]
    assert other.sessions == []


def test_main_cfs_sasl_client_on_the_relays_table_in_another_spelling_is_taken_away(sender, relays):
    """The how-to's SASL client in main.cf, naming the relay's table as hash:${config_directory}/...,
    offered the relay's password through Debian's relay transport to a server relay-tls would
    not trust. It is removed (the warning says so, and main.cf no longer has it)."""
    conf = sender["conf"]
    r1 = relays(1)
    with open(str(conf / "main.cf"), "a") as handle:
        handle.write("smtp_sasl_auth_enable = yes\nsmtp_sasl_password_maps = hash:${config_directory}/sasl_passwd\n"
                     "smtp_sasl_tls_security_options = noanonymous\nsmtp_tls_security_level = may\n"
                     "relay_domains = far.example\n")
    relay = dict(host="127.0.0.1", port=PORT + 1, level="secure", username="u1", password=R1_PASSWORD)
    result, output = configure(conf, relay)  # ca_file: the system's CAs, which do not sign the relay's
    assert not result.get("failed"), output[-2000:]
    assert "it is removed, relay-tls carries it" in json.dumps(result.get("warnings") or [])
    main_cf = (conf / "main.cf").read_text()
    assert "smtp_sasl_auth_enable" not in main_cf and "smtp_sasl_password_maps" not in main_cf
    send(PORT, "someone@example.org", "user@far.example")
    assert wait_for(lambda: "deferred" in mail_log(sender) or r1.mail_from(), conf), mail_log(sender)
    assert [auth for _tls, _from, auth in r1.mail_from()] in ([], [None]), r1.mail_from()


def test_a_wider_certificate_name_list_in_main_cf_is_not_the_relays(sender, relays, tmp_path):
    """smtp_tls_secure_cert_match in main.cf (nexthop, dot-nexthop, relay.test) let a server
    certified for another name take the relay's password: relay-tls keeps postconf(5)'s default."""
    conf = sender["conf"]
    impostor = relays(1)  # its certificate names relay.test, not the relay, localhost
    relay = dict(host="localhost", port=PORT + 1, level="secure", username="u1", password=R1_PASSWORD,
                 ca_file=str(tmp_path / "relay.pem"))
    wider = {"smtp_tls_secure_cert_match": "nexthop, dot-nexthop, relay.test", "smtp_host_lookup": "native"}
    result, output = configure(conf, relay, parameters=wider)
    assert not result.get("failed"), output[-2000:]
    send(PORT, "someone@example.org")
    assert wait_for(lambda: "deferred" in mail_log(sender), conf), mail_log(sender)
    assert impostor.mail_from() == [], impostor.mail_from()


# --- the pre-flight trusts what the smtp client trusts -------------------------------------------

@pytest.mark.parametrize("where", ["main.cf", "parameters"])
def test_a_policy_verified_by_main_cfs_ca_file_passes_the_preflight(tmp_path, relays, where):
    """Hostile review: a policy entry was always probed against /etc/ssl/certs, never the smtp
    client's own smtp_tls_CAfile: a server Postfix verifies was refused, and one it cannot verify
    could pass. Probed with main.cf's anchors as this call leaves them, it passes; with none, refused."""
    relays(4)
    ca = tmp_path / "relay.pem"  # the recording relay's self-signed certificate (CN relay.test)
    main_cf = debian_main_cf().replace("smtp_tls_CApath=/etc/ssl/certs", "")
    if where == "main.cf":
        main_cf += "smtp_tls_CAfile = %s\n" % ca
    conf = make_config_dir(tmp_path / "conf", main_cf)
    target = "[127.0.0.1]:%d" % (PORT + 4)
    args = dict(config_dir=str(conf), validate="postfix -c %s check", preflight={"mode": "refuse"},
                policy_table=dict(path=str(conf / "tls_policy"), type="hash", policies=[
                    dict(destination=target, level="secure", attributes={"match": "relay.test"})]))
    if where == "parameters":
        args["parameters"] = {"smtp_tls_CAfile": str(ca)}
    result, output = run_module_process("tls_profile", args)
    assert not result.get("failed"), output[-2000:]
    assert result["probes"][target]["policy"]["passes"] is True
    # The same policy where the smtp client trusts no anchor that signs it: refused.
    (conf / "tls_policy").unlink()
    args.pop("parameters", None)
    args["absent_parameters"] = ["smtp_tls_CAfile"]
    result, output = run_module_process("tls_profile", args)
    assert result["failed"] and "cannot take level secure" in result["msg"], output[-2000:]
