"""Existing servers first (issue 23): tls_receiving given no certificate keeps the one main.cf names.

The role runs on this machine against a sandboxed config directory (as test_roles_local does);
every key and certificate is made with openssl under tmp_path, never in /etc/ssl.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import postconf as run_postconf, settle
from helpers import run_playbook, snapshot

PAIR = ("smtpd_tls_cert_file", "smtpd_tls_key_file")
KEY_NAMES = ("smtpd_tls_chain_files",) + PAIR + ("smtpd_tls_eccert_file", "smtpd_tls_eckey_file")


def role_tasks(config_dir, **role_vars):
    """The role without certificate variables, then its result as the play keeps it (server_state)."""
    role_vars.update(server_config_dir=str(config_dir), server_manage_packages=False, server_manage_service=False)
    return [{"name": "tls_receiving", "ansible.builtin.include_role": {"name": "mailtls.postfix.tls_receiving"},
             "vars": role_vars},
            {"name": "state", "ansible.builtin.debug": {"var": "server_state"}}]


def make_pair(directory, name, days=30, key_type="rsa:2048"):
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / (name + ".pem"), directory / (name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", key_type, "-nodes", "-days", str(days),
                    "-subj", "/CN=mx.test", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    os.chmod(str(key), 0o600)
    return cert, key


def ec_parameters(tmp_path):
    path = tmp_path / "p256.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-out", str(path)], check=True, capture_output=True)
    return path


def name_in_main_cf(config_dir, **values):
    """main.cf with Debian's snakeoil lines replaced by ``values`` (a name given None: left out)."""
    main_cf = config_dir / "main.cf"
    lines = [line for line in main_cf.read_text().splitlines()
             if not re.match(r"\s*(%s)\s*=" % "|".join(KEY_NAMES), line)]
    lines += ["%s = %s" % (name, value) for name, value in values.items() if value is not None]
    main_cf.write_text("\n".join(lines) + "\n")
    settle(main_cf)


def postconf(config_dir, *args):
    return run_postconf("-c", str(config_dir), *args).stdout.strip()


def key_values(config_dir):
    return dict((name, postconf(config_dir, "-h", name)) for name in KEY_NAMES)


@pytest.fixture
def snakeoil(tmp_path, config_dir):
    """A Debian-like host: main.cf names a working pair (as its snakeoil one)."""
    cert, key = make_pair(tmp_path / "ssl", "ssl-cert-snakeoil")
    name_in_main_cf(config_dir, smtpd_tls_cert_file=cert, smtpd_tls_key_file=key)
    return cert, key


def test_the_pair_main_cf_names_is_kept_and_said(tmp_path, config_dir, snakeoil):
    cert, key = snakeoil
    before = key_values(config_dir)
    cert_bytes, key_bytes = cert.read_bytes(), key.read_bytes()
    rc, results, output = run_playbook(tmp_path, role_tasks(config_dir))
    assert rc == 0, output
    assert key_values(config_dir) == before
    assert (cert.read_bytes(), key.read_bytes()) == (cert_bytes, key_bytes)
    certificate = results["state"]["server_state"]["certificate"]
    assert certificate["kept"] is True and certificate["changed"] is False
    assert certificate["parameters"] == {"smtpd_tls_cert_file": str(cert), "smtpd_tls_key_file": str(key)}
    assert certificate["certificate"]["cert_file"] == str(cert)
    said = " ".join(output.split())
    assert "certificate: kept the host's own, as main.cf names it (smtpd_tls_cert_file = %s, smtpd_tls_key_file = %s)" \
        % (cert, key) in said, output
    # The other receiving parameters were set; the re-run changes nothing.
    assert postconf(config_dir, "-h", "smtpd_tls_loglevel") == "1"
    settle(config_dir / "main.cf")
    files = snapshot(config_dir)
    rc, results, output = run_playbook(tmp_path, role_tasks(config_dir))
    assert rc == 0 and re.search(r"\bchanged=0\b", output), output
    assert snapshot(config_dir) == files
    assert results["state"]["server_state"]["certificate"]["kept"] is True


def test_check_mode_predicts_the_kept_pair_exactly(tmp_path, config_dir, snakeoil):
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    rc, predicted, output = run_playbook(tmp_path, role_tasks(config_dir), check=True)
    assert rc == 0, output
    assert snapshot(config_dir) == before, "check mode writes nothing"
    rc, applied, output = run_playbook(tmp_path, role_tasks(config_dir))
    assert rc == 0, output
    predicted, applied = predicted["state"]["server_state"], applied["state"]["server_state"]
    assert predicted["certificate"] == applied["certificate"]
    assert predicted["main_cf"]["changes"] == applied["main_cf"]["changes"]
    assert not set(applied["main_cf"]["changes"]) & set(KEY_NAMES)


@pytest.mark.parametrize("form", ["chain_files", "legacy_pairs"])
def test_an_rsa_and_an_ecdsa_key_are_kept_too(tmp_path, config_dir, form):
    rsa_cert, rsa_key = make_pair(tmp_path / "le", "rsa")
    ec_cert, ec_key = make_pair(tmp_path / "le", "ec", key_type="ec:%s" % ec_parameters(tmp_path))
    if form == "chain_files":
        named = {"smtpd_tls_chain_files": "%s, %s, %s, %s" % (rsa_key, rsa_cert, ec_key, ec_cert)}
    else:
        named = {"smtpd_tls_cert_file": str(rsa_cert), "smtpd_tls_key_file": str(rsa_key),
                 "smtpd_tls_eccert_file": str(ec_cert), "smtpd_tls_eckey_file": str(ec_key)}
    name_in_main_cf(config_dir, **named)
    before = key_values(config_dir)
    rc, results, output = run_playbook(tmp_path, role_tasks(config_dir))
    assert rc == 0, output
    assert key_values(config_dir) == before
    certificate = results["state"]["server_state"]["certificate"]
    assert certificate["kept"] is True and certificate["parameters"] == named
    assert sorted(found["key_algorithm"] for found in certificate["certificates"]) == ["ecdsa", "rsa"]


def test_no_pair_in_main_cf_fails_naming_the_role_variables(tmp_path, config_dir):
    name_in_main_cf(config_dir)
    before = snapshot(config_dir)
    rc, _results, output = run_playbook(tmp_path, role_tasks(config_dir))
    assert rc != 0, output
    said = " ".join(output.split())
    assert "this host's main.cf names no certificate and key" in said, output
    assert "give tls_receiving_cert_file" in said and "tls_receiving_key_file" in said, output
    assert "tls_receiving_self_signed (option certificate.self_signed): true for a lab" in said, output
    assert snapshot(config_dir) == before


def test_a_named_file_that_is_not_there_fails_naming_it(tmp_path, config_dir):
    missing = tmp_path / "ssl" / "ssl-cert-snakeoil.pem"
    _cert, key = make_pair(tmp_path / "ssl", "other")
    name_in_main_cf(config_dir, smtpd_tls_cert_file=missing, smtpd_tls_key_file=key)
    before = snapshot(config_dir)
    rc, _results, output = run_playbook(tmp_path, role_tasks(config_dir))
    assert rc != 0, output
    said = " ".join(output.split())
    assert "smtpd_tls_cert_file: main.cf names %s, which does not exist" % missing in said, output
    assert "tls_receiving_self_signed" in said, output
    assert snapshot(config_dir) == before


def test_a_named_key_that_does_not_match_is_refused_naming_the_file(tmp_path, config_dir):
    cert, _key = make_pair(tmp_path / "ssl", "cert")
    _other_cert, other_key = make_pair(tmp_path / "ssl", "other")
    name_in_main_cf(config_dir, smtpd_tls_cert_file=cert, smtpd_tls_key_file=other_key)
    before = snapshot(config_dir)
    for check in (True, False):
        rc, _results, output = run_playbook(tmp_path, role_tasks(config_dir), check=check)
        assert rc != 0, output
        said = " ".join(output.split())
        assert ("the certificate main.cf names (kept: none was given): smtpd_tls_cert_file: %s is not the "
                "certificate of the key %s" % (cert, other_key)) in said, output
        assert snapshot(config_dir) == before


def test_an_expiring_kept_certificate_is_warned_of(tmp_path, config_dir):
    cert, key = make_pair(tmp_path / "ssl", "soon", days=5)
    name_in_main_cf(config_dir, smtpd_tls_cert_file=cert, smtpd_tls_key_file=key)
    rc, results, output = run_playbook(tmp_path, role_tasks(config_dir))
    assert rc == 0, output
    warnings = " ".join(results["state"]["server_state"].get("warnings") or [])
    assert "the certificate main.cf names (kept: none was given): smtpd_tls_cert_file: the certificate for %s " \
        "expires on" % cert in " ".join(warnings.split()), results


def test_a_certificate_given_replaces_the_kept_one(tmp_path, config_dir, snakeoil):
    new_cert, new_key = make_pair(tmp_path / "le", "fullchain")
    rc, results, output = run_playbook(tmp_path, role_tasks(config_dir, tls_receiving_cert_file=str(new_cert),
                                                            tls_receiving_key_file=str(new_key)))
    assert rc == 0, output
    assert (postconf(config_dir, "-h", PAIR[0]), postconf(config_dir, "-h", PAIR[1])) == (str(new_cert), str(new_key))
    assert results["state"]["server_state"]["certificate"]["kept"] is False
