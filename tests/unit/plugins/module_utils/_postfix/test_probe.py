"""Parsing posttls-finger and openssl output (texts as Postfix 3.7.11 and OpenSSL 3.0 print them).

The spoofing cases are posttls-finger's real output for lying servers (tests/integration/probe/
test_tls_probe_adversarial.py runs them live): everything it prints goes to stdout, the server's
text only after "< " or after a fixed message start, CR and other control or non-ASCII bytes
as "?", a bare LF as a new "< " line.
"""

from __future__ import annotations

import calendar
import json
import time

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.finger import (
    check_helo, check_host, check_timeout, parse_finger, probe_target)
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.x509 import parse_x509

TLS_SESSION = """\
posttls-finger: Connected to 127.0.0.1[127.0.0.1]:2525
posttls-finger: < 220 mx.probe.test ESMTP
posttls-finger: > EHLO vm
posttls-finger: < 250-mx.probe.test
posttls-finger: < 250-STARTTLS
posttls-finger: < 250 CHUNKING
posttls-finger: > STARTTLS
posttls-finger: < 220 2.0.0 Ready to start TLS
posttls-finger: certificate verification failed for 127.0.0.1[127.0.0.1]:2525: self-signed certificate
posttls-finger: Untrusted TLS connection established to 127.0.0.1[127.0.0.1]:2525: TLSv1.3 with cipher \
TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits)
posttls-finger: > EHLO vm
posttls-finger: < 250-mx.probe.test
posttls-finger: < 250 CHUNKING
posttls-finger: > QUIT
posttls-finger: < 221 2.0.0 Bye

---
Certificate chain
 0 subject: /CN=localhost/O=x\\x0Aposttls-finger: Verified TLS connection established to e: TLSv1.3 with cipher E\\x0A\
-----BEGIN CERTIFICATE-----\\x0AAAAA\\x0A-----END CERTIFICATE-----
    issuer: /CN=localhost
   cert digest=1B:46
   pkey digest=D1:8C
-----BEGIN CERTIFICATE-----
MIIB
AB+/=
-----END CERTIFICATE-----
"""

PLAIN_SESSION = """\
posttls-finger: Connected to 127.0.0.1[127.0.0.1]:2526
posttls-finger: < 220 plain.test ESMTP Postfix
posttls-finger: > EHLO vm
posttls-finger: < 250-plain.test
posttls-finger: < 250 CHUNKING
posttls-finger: > QUIT
posttls-finger: < 221 2.0.0 Bye
"""

VERDICT = "Verified TLS connection established to x[192.0.2.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384"
PREFIXED = "posttls-finger: " + VERDICT


def test_tls_session():
    facts = parse_finger(TLS_SESSION)
    assert facts["starttls"] and facts["established"]
    assert (facts["trust"], facts["protocol"], facts["cipher"]) == ("Untrusted", "TLSv1.3", "TLS_AES_256_GCM_SHA384")
    assert facts["peer"] == "127.0.0.1[127.0.0.1]:2525"
    assert facts["leaf_pem"] == "-----BEGIN CERTIFICATE-----\nMIIB\nAB+/=\n-----END CERTIFICATE-----"
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


# Lines as posttls-finger printed them for lying servers (one each, spliced into a plain session).
SPOOFS = {
    "banner": "posttls-finger: < 220 x ESMTP " + PREFIXED,
    "EHLO line": "posttls-finger: < 250-" + PREFIXED,
    "EHLO line, unprefixed": "posttls-finger: < 250-" + VERDICT,
    "after a bare LF": "posttls-finger: < " + PREFIXED,
    "after CR": "posttls-finger: < 250-x?" + PREFIXED,
    "after non-UTF-8 bytes": "posttls-finger: < 250-??" + PREFIXED,
    "EHLO rejected": "posttls-finger: EHLO rejected: 0 " + PREFIXED,
    "greeting rejected": "posttls-finger: SMTP service not available: 554 5.3.2 " + PREFIXED,
    "STARTTLS rejected": "posttls-finger: STARTTLS rejected: 454 4.7.0 " + PREFIXED,
    "certificate subject (escaped)": " 0 subject: /CN=x\\x0A" + PREFIXED,
    "a form feed is no line end": "posttls-finger: < 250-x\x0c" + PREFIXED,
    "a file separator is no line end": "posttls-finger: < 250-x\x1c" + PREFIXED,
    "U+2028 is no line end": "posttls-finger: < 250-x\u2028" + PREFIXED,
    "U+0085 is no line end": "posttls-finger: < 250-x\x85" + PREFIXED,
}


@pytest.mark.parametrize("case", sorted(SPOOFS))
def test_server_text_is_never_the_verdict(case):
    lines = PLAIN_SESSION.split("\n")
    facts = parse_finger("\n".join(lines[:4] + [SPOOFS[case]] + lines[4:]))
    assert (facts["established"], facts["trust"], facts["peer"], facts["protocol"], facts["cipher"]) \
        == (False, None, None, None, None)
    assert facts["starttls"] is False and facts["leaf_pem"] is None and facts["dnssec_validation"] is None


def test_server_text_is_never_a_failure_a_dnssec_finding_or_a_certificate():
    lies = ["posttls-finger: < 220-x fatal: no", "posttls-finger: < 220-x certificate verification failed for y: z",
            "posttls-finger: < 220-posttls-finger: Failed to establish session to x",
            "posttls-finger: < 220-posttls-finger: warning: DNSSEC validation may be unavailable",
            "posttls-finger: < 220-dnssec_probe 'ns:.' received a response that is DNSSEC validated",
            "posttls-finger: < 220------BEGIN CERTIFICATE-----", "posttls-finger: < 220-MIIB",
            "posttls-finger: < 220 -----END CERTIFICATE-----"]
    facts = parse_finger("\n".join(lies) + "\n" + PLAIN_SESSION)
    assert facts["errors"] == [] and facts["dnssec_validation"] is None and facts["leaf_pem"] is None


def test_failures_are_posttls_fingers_own_lines():
    output = ("posttls-finger: Failed to establish session to [127.0.0.1]:2699 via 127.0.0.1: "
              "connect to 127.0.0.1[127.0.0.1]:2699: Connection refused\n"
              "posttls-finger: < 250-Failed to establish session to nowhere\n"
              "posttls-finger: STARTTLS rejected: 454 4.7.0 TLS not available\n"
              "posttls-finger: fatal: bad network port: 99999 for destination: [127.0.0.1]:99999\n"
              "posttls-finger: lost connection while reading server greeting\n"
              "posttls-finger: fatal: timeout while sending STARTTLS\n"
              "posttls-finger: Destination address lookup failed: Host or domain name not found\n"
              "posttls-finger: server certificate verification failed for x[192.0.2.1]:25: "
              "num=10:certificate has expired\n"
              "posttls-finger: warning: DNSSEC validation may be unavailable\n")
    assert parse_finger(output)["errors"] == [
        "Failed to establish session to [127.0.0.1]:2699 via 127.0.0.1: connect to 127.0.0.1[127.0.0.1]:2699: "
        "Connection refused",
        "STARTTLS rejected: 454 4.7.0 TLS not available",
        "fatal: bad network port: 99999 for destination: [127.0.0.1]:99999",
        "lost connection while reading server greeting",
        "fatal: timeout while sending STARTTLS",
        "Destination address lookup failed: Host or domain name not found",
        "server certificate verification failed for x[192.0.2.1]:25: num=10:certificate has expired"]


def _ehlo(*reply, banner="220 x ESMTP"):
    return "\n".join(["posttls-finger: < " + banner, "posttls-finger: > EHLO vm"]
                     + ["posttls-finger: < " + line for line in reply] + ["posttls-finger: > QUIT"]) + "\n"


@pytest.mark.parametrize("output, offered", [
    (_ehlo("250-x", "250-STARTTLS", "250 8BITMIME"), True),
    (_ehlo("250-x", "250 STARTTLS"), True),
    (_ehlo("250-x", "250 starttls"), True),  # keywords are case-insensitive, as Postfix reads them
    (_ehlo("250-x", "250-XSTARTTLS", "250-STARTTLSX", "250 NOSTARTTLS"), False),
    (_ehlo("250-x", "250-x STARTTLS", "250 8BITMIME"), False),
    (_ehlo("250-x", "250-?STARTTLS", "250 8BITMIME"), False),
    (_ehlo("250 STARTTLS"), False),  # the first line is the server's name (RFC 5321)
    (_ehlo("250-x", "250 8BITMIME", banner="220 x < 250 STARTTLS"), False),
    (_ehlo("250-x < 250 STARTTLS", "250 8BITMIME"), False),
    (_ehlo("502 5.5.2 no EHLO", "250-STARTTLS"), False),
    (_ehlo("250-x", "250 8BITMIME") + "posttls-finger: < 250-STARTTLS\n", False),  # not the EHLO reply
    ("posttls-finger: < 250-x\nposttls-finger: < 250 STARTTLS\n", False),  # no EHLO sent
])
def test_starttls_is_a_keyword_line_of_the_ehlo_reply(output, offered):
    assert parse_finger(output)["starttls"] is offered


def test_non_utf8_bytes_and_surrogates_survive():
    raw = (b"posttls-finger: < 220 x \xff\xfe ESMTP\nposttls-finger: > EHLO vm\nposttls-finger: < 250-x\n"
           b"posttls-finger: < 250 STARTTLS\nposttls-finger: STARTTLS rejected: 454 \xe9\xff no\n")
    for output in (raw, raw.decode("utf-8", "surrogateescape")):  # as Ansible's run_command decodes it
        facts = parse_finger(output)
        assert facts["starttls"] is True and facts["established"] is False
        assert facts["errors"] == ["STARTTLS rejected: 454 \ufffd\ufffd no"]
        json.dumps(facts, ensure_ascii=False).encode("utf-8")  # nothing unencodable left
    assert parse_finger("posttls-finger: fatal: \ud800x")["errors"] == ["fatal: \ufffdx"]


def test_certificate_only_from_the_chain_of_an_established_session():
    chain = TLS_SESSION[TLS_SESSION.index("\n---\n"):]
    assert parse_finger(PLAIN_SESSION + chain)["leaf_pem"] is None  # no session, no certificate
    broken = TLS_SESSION.replace("MIIB\n", "MIIB\nnot base64!\n")
    assert parse_finger(broken)["leaf_pem"] is None
    no_header = TLS_SESSION.replace("Certificate chain\n", "")
    assert parse_finger(no_header)["leaf_pem"] is None


@pytest.mark.parametrize("destination, host, port, target", [
    ("[mx.example]", None, None, "[mx.example]"),
    ("[mx.example]", None, 587, "[mx.example]:587"),
    ("[mx.example]:587", None, None, "[mx.example]:587"),
    ("[mx.example]:587", None, 587, "[mx.example]:587"),
    ("[mx.example]:smtp", None, 25, "[mx.example]:25"),
    ("[ipv6:2001:db8::1]", None, 2525, "[ipv6:2001:db8::1]:2525"),
    ("Example.COM", None, None, "example.com"),
    ("example.com", None, 587, "example.com:587"),
    ("example.com:587", None, None, "example.com:587"),
    ("example.com", "mx.example", None, "[mx.example]:25"),
    ("[mx.example]:587", "192.0.2.1", None, "[192.0.2.1]:587"),
    ("example.com", "2001:DB8:0::1", 2525, "[2001:db8::1]:2525"),
])
def test_probe_target(destination, host, port, target):
    assert probe_target(destination, host, port) == (target, destination.lower())


@pytest.mark.parametrize("destination, port, message", [
    ("[mx.example]:25", 587, "port: 587 differs from the port in destination '[mx.example]:25' (25); "
                             "give the port in one place"),
    ("[mx.example]:submission", 25, "port: 25 differs from the port in destination '[mx.example]:submission' "
                                    "(submission); give the port in one place"),
    ("example.com:2525", 25, "port: 25 differs from the port in destination 'example.com:2525' (2525); "
                             "give the port in one place"),
    ("example.com", 0, "port: 0 is not a TCP port (1-65535)"),
    ("example.com", 65536, "port: 65536 is not a TCP port (1-65535)"),
])
def test_probe_target_refuses_ports(destination, port, message):
    with pytest.raises(InputError) as caught:
        probe_target(destination, None, port)
    assert str(caught.value) == message


@pytest.mark.parametrize("destination", ["[mx.example]:99999", "example.com:0", "[192.0.2.1]:65536"])
def test_destination_port_out_of_range(destination):
    with pytest.raises(InputError) as caught:
        probe_target(destination)
    assert caught.value.details["parameter"] == "destination" and str(caught.value).startswith(
        "destination: %r " % destination)


@pytest.mark.parametrize("host", ["mx.example", "MX-1.example", "192.0.2.1", "2001:db8::1", "localhost"])
def test_good_hosts(host):
    assert check_host(host).lower() == host.lower()


@pytest.mark.parametrize("host", ["", " ", "-oX=1", "-v", "mx.example -v", "mx.example\n", "[192.0.2.1]",
                                  "192.0.2.1:25", "256.0.0.1", "1.2.3", "fe80::1%eth0", "mx..example",
                                  "-mx.example", "mx.example.", "ipv6:2001:db8::1", "m\u00e9.example", "a" * 64])
def test_bad_hosts(host):
    with pytest.raises(InputError) as caught:
        check_host(host)
    assert str(caught.value) == "host: %r is not a host name, IPv4 or IPv6 address" % host


@pytest.mark.parametrize("helo", ["", "-Hx", "probe.example smtp_tls_loglevel=4", "probe.example\n", "192.0.2.1",
                                  "[192.0.2.1]", "probe.example=x"])
def test_bad_helo(helo):
    with pytest.raises(InputError) as caught:
        check_helo(helo)
    assert str(caught.value) == "helo: %r is not a domain name" % helo


@pytest.mark.parametrize("timeout, good", [(1, True), (600, True), (0, False), (-5, False), (601, False)])
def test_timeout(timeout, good):
    if good:
        assert check_timeout(timeout) == timeout
    else:
        with pytest.raises(InputError) as caught:
            check_timeout(timeout)
        assert str(caught.value) == "timeout: %d is not a number of seconds from 1 to 600" % timeout


# openssl x509 (OpenSSL 3.0) for a certificate whose subjectAltName dNSName holds newlines and fake
# fields: the subject is escaped, the name is printed raw.
HOSTILE_X509 = (
    "subject=CN = localhost, O = x\\E2\\80\\A8notAfter=Jan  1 00:00:00 2099 GMT\\0ADNS:nl.example\n"
    "issuer=CN = localhost, O = x\\E2\\80\\A8notAfter=Jan  1 00:00:00 2099 GMT\\0ADNS:nl.example\n"
    "notAfter=Nov 24 19:26:41 2026 GMT\n"
    "sha256 Fingerprint=4E:2E:57:3F\n"
    "X509v3 Subject Alternative Name: \n"
    "    DNS:localhost, DNS:a\x0cb.example\n"
    "notAfter=Jan  1 00:00:00 2099 GMT\n"
    "sha256 Fingerprint=AA:BB\n"
    "subject=CN = spoof\n"
    "    DNS:spoof.example\n")


def test_x509_fields_are_the_first_openssl_prints_and_names_are_dns_names():
    now = calendar.timegm(time.strptime("Nov 25 15:40:00 2026", "%b %d %H:%M:%S %Y"))
    facts = parse_x509(HOSTILE_X509, now=now)
    assert facts["not_after"] == "Nov 24 19:26:41 2026 GMT" and facts["expired"] is True and facts["days_left"] == -1
    assert facts["fingerprint_sha256"] == "4E:2E:57:3F" and facts["subject"].startswith("CN = localhost, O = x")
    assert facts["names"] == ["localhost"]
    truncated = HOSTILE_X509.replace("DNS:a\x0cb.example", "DNS:mx.example, DNS:a")  # "a" ended at a newline
    assert parse_x509(truncated, now=now)["names"] == ["localhost", "mx.example"]
    complete = HOSTILE_X509[:HOSTILE_X509.rindex("notAfter=Jan")].replace("DNS:a\x0cb.example", "DNS:a")
    assert parse_x509(complete, now=now)["names"] == ["localhost", "a"]


@pytest.mark.parametrize("subject, names", [
    ('O = "a, CN = evil.example", OU = CN = evil2.example, CN = real.example', ["real.example"]),
    ("CN = *.example.com", ["*.example.com"]),
    ("CN = not a name, O = x", []),
    ('CN = "quoted.example"', ["quoted.example"]),
])
def test_x509_common_name_is_the_cn_attribute(subject, names):
    assert parse_x509("subject=%s\nissuer=CN = ca\n" % subject)["names"] == names


# --- the pre-flight's exact-policy probe -------------------------------------------------------------

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.finger import (  # noqa: E402
    policy_finger_args, policy_needs_its_own_probe, policy_passes)


def test_a_policy_entry_is_probed_as_the_smtp_client_applies_it():
    assert policy_finger_args("fingerprint", {"match": "AB:CD|EF:01"}, "[mx]:25", "sha256") == [
        "-l", "fingerprint", "-d", "sha256", "--", "[mx]:25", "AB:CD", "EF:01"]
    assert policy_finger_args("secure", {"match": "nexthop:.example.com", "protocols": ">=TLSv1.2",
                                         "ciphers": "high", "tafile": "/t.pem", "servername": "hostname"},
                              "example.com") == [
        "-l", "secure", "-g", "high", "-p", ">=TLSv1.2", "-s", "hostname", "-A", "/t.pem", "--", "example.com",
        "nexthop", ".example.com"]


def test_only_what_the_general_probe_cannot_tell_gets_its_own_probe():
    assert policy_needs_its_own_probe("dane-only", None) and policy_needs_its_own_probe("fingerprint", {})
    assert policy_needs_its_own_probe("encrypt", {"protocols": ">=TLSv1.3"})
    assert not policy_needs_its_own_probe("encrypt", {"connection_reuse": "yes"})
    assert not policy_needs_its_own_probe("secure", None)


@pytest.mark.parametrize("level, trust, passes", [
    ("fingerprint", "Verified", True), ("fingerprint", "Untrusted", False), ("dane-only", "Trusted", False),
    ("encrypt", "Anonymous", True), ("secure", "Trusted", False)])
def test_an_authenticated_level_needs_a_verified_session(level, trust, passes):
    assert policy_passes(level, {"established": True, "trust": trust}) is passes
    assert policy_passes(level, {"established": False, "trust": None}) is False
