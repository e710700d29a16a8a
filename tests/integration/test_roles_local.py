"""The roles on this machine against a sandboxed config directory: results, idempotence, bad input.

The service is left alone (server_manage_service: false); the handlers' `postfix check`
still runs. The fleet with real mail is the molecule scenario's job.
"""

from __future__ import annotations

import grp
import os
import re
import subprocess

import pytest
from conftest import effective_config, postconf, settle
from helpers import run_playbook, snapshot


def role_task(role, config_dir, **role_vars):
    role_vars.update(server_config_dir=str(config_dir), server_manage_packages=False, server_manage_service=False)
    role_vars.setdefault("tls_forced_preflight", "skip")  # no network here; test_tls_probe covers it
    return {"name": role, "ansible.builtin.include_role": {"name": "mailtls.postfix." + role}, "vars": role_vars}


@pytest.fixture
def key_pair(tmp_path):
    """A certificate and its key, and a second key that does not match."""
    cert, key, other = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "other.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mx.test",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    subprocess.run(["openssl", "genrsa", "-out", str(other), "2048"], check=True, capture_output=True)
    for path in (key, other):
        os.chmod(str(path), 0o600)
    return cert, key, other


def test_tls_receiving_applies_once_from_content(tmp_path, config_dir, key_pair):
    cert, key, _other = key_pair
    files = tmp_path / "tls"
    task = role_task("tls_receiving", config_dir, tls_receiving_cert_file=str(files / "cert.pem"),
                     tls_receiving_key_file=str(files / "private" / "key.pem"),
                     tls_receiving_cert_content=cert.read_text(), tls_receiving_key_content=key.read_text())
    rc, _results, output = run_playbook(tmp_path, [task], diff=True)
    assert rc == 0, output
    # One call did it all: certificate, parameters, services (the service itself is left alone).
    assert re.search(r"\bchanged=1 ", output), output
    assert key.read_text().split("\n")[1] not in output, "the key is never logged"
    lines = effective_config(config_dir)[0]
    for expected in ("smtpd_tls_security_level = may", "smtpd_tls_cert_file = %s/cert.pem" % files,
                     "smtpd_tls_loglevel = 1", "smtpd_tls_mandatory_protocols = >=TLSv1.2",
                     "smtpd_tls_received_header = yes"):
        assert expected in lines
    assert oct(os.stat(str(files / "private" / "key.pem")).st_mode & 0o777) == "0o600"
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc == 0 and "changed=0" in output, output
    assert snapshot(config_dir) == before


def test_tls_forced_check_then_apply_then_noop(tmp_path, config_dir):
    task = role_task("tls_forced", config_dir, tls_forced_policy_table=str(config_dir / "tls_policy"),
                     tls_forced_destinations=["partner.example",
                                              {"destination": "bank.example", "level": "secure",
                                               "attributes": {"match": ["nexthop"]}, "include_subdomains": False}])
    settle(config_dir / "main.cf")
    pristine = snapshot(config_dir)
    rc, _results, output = run_playbook(tmp_path, [task], check=True, diff=True)
    assert rc == 0 and "+smtp_tls_policy_maps = hash:%s/tls_policy" % config_dir in output, output
    assert snapshot(config_dir) == pristine
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc == 0, output
    assert (config_dir / "tls_policy").read_text() == (
        "partner.example encrypt\n.partner.example encrypt\nbank.example secure match=nexthop\n")
    assert "smtp_tls_policy_maps = hash:%s/tls_policy" % config_dir in effective_config(config_dir)[0]
    settle(config_dir / "main.cf")
    applied = snapshot(config_dir)
    for check in (True, False):
        rc, _results, output = run_playbook(tmp_path, [task], check=check)
        assert rc == 0 and "changed=0" in output, output
    assert snapshot(config_dir) == applied


def test_tls_opportunistic_for_all_mail_and_listed_destinations(tmp_path, config_dir):
    task = role_task("tls_opportunistic", config_dir, tls_opportunistic_policy_table=str(config_dir / "tls_policy"),
                     tls_opportunistic_destinations=["legacy.example"])
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc == 0, output
    lines = effective_config(config_dir)[0]
    assert "smtp_tls_security_level = may" in lines and "smtp_tls_loglevel = 1" in lines
    assert (config_dir / "tls_policy").read_text() == "legacy.example may\n"


@pytest.mark.parametrize("case, message", [
    ("mismatch", "is not the certificate of the key"),
    ("world_readable", "has mode 0644, so users other than its owner and group can read it"),
    ("missing", "does not exist"),
    ("contradictory", "parameters are required together: cert_content, key_content"),
    ("self_signed_and_content", "self_signed: cannot be combined with cert_content and key_content"),
    ("bad_level", "value of tls_receiving_security_level must be one of: none, may, encrypt, got: strict"),
])
def test_tls_receiving_refuses_bad_input(tmp_path, config_dir, key_pair, case, message):
    cert, key, other = key_pair
    role_vars = {"tls_receiving_cert_file": str(cert), "tls_receiving_key_file": str(key)}
    if case == "mismatch":
        role_vars["tls_receiving_key_file"] = str(other)
    elif case == "world_readable":
        os.chmod(str(key), 0o644)
    elif case == "missing":
        role_vars["tls_receiving_cert_file"] = str(tmp_path / "nope.pem")
    elif case == "contradictory":
        role_vars["tls_receiving_cert_content"] = cert.read_text()
    elif case == "self_signed_and_content":
        role_vars.update(tls_receiving_cert_content=cert.read_text(), tls_receiving_key_content=key.read_text(),
                         tls_receiving_self_signed=True)
    elif case == "bad_level":
        role_vars["tls_receiving_security_level"] = "strict"
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    rc, _results, output = run_playbook(tmp_path, [role_task("tls_receiving", config_dir, **role_vars)])
    assert rc != 0
    assert message in " ".join(output.split()), output
    assert snapshot(config_dir) == before


def test_tls_receiving_mismatched_content_leaves_the_live_pair_byte_identical(tmp_path, config_dir, key_pair):
    cert, key, other = key_pair
    files = tmp_path / "tls"
    role_vars = {"tls_receiving_cert_file": str(files / "cert.pem"),
                 "tls_receiving_key_file": str(files / "private" / "key.pem"),
                 "tls_receiving_cert_content": cert.read_text(), "tls_receiving_key_content": key.read_text()}
    rc, _results, output = run_playbook(tmp_path, [role_task("tls_receiving", config_dir, **role_vars)])
    assert rc == 0, output
    settle(config_dir / "main.cf")
    live, config = snapshot(files), snapshot(config_dir)
    role_vars["tls_receiving_key_content"] = other.read_text()
    for check in (False, True):
        rc, _results, output = run_playbook(tmp_path, [role_task("tls_receiving", config_dir, **role_vars)],
                                            check=check, diff=True)
        assert rc != 0, output
        assert snapshot(files) == live, "the live key is not replaced by one that does not match"
        assert snapshot(config_dir) == config
        assert ("the certificate given for %s/cert.pem is not the certificate of the key given for "
                "%s/private/key.pem" % (files, files)) in " ".join(output.split()), output
        assert other.read_text().splitlines()[5] not in output, "the key is never logged"


def test_tls_receiving_self_signed_keeps_a_lone_existing_key(tmp_path, config_dir, key_pair):
    _cert, pem, _other = key_pair
    key = tmp_path / "keys" / "key.pem"
    key.parent.mkdir()
    key.write_bytes(pem.read_bytes())
    os.chmod(str(key), 0o600)
    task = role_task("tls_receiving", config_dir, tls_receiving_cert_file=str(tmp_path / "keys" / "cert.pem"),
                     tls_receiving_key_file=str(key), tls_receiving_self_signed=True)
    settle(config_dir / "main.cf")
    before, config = snapshot(key.parent), snapshot(config_dir)
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc != 0, output
    assert snapshot(key.parent) == before, "the existing key is not overwritten by a generated one"
    assert snapshot(config_dir) == config
    assert "self_signed generates both or neither" in " ".join(output.split()), output


def test_tls_receiving_leaves_existing_directories_alone(tmp_path, config_dir, key_pair):
    cert, key, _other = key_pair
    try:
        gid = grp.getgrnam("ssl-cert").gr_gid
    except KeyError:
        subprocess.run(["groupadd", "--system", "ssl-cert"], check=True)
        gid = grp.getgrnam("ssl-cert").gr_gid
    private, shared = tmp_path / "ssl" / "private", tmp_path / "shared"
    private.mkdir(parents=True)
    os.chown(str(private), 0, gid)
    os.chmod(str(private), 0o710)
    shared.mkdir()
    os.chmod(str(shared), 0o750)
    for cert_file, key_file in ((tmp_path / "ssl" / "certs" / "cert.pem", private / "key.pem"),
                                (shared / "cert.pem", shared / "key.pem")):
        task = role_task("tls_receiving", config_dir, tls_receiving_cert_file=str(cert_file),
                         tls_receiving_key_file=str(key_file), tls_receiving_cert_content=cert.read_text(),
                         tls_receiving_key_content=key.read_text())
        for _run in range(2):
            rc, _results, output = run_playbook(tmp_path, [task])
            assert rc == 0, output
            for directory, expected in ((private, (0o710, 0, gid)), (shared, (0o750, 0, 0))):
                found = os.stat(str(directory))
                assert (found.st_mode & 0o7777, found.st_uid, found.st_gid) == expected, directory
        assert key_file.read_text() == key.read_text()
        assert "changed=0" in output, "the second run changes nothing"


@pytest.mark.parametrize("role_vars, message", [
    ({"tls_forced_level": "maybe"}, "value of tls_forced_level must be one of"),
    ({"tls_forced_destinations": [{"destination": "a.example", "attributes": {"match": "hostname"}}]},
     "attributes.match: a.example: does not apply to level encrypt"),
    ({"tls_forced_destinations": ["not a destination"]}, "is not a next-hop destination"),
    ({"tls_forced_table_type": "dbm"}, "this Postfix does not support the 'dbm' table type"),
])
def test_tls_forced_refuses_bad_input(tmp_path, config_dir, role_vars, message):
    role_vars.setdefault("tls_forced_destinations", ["partner.example"])
    role_vars["tls_forced_policy_table"] = str(config_dir / "tls_policy")
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    rc, _results, output = run_playbook(tmp_path, [role_task("tls_forced", config_dir, **role_vars)])
    assert rc != 0
    assert message in " ".join(output.split()), output
    assert snapshot(config_dir) == before


def test_tls_receiving_submission_services(tmp_path, config_dir, key_pair):
    cert, key, _other = key_pair
    task = role_task("tls_receiving", config_dir, tls_receiving_cert_file=str(cert), tls_receiving_key_file=str(key),
                     tls_receiving_submission=True, tls_receiving_submissions=True)
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc == 0, output
    submission = postconf("-c", str(config_dir), "-M", "submission/inet").stdout.split()
    assert submission[:8] == ["submission", "inet", "n", "-", "y", "-", "-", "smtpd"]
    assert "smtpd_tls_security_level=encrypt" in submission
    assert "smtpd_tls_wrappermode=yes" in postconf("-c", str(config_dir), "-M", "submissions/inet").stdout
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc == 0 and "changed=0" in output, output
    task["vars"]["tls_receiving_submission"] = False
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc == 0 and postconf("-c", str(config_dir), "-M", "submission/inet").stdout == ""


def test_tls_forced_dane_and_mta_sts_compose_policy_maps(tmp_path, config_dir):
    task = role_task("tls_forced", config_dir, tls_forced_policy_table=str(config_dir / "tls_policy"),
                     tls_forced_destinations=["partner.example", {"destination": "dane.example", "level": "dane"}],
                     tls_forced_mta_sts_socketmap="inet:127.0.0.1:8461:postfix")
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc == 0, output
    lines = effective_config(config_dir)[0]
    assert "smtp_tls_policy_maps = hash:%s/tls_policy, socketmap:inet:127.0.0.1:8461:postfix" % config_dir in lines
    assert "smtp_dns_support_level = dnssec" in lines
    assert "dane.example dane\n" in (config_dir / "tls_policy").read_text()


def test_tls_forced_refuses_an_mta_sts_server_that_does_not_answer(tmp_path, config_dir):
    task = role_task("tls_forced", config_dir, tls_forced_policy_table=str(config_dir / "tls_policy"),
                     tls_forced_destinations=[], tls_forced_preflight="refuse",
                     tls_forced_mta_sts_socketmap="inet:127.0.0.1:9:postfix")
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc != 0
    assert "the MTA-STS policy server at socketmap:inet:127.0.0.1:9:postfix does not answer" in " ".join(output.split())
    assert "Connection refused" in " ".join(output.split()) and snapshot(config_dir) == before


def test_server_migrates_the_how_to_obsolete_parameters(tmp_path, config_dir):
    with open(str(config_dir / "main.cf"), "a") as handle:
        handle.write("smtpd_use_tls = yes\n")
    rc, _results, output = run_playbook(tmp_path, [role_task("server", config_dir)])
    assert rc == 0, output
    lines = effective_config(config_dir)[0]
    assert "smtpd_tls_security_level = may" in lines and not any(line.startswith("smtpd_use_tls") for line in lines)


def test_forced_and_opportunistic_share_the_table_and_policy_maps(tmp_path, config_dir):
    shared = {"tls_forced_policy_table": str(config_dir / "tls_policy"),
              "tls_opportunistic_policy_table": str(config_dir / "tls_policy"),
              "tls_forced_destinations": ["partner.example"],
              "tls_opportunistic_destinations": ["legacy.example"],
              "tls_forced_mta_sts_socketmap": "inet:127.0.0.1:8461:postfix"}
    tasks = [role_task("tls_forced", config_dir, **shared), role_task("tls_opportunistic", config_dir, **shared)]
    rc, _results, output = run_playbook(tmp_path, tasks)
    assert rc == 0, output
    assert (config_dir / "tls_policy").read_text() == (
        "partner.example encrypt\n.partner.example encrypt\nlegacy.example may\n")
    assert "smtp_tls_policy_maps = hash:%s/tls_policy, socketmap:inet:127.0.0.1:8461:postfix" % config_dir \
        in effective_config(config_dir)[0]
    rc, _results, output = run_playbook(tmp_path, tasks)
    assert rc == 0 and "changed=0" in output, output


@pytest.mark.parametrize("role, typo, message", [
    # Issue 23's first trap: without the "s" the variable was ignored and nothing was forced.
    ("tls_forced", {"tls_forced_destination": ["partner.example"]},
     "tls_forced_destination is not a variable of the role mailtls.postfix.tls_forced "
     "(did you mean tls_forced_destinations?)"),
    ("tls_relay", {"tls_relay_hostname": "smtp.relay.test"},
     "tls_relay_hostname is not a variable of the role mailtls.postfix.tls_relay (did you mean tls_relay_host?)"),
])
def test_a_role_variable_the_role_does_not_know_fails_before_anything_changes(
        tmp_path, config_dir, role, typo, message):
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    for check in (True, False):
        rc, _results, output = run_playbook(tmp_path, [role_task(role, config_dir, **typo)], check=check)
        assert rc != 0, output
        assert message in " ".join(output.split()), output
        assert snapshot(config_dir) == before


def test_declared_profiles_are_applied_in_one_call_as_the_fleet_does(tmp_path, config_dir):
    role_vars = {"tls_forced_policy_table": str(config_dir / "tls_policy"),
                 "tls_opportunistic_policy_table": str(config_dir / "tls_policy"),
                 "tls_forced_destinations": ["partner.example"], "tls_forced_preflight": "skip",
                 "tls_opportunistic_destinations": ["legacy.example"],
                 "server_config_dir": str(config_dir), "server_manage_packages": False,
                 "server_manage_service": False}
    tasks = [{"name": role, "ansible.builtin.include_role": {"name": "mailtls.postfix." + role, "tasks_from": entry},
              "vars": role_vars}
             for role, entry in (("tls_forced", "declare"), ("tls_opportunistic", "declare"), ("server", "apply"))]
    rc, _results, output = run_playbook(tmp_path, tasks)
    assert rc == 0, output
    # One tls_profile call changed the host: the declarations were taken once, in order.
    assert re.search(r"\bchanged=1 ", output), output
    assert (config_dir / "tls_policy").read_text() == (
        "partner.example encrypt\n.partner.example encrypt\nlegacy.example may\n")
    assert "smtp_tls_security_level = may" in effective_config(config_dir)[0]
