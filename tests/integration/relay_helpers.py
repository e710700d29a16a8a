"""Running tls_profile's relay as Ansible runs a module on a host, shared by the relay tests."""

from __future__ import annotations

from drivers import run_module_process

PASSWORD = "Pa55:w0rd with space"  # a colon and a space inside: both legal in a password
RELAY = "[smtp.relay.test]:587"
USERNAME = "mailer@example.org"


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
