"""A newcomer's traps (issue 23), each reproduced as a newcomer meets it and shown fixed.

The roles run on this machine against a sandboxed config directory, as test_roles_local does.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import settle
from helpers import VENV_BIN, ansible_env, run_playbook, snapshot


def role_task(role, config_dir, tasks_from="main", **role_vars):
    role_vars.update(server_config_dir=str(config_dir), server_manage_packages=False, server_manage_service=False,
                     tls_forced_policy_table=str(config_dir / "tls_policy"),
                     tls_opportunistic_policy_table=str(config_dir / "tls_policy"))
    role_vars.setdefault("tls_forced_preflight", "skip")  # no network here
    return {"name": role, "ansible.builtin.include_role": {"name": "mailtls.postfix." + role, "tasks_from": tasks_from},
            "vars": role_vars}


def test_a_misspelt_server_variable_is_said_with_the_right_name(tmp_path, config_dir):
    rc, _results, output = run_playbook(tmp_path, [role_task("tls_opportunistic", config_dir,
                                                             server_tls_hardenin="modern", server_name="mine")])
    assert rc == 0, output
    said = " ".join(output.split())
    assert ("server_tls_hardenin is not a variable of the role mailtls.postfix.server "
            "(did you mean server_tls_hardening?)") in said, output
    assert "server_name" not in said, "a playbook's own server_ variable is not a typo"


@pytest.mark.parametrize("entry", ["main", "declare"])
def test_a_wrong_type_names_the_role_variable_at_every_entry_point(tmp_path, config_dir, entry):
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    task = role_task("tls_forced", config_dir, tasks_from=entry, tls_forced_destinations=["partner.example"],
                     tls_forced_level="encrpyt")
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc != 0, output
    assert "tls_forced_level" in output and "encrpyt" in output, output
    assert snapshot(config_dir) == before


def test_a_managed_resolver_beside_a_socketmap_of_ones_own_is_refused(tmp_path, config_dir):
    # Both would be wired and asked; nothing is installed, written or reloaded.
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    task = role_task("tls_forced", config_dir, tls_forced_destinations=["partner.example"], tls_forced_mta_sts=True,
                     tls_forced_mta_sts_socketmap="inet:127.0.0.1:9000:postfix")
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc != 0, output
    assert "tls_forced_mta_sts and tls_forced_mta_sts_socketmap are both set" in " ".join(output.split()), output
    assert snapshot(config_dir) == before


def test_tlsrpt_on_a_postfix_that_cannot_report_is_refused(tmp_path, config_dir):
    # This machine's Postfix is 3.7: no TLSRPT client; the parameter would be written and ignored.
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    task = role_task("tls_forced", config_dir, tls_forced_destinations=["partner.example"],
                     tls_forced_tlsrpt_socket="run/tlsrpt/tlsrpt.sock")
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc != 0, output
    assert "smtp_tlsrpt_enable needs Postfix 3.10 or later" in " ".join(output.split()), output
    assert snapshot(config_dir) == before


@pytest.mark.parametrize("role, variable", [("tls_receiving", "tls_receiving_cert_file"),
                                            ("tls_forced", "tls_forced_destinations"),
                                            ("server", "server_tls_hardening")])
def test_the_role_page_shows_each_variable_once(role, variable):
    page = subprocess.run([str(VENV_BIN / "ansible-doc"), "-t", "role", "mailtls.postfix." + role],
                          capture_output=True, text=True, check=True, env=ansible_env()).stdout
    assert sum(1 for line in page.splitlines() if line.strip().lstrip("- ").startswith(variable + " ")) == 1, page
    assert "Internal" in page


def verify_tls(tmp_path, inventory, *extra):
    inventory_file = tmp_path / "inventory.ini"
    inventory_file.write_text(inventory)
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory_file), "mailtls.postfix.verify_tls"]
                          + list(extra), capture_output=True, text=True, check=False, env=ansible_env())
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


def test_verify_tls_fails_when_no_host_matches(tmp_path):
    rc, output = verify_tls(tmp_path, "[mx]\nlocalhost ansible_connection=local\n")
    assert rc != 0, output
    assert "No host matches tls_forced_senders: nothing would be verified" in output, output


def test_verify_tls_fails_when_there_is_no_destination(tmp_path):
    # This machine's /etc/postfix forces nothing: no given destination, none in its tables.
    rc, output = verify_tls(tmp_path, "[tls_forced_senders]\nlocalhost ansible_connection=local\n")
    assert rc != 0, output
    assert "Nothing to verify on localhost" in output, output
    assert "sendmail" not in output


def test_postfix_info_lists_what_the_policy_tables_force(tmp_path, config_dir):
    first, second = config_dir / "first", config_dir / "second"
    first.write_text("partner.example encrypt\nfriend.example may\n.partner.example VERIFY match=nexthop\n")
    second.write_text("partner.example none\nbank.example secure\nfriend.example encrypt\n")
    for table in (first, second):
        subprocess.run(["postmap", "-c", str(config_dir), "hash:%s" % table], check=True)
    subprocess.run(["postconf", "-c", str(config_dir), "-e",
                    "smtp_tls_policy_maps = hash:%s, hash:%s" % (first, second)], check=True)
    rc, results, output = run_playbook(tmp_path, [{"name": "info", "mailtls.postfix.postfix_info":
                                                   {"config_dir": str(config_dir)}}])
    assert rc == 0, output
    # The first table that holds a destination decides it, as Postfix looks it up: friend.example stays may.
    assert results["info"]["forced_destinations"] == [
        {"destination": "partner.example", "level": "encrypt"}, {"destination": ".partner.example", "level": "verify"},
        {"destination": "bank.example", "level": "secure"}]


@pytest.mark.parametrize("role, role_vars, said", [
    ("tls_forced", {"tls_forced_destinations": ["[127.0.0.1]:1"], "tls_forced_preflight": "refuse",
                    "tls_forced_preflight_timeout": 5},
     "set tls_forced_preflight (option preflight.mode) to warn to force it anyway"),
    ("tls_receiving", {"tls_receiving_self_signed": True, "tls_receiving_cert_content": "not a certificate",
                       "tls_receiving_key_content": "not a key"},
     "tls_receiving_self_signed (option self_signed): cannot be combined with tls_receiving_cert_content "
     "(option cert_content) and tls_receiving_key_content (option key_content)"),
])
def test_a_refusal_names_the_role_variable(tmp_path, config_dir, role, role_vars, said):
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    rc, _results, output = run_playbook(tmp_path, [role_task(role, config_dir, **role_vars)])
    assert rc != 0, output
    assert said in " ".join(output.split()), output
    assert snapshot(config_dir) == before


def test_the_play_ends_with_a_summary_per_host(tmp_path, config_dir):
    task = role_task("tls_forced", config_dir, tls_forced_destinations=["partner.example"])
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc == 0, output
    said = " ".join(output.split())
    assert "TASK [mailtls.postfix.server : Say what happened]" in said, output
    assert re.search(r"main\.cf changed: (smtp_tls_\w+, ){4}smtp_tls_\w+ and \d+ more", said), output
    assert "policy table hash:%s/tls_policy: 2 added" % config_dir in said, output
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc == 0 and "no change: Postfix already runs the wanted TLS state" in output, output
