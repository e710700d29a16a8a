"""playbooks/tls_report.yml refuses a tls_report_read_log that is no boolean before it reads or writes anything:
``-e tls_report_read_log=nope`` was read as false (Ansible's bool filter) and the report written without the log."""

from __future__ import annotations

import json
import subprocess

import pytest

from helpers import ROOT, VENV_BIN, ansible_env


def play(tmp_path, value):
    variables = {"tls_report_hosts": "localhost", "tls_report_dir": str(tmp_path / "report"),
                 "tls_report_config_dir": str(tmp_path / "no-postfix"), "tls_report_read_log": value}
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           str(ROOT / "playbooks" / "tls_report.yml"), "-e", json.dumps(variables)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=ansible_env())
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("value", ["nope", "", "maybe", ["false"]])
def test_a_read_log_that_is_no_boolean_fails_naming_it_and_writes_nothing(tmp_path, value):
    returncode, output = play(tmp_path, value)
    assert returncode != 0, output[-3000:]
    assert "tls_report_read_log must be a boolean" in output, output[-3000:]
    assert "mailtls.postfix.tls_posture" not in output and not (tmp_path / "report").exists()


@pytest.mark.parametrize("value", [False, "false", "no", "0"])
def test_false_in_any_of_its_spellings_still_turns_the_log_off(tmp_path, value):
    returncode, output = play(tmp_path, value)
    assert returncode == 0, output[-3000:]
    report = json.loads((tmp_path / "report" / "tls-report.json").read_text())
    assert report["hosts"][0]["advisor"] is None
