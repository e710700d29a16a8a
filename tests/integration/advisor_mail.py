"""Real mail between scratch Postfix instances on loopback, for tls_advisor: a real Postfix log.

``mail_world(port)``: a receiving instance that offers STARTTLS (a self-signed certificate, two
listeners), one that does not, and a sending instance with ``smtp_tls_loglevel = 1`` whose
``transport_maps`` sends each test domain to one of them:

| domain | next hop | what the log shows |
|---|---|---|
| untrusted.example | [127.0.0.1]:port+1 (TLS, level may) | Untrusted TLS, sent |
| verified.example | [127.0.0.1]:port+2 (TLS, level fingerprint) | Verified TLS, sent |
| plain.example | [127.0.0.1]:port+3 (no STARTTLS) | plaintext, sent |
| required.example | [127.0.0.1]:port+4 (no STARTTLS, level encrypt) | deferred: TLS is required |

The levels are entries of ``hash:<conf>/tls_policy``.

Run as a script to write the committed fixtures: ``python3 tests/integration/advisor_mail.py``.
"""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from drivers import ROOT, scratch_postfix, start_postfix  # noqa: E402
from tls_material import fingerprint, make_cert, pem_cert, write_pair  # noqa: E402

DOMAINS = ("untrusted.example", "verified.example", "plain.example", "required.example")
FIXTURES = ROOT / "tests" / "unit" / "fixtures" / "maillog"
RECEIVER = ["mynetworks = 127.0.0.0/8", "relay_domains = static:ALL", "relay_transport = discard:",
            "default_transport = discard:", "smtpd_tls_loglevel = 1"]


def append(conf, lines):
    with open(str(conf / "main.cf"), "a") as handle:
        handle.write("".join(line + "\n" for line in lines))
    old = os.stat(conf / "main.cf").st_mtime - 10
    os.utime(conf / "main.cf", (old, old))


@contextmanager
def mail_world(port):
    """Yields the sending instance's info; its log is ``info["root"] / "mail.log"``."""
    material = Path(tempfile.mkdtemp(prefix="mailtls-advisor-cert-"))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert("mx.tls.test", None, None, key, -1, 30)
    write_pair(material, "mx", cert, key)
    os.chmod(str(material), 0o755)
    server_tls = ("smtpd_tls_cert_file = %s/mx.pem" % material, "smtpd_tls_key_file = %s/mx.key" % material)
    tls_listeners = ["127.0.0.1:%d inet n - n - - smtpd" % (port + offset) for offset in (1, 2)]
    plain_listeners = ["127.0.0.1:%d inet n - n - - smtpd" % (port + offset) for offset in (3, 4)]
    policy = "[127.0.0.1]:%d fingerprint match=%s\n[127.0.0.1]:%d encrypt\n" % (
        port + 2, fingerprint(pem_cert(cert)), port + 4)
    routes = ["{%s = smtp:[127.0.0.1]:%d}" % (domain, port + offset) for offset, domain in enumerate(DOMAINS, 1)]
    transport = "inline:{ %s }" % ", ".join(routes)
    # Each its own name: a server greeting with the client's own name would be a mail loop.
    with scratch_postfix("mailtls-advisor-tls-", listeners=tls_listeners, server_tls=server_tls,
                         hostname="mx.tls.test") as tls_side, \
            scratch_postfix("mailtls-advisor-plain-", listeners=plain_listeners, server_tls=(),
                            hostname="mx.plain.test") as plain_side, \
            scratch_postfix("mailtls-advisor-sender-", port, hostname="mail.sending.test") as sender:
        append(tls_side["conf"], RECEIVER)
        append(plain_side["conf"], RECEIVER + ["smtpd_tls_security_level = none"])
        # The policy table is where tls_forced keeps its own entries too (tls_forced_policy_table).
        (sender["conf"] / "tls_policy").write_text(policy)
        subprocess.run(["postmap", "hash:%s" % (sender["conf"] / "tls_policy")], check=True)
        append(sender["conf"], ["mynetworks = 127.0.0.0/8", "smtp_tls_loglevel = 1", "smtp_tls_security_level = may",
                                "smtp_tls_fingerprint_digest = sha256", "transport_maps = " + transport,
                                "smtp_tls_policy_maps = hash:%s" % (sender["conf"] / "tls_policy"),
                                "smtp_connect_timeout = 5s"])
        for side, first in ((tls_side, port + 1), (plain_side, port + 3), (sender, port)):
            start_postfix(side["conf"], first)
        try:
            yield sender
        finally:
            subprocess.run(["rm", "-rf", str(material)], check=False)


def send(port, recipients, subject="advisor test"):
    """One message; the recipients go out as given (RCPT TO:<...> verbatim, a quoted local part kept whole)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
        smtp.ehlo("client.sending.test")
        assert smtp.mail("sender@sending.test")[0] == 250
        for recipient in recipients:
            code, reply = smtp.docmd("RCPT TO:<%s>" % recipient)
            assert code == 250, (recipient, code, reply)
        assert smtp.data(("Subject: %s\r\n\r\nhello\r\n" % subject).encode())[0] == 250


def wait_for_log(sender, needles, timeout=60):
    """Until the sender's log holds every needle (flushing the queue meanwhile); its text."""
    log = sender["root"] / "mail.log"
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if all(text.count(needle) >= number for needle, number in needles.items()):
            return text
        subprocess.run(["postqueue", "-c", str(sender["conf"]), "-f"], capture_output=True, check=False)
        time.sleep(0.5)
    raise AssertionError("the log never showed %r:\n%s" % (needles, text[-3000:]))


def wait_for_quiet_log(sender, quiet=2.0, timeout=30):
    """Until the sender's log has not grown for ``quiet`` seconds: a delivery attempt or notice still under
    way would otherwise land between two reads that a test compares (measured: one second apart, under load)."""
    log = sender["root"] / "mail.log"
    deadline, size, since = time.time() + timeout, -1, time.time()
    while time.time() < deadline:
        now = log.stat().st_size if log.exists() else 0
        if now != size:
            size, since = now, time.time()
        elif time.time() - since >= quiet:
            return
        time.sleep(0.2)
    raise AssertionError("the log of %s kept growing for %d s" % (sender["root"], timeout))


def send_each(sender, port, rounds):
    """``rounds`` messages to each domain (one at a time, so each is its own connection)."""
    for number in range(rounds):
        for domain in DOMAINS:
            send(port, ["user%d@%s" % (number, domain)])
        wait_for_log(sender, {"status=sent": 3 * (number + 1), "TLS is required, but was not offered": number + 1})
    return (sender["root"] / "mail.log").read_text(errors="replace")


def main():
    FIXTURES.mkdir(parents=True, exist_ok=True)
    with mail_world(25700) as sender:
        text = send_each(sender, 25700, 3)
    (FIXTURES / "postfix37-loopback.log").write_text(text)
    print("wrote %s (%d lines)" % (FIXTURES / "postfix37-loopback.log", text.count("\n")))


if __name__ == "__main__":
    main()
