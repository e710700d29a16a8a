"""tls_posture against the real Postfix of this machine: three listeners on loopback, planted faults.

A scratch instance serves an RSA certificate that expires in 5 days and an ECDSA one for 60 days
on an opportunistic listener (port 25's role), a submission listener (level encrypt) and an SMTPS
listener (wrapper mode); its DANE file holds the ECDSA key's record and one of a key it does not
serve. The module runs as Ansible runs it, in one process (one round trip).
"""

from __future__ import annotations

import datetime
import json
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from drivers import run_as_ansible, scratch_postfix, start_postfix
from tls_material import NAME, make_cert, write_pair

PORT = 25470 + 4 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
HOSTILE = "<script>alert(1)</script>"


def other_key_record():
    import hashlib

    from cryptography.hazmat.primitives import serialization
    spki = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def served_record(key):
    import hashlib

    from cryptography.hazmat.primitives import serialization
    return hashlib.sha256(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


@pytest.fixture(scope="module")
def planted():
    """The instance, started, and what was planted in it."""
    listeners = ["127.0.0.1:%d inet n - n - - smtpd" % PORT,
                 "127.0.0.1:%d inet n - n - - smtpd -o smtpd_tls_security_level=encrypt" % (PORT + 1),
                 "127.0.0.1:%d inet n - n - - smtpd -o smtpd_tls_wrappermode=yes" % (PORT + 2)]
    chains = ["smtpd_tls_chain_files = {root}/tls/rsa.key, {root}/tls/rsa.pem, {root}/tls/ec.key, {root}/tls/ec.pem",
              "smtp_tls_security_level = may", "relayhost = [relay.posture.test]:587",
              "smtp_tls_policy_maps = texthash:{root}/tls/policy"]
    with scratch_postfix("mailtls-posture-", PORT, server_tls=chains, listeners=listeners) as info:
        rsa_key = rsa.generate_private_key(65537, 2048)
        # An issuer name with markup: the report must show it as text.
        issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME),
                            x509.NameAttribute(NameOID.ORGANIZATION_NAME, HOSTILE)])
        write_pair(info["tls"], "rsa", make_cert(NAME, rsa_key, issuer, rsa_key, -1, 5), rsa_key)
        ec_key = ec.generate_private_key(ec.SECP256R1())
        write_pair(info["tls"], "ec", make_cert(NAME, None, None, ec_key, -1, 60), ec_key)
        # A key that is not UTF-8 (a table is bytes): reported, as \\xNN escapes, never a crash.
        (info["tls"] / "policy").write_bytes(b"[relay.posture.test]:587 encrypt\npartner.posture.test verify\n"
                                             b"optional.posture.test may\n\xff\xfe.posture.test secure\n")
        dane = info["root"] / "tlsa.zone"
        dane.write_text("; DANE TLSA records\n_%d._tcp.%s. IN TLSA 3 1 1 %s\n_%d._tcp.%s. IN TLSA 3 1 1 %s\n" % (
            PORT, NAME, served_record(ec_key), PORT, NAME, other_key_record()))
        start_postfix(info["conf"], PORT, "127.0.0.1")
        run = run_as_ansible("tls_posture", {"config_dir": str(info["conf"]), "dane_files": [str(dane)],
                                             "timeout": 10})
        yield dict(info, run=run, dane=dane, ec=served_record(ec_key), rsa=served_record(rsa_key))


def by_port(result, port):
    return next(item for item in result["listeners"] if item["port"] == port)


def test_one_call_reports_every_listener_with_its_role(planted):
    run = planted["run"]
    result = run.result
    assert result and not result.get("failed"), run.output[-3000:]
    assert result["changed"] is False
    assert [(item["port"], item["role"], item["wrappermode"]) for item in result["listeners"]] == [
        (PORT, "mx", False), (PORT + 1, "submission", False), (PORT + 2, "smtps", True)]
    mx = by_port(result, PORT)
    assert mx["starttls"] is True and mx["established"] is True
    assert mx["protocol"] == "TLSv1.3" and mx["cipher"].startswith("TLS_")
    assert by_port(result, PORT + 2)["starttls"] is None and by_port(result, PORT + 2)["established"] is True


def test_protocol_versions_accepted_as_postfix_defaults_say(planted):
    # Postfix 3.7: smtpd_tls_protocols and smtpd_tls_mandatory_protocols default to >=TLSv1 (postconf(5)).
    for port in (PORT, PORT + 1, PORT + 2):
        assert by_port(planted["run"].result, port)["protocols"] == {
            "TLSv1": True, "TLSv1.1": True, "TLSv1.2": True, "TLSv1.3": True}


def test_both_served_certificates_with_their_facts(planted):
    certificates = by_port(planted["run"].result, PORT)["certificates"]
    assert [(item["key_algorithm"], item["key_bits"], item["chain_length"]) for item in certificates] == [
        ("ecdsa", 256, 1), ("rsa", 2048, 1)]
    ecdsa, rsa_cert = certificates
    assert ecdsa["tlsa_3_1_1"] == planted["ec"] and rsa_cert["tlsa_3_1_1"] == planted["rsa"]
    assert rsa_cert["names"] == [NAME] and HOSTILE in rsa_cert["issuer"]
    assert 3 <= rsa_cert["days_left"] <= 5 and 58 <= ecdsa["days_left"] <= 60


def test_planted_faults_are_the_failures(planted):
    result = planted["run"].result
    fails = [(item["code"], item["subject"]) for item in result["findings"] if item["severity"] == "fail"]
    codes = sorted(code for code, _subject in fails)
    # The RSA certificate expires in 5 days (on each of the three listeners), one TLSA record is of no served key.
    assert codes == ["certificate_expiry"] * 3 + ["tlsa_mismatch"], json.dumps(result["findings"], indent=1)
    assert result["findings"][0]["severity"] == "fail"
    assert [record["matches"] for record in result["dane"]["records"]] == [True, False]


def test_old_protocols_judged_by_role(planted):
    findings = planted["run"].result["findings"]
    legacy = dict((item["subject"], item) for item in findings if item["code"].startswith("legacy_protocols"))
    mx = legacy["127.0.0.1:%d (mx)" % PORT]
    assert mx["severity"] == "ok" and "TLS_README" in mx["message"]
    assert legacy["127.0.0.1:%d (submission)" % (PORT + 1)]["severity"] == "warn"
    assert legacy["127.0.0.1:%d (smtps)" % (PORT + 2)]["severity"] == "warn"


def test_sending_side_policy_and_relay(planted):
    sending = planted["run"].result["sending"]
    assert sending["security_level"] == "may"
    assert sending["relay"] == {"nexthop": "[relay.posture.test]:587", "level": "encrypt",
                                "source": "texthash:%s/tls/policy" % planted["root"], "state": "forced"}
    assert [(item["destination"], item["level"], item["forced"]) for item in sending["policy"]] == [
        ("[relay.posture.test]:587", "encrypt", True), ("partner.posture.test", "verify", True),
        ("optional.posture.test", "may", False), ("\\xff\\xfe.posture.test", "secure", True)]
    assert planted["run"].result["hardening"]["profile"] == "postfix_default"


def test_listener_without_starttls_fails_and_a_dane_fifo_is_refused(tmp_path):
    port = PORT + 3
    with scratch_postfix("mailtls-posture-plain-", port, server_tls=["smtpd_tls_security_level = none"],
                         listeners=["127.0.0.1:%d inet n - n - - smtpd" % port]) as info:
        start_postfix(info["conf"], port, "127.0.0.1")
        result = run_as_ansible("tls_posture", {"config_dir": str(info["conf"]), "timeout": 5}).result
        assert by_port(result, port)["starttls"] is False
        assert result["findings"][0]["severity"] == "fail" and result["findings"][0]["code"] == "starttls_missing"
        fifo = tmp_path / "tlsa.fifo"
        os.mkfifo(str(fifo))
        link = tmp_path / "tlsa.link"
        link.symlink_to("/etc/passwd")
        started = datetime.datetime.now()
        for path, problem in ((fifo, "not a regular file"), (link, "symbolic link")):
            refused = run_as_ansible("tls_posture", {"config_dir": str(info["conf"]), "dane_files": [str(path)]},
                                     timeout=60).result
            assert refused["failed"] and refused["msg"].startswith("dane_files[0]: ") and problem in refused["msg"]
        assert (datetime.datetime.now() - started).total_seconds() < 60  # a FIFO never blocks the module


@pytest.mark.parametrize("args, message", [
    ({"timeout": 0}, "timeout: 0 is not a number of seconds from 1 to 600"),
    ({"dane_files": ["/tmp/tlsa\nzone"]}, "dane_files[0]: '/tmp/tlsa\\nzone' is not an absolute path"),
    ({"dane_files": ["relative.zone"]}, "dane_files[0]: 'relative.zone' is not an absolute path"),
    ({"dane_files": ["/nonexistent/tlsa.zone"]}, "dane_files[0]: /nonexistent/tlsa.zone does not exist"),
    ({"probe_address": "-connect\tx"}, "probe_address: '-connect\\tx' is not a host name, IPv4 or IPv6 address"),
])
def test_bad_input_is_refused_naming_the_option_before_any_probe(tmp_path, args, message):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "main.cf").write_text("inet_interfaces = 127.0.0.1\n")
    (conf / "master.cf").write_text("127.0.0.1:1 inet n - n - - smtpd\n")
    old = os.stat(conf / "main.cf").st_mtime - 10  # Postfix tools wait ~2 s for a younger main.cf
    os.utime(conf / "main.cf", (old, old))
    run = run_as_ansible("tls_posture", dict(args, config_dir=str(conf)), timeout=60)
    assert run.result["failed"] and run.result["msg"] == message, run.output[-2000:]


def test_check_mode_reads_the_same(planted):
    args = {"config_dir": str(planted["conf"]), "dane_files": [str(planted["dane"])], "_ansible_check_mode": True}
    checked = run_as_ansible("tls_posture", args).result
    assert checked["changed"] is False
    assert checked["listeners"] == planted["run"].result["listeners"]
    assert checked["findings"] == planted["run"].result["findings"]
