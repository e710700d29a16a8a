"""playbooks/tls_advisor.yml on a real Postfix log: it shows the proposals, applies them through the
tls_forced role with -e apply=true, and a second run proposes nothing new and changes nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess

from advisor_mail import DOMAINS, mail_world, send_each
from helpers import ROOT, VENV_BIN, ansible_env

WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
PORT = 25840 + WORKER * 10
UNTRUSTED = "[127.0.0.1]:%d" % (PORT + 1 + DOMAINS.index("untrusted.example"))


def play(sender, *extra):
    conf = sender["conf"]
    variables = {"tls_advisor_hosts": "localhost", "server_config_dir": str(conf),
                 "tls_advisor_min_deliveries": 3, "tls_advisor_min_days": 0,
                 "tls_forced_policy_table": str(conf / "tls_policy"), "tls_forced_preflight": "skip",
                 "server_manage_packages": False, "server_manage_service": False}
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
           str(ROOT / "playbooks" / "tls_advisor.yml"), "-e", json.dumps(variables)] + list(extra)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=ansible_env())
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    changed = int(re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", output).group(1))
    return changed, output


def lookup(conf, key):
    proc = subprocess.run(["postmap", "-c", str(conf), "-q", key, "hash:%s" % (conf / "tls_policy")],
                          capture_output=True, text=True, check=False)
    return proc.stdout.strip()


def test_apply_forces_the_proposal_and_a_second_run_changes_nothing():
    with mail_world(PORT) as sender:
        send_each(sender, PORT, 3)
        changed, output = play(sender)
        assert changed == 0 and UNTRUSTED in output and "encrypt" in output, output[-4000:]
        assert lookup(sender["conf"], UNTRUSTED) == ""

        changed, output = play(sender, "-e", "apply=true")
        assert changed >= 1, output[-4000:]
        assert lookup(sender["conf"], UNTRUSTED) == "encrypt"

        main_cf = (sender["conf"] / "main.cf").read_bytes()
        changed, output = play(sender, "-e", "apply=true")
        assert changed == 0, output[-4000:]
        assert "already as strong as encrypt" in output
        assert (sender["conf"] / "main.cf").read_bytes() == main_cf
        # The table's other entries (written before the role) are still there.
        assert lookup(sender["conf"], "[127.0.0.1]:%d" % (PORT + 4)) == "encrypt"
