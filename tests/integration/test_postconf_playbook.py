"""The postconf module in playbooks: check mode, diff mode, and ad-hoc use from the CLI."""

from __future__ import annotations

import subprocess

from conftest import effective_config, settle
from helpers import ROOT, VENV_BIN, ansible_env, run_playbook, snapshot


def tls_task(config_dir, **extra):
    args = {"config_dir": str(config_dir),
            "parameters": {"smtp_tls_security_level": "encrypt",
                           "smtp_tls_policy_maps": "hash:/etc/postfix/tls_policy"}}
    args.update(extra)
    return {"name": "tls", "mailtls.postfix.postconf": args}


def test_check_apply_check_apply(tmp_path, config_dir):
    settle(config_dir / "main.cf")
    pristine = snapshot(config_dir)

    rc, results, output = run_playbook(tmp_path, [tls_task(config_dir)], check=True, diff=True)
    assert rc == 0, output
    assert results["tls"]["changed"] is True
    assert results["tls"]["changes"]["smtp_tls_security_level"] == {"before": "may", "after": "encrypt"}
    assert "-smtp_tls_security_level=may" in output and "+smtp_tls_security_level = encrypt" in output
    assert "+smtp_tls_policy_maps = hash:/etc/postfix/tls_policy" in output
    assert snapshot(config_dir) == pristine, "check mode must not write"

    rc, results, output = run_playbook(tmp_path, [tls_task(config_dir)], diff=True)
    assert rc == 0 and results["tls"]["changed"] is True, output
    assert "smtp_tls_security_level = encrypt" in effective_config(config_dir)[0]
    settle(config_dir / "main.cf")
    applied = snapshot(config_dir)

    for check in (True, False):
        rc, results, output = run_playbook(tmp_path, [tls_task(config_dir)], check=check, diff=True)
        assert rc == 0 and results["tls"]["changed"] is False, output
        assert "---" not in output, "no diff for an unchanged file"
        assert snapshot(config_dir) == applied


def test_check_mode_still_validates_with_postfix(tmp_path, config_dir):
    (config_dir / "main.cf").write_text("myhostname = mx.example.com\nbroken line\n")
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    rc, results, output = run_playbook(tmp_path, [tls_task(config_dir)], check=True)
    assert rc != 0
    assert results["tls"]["failed"] is True and "missing '='" in results["tls"]["msg"]
    assert snapshot(config_dir) == before


def test_adhoc_command_line(config_dir):
    cmd = [str(VENV_BIN / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
           "-m", "mailtls.postfix.postconf",
           "-a", "name=smtp_tls_security_level value=encrypt config_dir=%s" % config_dir]
    first = subprocess.run(cmd, capture_output=True, text=True, check=False, env=ansible_env(), cwd=ROOT)
    assert first.returncode == 0 and "CHANGED" in first.stdout, first.stdout + first.stderr
    second = subprocess.run(cmd, capture_output=True, text=True, check=False, env=ansible_env(), cwd=ROOT)
    assert second.returncode == 0 and "SUCCESS" in second.stdout and '"changed": false' in second.stdout
