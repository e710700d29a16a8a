"""dane-only and a destination without DNSSEC-validated TLSA records (an unsigned zone).

posttls-finger -l dane-only tests such a server at "secure" instead ('no TLSA records found,
resorting to "secure"'), while Postfix's smtp client at dane-only makes no connection at all
(postconf(5), smtp_tls_security_level). The outputs below are posttls-finger's on Postfix 3.10
(Debian 13) in extensions/molecule/tls_dane: plain.test is the unsigned zone, lab.test the signed
one; 3.5 and 3.7 print the same fallback line. Pure: text in, facts and verdicts out.
"""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.finger import (
    parse_finger, policy_passes, preflight_verdict)

SESSION = ("TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange x25519 "
           "server-signature RSA-PSS (2048 bits) server-digest SHA256")
UNSIGNED_SELF_SIGNED = "\n".join([
    "posttls-finger: warning: DNSSEC validation may be unavailable",
    "posttls-finger: warning: reason: dnssec_probe 'ns:.' received a response that is not DNSSEC validated",
    'posttls-finger: no TLSA records found, resorting to "secure"',
    "posttls-finger: certificate verification failed for mx.plain.test[10.89.2.3]:25: self-signed certificate",
    "posttls-finger: Untrusted TLS connection established to mx.plain.test[10.89.2.3]:25: " + SESSION,
])
# The same unsigned zone in front of a server whose certificate a public CA signed for its name:
# "secure" passes, so the probe alone would say Verified. The resolver validates the root here
# (no dnssec_probe warning), as on the Internet.
UNSIGNED_WEB_PKI = "\n".join([
    'posttls-finger: no TLSA records found, resorting to "secure"',
    "posttls-finger: mx.plain.test[10.89.2.3]:25 Matched subjectAltName mx.plain.test",
    "posttls-finger: Verified TLS connection established to mx.plain.test[10.89.2.3]:25: " + SESSION,
])
SIGNED_MATCHED = "\n".join([
    "posttls-finger: mx.lab.test[10.89.2.3]:25: Matched DANE EE certificate at depth 0: 3 1 1 "
    "7BDFC08EDB8984475B1AE361CA38E78737787E8F28D8CCB8F7AC5A23BF2EFCD1",
    "posttls-finger: Verified TLS connection established to mx.lab.test[10.89.2.3]:25: " + SESSION,
])


def probe_with(output, level="dane-only"):
    """A tls_probe result whose policy probe (work/probe.py) printed ``output``."""
    finger = parse_finger(output)
    return {"established": True, "starttls": True, "protocol": "TLSv1.3", "trust": "Untrusted", "errors": [],
            "passes": {"may": True, "encrypt": True, "verify": False, "secure": False},
            "dnssec_validation": finger["dnssec_validation"],
            "policy": {"level": level, "passes": policy_passes(level, finger), "trust": finger["trust"],
                       "protocol": finger["protocol"], "errors": finger["errors"], "no_tlsa": finger["no_tlsa"]}}


@pytest.mark.parametrize("output, no_tlsa", [
    (UNSIGNED_SELF_SIGNED, True), (UNSIGNED_WEB_PKI, True), (SIGNED_MATCHED, False)])
def test_the_fallback_line_is_read(output, no_tlsa):
    assert parse_finger(output)["no_tlsa"] is no_tlsa


@pytest.mark.parametrize("spoof", [
    'posttls-finger: < 250-no TLSA records found, resorting to "secure"',  # the server's EHLO reply
    'posttls-finger: < 220 mx ESMTP no TLSA records found, resorting to "secure"',
    'no TLSA records found, resorting to "secure"',  # not posttls-finger's line
    'posttls-finger: warning: no TLSA records found, resorting to "secure"\tand more',
])
def test_server_text_is_never_the_fallback(spoof):
    """A server that writes the fallback line into its banner or EHLO reply cannot fail a probe."""
    assert parse_finger(spoof + "\n" + SIGNED_MATCHED)["no_tlsa"] is False


def test_non_utf8_bytes_around_the_fallback_line():
    output = (b"posttls-finger: < 250-\xff\xfe\n" + UNSIGNED_WEB_PKI.encode() + b"\nposttls-finger: < 221 \xc3(\n")
    assert parse_finger(output)["no_tlsa"] is True


@pytest.mark.parametrize("output", [UNSIGNED_SELF_SIGNED, UNSIGNED_WEB_PKI])
def test_dane_only_without_tlsa_never_passes(output):
    """Even a Verified "secure" session: Postfix at dane-only would not connect."""
    assert policy_passes("dane-only", parse_finger(output)) is False


def test_dane_without_tlsa_passes():
    """Opportunistic dane falls back to may (postconf(5)): a session is enough."""
    assert policy_passes("dane", parse_finger(UNSIGNED_SELF_SIGNED)) is True


@pytest.mark.parametrize("output", [UNSIGNED_SELF_SIGNED, UNSIGNED_WEB_PKI])
def test_the_refusal_says_the_zone_has_no_validated_tlsa(output):
    verdict = preflight_verdict("plain.test", "dane-only", probe_with(output))
    assert verdict == ("plain.test cannot take level dane-only: its MX hosts have no DNSSEC-validated TLSA records "
                       "(its zone is not signed, or publishes none), and at dane-only Postfix then makes no connection")


def test_a_matched_tlsa_record_passes():
    assert preflight_verdict("lab.test", "dane-only", probe_with(SIGNED_MATCHED)) is None


def test_a_policy_probe_without_the_field_is_read_as_before():
    """Results of the policy probe made before the field existed."""
    probe = probe_with(SIGNED_MATCHED)
    del probe["policy"]["no_tlsa"]
    assert preflight_verdict("lab.test", "dane-only", probe) is None
