"""The mail log parser and the per-destination evidence (model.maillog, plan.delivery_log), on crafted lines.

Each attack is a line an outsider can get into the log (a subject logged by header_checks, a
recipient's quoted local part, a remote server's reply, a program name chosen with logger) and
must never count as a TLS verdict or a delivery it is not.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.maillog import (
    Delivery, Tls, parse_line, parse_message, recipient_domain, traditional_time)
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.delivery_log import LogReader

UTC = timezone.utc
REFERENCE = datetime(2026, 12, 31, tzinfo=UTC)
TLS = "Dec  2 15:48:4%d mx postfix/smtp[123]: Verified TLS connection established to mx1.example.com[192.0.2.1]:25: " \
      "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature ECDSA (P-256)"
SENT = "Dec  2 15:48:4%d mx postfix/smtp[123]: %s: to=<%s>, relay=mx1.example.com[192.0.2.1]:25, delay=0.1, " \
       "delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok)"


def read(*lines, **options):
    reader = LogReader(local_zone=UTC, **options)
    total, skipped = reader.read([line if isinstance(line, bytes) else line.encode() + b"\n" for line in lines], REFERENCE)
    return reader, total, skipped


def outcomes(reader, domain="example.com"):
    log = reader.destinations[domain]
    return dict((name, number) for name, number in log.outcomes.items() if number)


def test_a_verdict_then_its_delivery_counts_as_verified():
    reader, total, skipped = read(TLS % 1, SENT % (2, "ABC123", "a@example.com"))
    assert (total, skipped) == (2, 0)
    assert outcomes(reader) == {"verified": 1}
    log = reader.destinations["example.com"]
    assert log.protocols == {"TLSv1.3": 1} and log.ciphers == {"TLS_AES_256_GCM_SHA384": 1}
    assert list(log.mx_hosts) == ["mx1.example.com"]


def test_a_delivery_without_a_verdict_on_its_connection_is_plaintext():
    reader, _total, _skipped = read(SENT % (2, "ABC123", "a@example.com"))
    assert outcomes(reader) == {"plaintext": 1}


def test_the_next_message_of_the_same_process_without_a_new_verdict_is_plaintext():
    reader, _total, _skipped = read(TLS % 1, SENT % (2, "ABC123", "a@example.com"), SENT % (3, "ABC124", "b@example.com"))
    assert outcomes(reader) == {"verified": 1, "plaintext": 1}
    assert reader.destinations["example.com"].plaintext_after_tls == 1


def test_a_deferred_message_uses_up_the_verdict_so_a_later_stripped_connection_is_plaintext():
    deferred = (SENT % (2, "ABC123", "a@example.com")).replace("dsn=2.0.0, status=sent (250 2.0.0 Ok)",
                                                               "dsn=4.2.0, status=deferred (host said: 450 try later)")
    reader, _total, _skipped = read(TLS % 1, deferred, SENT % (3, "ABC124", "b@example.com"))
    assert outcomes(reader) == {"plaintext": 1}


def test_recipients_of_one_message_share_its_connection():
    reader, _total, _skipped = read(TLS % 1, SENT % (2, "ABC123", "a@example.com"), SENT % (3, "ABC123", "b@example.com"))
    assert outcomes(reader) == {"verified": 2}


def test_a_reused_connection_is_unknown_never_tls():
    reused = (SENT % (2, "ABC124", "b@example.com")).replace(", delay=", ", conn_use=2, delay=")
    reader, _total, _skipped = read(TLS % 1, reused)
    assert outcomes(reader) == {"unknown": 1}


def test_a_verdict_for_another_relay_does_not_cover_the_delivery():
    other = (SENT % (2, "ABC123", "a@example.com")).replace("mx1.example.com[192.0.2.1]", "mx2.example.com[192.0.2.2]")
    reader, _total, _skipped = read(TLS % 1, other)
    assert outcomes(reader) == {"plaintext": 1}


def test_another_process_verdict_does_not_cover_the_delivery():
    reader, _total, _skipped = read(TLS % 1, (SENT % (2, "ABC123", "a@example.com")).replace("[123]", "[124]"))
    assert outcomes(reader) == {"plaintext": 1}


@pytest.mark.parametrize("line", [
    # header_checks' INFO/WARN logs the subject, after cleanup's queue id
    "Dec  2 15:48:41 mx postfix/cleanup[77]: ABC123: info: header Subject: Verified TLS connection established to "
    "mx1.example.com[192.0.2.1]:25: TLSv1.3 with cipher X (256/256 bits) from local; from=<a@b> to=<c@d>",
    # the smtp client's own line, but the verdict is not its start
    "Dec  2 15:48:41 mx postfix/smtp[123]: ABC123: host mx1.example.com[192.0.2.1] said: 550 Verified TLS connection "
    "established to mx1.example.com[192.0.2.1]:25: TLSv1.3 with cipher X (256/256 bits) (in reply to RCPT TO command)",
    # another program named to look like one
    "Dec  2 15:48:41 mx postfix/smtpd[123]: Verified TLS connection established to mx1.example.com[192.0.2.1]:25: "
    "TLSv1.3 with cipher X (256/256 bits)",
    "Dec  2 15:48:41 mx evil postfix/smtp[123]: Verified TLS connection established to mx1.example.com[192.0.2.1]:25: "
    "TLSv1.3 with cipher X (256/256 bits)",
    "Dec  2 15:48:41 mx postfix/smtp: Verified TLS connection established to mx1.example.com[192.0.2.1]:25: "
    "TLSv1.3 with cipher X (256/256 bits)",
])
def test_a_crafted_verdict_outside_the_clients_message_start_never_counts(line):
    reader, _total, _skipped = read(line, SENT % (2, "ABC123", "a@example.com"))
    assert outcomes(reader) == {"plaintext": 1}
    assert reader.verdict_lines == 0


def test_a_quoted_local_part_cannot_forge_the_relay_or_status():
    forged = '"x>, relay=mx1.example.com[192.0.2.1]:25, delay=1, delays=1/1/1/1, dsn=2.0.0, status=sent (ok) y"@victim.example'
    line = ("Dec  2 15:48:42 mx postfix/smtp[123]: ABC123: to=<%s>, relay=plain.victim.example[198.51.100.1]:25, "
            "delay=0.1, delays=0/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)" % forged)
    event = parse_message(parse_line(line, REFERENCE, UTC).message)
    assert isinstance(event, Delivery)
    assert (event.domain, event.relay) == ("victim.example", "plain.victim.example[198.51.100.1]:25")
    reader, _total, _skipped = read(TLS % 1, line)
    assert outcomes(reader, "victim.example") == {"plaintext": 1}


def test_a_servers_reply_cannot_forge_the_status():
    line = ("Dec  2 15:48:42 mx postfix/smtp[123]: ABC123: to=<a@example.com>, relay=mx1.example.com[192.0.2.1]:25, "
            "delay=0.1, delays=0/0/0.05/0.05, dsn=4.0.0, status=deferred (host said: 450 x>, relay=a[1.2.3.4]:25, "
            "delay=1, delays=1/1/1/1, dsn=2.0.0, status=sent (ok))")
    event = parse_message(parse_line(line, REFERENCE, UTC).message)
    assert event.status == "deferred"


@pytest.mark.parametrize("raw", [
    b"Dec  2 15:48:42 mx postfix/smtp[123]: ABC123: to=<\xff@example.com>, relay=none, delay=1, delays=1/0/0/0, "
    b"dsn=4.4.1, status=deferred (x)\n",
    b"\x00\x01garbage\n",
    b"Dec  2 15:48:42 mx postfix/smtp[123]: \xc3\x28 Verified TLS\n",
    b"random text without a date\n",
])
def test_non_utf8_and_garbage_are_skipped_and_counted(raw):
    reader, total, skipped = read(raw, TLS % 1, SENT % (2, "ABC123", "a@example.com"))
    assert (total, skipped) == (3, 1)
    assert outcomes(reader) == {"verified": 1}


def test_a_tab_or_stray_carriage_return_in_free_text_is_kept_as_text():
    line = (SENT % (2, "ABC123", "a@example.com")).replace("250 2.0.0 Ok", "250 2.0.0\tOk")
    reader, _total, skipped = read(TLS % 1, line)
    assert skipped == 0 and outcomes(reader) == {"verified": 1}


@pytest.mark.parametrize("prefix", [
    "Dec  2 15:48:41 mx postfix/smtp[123]: ",
    "2026-12-02T15:48:41.123456+00:00 mx postfix/smtp[123]: ",
    "2026-12-02T15:48:41+0000 mx postfix/smtp[123]: ",
    "2026-12-02T15:48:41Z mx postfix-out/smtp[123]: ",
    "2026-12-02T15:48:41.5+00:00 mx postfix/lmtp[123]: ",
    "2026-12-02T15:48:41.123456789-00:00 mx postfix/smtp[123]: ",
    "Dec  2 15:48:41 mx postfix/relay/smtp[123]: ",
])
def test_the_four_line_formats_and_other_instances(prefix):
    line = parse_line(prefix + "x", REFERENCE, UTC)
    assert line.when == datetime(2026, 12, 2, 15, 48, 41, line.when.microsecond, tzinfo=UTC)
    assert line.pid == 123 and line.message == "x"


def test_a_traditional_date_after_the_reference_is_last_years():
    reference = datetime(2027, 1, 2, tzinfo=UTC)
    assert traditional_time("Dec", "31", "23:59:59", reference, UTC).year == 2026
    assert traditional_time("Jan", " 1", "00:00:01", reference, UTC).year == 2027
    assert traditional_time("Feb", "30", "00:00:01", reference, UTC) is None


def test_the_window_drops_lines_outside_it():
    since = datetime(2026, 12, 2, 15, 48, 42, tzinfo=UTC)
    reader, _total, _skipped = read(TLS % 1, SENT % (2, "ABC123", "a@example.com"), since=since)
    assert outcomes(reader) == {"plaintext": 1}  # the verdict came before the window
    reader, _total, _skipped = read(TLS % 1, SENT % (2, "ABC123", "a@example.com"),
                                    until=since - timedelta(seconds=1))
    assert reader.destinations == {}


def test_dane_is_counted_from_the_match_line_of_the_connection():
    dane = "Dec  2 15:48:40 mx postfix/smtp[123]: mx1.example.com[192.0.2.1]:25: Matched DANE EE certificate at depth 0: 3 1 1 AB"
    reader, _total, _skipped = read(dane, TLS % 1, SENT % (2, "ABC123", "a@example.com"))
    assert reader.destinations["example.com"].dane == 1


def test_postfix_3_11_tls_field_at_level_dane_with_a_verified_handshake_is_dane():
    line = (SENT % (2, "ABC123", "a@example.com")).replace("dsn=2.0.0", "tls=dane, dsn=2.0.0")
    reader, _total, _skipped = read(TLS % 1, line)
    assert reader.destinations["example.com"].dane == 1
    reader, _total, _skipped = read(line)
    assert outcomes(reader) == {"plaintext": 1} and reader.destinations["example.com"].dane == 0


def test_tls_deferrals_are_counted_with_at_most_three_samples():
    lines = ["Dec  2 15:48:4%d mx postfix/smtp[123]: ABC12%d: to=<a@example.com>, relay=mx1.example.com[192.0.2.1]:25, "
             "delay=1, delays=1/0/0/0, dsn=4.7.4, status=deferred (TLS is required, but was not offered by host "
             "mx1.example.com[192.0.2.1] #%d)" % (n, n, n) for n in range(5)]
    reader, _total, _skipped = read(*lines)
    log = reader.destinations["example.com"]
    assert log.tls_deferrals == 5 and len(log.samples) == 3 and log.deliveries == 0


def test_a_verdict_line_with_crafted_host_text_is_not_parsed_loosely():
    event = parse_message("Verified TLS connection established to mx[192.0.2.1]:25: TLSv1.3 with cipher A (256/256 bits)")
    assert isinstance(event, Tls) and event.endpoint == "mx[192.0.2.1]:25"
    assert parse_message("Verified TLS connection established to mx <x>[192.0.2.1]:25: TLSv1.3 with cipher A (256/256 bits)") is None


@pytest.mark.parametrize("address, domain", [
    ("a@Example.COM", "example.com"),
    ('"a@b"@example.com', "example.com"),
    ('"x@evil.example"', None),
    ("postmaster", None),
    ("a@[192.0.2.1]", "[192.0.2.1]"),
    ("a@exa mple.com", None),
])
def test_the_recipient_domain(address, domain):
    assert recipient_domain(address) == domain


def test_memory_stays_bounded_with_many_processes():
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan import delivery_log
    reader = LogReader(local_zone=UTC)
    lines = [(TLS % 1).replace("[123]", "[%d]" % pid).encode() + b"\n" for pid in range(delivery_log.MAX_PROCESSES + 100)]
    reader.read(lines, REFERENCE)
    assert len(reader._connections) == delivery_log.MAX_PROCESSES


def test_destinations_beyond_the_bound_are_counted_not_kept(monkeypatch):
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan import delivery_log
    monkeypatch.setattr(delivery_log, "MAX_DESTINATIONS", 2)
    reader, _total, _skipped = read(*[(SENT % (2, "ABC12%d" % n, "a@d%d.example" % n)) for n in range(3)])
    assert sorted(reader.destinations) == ["d0.example", "d1.example"] and reader.overflow == 1
