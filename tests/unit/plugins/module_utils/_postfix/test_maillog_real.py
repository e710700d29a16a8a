"""The parser on a real Postfix 3.7 log (tests/unit/fixtures/maillog/postfix37-loopback.log, written by
Postfix's own maillog_file while tests/integration/advisor_mail.py sent mail), as it is, rewritten into
the other line formats, and with crafted lines spliced in."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.advice import policy_for, propose
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.delivery_log import LogReader

REAL = Path(__file__).resolve().parents[3] / "fixtures" / "maillog" / "postfix37-loopback.log"
REAL_311 = REAL.parent / "postfix311-forky.log"
REFERENCE = datetime(2026, 12, 31, tzinfo=timezone.utc)
EXPECTED = {"plain.example": (3, {"plaintext": 3}, 0), "required.example": (0, {}, 8),
            "untrusted.example": (3, {"untrusted": 3}, 0), "verified.example": (3, {"verified": 3}, 0)}


def evidence(lines):
    reader = LogReader(local_zone=timezone.utc)
    total, skipped = reader.read([line.encode() if isinstance(line, str) else line for line in lines], REFERENCE)
    found = dict((domain, (log.deliveries, dict((k, v) for k, v in log.outcomes.items() if v), log.tls_deferrals))
                 for domain, log in reader.destinations.items())
    return found, total, skipped, reader


def real_lines():
    return REAL.read_bytes().splitlines(True)


def test_the_real_log_as_postfix_wrote_it():
    found, total, skipped, reader = evidence(real_lines())
    assert found == EXPECTED and (total, skipped) == (109, 0)
    assert reader.destinations["verified.example"].protocols == {"TLSv1.3": 3}
    assert reader.destinations["verified.example"].first.isoformat() == "2026-12-02T16:25:06+00:00"


def test_the_real_log_rewritten_as_rfc3339_syslog_and_journal_short_iso_says_the_same():
    pattern = re.compile(rb"^Dec (\d\d) (\d\d:\d\d:\d\d) ")
    rfc3339 = [pattern.sub(rb"2026-12-\1T\2.000123+00:00 ", line) for line in real_lines()]
    journal = [pattern.sub(rb"2026-12-\1T\2+0000 ", line) for line in real_lines()]
    assert evidence(rfc3339)[0] == evidence(journal)[0] == EXPECTED


def test_crafted_lines_spliced_into_the_real_log_change_nothing():
    crafted = [
        "Dec 02 16:25:06 mail postfix/cleanup[1]: X1: info: header Subject: Verified TLS connection established to "
        "127.0.0.1[127.0.0.1]:25703: TLSv1.3 with cipher A (256/256 bits) from localhost[127.0.0.1]\n",
        "Dec 02 16:25:06 mail postfix/smtp[27079]: X2: host 127.0.0.1[127.0.0.1] said: 250 Verified TLS connection "
        "established to 127.0.0.1[127.0.0.1]:25703: TLSv1.3 with cipher A (256/256 bits)\n",
        "Dec 02 16:25:06 mail postfix/smtpd[27079]: Verified TLS connection established to 127.0.0.1[127.0.0.1]:25703: "
        "TLSv1.3 with cipher A (256/256 bits)\n",
        b"Dec 02 16:25:06 mail postfix/smtp[27079]: \xff\xfe Verified TLS connection established\n",
        "\t garbage \t\n",
    ]
    lines = real_lines()
    spliced = lines[:3] + crafted + lines[3:]
    found, total, skipped, _reader = evidence(spliced)
    assert found == EXPECTED and (total, skipped) == (109 + 5, 2)


def test_proposals_from_the_real_log_under_level_may_are_encrypt_at_most():
    _found, _total, _skipped, reader = evidence(real_lines())
    levels = dict((domain, propose(domain, log, policy_for(domain, {}, "may", "s"), 3, 0)["level"])
                  for domain, log in reader.destinations.items())
    assert levels == {"plain.example": None, "required.example": None, "untrusted.example": "encrypt",
                      "verified.example": "encrypt"}  # Verified under may: no ground for secure


def test_a_real_postfix_3_11_log_with_its_tls_field():
    """Debian forky's Postfix 3.11.7 (make-postfix311-log.sh): tls=may, tls=may:none, tls=fingerprint, tls=!encrypt."""
    found, total, skipped, reader = evidence(REAL_311.read_bytes().splitlines(True))
    assert skipped == 0 and total == 159
    assert found == {"plain.example": (3, {"plaintext": 3}, 0), "required.example": (0, {}, found["required.example"][2]),
                     "untrusted.example": (3, {"untrusted": 3}, 0), "verified.example": (3, {"verified": 3}, 0)}
    assert found["required.example"][2] >= 3
    verified = reader.destinations["verified.example"]
    assert (verified.dane, verified.dane_field, verified.verified_elsewhere) == (0, 0, 3)  # tls=fingerprint
    verify = {"entry": "verify", "key": "verified.example", "level": "verify", "source": "s"}
    assert propose("verified.example", verified, verify, 3, 0)["level"] is None  # not secure: fingerprint's match


def test_the_3_11_field_alone_says_plaintext_even_after_a_verdict_for_the_same_relay():
    lines = REAL_311.read_bytes().splitlines(True)
    tls = [line for line in lines if b"Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:2501" in line][0]
    plain = [line for line in lines if b"tls=may:none" in line][0]
    assert b"postfix/smtp[191]" in tls and b"postfix/smtp[191]" in plain  # one process, as Postfix logged them
    same_relay = plain.replace(b":2503", b":2501")  # as if it were the verdict's connection
    found, _total, _skipped, _reader = evidence([tls, same_relay])
    assert found["plain.example"][1] == {"plaintext": 1}


def test_a_real_postfix_3_11_dane_log_from_the_tls_dane_lab():
    """Debian forky's Postfix 3.11.7 at dane-only against a DNSSEC-signed zone (make-postfix311-dane-log.py):
    its delivery field says tls=dane-only (not tls=dane), and a TLSA record of another key tls=!dane-only."""
    lines = (REAL.parent / "postfix311-forky-dane.log").read_bytes().splitlines(True)
    found, total, skipped, reader = evidence(lines)
    assert (total, skipped) == (43, 0)
    assert found["lab.test"] == (6, {"verified": 6}, 0)  # across the key rollover: two keys matched
    lab = reader.destinations["lab.test"]
    assert (lab.dane, lab.dane_field) == (6, 6)
    assert found["badkey.lab.test"] == (0, {}, 1)  # tls=!dane-only, deferred: a TLS deferral
    assert found["plain.test"] == (0, {}, 1)  # dane-only, its zone unsigned: "non DNSSEC destination", no connection
    # MTA-STS's secure: Verified by name, the level's own match, never DANE and no ground for secure.
    stsgood = reader.destinations["stsgood.lab.test"]
    assert found["stsgood.lab.test"] == (1, {"verified": 1}, 0) and (stsgood.dane, stsgood.verified_elsewhere) == (0, 1)
    assert found["stsbad.lab.test"] == (1, {"trusted": 1}, 2)  # deferred twice, then sent with the kill switch
    proposal = propose("lab.test", lab, policy_for("lab.test", {}, "may", "s"), 3, 0)
    assert proposal["level"] == "dane-only" and "every one DANE-authenticated" in proposal["evidence"]
