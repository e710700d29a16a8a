"""Parsing posttls-finger and openssl output (texts as Postfix 3.7.11 and OpenSSL 3.0 print them)."""

from __future__ import annotations

import calendar
import time

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.probe import parse_finger, parse_x509

TLS_SESSION = """\
posttls-finger: < 250-mx.probe.test
posttls-finger: < 250-STARTTLS
posttls-finger: < 250 CHUNKING
posttls-finger: certificate verification failed for 127.0.0.1[127.0.0.1]:2525: self-signed certificate
posttls-finger: Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:2525: TLSv1.3 with cipher \
TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits)
-----BEGIN CERTIFICATE-----
MIIB
-----END CERTIFICATE-----
"""

PLAIN_SESSION = """\
posttls-finger: < 220 plain.test ESMTP Postfix
posttls-finger: < 250-plain.test
posttls-finger: < 250 CHUNKING
posttls-finger: > QUIT
"""


def test_tls_session():
    facts = parse_finger(TLS_SESSION)
    assert facts["starttls"] and facts["established"]
    assert (facts["trust"], facts["protocol"], facts["cipher"]) == ("Untrusted", "TLSv1.3", "TLS_AES_256_GCM_SHA384")
    assert facts["peer"] == "127.0.0.1[127.0.0.1]:2525"
    assert facts["leaf_pem"] == "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    assert facts["errors"] == ["certificate verification failed for 127.0.0.1[127.0.0.1]:2525: self-signed certificate"]


def test_plain_session():
    facts = parse_finger(PLAIN_SESSION)
    assert not facts["starttls"] and not facts["established"] and facts["trust"] is None and facts["errors"] == []


def test_x509():
    text = ("subject=CN = localhost\nissuer=CN = mailtls test CA\nnotAfter=Dec 25 15:40:00 2026 GMT\n"
            "sha256 Fingerprint=AB:CD\nX509v3 Subject Alternative Name: \n    DNS:localhost, DNS:mx.test\n")
    now = calendar.timegm(time.strptime("Nov 25 15:40:00 2026", "%b %d %H:%M:%S %Y"))
    facts = parse_x509(text, now=now)
    assert facts["subject"] == "CN = localhost" and facts["issuer"] == "CN = mailtls test CA"
    assert facts["names"] == ["localhost", "mx.test"] and facts["fingerprint_sha256"] == "AB:CD"
    assert facts["days_left"] == 30 and facts["expired"] is False
    assert parse_x509(text, now=now + 31 * 86400)["expired"] is True


def test_dnssec_probe_warning():
    warned = ("posttls-finger: warning: DNSSEC validation may be unavailable\n"
              "posttls-finger: warning: reason: dnssec_probe 'ns:.' received a response that is not DNSSEC validated\n")
    assert parse_finger(warned + PLAIN_SESSION)["dnssec_validation"] is False
    assert parse_finger(PLAIN_SESSION)["dnssec_validation"] is None
