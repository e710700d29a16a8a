"""Issue 23: the server role owns the host-wide settings it lists, as the profile roles own theirs.

A parameter taken out of ``server_parameters`` goes back to what it replaced; what the server's
calls changed unasked (a migration of obsolete parameters) stays until ``server_config_state:
absent``; a value set by hand since is never taken back. The roles run on this machine against a
sandboxed config directory (test_roles_newcomer's role_task).
"""

from __future__ import annotations

import json
import subprocess

from conftest import settle
from helpers import snapshot

from test_roles_way_back import run_role, said


def postconf_n(config_dir, name):
    found = subprocess.run(["postconf", "-c", str(config_dir), "-n", name], capture_output=True, text=True, check=True)
    return found.stdout.strip()


def set_by_hand(config_dir, line):
    subprocess.run(["postconf", "-c", str(config_dir), "-e", line], check=True)
    settle(config_dir / "main.cf")


def test_a_parameter_dropped_from_server_parameters_goes_back(tmp_path, config_dir):
    set_by_hand(config_dir, "bounce_queue_lifetime = 2d")
    both = {"bounce_queue_lifetime": "3d", "delay_warning_time": "4h"}
    rc, state, output = run_role(tmp_path, "server", config_dir, server_parameters=both)
    assert rc == 0 and state["changed"], output
    record = json.loads((config_dir / "mailtls-profiles.json").read_text())
    assert record["format"] == "mailtls.postfix profiles 2"
    server = record["profiles"]["server"]["parameters"]
    assert dict((name, server[name]) for name in both) == {
        "bounce_queue_lifetime": {"value": "3d", "replaced": "2d"},
        "delay_warning_time": {"value": "4h", "replaced": None}}

    # Dropped: check mode predicts it and writes nothing, the run restores and removes, the next is a no-op.
    untouched = snapshot(config_dir)
    rc, predicted, output = run_role(tmp_path, "server", config_dir, check=True, server_parameters={})
    assert rc == 0 and predicted["changed"], output
    assert snapshot(config_dir) == untouched
    rc, state, output = run_role(tmp_path, "server", config_dir, server_parameters={})
    assert rc == 0 and state["changed"], output
    assert predicted["main_cf"]["changes"] == state["main_cf"]["changes"]
    assert state["profiles_released"]["server"]["parameters_restored"] == {
        "bounce_queue_lifetime": "2d", "delay_warning_time": None}
    assert postconf_n(config_dir, "bounce_queue_lifetime") == "bounce_queue_lifetime = 2d"
    assert postconf_n(config_dir, "delay_warning_time") == ""
    untouched = snapshot(config_dir)
    rc, state, output = run_role(tmp_path, "server", config_dir, server_parameters={})
    assert rc == 0 and not state["changed"] and not state["reloaded"], output
    assert snapshot(config_dir) == untouched


def test_a_value_set_by_hand_since_stays_with_a_warning(tmp_path, config_dir):
    rc, state, output = run_role(tmp_path, "server", config_dir, server_parameters={"delay_warning_time": "4h"})
    assert rc == 0, output
    set_by_hand(config_dir, "delay_warning_time = 6h")
    rc, state, output = run_role(tmp_path, "server", config_dir, server_parameters={})
    assert rc == 0, output
    assert postconf_n(config_dir, "delay_warning_time") == "delay_warning_time = 6h"
    assert ("main.cf's delay_warning_time stays: server wrote '4h' there, someone changed it since to '6h'; "
            "server no longer takes it back") in said(output), output


def test_a_migration_stays_until_the_server_is_absent(tmp_path, config_dir):
    """The server's unasked changes (here: an obsolete parameter migrated) are not its listed ones."""
    set_by_hand(config_dir, "smtpd_use_tls = yes")
    rc, state, output = run_role(tmp_path, "server", config_dir, server_migrate_obsolete_tls=True)
    assert rc == 0 and state["changed"], output
    assert postconf_n(config_dir, "smtpd_use_tls") == ""
    record = json.loads((config_dir / "mailtls-profiles.json").read_text())
    assert record["profiles"]["server:unasked"]["parameters"]["smtpd_use_tls"] == {"value": None, "replaced": "yes"}
    # A present run with nothing listed keeps the migration.
    untouched = snapshot(config_dir)
    rc, state, output = run_role(tmp_path, "server", config_dir, server_migrate_obsolete_tls=True)
    assert rc == 0 and not state["changed"], output
    assert snapshot(config_dir) == untouched
    # Absent takes it back as it was.
    rc, state, output = run_role(tmp_path, "server", config_dir, server_config_state="absent")
    assert rc == 0 and state["changed"], output
    assert postconf_n(config_dir, "smtpd_use_tls") == "smtpd_use_tls = yes"
    assert not (config_dir / "mailtls-profiles.json").exists()


def test_a_format_1_record_is_read_as_all_unasked(tmp_path, config_dir):
    """A record of the first format mixed the server's own and unasked changes: a present run takes none back."""
    set_by_hand(config_dir, "delay_warning_time = 4h")
    record = config_dir / "mailtls-profiles.json"
    record.write_text(json.dumps({"format": "mailtls.postfix profiles 1", "profiles": {"server": {
        "parameters": {"delay_warning_time": {"value": "4h", "replaced": None}}, "table": None, "files": []}}}))
    settle(record)
    rc, state, output = run_role(tmp_path, "server", config_dir, server_parameters={})
    assert rc == 0, output
    assert postconf_n(config_dir, "delay_warning_time") == "delay_warning_time = 4h"
    written = json.loads(record.read_text())
    assert written["format"] == "mailtls.postfix profiles 2"
    assert written["profiles"]["server:unasked"] == {
        "parameters": {"delay_warning_time": {"value": "4h", "replaced": None}}, "table": None, "files": [],
        "services": {}}
    assert "delay_warning_time" not in written["profiles"]["server"]["parameters"]
    rc, state, output = run_role(tmp_path, "server", config_dir, server_config_state="absent")
    assert rc == 0 and state["changed"], output
    assert postconf_n(config_dir, "delay_warning_time") == ""
