"""Issue 23, a way back and nothing silent: a role takes back what it wrote, and says when TLS goes down.

The roles run on this machine against a sandboxed config directory, as test_roles_newcomer does;
every path (policy table, record) is under the test's tmp directory.
"""

from __future__ import annotations

import json
import subprocess

from conftest import effective_config, settle
from helpers import run_playbook, snapshot

from test_roles_newcomer import role_task


def run_role(tmp_path, role, config_dir, check=False, **role_vars):
    """(rc, server_state, output) of one role's run."""
    tasks = [role_task(role, config_dir, **role_vars),
             {"name": "state", "ansible.builtin.debug": {"var": "server_state"}}]
    rc, results, output = run_playbook(tmp_path, tasks, check=check, diff=check)
    return rc, results.get("state", {}).get("server_state", {}), output


def said(output):
    return " ".join(output.split())


def names(config_dir):
    return sorted(snapshot(config_dir))


def test_the_newcomers_way_back(tmp_path, config_dir):
    settle(config_dir / "main.cf")
    before_config, _unused = effective_config(config_dir)
    before_files = names(config_dir)
    table = config_dir / "tls_policy"
    forced = dict(tls_forced_destinations=["partner.example", "bank.example"])

    # Check mode first: it says what the run will do, and writes nothing.
    untouched = snapshot(config_dir)
    rc, state, output = run_role(tmp_path, "tls_forced", config_dir, check=True, **forced)
    assert rc == 0 and state["changed"], output
    assert snapshot(config_dir) == untouched
    rc, state, output = run_role(tmp_path, "tls_forced", config_dir, **forced)
    assert rc == 0 and state["changed"], output
    assert "bank.example encrypt" in table.read_text()
    record = json.loads((config_dir / "mailtls-profiles.json").read_text())
    assert sorted(record["profiles"]["tls_forced"]["table"]["entries"]) == [
        ".bank.example", ".partner.example", "bank.example", "partner.example"]

    # The user sets something of their own: it stays through every way back.
    subprocess.run(["postconf", "-c", str(config_dir), "-e", "delay_warning_time = 4h"], check=True)

    # Dropped from the list: removed, and said loudly.
    rc, state, output = run_role(tmp_path, "tls_forced", config_dir, tls_forced_destinations=["partner.example"])
    assert rc == 0 and state["changed"], output
    assert "bank.example" not in table.read_text() and "partner.example encrypt" in table.read_text()
    assert ("TLS lowered for bank.example and its sub-domains: tls_forced no longer lists it, so its encrypt entry "
            "was removed from %s; mail to it now gets TLS level may (main.cf's smtp_tls_security_level)"
            % table) in said(output), output
    assert state["tls_lowered"] == [{"destination": "bank.example", "was": "encrypt", "now": "may", "subdomains": True,
                                     "by": "main.cf's smtp_tls_security_level", "profile": "tls_forced"}]

    rc, state, output = run_role(tmp_path, "tls_opportunistic", config_dir,
                                 tls_opportunistic_destinations=["friend.example"])
    assert rc == 0 and state["changed"], output

    # tls_forced absent: its entries go, tls_opportunistic's stay, and so does the table.
    rc, state, output = run_role(tmp_path, "tls_forced", config_dir, tls_forced_state="absent")
    assert rc == 0 and state["changed"], output
    assert "partner.example" not in table.read_text() and "friend.example may" in table.read_text()
    assert "TLS lowered for partner.example and its sub-domains" in said(output), output
    rc, state, output = run_role(tmp_path, "tls_opportunistic", config_dir, tls_opportunistic_state="absent")
    assert rc == 0 and state["changed"], output

    # server absent: check mode predicts exactly, the run does it, a second run is a no-op.
    untouched = snapshot(config_dir)
    rc, predicted, output = run_role(tmp_path, "server", config_dir, check=True, server_config_state="absent")
    assert rc == 0 and predicted["changed"], output
    assert snapshot(config_dir) == untouched
    rc, state, output = run_role(tmp_path, "server", config_dir, server_config_state="absent")
    assert rc == 0 and state["changed"], output
    assert predicted["profiles_released"] == state["profiles_released"]
    assert predicted["main_cf"]["changes"] == state["main_cf"]["changes"]
    after_config, _unused = effective_config(config_dir)
    assert after_config == sorted(before_config + ["delay_warning_time = 4h"])
    assert names(config_dir) == before_files, "exactly the files the collection created are deleted"
    untouched = snapshot(config_dir)
    rc, state, output = run_role(tmp_path, "server", config_dir, server_config_state="absent")
    assert rc == 0 and not state["changed"] and not state["reloaded"], output
    assert snapshot(config_dir) == untouched


def applied(tmp_path, config_dir, **role_vars):
    rc, state, output = run_role(tmp_path, "tls_forced", config_dir, **role_vars)
    assert rc == 0, output
    return state


def test_an_entry_edited_by_hand_is_kept_with_a_warning(tmp_path, config_dir):
    table = config_dir / "tls_policy"
    applied(tmp_path, config_dir, tls_forced_destinations=["partner.example", "bank.example"])
    lines = table.read_text().splitlines()
    table.write_text("".join(("bank.example secure" if line == "bank.example encrypt" else line) + "\n"
                             for line in lines))
    subprocess.run(["postmap", "-c", str(config_dir), "hash:%s" % table], check=True)
    rc, state, output = run_role(tmp_path, "tls_forced", config_dir, tls_forced_destinations=["partner.example"])
    assert rc == 0, output
    assert "bank.example secure" in table.read_text() and ".bank.example" not in table.read_text()
    assert ("The policy table's entry bank.example stays: tls_forced wrote 'encrypt' there, someone changed it "
            "since to 'secure'; tls_forced no longer takes it back") in said(output), output
    # No longer in the record: the absent run leaves it too, and so the table.
    rc, state, output = run_role(tmp_path, "tls_forced", config_dir, tls_forced_state="absent")
    assert rc == 0, output
    assert table.read_text().strip() == "bank.example secure"
    assert "stays: tls_forced created it, and the table still holds entries of another owner" in said(output)


def not_ours(config_dir):
    outside = config_dir.parent / "elsewhere"
    outside.write_text("precious\n")
    record = {"format": "mailtls.postfix profiles 1",
              "profiles": {"tls_forced": {"parameters": {}, "files": [],
                                          "table": {"path": str(outside), "type": "hash", "entries": {}}}}}
    return {"bad JSON": "{not json", "a path outside the config dir": json.dumps(record)}


def test_a_record_that_is_not_ours_is_refused_naming_it(tmp_path, config_dir):
    record = config_dir / "mailtls-profiles.json"
    cases = not_ours(config_dir)
    for problem, text in cases.items():
        record.write_text(text)
        settle(record)
        untouched = snapshot(config_dir)
        rc, _state, output = run_role(tmp_path, "tls_forced", config_dir, tls_forced_state="absent")
        assert rc != 0, output
        assert "%s is not the collection's record of what its profiles wrote" % record in said(output), output
        assert snapshot(config_dir) == untouched, problem
        assert (config_dir.parent / "elsewhere").read_text() == "precious\n"
    record.unlink()
    target = config_dir.parent / "target.json"
    target.write_text(json.dumps({"format": "mailtls.postfix profiles 1", "profiles": {}}))
    record.symlink_to(target)
    untouched = snapshot(config_dir)
    rc, _state, output = run_role(tmp_path, "tls_forced", config_dir, tls_forced_state="absent")
    assert rc != 0 and "(a link or not a regular file)" in said(output), output
    assert snapshot(config_dir) == untouched and record.is_symlink()


def test_tls_forced_keeps_the_admins_own_policy_table_after_its_own(tmp_path, config_dir):
    """Found by the advisor's review: the role made its table the only one, and an admin's table with
    stronger entries vanished from smtp_tls_policy_maps (TLS lowered, nothing said)."""
    own = config_dir / "admin_policy"
    own.write_text("bank.example secure\n")
    subprocess.run(["postmap", "-c", str(config_dir), "hash:%s" % own], check=True)
    subprocess.run(["postconf", "-c", str(config_dir), "-e", "smtp_tls_policy_maps = hash:%s" % own], check=True)
    settle(config_dir / "main.cf")
    rc, state, output = run_role(tmp_path, "tls_forced", config_dir, tls_forced_destinations=["partner.example"],
                                 tls_forced_mta_sts_socketmap="inet:127.0.0.1:8461:postfix")
    assert rc == 0, output
    maps = subprocess.run(["postconf", "-c", str(config_dir), "-h", "smtp_tls_policy_maps"], capture_output=True,
                          text=True, check=True).stdout.split()
    maps = [item.rstrip(",") for item in maps]
    assert maps == ["hash:%s" % (config_dir / "tls_policy"), "hash:%s" % own, "socketmap:inet:127.0.0.1:8461:postfix"], maps
