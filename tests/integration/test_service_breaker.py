"""Hostile review of the service start folded into tls_profile, on a real Debian 12 host (a podman container of the
test-host image, SysV init as test_service_in_one_call.py has it): the defects the unit file
(tests/unit/plugins/module_utils/_postfix/test_service_keep_unit.py) finds in pure logic, shown on real Postfix,
each a test that failed before its fix. One container per test (mailtls-break-<pid>-<n>), removed after it.
"""

from __future__ import annotations

import json

import pytest
from service_hosts import ServiceHost, service_container, tls_profile_results

MX2 = "/etc/postfix-mx2"


@pytest.fixture()
def host(tmp_path):
    """A running container of the Debian 12 image, Postfix installed and not started."""
    with service_container(ServiceHost(tmp_path, "mailtls-break")) as found:
        yield found


# Fixed, was D5: -e server_service_enabled=y passes the role's argument spec as true, but
# role_declarations.ansible_bool reads it as false: the one call disables Postfix at boot (K01postfix) where the
# role's service task used to enable it
def test_server_service_enabled_y_keeps_postfix_at_boot(host):
    host.sh("update-rc.d postfix defaults >/dev/null 2>&1; update-rc.d postfix enable >/dev/null 2>&1")
    assert host.boot_links() == ["S01postfix"]
    results, rc = host.play("forced.yml", "-e", "server_service_enabled=y")
    assert rc == 0, results[-1:]
    assert host.running()
    assert host.boot_links() == ["S01postfix"], tls_profile_results(results)


# Fixed, was D8: server_service_state: stopped with a running Postfix and a restart parameter changed
# (inet_interfaces): follow_up.yml stops Postfix, then its restart task (reading server_state.running from before
# the stop) starts it again - the run ends with Postfix running, the next run stops it
def test_a_postfix_kept_stopped_stays_stopped_when_a_restart_parameter_changes(host):
    results, rc = host.play("forced.yml")
    assert rc == 0 and host.running()
    stopped = json.dumps({"server_service_state": "stopped", "server_parameters": {"inet_interfaces": "loopback-only"}})
    results, rc = host.play("forced.yml", "-e", stopped)
    assert rc == 0, results[-1:]
    assert [state["restart_required"] for state in tls_profile_results(results)] == [True]  # the premise
    assert not host.running(), [result["task"] for result in results if result.get("changed")]


def separate_instance(host, shared_queue=False):
    """/etc/postfix-mx2: a second Postfix, its own queue (or the default one's), its smtpd on port 2525; neither
    a postmulti instance nor an alternate directory the init script starts."""
    host.sh("cp -a /etc/postfix %s && postconf -c %s -e 'inet_interfaces = loopback-only'" % (MX2, MX2))
    host.sh("postconf -c %s -M# smtp/inet && postconf -c %s -M "
            "'127.0.0.1:2525/inet=127.0.0.1:2525 inet n - y - - smtpd'" % (MX2, MX2))
    if not shared_queue:
        host.sh("mkdir -p /var/spool/postfix-mx2 /var/lib/postfix-mx2 && postconf -c %s -e "
                "queue_directory=/var/spool/postfix-mx2 data_directory=/var/lib/postfix-mx2" % MX2)
    assert not host.running() and not host.running(MX2)


# Fixed, was D2: for a config_dir the init system does not start, check mode says started/running/changed while the
# run fails ('does not run (is it an instance the init system starts?)'): check mode does not predict the run
def test_check_mode_predicts_the_run_for_a_config_dir_the_init_system_does_not_start(host):
    separate_instance(host)
    arguments = {"config_dir": MX2, "service_started": True}
    predicted = host.module("tls_profile", arguments, "--check")
    assert not host.running() and not host.running(MX2)  # check mode did nothing
    done = host.module("tls_profile", arguments)
    assert done.get("failed") and "postmulti -l -a" in done["msg"], done  # the run refuses, naming why
    assert predicted.get("failed") == done.get("failed"), predicted


# Fixed, was D3: for a config_dir the init system does not start, the call runs /etc/init.d/postfix start - the
# host's default Postfix (/etc/postfix), which was stopped, starts - then fails because config_dir's Postfix does
# not run
def test_no_other_postfix_is_started_for_a_config_dir_the_init_system_does_not_start(host):
    separate_instance(host)
    done = host.module("tls_profile", {"config_dir": MX2, "service_started": True})
    assert done.get("failed"), done  # the premise
    assert not host.running(), "the default Postfix was started: " + done.get("msg", "")


# Fixed, was D9: a config_dir sharing the default Postfix's queue_directory (a copy of /etc/postfix): the call
# starts the default Postfix and `postfix -c config_dir status` (the pid file in the shared queue) then says
# config_dir's Postfix runs - started and running are claimed while nothing serves config_dir's master.cf
def test_running_is_not_claimed_for_a_config_dir_whose_postfix_does_not_run(host):
    separate_instance(host, shared_queue=True)
    done = host.module("tls_profile", {"config_dir": MX2, "service_started": True})
    listening = host.sh("ss -ltnH 'sport = :2525' | wc -l").strip() != "0"
    assert listening or not (done.get("running") or done.get("started")), done


# Fixed, was D10: SysV boot links in rc0/1/6 only (the rc2-5 start links deleted by hand, a common crude disable):
# enabled is false, so service_enabled=true runs update-rc.d postfix defaults - a no-op while any link exists - then
# update-rc.d postfix enable, which aborts ('no runlevel symlinks to modify'): the role fails on every run instead
# of setting Postfix at boot
def test_postfix_is_set_at_boot_when_only_its_stop_links_are_left(host):
    host.sh("update-rc.d postfix defaults >/dev/null 2>&1; rm -f /etc/rc[2345].d/[SK][0-9][0-9]postfix")
    assert host.boot_links() == [] and host.sh("ls /etc/rc0.d").count("postfix") == 1  # the premise
    results, rc = host.play("forced.yml")
    assert rc == 0, [result.get("msg") for result in results if result.get("failed")]
    assert host.boot_links() == ["S01postfix"] and host.running()
