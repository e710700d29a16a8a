"""Hostile review of the service start folded into tls_profile, on a real Debian 12 host (a podman container of the
test-host image, SysV init as test_service_in_one_call.py has it): the defects the unit file
(tests/unit/plugins/module_utils/_postfix/test_service_keep_unit.py) finds in pure logic, shown on real Postfix,
each a test that failed before its fix. One container per test (mailtls-break-<pid>-<n>), removed after it.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess

import pytest
from helpers import ROOT, ansible_env
from test_mta_sts_resolver_managed import FORCED_PLAYBOOK, IMAGE

MX2 = "/etc/postfix-mx2"
COUNTER = itertools.count()


class Host(object):
    def __init__(self, tmp_path):
        self.name = "mailtls-break-%d-%d" % (os.getpid(), next(COUNTER))
        self.dir = tmp_path
        (tmp_path / "forced.yml").write_text(FORCED_PLAYBOOK)
        (tmp_path / "inventory").write_text(
            "%s ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n" % self.name)

    def sh(self, command, check=True):
        return subprocess.run(["podman", "exec", self.name, "bash", "-c", command], capture_output=True, text=True,
                              check=check).stdout

    def play(self, playbook, *extra):
        """(the non-skipped results of the play's tasks on the host, the run's return code)."""
        env = dict(ansible_env(), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_HOME=str(self.dir / "home"))
        proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(self.dir / "inventory"),
                               str(self.dir / playbook), *extra], capture_output=True, text=True, env=env, check=False)
        try:
            tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
        except (ValueError, KeyError, IndexError):
            raise AssertionError(proc.stdout[-4000:] + proc.stderr[-2000:])
        results = []
        for task in tasks:
            result = task["hosts"].get(self.name) or {}
            if result and not result.get("skipped"):
                results.append(dict(result, task=task["task"]["name"]))
        return results, proc.returncode

    def module(self, name, arguments, *extra):
        """The one result of ``arguments`` given to the collection's module ``name`` (a play of one task)."""
        (self.dir / "module.yml").write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": [
            {"name": "the call", "mailtls.postfix." + name: arguments, "ignore_errors": True}]}]))
        results, _rc = self.play("module.yml", *extra)
        return [result for result in results if result["task"] == "the call"][0]

    def running(self, config_dir="/etc/postfix"):
        return subprocess.run(["podman", "exec", self.name, "postfix", "-c", config_dir, "status"],
                              capture_output=True, check=False).returncode == 0

    def boot_links(self):
        return sorted(name for name in self.sh("ls /etc/rc2.d").split() if name.endswith("postfix"))


@pytest.fixture()
def host(tmp_path):
    """A running container of the Debian 12 image, Postfix installed and not started."""
    if subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode != 0:
        pytest.fail("image %s is missing: run bash tests/molecule/build-image.sh" % IMAGE, pytrace=False)
    found = Host(tmp_path)
    subprocess.run(["podman", "run", "-d", "--rm", "--init", "--name", found.name, IMAGE, "sleep", "infinity"],
                   check=True, capture_output=True)
    try:
        yield found
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", found.name], check=False, capture_output=True)


def tls_profile_results(results):
    return [result for result in results if result.get("action", "").endswith("tls_profile") and "started" in result]


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
