"""tls_probe against a real Postfix instance on loopback with one smtpd per certificate case."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import postconf, settle
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from drivers import scratch_postfix, start_postfix
from helpers import run_module, run_playbook, snapshot
from tls_material import make_cert, write_pair

# Each pytest-xdist worker runs its own instance, on its own ports.
BASE_PORT = 25250 + 10 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
# port offset -> (what the smtpd presents, certificate name, valid days from/to now)
CASES = {
    "self_signed": 0,
    "no_tls": 1,
    "trusted": 2,
    "wrong_name": 3,
    "expired": 4,
    "hostile_names": 5,
    "smtps": 6,  # TLS from the first byte (wrapper mode), the trusted certificate
}
# A subjectAltName openssl prints raw: newlines and fake fields after a real name.
HOSTILE_NAME = "a\nnotAfter=Jan  1 00:00:00 2099 GMT\nsha256 Fingerprint=AA:BB\nsubject=CN = spoof\n    DNS:spoof.example"


@pytest.fixture(scope="module")
def smtp_servers():
    """One Postfix instance, five smtpd listeners on 127.0.0.1, each a certificate case."""
    listeners = []
    for case, offset in CASES.items():
        port = BASE_PORT + offset
        if case == "no_tls":
            options = "-o smtpd_tls_security_level=none"
        elif case == "smtps":
            options = "-o smtpd_tls_wrappermode=yes -o smtpd_tls_cert_file={root}/certs/trusted.pem " \
                      "-o smtpd_tls_key_file={root}/certs/trusted.key"
        else:
            options = "-o smtpd_tls_cert_file={root}/certs/%s.pem -o smtpd_tls_key_file={root}/certs/%s.key" % (
                case, case)
        listeners.append("127.0.0.1:%d inet n - n - - smtpd %s" % (port, options))
    # Postfix's own user must reach the data directory: pytest's tmp tree is root-only.
    with scratch_postfix("mailtls-probe-", hostname="probe.test", listeners=listeners, directories=("certs",),
                         server_tls=["smtpd_tls_cert_file = {root}/certs/self_signed.pem",
                                     "smtpd_tls_key_file = {root}/certs/self_signed.key"]) as info:
        certs = info["certs"]
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = make_cert("mailtls test CA", None, None, ca_key, -1, 30, ca=True)
        (certs / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        cases = {"self_signed": ("localhost", None, 0, 30), "trusted": ("localhost", ca, -1, 30),
                 "wrong_name": ("other.test", ca, -1, 30), "expired": ("localhost", ca, -30, -1),
                 "hostile_names": ("localhost", ca, -30, -1)}
        for stem, (name, issuer, start, end) in cases.items():
            key = ec.generate_private_key(ec.SECP256R1())
            cert = make_cert(name, ca_key if issuer else None, issuer.subject if issuer else None, key, start, end,
                             extra_names=[HOSTILE_NAME] if stem == "hostile_names" else [])
            write_pair(certs, stem, cert, key)
        start_postfix(info["conf"], BASE_PORT + max(CASES.values()))
        yield {"ports": dict((case, BASE_PORT + offset) for case, offset in CASES.items()),
               "ca": str(certs / "ca.pem"), "config_dir": str(info["conf"])}


def probe(localhost, servers, case, **args):
    args.setdefault("timeout", 10)
    return run_module(localhost, "mailtls.postfix.tls_probe", destination="[localhost]:%d" % servers["ports"][case],
                      ca_file=servers["ca"], host_lookup="native", **args)


def test_self_signed_passes_encrypt_not_verify(localhost, smtp_servers):
    result = probe(localhost, smtp_servers, "self_signed")
    assert result["changed"] is False
    assert result["starttls"] is True and result["established"] is True and result["trust"] == "Untrusted"
    assert result["protocol"] == "TLSv1.3" and result["cipher"].startswith("TLS_")
    assert result["passes"] == {"may": True, "encrypt": True, "verify": False, "secure": False}
    certificate = result["certificate"]
    assert certificate["names"] == ["localhost"] and certificate["expired"] is False
    assert 28 <= certificate["days_left"] <= 30 and len(certificate["fingerprint_sha256"].split(":")) == 32


def test_no_starttls_fails_encrypt(localhost, smtp_servers):
    result = probe(localhost, smtp_servers, "no_tls")
    assert result["starttls"] is False and result["established"] is False and result["certificate"] is None
    assert result["passes"] == {"may": True, "encrypt": False, "verify": False, "secure": False}


def test_trusted_matching_certificate_passes_everything(localhost, smtp_servers):
    result = probe(localhost, smtp_servers, "trusted")
    assert result["trust"] in ("Trusted", "Verified")
    assert result["passes"] == {"may": True, "encrypt": True, "verify": True, "secure": True}
    assert result["certificate"]["issuer"].endswith("mailtls test CA")


def test_wrong_name_fails_verify(localhost, smtp_servers):
    result = probe(localhost, smtp_servers, "wrong_name")
    assert result["certificate"]["names"] == ["other.test"]
    assert result["passes"] == {"may": True, "encrypt": True, "verify": False, "secure": False}


def test_expired_certificate_is_reported_and_fails_verify(localhost, smtp_servers):
    result = probe(localhost, smtp_servers, "expired")
    assert result["certificate"]["expired"] is True and result["certificate"]["days_left"] < 0
    assert result["passes"]["encrypt"] is True and result["passes"]["verify"] is False


def test_certificate_fields_cannot_be_forged_by_a_subject_alt_name(localhost, smtp_servers):
    result = probe(localhost, smtp_servers, "hostile_names")
    certificate = result["certificate"]
    assert certificate["expired"] is True and certificate["days_left"] < 0 and certificate["not_after"].endswith(" GMT")
    assert not certificate["not_after"].startswith("Jan  1 00:00:00 2099")
    assert certificate["names"] == ["localhost"] and certificate["subject"] == "CN = localhost"
    served = x509.load_pem_x509_certificate((Path(smtp_servers["ca"]).parent / "hostile_names.pem").read_bytes())
    assert certificate["fingerprint_sha256"] == served.fingerprint(hashes.SHA256()).hex(":").upper()
    assert result["passes"] == {"may": True, "encrypt": True, "verify": False, "secure": False}


def test_unreachable_and_bad_input(localhost, smtp_servers):
    result = run_module(localhost, "mailtls.postfix.tls_probe", destination="[localhost]:%d" % (BASE_PORT + 9),
                        timeout=5, host_lookup="native")
    assert result["established"] is False and result["passes"]["encrypt"] is False
    assert any("Connection refused" in error for error in result["errors"])
    result = run_module(localhost, "mailtls.postfix.tls_probe", destination="not a destination")
    assert result["failed"] and "is not a next-hop destination" in result["msg"]
    result = run_module(localhost, "mailtls.postfix.tls_probe", destination="x.example", port=70000)
    assert result["failed"] and result["msg"] == "port: 70000 is not a TCP port (1-65535)"
    assert postconf("-c", smtp_servers["config_dir"], "-h", "myhostname").stdout.strip() == "probe.test"


@pytest.mark.parametrize("preflight, case, outcome", [
    ("refuse", "no_tls", "cannot take level encrypt (no STARTTLS)"),
    ("refuse", "self_signed", "ok"),
    ("warn", "no_tls", "forcing TLS anyway (preflight: warn)"),
])
def test_tls_forced_preflight_gate(tmp_path, config_dir, smtp_servers, preflight, case, outcome):
    destination = "[localhost]:%d" % smtp_servers["ports"][case]
    task = {"name": "forced", "ansible.builtin.include_role": {"name": "mailtls.postfix.tls_forced"},
            "vars": {"server_config_dir": str(config_dir), "server_manage_packages": False,
                     "server_manage_service": False, "tls_forced_policy_table": str(config_dir / "tls_policy"),
                     "tls_forced_destinations": [destination], "tls_forced_include_subdomains": False,
                     "tls_forced_preflight": preflight, "tls_forced_preflight_host_lookup": "native",
                     "tls_forced_preflight_timeout": 5}}
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    rc, _results, output = run_playbook(tmp_path, [task])
    if outcome == "ok":
        assert rc == 0, output
        assert (config_dir / "tls_policy").read_text() == "%s encrypt\n" % destination
    elif preflight == "refuse":
        assert rc != 0 and outcome in " ".join(output.split()), output
        assert "nothing was changed" in output and snapshot(config_dir) == before
    else:
        assert rc == 0 and outcome in " ".join(output.split()), output
        assert (config_dir / "tls_policy").read_text() == "%s encrypt\n" % destination


def test_smtps_is_probed_in_wrapper_mode(localhost, smtp_servers):
    result = probe(localhost, smtp_servers, "smtps", wrappermode=True)
    assert result["wrappermode"] is True and result["starttls"] is False
    assert result["established"] is True and result["trust"] in ("Trusted", "Verified")
    assert result["passes"] == {"may": True, "encrypt": True, "verify": True, "secure": True}
    # Each way of speaking fails against the other kind of server, and says so.
    result = probe(localhost, smtp_servers, "smtps", timeout=3)
    assert result["established"] is False and result["passes"]["encrypt"] is False
    result = probe(localhost, smtp_servers, "trusted", wrappermode=True)
    assert result["established"] is False and result["passes"]["encrypt"] is False


@pytest.mark.parametrize("case, wrappermode, outcome", [
    ("smtps", True, "ok"),
    ("trusted", False, "ok"),
    ("no_tls", False, "cannot take level secure (no STARTTLS)"),
    ("self_signed", False, "cannot take level secure (TLS TLSv1.3, Untrusted)"),
    ("trusted", True, "cannot take level secure"),
])
def test_tls_relay_preflight_gate(tmp_path, config_dir, smtp_servers, case, wrappermode, outcome):
    port = smtp_servers["ports"][case]
    task = {"name": "relay", "ansible.builtin.include_role": {"name": "mailtls.postfix.tls_relay"},
            "vars": {"server_config_dir": str(config_dir), "server_manage_packages": False,
                     "server_manage_service": False, "tls_relay_host": "localhost", "tls_relay_port": port,
                     "tls_relay_wrappermode": wrappermode, "tls_relay_ca_file": smtp_servers["ca"],
                     "tls_relay_username": "user", "tls_relay_password": "s3cret-pw",
                     "tls_relay_password_table": str(config_dir / "sasl_passwd"),
                     "tls_relay_sender_table": str(config_dir / "sender_relay"),
                     "tls_relay_transport_table": str(config_dir / "relay_transport"),
                     "tls_relay_preflight_host_lookup": "native", "tls_relay_preflight_timeout": 5}}
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    rc, results, output = run_playbook(tmp_path, [task])
    assert "s3cret-pw" not in output
    if outcome == "ok":
        assert rc == 0, output
        assert "relayhost = [localhost]:%d" % port in postconf("-c", str(config_dir), "-n").stdout
        return
    assert rc != 0 and "preflight: [localhost]:%d %s" % (port, outcome) in output, output
    assert snapshot(config_dir) == before, "a refused relay changes nothing"
