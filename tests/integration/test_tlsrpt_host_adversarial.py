"""Hostile review of the sending-side TLSRPT support on a real Postfix 3.10 (Debian 13 container, as
test_tlsrpt_sending.py runs it): each test is a defect the review found, now fixed.
One container at a time (each test starts and removes its own).
"""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import settle
from helpers import VENV_BIN, ansible_env, run_module, snapshot
from test_tlsrpt_sending import SOCKET, debian13_host, tlsrpt_lines

ON = ("-e", "tls_forced_tlsrpt_socket=" + SOCKET)


@pytest.fixture()
def host(tmp_path):
    with debian13_host(tmp_path) as found:
        yield found


def tls_profile(host, args):
    """mailtls.postfix.tls_profile run once in the container (ad hoc): its result."""
    env = dict(ansible_env(), ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_HOME=str(host.dir / "home"))
    proc = subprocess.run([str(VENV_BIN / "ansible"), "-i", str(host.dir / "inventory"), host.name, "-m",
                           "mailtls.postfix.tls_profile", "-a", json.dumps(args)], capture_output=True, text=True,
                          env=env, check=False)
    return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"][host.name]


def test_a_daemon_directory_written_with_a_macro_is_followed(host):
    # The module itself, before any postfix check: Debian's post-install (postfix check runs it; the role's run
    # did the same here) writes the installation directories back into main.cf expanded, which hides the defect.
    host.sh("postconf -e 'shlib_directory = /usr/lib/postfix' 'daemon_directory = ${shlib_directory}/sbin'")
    # Postfix reads it as Debian's own directory.
    assert host.sh("postconf -xh daemon_directory").strip() == "/usr/lib/postfix/sbin"

    result = tls_profile(host, {"parameters": {"smtp_tlsrpt_enable": "yes", "smtp_tlsrpt_socket_name": SOCKET}})
    assert not result.get("failed"), result.get("msg")
    assert tlsrpt_lines(host) == ["smtp_tlsrpt_enable = yes", "smtp_tlsrpt_socket_name = " + SOCKET]


def test_tlsrpt_under_disable_dns_lookups_is_refused(host):
    host.play()
    host.sh("postconf -e 'disable_dns_lookups = yes'")
    assert host.sh("postconf -h smtp_dns_support_level").strip() == ""
    before = host.sh("sha256sum /etc/postfix/main.cf")

    _state, message = host.play(*ON, fail=True)
    assert "DNS" in message, message
    assert host.sh("sha256sum /etc/postfix/main.cf") == before


def test_tlsrpt_through_master_cf_is_refused_before_3_10(localhost, config_dir):
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result = run_module(localhost, "mailtls.postfix.tls_profile", config_dir=str(config_dir),
                        master_services=[{"service": "smtp", "type": "unix", "chroot": "y", "command": "smtp",
                                          "options": {"smtp_tlsrpt_enable": "yes"}}])
    assert result.get("failed") and "smtp_tlsrpt_enable" in result.get("msg", ""), result
    assert snapshot(config_dir) == before


@pytest.mark.parametrize("value", ["yes", "true"])
def test_tlsrpt_through_the_master_cf_module_is_refused_as_well(localhost, config_dir, value):
    # The master_cf module writes one service: the same refusal (3.7 has no TLSRPT client; "true" is no boolean
    # that Postfix's daemons read).
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    result = run_module(localhost, "mailtls.postfix.master_cf", config_dir=str(config_dir), service="smtp",
                        type="unix", chroot="y", command="smtp", options={"smtp_tlsrpt_enable": value})
    assert result.get("failed") and "smtp_tlsrpt_enable" in result.get("msg", ""), result
    assert snapshot(config_dir) == before
