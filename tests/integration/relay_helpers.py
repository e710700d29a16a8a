"""Running tls_profile's relay as Ansible runs a module on a host, shared by the relay tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import COLLECTIONS

PASSWORD = "Pa55:w0rd with space"  # a colon and a space inside: both legal in a password
RELAY = "[smtp.relay.test]:587"
USERNAME = "mailer@example.org"


def run_module_process(module, args):
    """Run a module as a Python process given JSON arguments; return (result or None, all it printed)."""
    proc = subprocess.run([sys.executable, "-m", "ansible_collections.mailtls.postfix.plugins.modules." + module],
                          input=json.dumps({"ANSIBLE_MODULE_ARGS": args}), capture_output=True, text=True,
                          check=False, env=dict(os.environ, PYTHONPATH=str(COLLECTIONS)))
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        result = None  # a traceback instead of a result
    return result, proc.stdout + proc.stderr


def profile(config_dir, relay, check=False, preflight=None, **more):
    """tls_profile with ``relay`` on a sandboxed config directory, validated by ``postfix check``."""
    args = dict(config_dir=str(config_dir), validate="postfix -c %s check", preflight=preflight or {"mode": "skip"},
                relay=relay, _ansible_diff=True, _ansible_check_mode=check, **more)
    return run_module_process("tls_profile", args)


def relay_spec(config_dir, **overrides):
    """A relay with credentials whose tables live in the sandbox (never /etc/postfix); None drops an option."""
    spec = dict(host="smtp.relay.test", username=USERNAME, password=PASSWORD,
                password_table=str(config_dir / "sasl_passwd"), sender_table=str(config_dir / "sender_relay"),
                transport_table=str(config_dir / "relay_transport"))
    spec.update(overrides)
    return dict((key, value) for key, value in spec.items() if value is not None)


def absent_spec(config_dir, **overrides):
    spec = dict(state="absent", password_table=str(config_dir / "sasl_passwd"),
                sender_table=str(config_dir / "sender_relay"), transport_table=str(config_dir / "relay_transport"))
    spec.update(overrides)
    return spec
