"""tls_posture's pure parts: s_client output, DER key facts, DANE files, the hardening match, the findings.

The s_client texts are OpenSSL 3.0.19's output shape (Debian 12) as measured against a scratch
Postfix 3.7; the spoofing cases are what a hostile server can make s_client print after the
handshake (its own data), which must never change a verdict.
"""

from __future__ import annotations

import datetime
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.certificate_facts import pem_block_der
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.hardening import (
    HARDENING_PARAMETERS, hardening_plan, profile_in_force)
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.served_tls import (
    certificate_spki, ehlo_offers_starttls, key_facts, key_size, parse_s_client, parse_tlsa_file)
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.posture import (
    advisor_findings, findings_of, listener_role, sending_side, worst)

PEM = ("-----BEGIN CERTIFICATE-----\nMIIBaDCCAQ6gAwIBAgIULwl0dtojoUfWpBhnilg7EtYqNjowCgYIKoZIzj0EAwIw\n"
       "-----END CERTIFICATE-----\n")


def s_client(version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", protocol=None, chain=PEM, after=""):
    session = ""
    if protocol:
        session = "SSL-Session:\n    Protocol  : %s\n    Cipher    : %s\n    Session-ID: 00\n\n" % (protocol, cipher)
    return ("CONNECTED(00000003)\n---\nCertificate chain\n 0 s:CN = mx.test\n   i:CN = mx.test\n%s---\n"
            "Server certificate\nsubject=CN = mx.test\n---\nSSL handshake has read 971 bytes\n---\n"
            "New, %s, Cipher is %s\nServer public key is 256 bit\n%s---\n%s" % (chain, version, cipher, session, after))


def test_tls13_session_and_chain():
    found = parse_s_client(s_client())
    assert found == {"established": True, "protocol": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384", "chain": [PEM]}


def test_tls11_protocol_comes_from_the_session_block_not_the_cipher_version():
    found = parse_s_client(s_client("TLSv1.0", "ECDHE-ECDSA-AES256-SHA", protocol="TLSv1.1"))
    assert (found["protocol"], found["cipher"]) == ("TLSv1.1", "ECDHE-ECDSA-AES256-SHA")


@pytest.mark.parametrize("text", [
    s_client("(NONE)", "(NONE)"), s_client("(NONE)", "(NONE)", protocol="TLSv1"), "", "connect:errno=111\n"])
def test_refused_handshakes(text):
    assert parse_s_client(text)["established"] is False


@pytest.mark.parametrize("after", [
    # What a hostile server sends once s_client is done: a summary, a session block, a certificate.
    "New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256\n",
    "SSL-Session:\n    Protocol  : TLSv1.3\n    Cipher    : TLS_AES_128_GCM_SHA256\n",
    "Certificate chain\n" + PEM.replace("MIIB", "AAAA") + "---\n",
    "\ufffd\ufffd binary \x00\x1b[31m\n",
])
def test_server_data_after_the_handshake_changes_nothing(after):
    refused = parse_s_client(s_client("(NONE)", "(NONE)", protocol="TLSv1", after=after))
    assert refused == {"established": False, "protocol": None, "cipher": None, "chain": [PEM]}
    legacy = parse_s_client(s_client("TLSv1.0", "ECDHE-RSA-AES128-SHA", protocol="TLSv1", after=after))
    assert (legacy["protocol"], legacy["cipher"], legacy["chain"]) == ("TLSv1", "ECDHE-RSA-AES128-SHA", [PEM])


def test_crlf_output_and_a_broken_pem_block():
    broken = PEM.replace("MIIB", "MI*B")
    assert parse_s_client(s_client(chain=broken).replace("\n", "\r\n"))["chain"] == []


def _pem(key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx.test")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30)))
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("key, algorithm, bits", [
    (rsa.generate_private_key(65537, 2048), "rsa", 2048), (rsa.generate_private_key(65537, 3072), "rsa", 3072),
    (ec.generate_private_key(ec.SECP256R1()), "ecdsa", 256), (ec.generate_private_key(ec.SECP384R1()), "ecdsa", 384),
    (ed25519.Ed25519PrivateKey.generate(), "ed25519", 256)])
def test_key_facts_from_the_certificate_der(key, algorithm, bits):
    pem = _pem(key)
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert certificate_spki(pem_block_der(pem, "CERTIFICATE")) == spki
    assert key_facts(pem) == {"key_algorithm": algorithm, "key_bits": bits,
                              "tlsa_3_1_1": hashlib.sha256(spki).hexdigest()}
    assert key_size(spki) == bits


@pytest.mark.parametrize("der", [b"", b"\x30", b"\x30\x85\xff\xff\xff\xff\xff", b"\x30\x03\x30\x01", b"\x02\x01\x00" * 9])
def test_truncated_or_hostile_der_gives_no_key(der):
    assert certificate_spki(der) is None
    assert key_facts("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n") == {}


def test_tlsa_file_as_the_receiving_side_writes_it_and_by_hand():
    digest = "ab" * 32
    text = ("; DANE TLSA records of this host's SMTP server keys, written by mailtls.postfix\n"
            "_25._tcp.mx.example. IN TLSA 3 1 1 %s\n"
            "_25._tcp.MX.example. 3600 IN TLSA 3 1 1 %s ; again, by hand, upper case\n"
            "_587._tcp.mx.example. IN TLSA 3 1 1 %s %s\n"
            "_25._tcp.mx.example. IN TLSA 2 0 1 %s\n"
            "_25._tcp.mx.example.\tIN TLSA 3 1 1 zz\n"
            "\udcff\udcfe garbage\n" % (digest, digest.upper(), digest[:32], digest[32:], digest))
    assert parse_tlsa_file(text) == [{"port": 25, "name": "mx.example", "digest": digest},
                                     {"port": 587, "name": "mx.example", "digest": digest}]


def test_hardening_profile_in_force():
    version = (3, 7, 11)
    defaults = {"smtpd_tls_protocols": ">=TLSv1", "smtpd_tls_ciphers": "medium", "smtpd_tls_mandatory_protocols":
                ">=TLSv1", "smtpd_tls_mandatory_ciphers": "medium", "tls_preempt_cipherlist": "no"}
    assert profile_in_force(dict(defaults), defaults, version) == ("postfix_default", {})
    parameters, _absent = hardening_plan("intermediate", version)
    effective = dict((name, parameters.get(name, defaults.get(name, ""))) for name in HARDENING_PARAMETERS)
    effective["tls_ssl_options"] = "NO_RENEGOTIATION"
    assert profile_in_force(effective, defaults, version)[0] == "custom"
    effective["tls_ssl_options"] = "NO_RENEGOTIATION NO_COMPRESSION"  # Postfix's lists: any order, any separator
    assert profile_in_force(effective, defaults, version) == ("intermediate", {})
    effective["smtpd_tls_mandatory_protocols"] = ">=TLSv1"
    assert profile_in_force(effective, defaults, version) == ("custom", {
        "smtpd_tls_mandatory_protocols": (">=TLSv1", ">=TLSv1.2")})


def test_roles():
    assert listener_role(25, False, {}, "may") == "mx"
    assert listener_role(2525, False, {"smtpd_tls_security_level": "ENCRYPT"}, "may") == "submission"
    assert listener_role(587, False, {}, "may") == "submission"
    assert listener_role(465, True, {}, "may") == "smtps"


def listener(role="mx", port=25, protocols=None, certificates=(), established=True, starttls=True):
    return {"address": "127.0.0.1", "port": port, "wrappermode": role == "smtps", "role": role,
            "tls_turned_off_by": None, "starttls": starttls, "established": established, "protocol": "TLSv1.3",
            "cipher": "TLS_AES_256_GCM_SHA384", "error": None,
            "protocols": protocols or {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True},
            "certificates": list(certificates)}


def posture(listeners, records=(), sending=None):
    return {"listeners": listeners, "dane": {"files": [], "records": [dict(record) for record in records]},
            "sending": sending or {"security_level": "may", "relay": None, "policy": [], "tables": []}}


def cert(days, digest="aa", algorithm="rsa"):
    return {"names": ["mx.test"], "subject": "CN = mx.test", "not_after": "Jan  1 00:00:00 2027 GMT",
            "days_left": days, "expired": days < 0, "key_algorithm": algorithm, "tlsa_3_1_1": digest}


@pytest.mark.parametrize("days, severity", [(-1, "fail"), (0, "fail"), (6, "fail"), (7, "warn"), (29, "warn"),
                                            (30, "ok")])
def test_certificate_expiry_thresholds(days, severity):
    found = findings_of(posture([listener(certificates=[cert(days)])]))
    assert [item["severity"] for item in found if item["code"] == "certificate_expiry"] == [severity]


def test_tlsa_record_of_no_served_key_fails_and_the_fix_is_one_line():
    found = findings_of(posture([listener(certificates=[cert(90, "11" * 32)])], records=[
        {"port": 25, "name": "mx.test", "digest": "11" * 32}, {"port": 25, "name": "mx.test", "digest": "22" * 32}]))
    assert [(item["severity"], item["code"]) for item in found][:1] == [("fail", "tlsa_mismatch")]
    assert all("\n" not in item["fix"] and item["fix"] for item in found)
    assert worst(found) == "fail" and worst([]) == "ok"


def test_no_starttls_on_port_25_fails_old_protocols_there_are_ok_but_warned_on_submission():
    old = {"TLSv1": True, "TLSv1.1": True, "TLSv1.2": True, "TLSv1.3": True}
    found = findings_of(posture([listener(established=False, starttls=False),
                                 listener("mx", 2525, old), listener("submission", 587, old),
                                 listener("smtps", 465, old)]))
    codes = [(item["severity"], item["code"], item["subject"]) for item in found]
    assert codes[0] == ("fail", "starttls_missing", "127.0.0.1:25 (mx)")
    assert ("ok", "legacy_protocols_opportunistic", "127.0.0.1:2525 (mx)") in codes
    assert ("warn", "legacy_protocols", "127.0.0.1:587 (submission)") in codes
    assert ("warn", "legacy_protocols", "127.0.0.1:465 (smtps)") in codes


def test_forced_destination_with_plaintext_or_deferrals_fails_from_the_advisor():
    advisor = {"destinations": [
        {"destination": "partner.example", "outcomes": {"plaintext": 2}, "tls_deferrals": 0,
         "policy": {"level": "encrypt"}, "problems": []},
        {"destination": "bank.example", "outcomes": {}, "tls_deferrals": 3, "policy": {"level": "dane-only"},
         "problems": [{"kind": "deferred", "severity": "fail", "message": "<b>x</b>\nnext"}]},
        {"destination": "optional.example", "outcomes": {"plaintext": 9}, "policy": {"level": "may"}},
        {"destination": "odd.example", "outcomes": {"plaintext": "9"}, "tls_deferrals": True,
         "policy": {"level": "encrypt"}, "problems": [{"kind": "x", "severity": "critical", "message": "m"}]},
    ]}
    found = advisor_findings(advisor)
    assert [(item["severity"], item["code"], item["subject"]) for item in found] == [
        ("fail", "forced_not_delivered", "partner.example"), ("fail", "forced_not_delivered", "bank.example"),
        ("fail", "advisor_deferred", "bank.example"), ("warn", "advisor_x", "odd.example")]
    assert advisor_findings(None) == [] and advisor_findings({"destinations": None}) == []


def test_sending_side_first_table_decides_and_the_relay_level():
    first = [("[relay]:587", "encrypt"), ("x.example", "MAY")]
    tables = [{"table": "hash:/a", "exists": True, "index_fresh": True, "entries": first},
              {"table": "hash:/b", "exists": True, "index_fresh": False, "entries": [("[relay]:587", "none")]}]
    sending = sending_side({"relayhost": "[relay]:587", "smtp_tls_security_level": "may"}, tables)
    assert sending["relay"] == {"nexthop": "[relay]:587", "level": "encrypt", "source": "hash:/a", "state": "forced"}
    assert [(item["level"], item["forced"], item["shadowed"]) for item in sending["policy"]] == [
        ("encrypt", True, False), ("may", False, False), ("none", False, True)]
    plain = sending_side({"relayhost": "[relay]", "smtp_tls_security_level": ""}, [])
    assert plain["relay"]["state"] == "plaintext"
    found = findings_of(posture([listener()], sending=sending))
    assert ("warn", "policy_table") in [(item["severity"], item["code"]) for item in found]


@pytest.mark.parametrize("reply, offered", [
    ("250-mx.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 CHUNKING", True),
    ("250-mx.test\n250 starttls", True),
    # What s_client's substring check takes for an offer: the name, another keyword's line, a later reply.
    ("250-STARTTLS.mx.test\r\n250-X-NOTLS STARTTLS\r\n250 8BITMIME", False),
    ("250 mx.test STARTTLS", False),
    ("250-mx.test\r\n250 8BITMIME\r\n250-STARTTLS", False),
    ("502 5.5.1 STARTTLS", False), ("", False), ("250-mx.test\n250-STARTTLSX\n250 OK", False),
])
def test_ehlo_offers_starttls_only_as_a_keyword_line(reply, offered):
    assert ehlo_offers_starttls(reply) is offered


def test_starttls_not_offered_fails_on_port_25_even_when_a_hidden_one_works():
    found = findings_of(posture([listener(established=True, starttls=False)]))
    assert (found[0]["severity"], found[0]["code"]) == ("fail", "starttls_missing")
    assert "not offered" in found[0]["message"]


def test_a_tls_deferral_of_a_forced_destination_is_one_finding_and_one_is_no_plural():
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.advice import problems, report
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.delivery_log import DestinationLog
    log = DestinationLog()
    log.failed("TLS is required, but was not offered by host mx1.bank.example[192.0.2.1]")
    policy = {"entry": "encrypt", "key": "bank.example", "level": "encrypt", "source": "t"}
    assert "1 delivery deferred or bounced" in problems(log, policy)[0]["message"]
    found = advisor_findings({"destinations": [report("bank.example", log, policy, {"level": None})]})
    deferral = [item for item in found if "deferr" in item["message"].lower()]
    assert [item["code"] for item in deferral] == ["forced_not_delivered"]
    assert deferral[0]["message"] == ("policy encrypt, but 0 plaintext deliveries and 1 TLS deferral: TLS is required, "
                                      "but was not offered by host mx1.bank.example[192.0.2.1]")
