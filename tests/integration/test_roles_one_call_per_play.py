"""The README's way: profile roles listed in one play make one tls_profile call per host.

Each role declares; the last profile role the play lists applies every declaration in one call.
A role applies its own at once whenever a later one could be skipped (a ``when``, a role named
twice, tags or --start-at-task choosing tasks), so no declaration is ever left unapplied.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import effective_config, settle
from helpers import VENV_BIN, ansible_env, snapshot

from ansible_collections.mailtls.postfix.plugins.plugin_utils.role_declarations import a_later_role_applies

APPLY_TASK = "mailtls.postfix.server : Apply the wanted Postfix state in one call"
FORCED, OPPORTUNISTIC, RELAY = ("mailtls.postfix.tls_forced", "mailtls.postfix.tls_opportunistic",
                                "mailtls.postfix.tls_relay")


def play(tmp_path, config_dir, roles, *extra_args):
    """Run one play of ``roles`` (with facts off) against the sandbox; return (rc, output, tls_profile calls)."""
    role_vars = {"server_config_dir": str(config_dir), "server_manage_packages": False,
                 "server_manage_service": False, "tls_forced_preflight": "skip",
                 "tls_forced_destinations": ["partner.example"], "tls_opportunistic_destinations": ["friend.example"],
                 "tls_forced_policy_table": str(config_dir / "tls_policy"),
                 "tls_opportunistic_policy_table": str(config_dir / "tls_policy")}
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "connection": "local",
                                     "vars": role_vars, "roles": roles}]))
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(playbook)] + list(extra_args),
                          capture_output=True, text=True, check=False, env=ansible_env())
    output = proc.stdout + proc.stderr
    return proc.returncode, output, output.count("TASK [%s]" % APPLY_TASK)


def applied(config_dir):
    """Whether (the opportunistic role's entry, the forced role's entry) are in the table main.cf names."""
    maps = [line for line in effective_config(config_dir)[0] if line.startswith("smtp_tls_policy_maps = ")]
    table = (config_dir / "tls_policy").read_text() if maps and str(config_dir / "tls_policy") in maps[0] else ""
    return "friend.example may" in table, "partner.example encrypt" in table


def test_two_roles_in_one_play_apply_in_one_call_and_rerun_changes_nothing(tmp_path, config_dir):
    rc, output, calls = play(tmp_path, config_dir, [FORCED, OPPORTUNISTIC])
    assert rc == 0 and calls == 1, output
    assert "changed=1 " in output, output
    assert applied(config_dir) == (True, True)
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    rc, output, calls = play(tmp_path, config_dir, [FORCED, OPPORTUNISTIC])
    assert rc == 0 and calls == 1 and "changed=0 " in output, output
    assert snapshot(config_dir) == before


def test_check_mode_predicts_the_one_call(tmp_path, config_dir):
    before = snapshot(config_dir)
    rc, output, calls = play(tmp_path, config_dir, [OPPORTUNISTIC, FORCED], "--check")
    assert rc == 0 and calls == 1 and "changed=1 " in output, output
    assert snapshot(config_dir) == before
    rc, output, calls = play(tmp_path, config_dir, [OPPORTUNISTIC, FORCED])
    assert rc == 0 and calls == 1 and "changed=1 " in output, output


def test_a_later_role_that_is_skipped_leaves_nothing_unapplied(tmp_path, config_dir):
    rc, output, calls = play(tmp_path, config_dir, [FORCED, {"role": OPPORTUNISTIC, "when": False}])
    assert rc == 0 and calls == 1, output
    assert applied(config_dir) == (False, True), "the forced entry was applied by its own role"


def test_tags_choosing_tasks_make_each_role_apply_its_own(tmp_path, config_dir):
    roles = [{"role": FORCED, "tags": ["forced"]}, {"role": OPPORTUNISTIC, "tags": ["opportunistic"]}]
    rc, output, calls = play(tmp_path, config_dir, roles, "--tags", "forced")
    assert rc == 0 and calls == 1, output
    assert applied(config_dir) == (False, True)


@pytest.mark.parametrize("roles, declaring, selective, later", [
    ([(FORCED, False), (OPPORTUNISTIC, False)], 0, False, True),
    ([(FORCED, False), (OPPORTUNISTIC, False)], 1, False, False),
    ([(FORCED, False), (OPPORTUNISTIC, True)], 0, False, False),       # the later role has a when
    ([(FORCED, False), ("acme.web.nginx", False)], 0, False, False),   # not ours
    ([(FORCED, False), (RELAY, False), (RELAY, False)], 0, False, False),  # named twice: may run once
    ([(FORCED, False), (OPPORTUNISTIC, False)], 0, True, False),      # --tags, --start-at-task, --step
    ([(FORCED, False), (OPPORTUNISTIC, False)], None, False, False),  # from include_role/import_role
    ([(FORCED, False), ("mailtls.postfix.server", False)], 0, False, True),
])
def test_which_role_applies(roles, declaring, selective, later):
    assert a_later_role_applies(roles, declaring, selective) is later
