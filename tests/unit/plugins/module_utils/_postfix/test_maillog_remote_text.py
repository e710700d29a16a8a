"""Hostile review of issue 21: text a remote party chooses never counts as a TLS deferral.

A forced destination whose mail is deferred for TLS reasons is a ``fail`` in the report
(plan.advice.problems). Postfix's own wording says whether a deferral was TLS's (smtp_proto.c:
"TLS is required, but ...", "Cannot start TLS: handshake failure", "Server certificate not
verified"). But a deferral's text also carries what others chose: the remote server's reply after
"said:" or "refused to talk to me:", and host and domain names (an MX host called
``starttls-gw.example``, a recipient domain called ``dane.example``, whose DNS its owner controls).
With ``smtp_tls_security_level = encrypt`` every destination is forced, so a stranger who sends
one message to a domain of his naming, or runs a server that greylists with a chatty reply, could
put a false ``fail`` in the fleet report and a fabricated "TLS" sample in front of the admin.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.maillog import is_tls_failure
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.advice import policy_for, problems
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.delivery_log import LogReader

REFERENCE = datetime(2026, 12, 31, tzinfo=timezone.utc)
LINE = ("Dec  2 15:48:41 mx postfix/smtp[123]: ABC123: to=<a@%s>, relay=%s, delay=1, delays=1/0/0/0, "
        "dsn=4.4.1, status=deferred (%s)")

REMOTE_CHOSEN = [
    # a greylisting server's reply
    ("example.com", "mx.example.com[192.0.2.1]:25",
     "host mx.example.com[192.0.2.1] said: 450 4.7.1 Greylisted: our STARTTLS and DANE checks run later, "
     "TLS handshake failure is not yours (in reply to RCPT TO command)"),
    # a reply that quotes Postfix's own wording
    ("example.com", "mx.example.com[192.0.2.1]:25",
     "host mx.example.com[192.0.2.1] said: 451 TLS is required, but Cannot start TLS: Server certificate not "
     "verified (in reply to end of DATA command)"),
    # a banner
    ("example.com", "mx.example.com[192.0.2.1]:25",
     "host mx.example.com[192.0.2.1] refused to talk to me: 554 5.7.1 no STARTTLS, TLSA or SSL_connect here"),
    # an MX host name chosen by the domain's owner
    ("example.com", "starttls-gw.example.com[192.0.2.1]:25",
     "connect to starttls-gw.example.com[192.0.2.1]:25: Connection refused"),
    ("example.com", "tlsa.failed.example.com[192.0.2.1]:25",
     "lost connection with tlsa.failed.example.com[192.0.2.1] while receiving the initial server greeting"),
    # a recipient domain chosen by the sender
    ("dane.example", "none",
     "Host or domain name not found. Name service error for name=dane.example type=MX: Host not found, try again"),
    ("tls-handshake.example", "none",
     "delivery temporarily suspended: Host or domain name not found. Name service error for "
     "name=tls-handshake.example type=A: Host not found, try again"),
]

POSTFIX_OWN = [
    "TLS is required, but was not offered by host mx.example.com[192.0.2.1]",
    "TLS is required, but host mx.example.com[192.0.2.1] refused to start TLS: 454 4.7.0 TLS not available",
    "TLS is required, but our TLS engine is unavailable",
    "Cannot start TLS: handshake failure",
    "delivery temporarily suspended: Cannot start TLS: handshake failure",
    "Server certificate not verified",
    "Server certificate not trusted",
    "TLSA lookup error for mx.example.com:25",
]


@pytest.mark.parametrize("domain, relay, text", REMOTE_CHOSEN)
def test_remote_chosen_text_is_no_tls_deferral_of_a_forced_destination(domain, relay, text):
    reader = LogReader(local_zone=timezone.utc)
    reader.read([(LINE % (domain, relay, text)).encode()], REFERENCE)
    log = reader.destinations[domain]
    assert log.attempts == 1
    assert log.tls_deferrals == 0 and log.samples == []
    forced = policy_for(domain, {}, "encrypt", "smtp_tls_security_level")
    assert [item["kind"] for item in problems(log, forced)] == []


@pytest.mark.parametrize("text", POSTFIX_OWN)
def test_postfix_own_tls_wordings_still_count(text):
    assert is_tls_failure(text)
    reader = LogReader(local_zone=timezone.utc)
    reader.read([(LINE % ("example.com", "mx.example.com[192.0.2.1]:25", text)).encode()], REFERENCE)
    log = reader.destinations["example.com"]
    assert log.tls_deferrals == 1 and log.samples == [text]
    forced = policy_for("example.com", {}, "encrypt", "smtp_tls_security_level")
    assert [item["kind"] for item in problems(log, forced)] == ["tls_deferred_forced"]
