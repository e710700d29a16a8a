"""Sending-side TLSRPT (tls_forced_tlsrpt_socket) on a real Debian 13 host, Postfix 3.10 with its smtp linked to
libtlsrpt through libpostfix-tls.so (a podman container of the test-host image, driven as
test_mta_sts_resolver_managed.py drives Debian 12): check mode predicting the run, the run, a no-op re-run, the
way back, and the refusals that leave main.cf as it was. This machine's own Postfix 3.7 refuses it
(test_roles_newcomer.py); the reports themselves, sent to a collector's socket for DANE and MTA-STS domains that
publish a TLSRPT policy, are the tls_dane lab's (extensions/molecule/tls_dane/verify_mta_sts.yml).

One test: the steps build on each other, on one host (about 40 s).
"""

from __future__ import annotations

import contextlib
import os

import pytest
from test_mta_sts_resolver_managed import FORCED_PLAYBOOK, Host, running_host

IMAGE = "localhost/mailtls-postfix-debian13:latest"
SOCKET = "run/tlsrpt/tlsrpt.sock"


@contextlib.contextmanager
def debian13_host(tmp_path):
    """A running Debian 13 container with the tls_forced playbook, removed afterwards."""
    found = Host(tmp_path)
    found.result_key = "main_cf"
    found.name = "mailtls-tlsrpt-%d" % os.getpid()
    (tmp_path / "play.yml").write_text(FORCED_PLAYBOOK)
    (tmp_path / "inventory").write_text(
        "%s ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n" % found.name)
    with running_host(found, IMAGE) as running:
        yield running


@pytest.fixture()
def host(tmp_path):
    with debian13_host(tmp_path) as found:
        yield found


def tlsrpt_lines(host):
    return sorted(line for line in host.sh("postconf -n").splitlines() if line.startswith("smtp_tlsrpt_"))


def test_tlsrpt_on_a_postfix_3_10_host(host):
    assert "libtlsrpt.so" in host.sh("ldd /usr/lib/postfix/sbin/smtp")  # what the module finds without running ldd
    host.play()  # the table and its maps first, without TLSRPT
    assert tlsrpt_lines(host) == []
    on = ("-e", "tls_forced_tlsrpt_socket=" + SOCKET)

    # Check mode predicts both parameters and writes nothing.
    before = host.sh("sha256sum /etc/postfix/main.cf")
    state, _message = host.play("--check", *on)
    assert set(state["main_cf"]["changes"]) == {"smtp_tlsrpt_enable", "smtp_tlsrpt_socket_name"}, state["main_cf"]
    assert host.sh("sha256sum /etc/postfix/main.cf") == before

    state, _message = host.play(*on)
    assert tlsrpt_lines(host) == ["smtp_tlsrpt_enable = yes", "smtp_tlsrpt_socket_name = " + SOCKET]
    assert state["reloaded"] is True
    assert host.sh("postfix check 2>&1; echo rc=$?").strip() == "rc=0"

    # Nothing to do: no write, no reload.
    after = host.sh("sha256sum /etc/postfix/main.cf")
    state, _message = host.play(*on)
    assert state["changed"] is False and state["reloaded"] is False
    assert host.sh("sha256sum /etc/postfix/main.cf") == after

    # The way back: the socket emptied takes both parameters out.
    state, _message = host.play()
    assert set(state["main_cf"]["changes"]) == {"smtp_tlsrpt_enable", "smtp_tlsrpt_socket_name"}
    assert tlsrpt_lines(host) == []

    # DNS off (Postfix would turn TLSRPT off itself): refused, main.cf as it was.
    before = host.sh("sha256sum /etc/postfix/main.cf")
    _state, message = host.play(*on, "-e", '{"tls_forced_parameters": {"smtp_dns_support_level": "disabled"}}',
                                fail=True)
    assert "smtp_dns_support_level is disabled" in " ".join(message.split()), message
    assert host.sh("sha256sum /etc/postfix/main.cf") == before
