"""Second hostile pass on the service start in tls_profile (the fixes of break-s13), on real Debian 12 hosts: podman
containers of the test-host image (SysV) and of its systemd variant, one per test, named mailtls-brk2-<pid>-<n> and
removed after it. The unit twin is tests/unit/plugins/module_utils/_postfix/test_service_second_pass_unit.py.
"""

from __future__ import annotations

import contextlib
import json

from service_hosts import ServiceHost, service_container
from test_mta_sts_resolver_managed import FORCED_PLAYBOOK

UNNAMED = "/etc/postfix-un"
# The user's usual play: facts gathered, so the role's service tasks use service_mgr=systemd (the systemd module).
FORCED_WITH_FACTS = FORCED_PLAYBOOK.replace("gather_facts: false", "gather_facts: true")


@contextlib.contextmanager
def container(tmp_path, systemd=False):
    host = ServiceHost(tmp_path, "mailtls-brk2", {"forced-facts.yml": FORCED_WITH_FACTS})
    with service_container(host, systemd) as found:
        yield found


def unnamed_instance(host):
    """/etc/postfix-un: a postmulti instance of its own queue, enabled, without multi_instance_name (postmulti -l -a
    lists it as "-", the default instance's name). Nothing runs."""
    host.sh("postmulti -e init >/dev/null 2>&1; postmulti -I postfix-un -e create && postmulti -i postfix-un -e enable"
            " && postconf -c %s -X multi_instance_name" % UNNAMED)
    listed = host.sh("postmulti -l -a")
    assert any(line.split() == ["-", "-", "y", UNNAMED] for line in listed.splitlines()), listed  # the premise
    assert not host.running() and not host.running(UNNAMED)


# S1 (SysV): for an enabled postmulti instance without a name, instance_to_start takes postmulti's "-" for its name
# and lets the start through; /etc/init.d/postfix start runs `postmulti -i - -x postfix start` - the default
# Postfix, which was stopped, starts - and the call fails after the writes: config_dir's Postfix does not run.
# Fixed, was S1: an unnamed postmulti instance starts the default Postfix, not itself
def test_no_other_postfix_is_started_for_an_unnamed_postmulti_instance(tmp_path):
    with container(tmp_path) as host:
        unnamed_instance(host)
        before = host.sh("sha256sum %s/main.cf" % UNNAMED)
        predicted = host.module("tls_profile", {"config_dir": UNNAMED, "service_started": True}, "--check")
        done = host.module("tls_profile", {"config_dir": UNNAMED, "service_started": True})
        assert not host.running(), "the default Postfix was started: %s" % done.get("msg")
        # Either it starts config_dir's Postfix, as check mode said, or it refuses before any write.
        assert host.running(UNNAMED) or (done.get("failed") and host.sh("sha256sum %s/main.cf" % UNNAMED) == before)
        assert predicted.get("failed") == done.get("failed"), (predicted, done)


# S2 (systemd): Postfix stopped with `systemctl stop postfix` (postfix.service inactive too, as on a host booted with
# it disabled). The role's one call starts postfix@- alone: Postfix runs, postfix.service stays inactive. On the next
# run a parameter that needs a restart changes (inet_interfaces); the role's 'Restart Postfix for a parameter that
# needs it' (the systemd module, facts gathered) finds postfix.service not running and runs `systemctl start
# postfix`, which restarts nothing: the master pid is the same, inet_interfaces is not in force, yet the run
# reports the restart done; the next run finds nothing to restart (measured: smtpd still on 0.0.0.0:25 for good).
# Fixed, was S2: after a start through postfix@-, the role's restart restarts nothing
def test_a_restart_parameter_restarts_postfix_after_the_call_started_it_under_systemd(tmp_path):
    with container(tmp_path, systemd=True) as host:
        host.sh("systemctl stop postfix")
        assert not host.running()
        results, rc = host.play("forced-facts.yml")
        assert rc == 0 and host.running(), [result.get("msg") for result in results if result.get("failed")]
        before = host.master_pid()
        changed = json.dumps({"server_parameters": {"inet_interfaces": "loopback-only"}})
        results, rc = host.play("forced-facts.yml", "-e", changed)
        assert rc == 0, [result.get("msg") for result in results if result.get("failed")]
        restarts = [result for result in results
                    if result["task"].endswith("Restart Postfix for a parameter that needs it")]
        assert restarts and restarts[0].get("changed"), json.dumps([
            (result["task"][-50:], result.get("restart_required"), result.get("changed")) for result in results])
        assert host.master_pid() != before, "Postfix was not restarted (postfix.service %s)" % host.sh(
            "systemctl is-active postfix", check=False).strip()


# S2, the other way (systemd): after the same start (postfix@- alone, postfix.service inactive),
# `server_service_state: stopped` runs 'Keep Postfix in the service state asked for' (the systemd module, facts
# gathered): postfix.service is not running, so it stops nothing and says ok - Postfix keeps running, on this run and
# every later one.
# Fixed, was S2: after a start through postfix@-, service_state=stopped stops nothing
def test_postfix_is_stopped_when_asked_after_the_call_started_it_under_systemd(tmp_path):
    with container(tmp_path, systemd=True) as host:
        host.sh("systemctl stop postfix")
        assert not host.running()
        results, rc = host.play("forced-facts.yml")
        assert rc == 0 and host.running(), [result.get("msg") for result in results if result.get("failed")]
        results, rc = host.play("forced-facts.yml", "-e", "server_service_state=stopped")
        assert rc == 0, [result.get("msg") for result in results if result.get("failed")]
        assert any(result["task"].endswith("Keep Postfix in the service state asked for") for result in results)
        assert not host.running(), "Postfix still runs (postfix.service %s)" % host.sh(
            "systemctl is-active postfix", check=False).strip()
