"""The server role's service, kept by the one tls_profile call (service_started, service_enabled) on a real
Debian 12 host whose Postfix does not run (a podman container of the test-host image, as a fresh host is):
check mode predicting the start and the boot links without touching either, the run starting Postfix through
Debian's init script with no `ansible.builtin.service` task and no second module call, a no-op re-run, boot
disabled and enabled again, a receiver's self-probe in the same call as its start, and a start that fails
(the port taken) said in the role's words.

Two tests, the steps of each build on each other on one host: SysV init as the test image has it (about 50 s),
and systemd as a server has it (the image with systemd added, built once; about 30 s).
"""

from __future__ import annotations

import pytest
from service_hosts import ServiceHost, service_container, tls_profile_results

RECEIVING_PLAYBOOK = """
- hosts: all
  gather_facts: false
  roles:
    - role: mailtls.postfix.tls_receiving
      vars:
        server_maillog_file: /var/log/mail.log
        tls_receiving_self_signed: true
"""


def new_host(tmp_path):
    return ServiceHost(tmp_path, "mailtls-service", {"receiving.yml": RECEIVING_PLAYBOOK})


@pytest.fixture()
def host(tmp_path):
    with service_container(new_host(tmp_path)) as found:
        yield found


def play(host, playbook, *extra, fail=False):
    """(the results of the role's tls_profile calls, the modules that ran and did not skip, the failures' messages)."""
    results, rc = host.play(playbook, *extra)
    assert (rc != 0) == fail, results[-3:]
    return (tls_profile_results(results), [result["action"] for result in results],
            " ".join(result.get("msg", "") for result in results if result.get("failed")))


def modules(ran):
    """The modules that ran on the host: the roles' bookkeeping on the controller left out."""
    bookkeeping = ("declare", "set_fact", "debug", "include_tasks", "include_role", "meta", "validate_argument_spec")
    return [action.split(".")[-1] for action in ran if not action.endswith(bookkeeping)]


def test_the_service_is_kept_by_the_one_call(host):
    assert not host.running()
    host.sh("update-rc.d postfix disable >/dev/null 2>&1")
    assert host.boot_links() == ["K01postfix"]

    # Check mode predicts the start and the boot link, and does neither.
    states, ran, _failures = play(host, "forced.yml", "--check")
    assert [(state["started"], state["enabled_changed"], state["running"], state["enabled"]) for state in states] \
        == [(True, True, True, True)]
    assert not host.running() and host.boot_links() == ["K01postfix"]

    # The run: one module call writes, starts and enables; the role's service task does not run.
    states, ran, _failures = play(host, "forced.yml")
    assert modules(ran) == ["tls_profile"], ran
    assert [(state["changed"], state["started"], state["enabled_changed"], state["restart_required"],
             state["reload_required"], state["reloaded"]) for state in states] == [(True, True, True, False, False,
                                                                                    False)]
    assert host.running() and host.boot_links() == ["S01postfix"]
    assert host.sh("postconf -h smtp_tls_policy_maps").strip() == "hash:/etc/postfix/tls_policy"

    # Nothing to do: no write, no start, no reload, and still the one call.
    before = host.sh("sha256sum /etc/postfix/main.cf; cat /var/spool/postfix/pid/master.pid")
    states, ran, _failures = play(host, "forced.yml")
    assert modules(ran) == ["tls_profile"], ran
    assert [(state["changed"], state["started"], state["enabled_changed"], state["reloaded"]) for state in states] \
        == [(False, False, False, False)]
    assert host.sh("sha256sum /etc/postfix/main.cf; cat /var/spool/postfix/pid/master.pid") == before

    # Not at boot, and back: the running Postfix is left running.
    states, ran, _failures = play(host, "forced.yml", "-e", "server_service_enabled=false")
    assert [(state["changed"], state["enabled_changed"], state["enabled"]) for state in states] == [(True, True, False)]
    assert host.boot_links() == ["K01postfix"] and host.running()
    states, ran, _failures = play(host, "forced.yml")
    assert host.boot_links() == ["S01postfix"] and states[0]["enabled_changed"] is True

    # server_manage_service: false leaves a stopped Postfix stopped and its boot links alone.
    host.sh("postfix stop >/dev/null 2>&1; update-rc.d postfix disable >/dev/null 2>&1")
    states, ran, _failures = play(host, "forced.yml", "-e", "server_manage_service=false")
    found = [(state["started"], state["enabled_changed"], state["running"]) for state in states]
    assert found == [(False, False, False)]
    assert not host.running() and host.boot_links() == ["K01postfix"]

    # A receiver found stopped: started on its certificate and probed in the same call.
    states, ran, _failures = play(host, "receiving.yml")
    assert modules(ran) == ["tls_profile"], ran
    assert states[0]["started"] is True and states[0]["self_probe"]["status"] == "passed", states[0]
    assert [listener["port"] for listener in states[0]["self_probe"]["listeners"]] == [25], states[0]

    # A start that fails (port 25 taken by another program): said in the role's words, the role fails.
    host.sh("postfix stop >/dev/null 2>&1; true")
    host.sh("nohup python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, "
            "socket.SO_REUSEADDR, 1); s.bind((\"0.0.0.0\", 25)); s.listen(); time.sleep(600)' >/dev/null 2>&1 &"
            " sleep 1")
    states, ran, failures = play(host, "receiving.yml", fail=True)
    assert "/etc/init.d/postfix start failed" in failures, failures
    assert not host.running()


def test_the_service_is_kept_by_the_one_call_under_systemd(tmp_path):
    with service_container(new_host(tmp_path), systemd=True) as host:
        assert host.running()  # systemd started it at boot
        # Stopped by hand, not at boot: Debian's postfix.service (a oneshot) stays active, its instance does not.
        host.sh("postfix stop >/dev/null 2>&1; systemctl disable postfix >/dev/null 2>&1")
        assert not host.running() and host.sh("systemctl is-enabled postfix", check=False).strip() == "disabled"
        assert host.sh("systemctl is-active postfix", check=False).strip() == "active"

        states, _ran, _failures = play(host, "forced.yml", "--check")
        assert [(state["started"], state["enabled_changed"]) for state in states] == [(True, True)]
        assert not host.running() and host.sh("systemctl is-enabled postfix", check=False).strip() == "disabled"

        states, ran, _failures = play(host, "forced.yml")
        assert modules(ran) == ["tls_profile"], ran
        assert [(state["started"], state["enabled_changed"]) for state in states] == [(True, True)]
        assert host.running() and host.sh("systemctl is-active postfix@-").strip() == "active"
        assert host.sh("systemctl is-enabled postfix").strip() == "enabled"

        states, ran, _failures = play(host, "forced.yml")
        assert [(state["changed"], state["started"], state["enabled_changed"]) for state in states] \
            == [(False, False, False)]
