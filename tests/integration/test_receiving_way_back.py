"""Issue 23, the receiving side's way back: tls_receiving_state absent takes back its submission
services (master.cf), its parameters, and deletes the certificate and key it created, never a file
it did not create.

The role runs on this machine against a sandboxed config directory: the certificate is made in it.
"""

from __future__ import annotations

import json

from conftest import effective_config, settle
from helpers import snapshot

from test_roles_way_back import run_role, said


def receiving_vars(config_dir, **more):
    found = dict(tls_receiving_self_signed=True, tls_receiving_self_signed_subject="/CN=mx.way-back.test",
                 tls_receiving_cert_file=str(config_dir / "mailtls.pem"),
                 tls_receiving_key_file=str(config_dir / "mailtls.key"),
                 tls_receiving_sni_table=str(config_dir / "tls_server_sni"),
                 tls_receiving_submission=True, tls_receiving_submissions=True)
    found.update(more)
    return found


def test_tls_receiving_absent_takes_back_services_parameters_and_its_certificate(tmp_path, config_dir):
    # The host-wide settings first (the server role's hardening): they stay until the server's own absent.
    rc, state, output = run_role(tmp_path, "server", config_dir)
    assert rc == 0, output
    (config_dir / "own.pem").write_text("not the collection's\n")
    before_config, _unused = effective_config(config_dir)
    before_master = (config_dir / "master.cf").read_text()
    before_files = sorted(snapshot(config_dir))

    rc, state, output = run_role(tmp_path, "tls_receiving", config_dir, **receiving_vars(config_dir))
    assert rc == 0 and state["changed"], output
    master = (config_dir / "master.cf").read_text()
    assert "\nsubmission inet" in master and "\nsubmissions inet" in master
    record = json.loads((config_dir / "mailtls-profiles.json").read_text())["profiles"]["tls_receiving"]
    assert sorted(record["services"]) == ["submission/inet", "submissions/inet"]
    assert str(config_dir / "mailtls.key") in record["files"]

    # Only the services: dropped from the role, they go (a present run takes back what it no longer lists).
    rc, state, output = run_role(tmp_path, "tls_receiving", config_dir, **receiving_vars(
        config_dir, tls_receiving_submissions=False))
    assert rc == 0 and state["changed"], output
    assert "\nsubmissions inet" not in (config_dir / "master.cf").read_text()

    untouched = snapshot(config_dir)
    rc, predicted, output = run_role(tmp_path, "tls_receiving", config_dir, check=True, tls_receiving_state="absent")
    assert rc == 0 and predicted["changed"], output
    assert snapshot(config_dir) == untouched
    rc, state, output = run_role(tmp_path, "tls_receiving", config_dir, tls_receiving_state="absent")
    assert rc == 0 and state["changed"], output
    assert predicted["profiles_released"] == state["profiles_released"], output
    released = state["profiles_released"]["tls_receiving"]
    assert released["services_restored"] == {"submission/inet": None}
    assert sorted(released["removed_files"]) == [str(config_dir / name) for name in (
        "mailtls-loaded-tls-files.json", "mailtls.key", "mailtls.pem")]
    assert (config_dir / "master.cf").read_text() == before_master
    after_config, _unused = effective_config(config_dir)
    assert after_config == before_config
    assert sorted(snapshot(config_dir)) == before_files, "exactly what the collection created is deleted"
    assert (config_dir / "own.pem").read_text() == "not the collection's\n"

    untouched = snapshot(config_dir)
    rc, state, output = run_role(tmp_path, "tls_receiving", config_dir, tls_receiving_state="absent")
    assert rc == 0 and not state["changed"] and not state["reloaded"], output
    assert snapshot(config_dir) == untouched


def test_a_service_edited_by_hand_stays_with_a_warning(tmp_path, config_dir):
    rc, state, output = run_role(tmp_path, "tls_receiving", config_dir, **receiving_vars(config_dir))
    assert rc == 0, output
    master = config_dir / "master.cf"
    master.write_text(master.read_text().replace("syslog_name=postfix/submissions", "syslog_name=mine/submissions"))
    settle(master)
    rc, state, output = run_role(tmp_path, "tls_receiving", config_dir, tls_receiving_state="absent")
    assert rc == 0, output
    text = master.read_text()
    assert "syslog_name=mine/submissions" in text and "\nsubmission inet" not in text
    assert ("master.cf's service submissions/inet stays: tls_receiving wrote it, someone changed it since; "
            "tls_receiving no longer takes it back") in said(output), output


OWN_SUBMISSION = ("submission inet n       -       y       -       -       smtpd\n"
                  "  -o syslog_name=postfix/own-submission\n  -o smtpd_tls_security_level=encrypt\n")


def test_the_hosts_own_submission_service_stays_and_comes_back(tmp_path, config_dir):
    master = config_dir / "master.cf"
    master.write_text(master.read_text() + OWN_SUBMISSION)
    settle(master)
    # Not offered by the role (its default): the host's own service stays.
    rc, state, output = run_role(tmp_path, "tls_receiving", config_dir, **receiving_vars(
        config_dir, tls_receiving_submission=False, tls_receiving_submissions=False))
    assert rc == 0, output
    assert "syslog_name=postfix/own-submission" in master.read_text()
    # Offered: the role's entry replaces it; absent: the host's own comes back.
    rc, state, output = run_role(tmp_path, "tls_receiving", config_dir, **receiving_vars(config_dir))
    assert rc == 0, output
    assert "own-submission" not in master.read_text()
    rc, state, output = run_role(tmp_path, "tls_receiving", config_dir, tls_receiving_state="absent")
    assert rc == 0 and state["changed"], output
    text = master.read_text()
    assert "syslog_name=postfix/own-submission" in text and "\nsubmissions inet" not in text
    assert "\n  -o syslog_name=postfix/submission\n" not in text
