"""A newcomer's traps (issue 23), each reproduced as a newcomer meets it and shown fixed.

The roles run on this machine against a sandboxed config directory, as test_roles_local does.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import settle
from helpers import VENV_BIN, ansible_env, run_playbook, snapshot


def role_task(role, config_dir, tasks_from="main", **role_vars):
    role_vars.update(server_config_dir=str(config_dir), server_manage_packages=False, server_manage_service=False,
                     tls_forced_preflight="skip", tls_forced_policy_table=str(config_dir / "tls_policy"),
                     tls_opportunistic_policy_table=str(config_dir / "tls_policy"))
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


@pytest.mark.parametrize("role, variable", [("tls_receiving", "tls_receiving_cert_file"),
                                            ("tls_forced", "tls_forced_destinations"),
                                            ("server", "server_tls_hardening")])
def test_the_role_page_shows_each_variable_once(role, variable):
    page = subprocess.run([str(VENV_BIN / "ansible-doc"), "-t", "role", "mailtls.postfix." + role],
                          capture_output=True, text=True, check=True, env=ansible_env()).stdout
    assert sum(1 for line in page.splitlines() if line.strip().lstrip("- ").startswith(variable + " ")) == 1, page
    assert "Internal" in page
