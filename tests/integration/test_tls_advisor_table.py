"""playbooks/tls_advisor.yml's table of proposals, as its own debug task prints it: one row a line, the
columns aligned, never a Python list on one line (``['destination ...', ...]``, as it was)."""

from __future__ import annotations

import json
import subprocess

import yaml

from helpers import ROOT, VENV_BIN, ansible_env

RESULT = {"destinations": [
    {"destination": "[192.0.2.1]:25", "deliveries": 12, "policy": {"level": "may"},
     "proposal": {"level": "encrypt", "evidence": "12 deliveries in 3 days, every one over TLS"}},
    {"destination": "example.org", "deliveries": 1, "policy": {"level": "may"},
     "proposal": {"level": None, "reason": "1 delivery, fewer than min_deliveries (10)"}}]}


def test_the_proposals_print_as_a_table_one_row_a_line(tmp_path):
    play = yaml.safe_load((ROOT / "playbooks" / "tls_advisor.yml").read_text())[0]
    task = next(task for task in play["tasks"] if task["name"].startswith("Show the destinations"))
    (tmp_path / "table.yml").write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False,
                                                         "vars": {"tls_advisor_result": RESULT}, "tasks": [task]}]))
    env = dict(ansible_env(), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           str(tmp_path / "table.yml")], capture_output=True, text=True, check=False, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    assert shown == [
        "destination                            sent  in force    proposal   why",
        "[192.0.2.1]:25                           12  may         encrypt    12 deliveries in 3 days, every one over TLS",
        "example.org                               1  may         -          1 delivery, fewer than min_deliveries (10)"]
