"""tls_forced_mta_sts on a real Debian 12 host (a podman container of the test-host image): Debian's
postfix-mta-sts-resolver installed, configured, started through its init script, its socketmap in
smtp_tls_policy_maps after the static table; check mode predicting the first run, a no-op re-run
that restarts nothing, a daemon found stopped, the kill switch both ways, a port change, and
refusals (a bad port; a daemon that does not start) that leave main.cf and the daemon's
configuration as they were. The live MTA-STS verdicts (enforce, testing, a moved MX) are the
tls_dane molecule lab's (extensions/molecule/tls_dane/verify_mta_sts.yml).

One test: the steps build on each other, on one host (about 60 s, most of it apt).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess

import pytest
from helpers import ROOT, ansible_env

IMAGE = "localhost/mailtls-postfix-debian12:latest"
APPLY_TASK = "Apply the wanted Postfix state in one call"
AGAIN_TASK = "Apply the wanted Postfix state now that Postfix and the packages it needs are installed"
MAPS_WITH = "hash:/etc/postfix/tls_policy, socketmap:inet:127.0.0.1:%d:postfix"
# One forced destination, no pre-flight (no DNS here); the tests add their own role variables.
FORCED_PLAYBOOK = """
- hosts: all
  gather_facts: false
  roles:
    - role: mailtls.postfix.tls_forced
      vars:
        server_maillog_file: /var/log/mail.log
        tls_forced_destinations: [{destination: partner.example, level: encrypt}]
        tls_forced_preflight: skip
"""
PLAYBOOK = FORCED_PLAYBOOK + "        tls_forced_mta_sts: true\n"


class Host(object):
    # What marks the tls_profile result a test reads among the play's tasks.
    result_key = "mta_sts_resolver"

    def __init__(self, tmp_path):
        self.name = "mailtls-sts-resolver-%d" % os.getpid()
        self.dir = tmp_path
        (tmp_path / "play.yml").write_text(PLAYBOOK)
        (tmp_path / "inventory").write_text(
            "%s ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n" % self.name)

    def sh(self, command, check=True):
        return subprocess.run(["podman", "exec", self.name, "bash", "-c", command], capture_output=True, text=True,
                              check=check).stdout

    def play(self, *extra, fail=False):
        """Run the playbook; (the server_state of the host's last tls_profile call, the run's message on failure)."""
        env = dict(ansible_env(), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_HOME=str(self.dir / "home"))
        proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", str(self.dir / "inventory"),
                               str(self.dir / "play.yml"), *extra], capture_output=True, text=True, env=env,
                              check=False)
        assert (proc.returncode != 0) == fail, proc.stdout[-4000:] + proc.stderr[-2000:]
        report = json.loads(proc.stdout)
        states, failures = [], []
        for task in report["plays"][0]["tasks"]:
            result = task["hosts"].get(self.name) or {}
            if task["task"]["name"].endswith((APPLY_TASK, AGAIN_TASK)) and self.result_key in result:
                states.append(result)
            if result.get("failed"):
                failures.append(result.get("msg", ""))
        return (states[-1] if states else None), " ".join(failures)

    def fingerprint(self):
        """main.cf, the daemon's configuration and the daemon's process: what a refusal must leave alone."""
        return self.sh("sha256sum /etc/postfix/main.cf /etc/mta-sts-daemon.yml; cat /var/run/mta-sts-daemon.pid")

    def maps(self):
        return self.sh("postconf -h smtp_tls_policy_maps").strip()


@contextlib.contextmanager
def running_host(found, image=IMAGE):
    """``found`` (a Host) as a running container of a test-host image, removed afterwards."""
    if subprocess.run(["podman", "image", "exists", image], check=False).returncode != 0:
        pytest.fail("image %s is missing: run bash tests/molecule/build-image.sh" % image, pytrace=False)
    subprocess.run(["podman", "run", "-d", "--rm", "--init", "--name", found.name, image, "sleep", "infinity"],
                   check=True, capture_output=True)
    try:
        # Package lists for check mode, which reads none itself (the role's apt reads them in a run);
        # Postfix runs as on a server.
        found.sh("apt-get update -qq && /etc/init.d/postfix start")
        yield found
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", found.name], check=False, capture_output=True)


@pytest.fixture()
def host(tmp_path):
    with running_host(Host(tmp_path)) as found:
        yield found


def test_the_managed_resolver_on_a_real_host(host):
    # Check mode on a host without the package: it is asked for, and nothing is installed or written.
    state, _failures = host.play("--check")
    assert state["missing_packages"] == ["postfix-mta-sts-resolver"]
    assert host.sh("dpkg-query -W -f '${db:Status-Status}' postfix-mta-sts-resolver 2>/dev/null", check=False) \
        != "installed"
    assert "socketmap" not in host.maps()

    # The run: installed, configured, restarted, wired after the static table, enabled at boot.
    state, _failures = host.play()
    resolver = state["mta_sts_resolver"]
    assert resolver["config_changed"] and resolver["restarted"] and resolver["wired"], resolver
    assert resolver["resolver_version"] == "1.1.2" and resolver["mx_patterns"] is False  # Postfix 3.7, resolver 1.1.2
    assert host.maps() == MAPS_WITH % 8461
    assert host.sh("postconf -h smtp_tls_CAfile").strip() == "/etc/ssl/certs/ca-certificates.crt"
    assert host.sh("ls /etc/rc2.d").count("S01postfix-mta-sts-resolver") == 1
    # It answers (not found: the container has no DNS for this name), as Postfix's smtp will ask it.
    assert "fatal" not in host.sh("postmap -q partner.invalid socketmap:inet:127.0.0.1:8461:postfix 2>&1",
                                  check=False)
    assert "tlsrpt" not in host.sh("cat /etc/mta-sts-daemon.yml")

    # Nothing to do: no write, no restart (the daemon's process is the same one).
    before = host.fingerprint()
    state, _failures = host.play()
    assert state["changed"] is False and state["mta_sts_resolver"]["restarted"] is False
    assert host.fingerprint() == before

    # A daemon found stopped is started again before anything else.
    host.sh("/etc/init.d/postfix-mta-sts-resolver stop")
    state, _failures = host.play()
    assert state["mta_sts_resolver"]["restarted"] is True and state["mta_sts_resolver"]["config_changed"] is False
    assert "fatal" not in host.sh("postmap -q x.invalid socketmap:inet:127.0.0.1:8461:postfix 2>&1", check=False)

    # The kill switch, predicted by check mode, then at once; the daemon keeps running. Then back.
    state, _failures = host.play("--check", "-e", "tls_forced_mta_sts_kill_switch=true")
    assert set(state["main_cf"]["changes"]) == {"smtp_tls_policy_maps"} and host.maps() == MAPS_WITH % 8461
    daemon = host.sh("cat /var/run/mta-sts-daemon.pid")
    state, _failures = host.play("-e", "tls_forced_mta_sts_kill_switch=true")
    assert host.maps() == "hash:/etc/postfix/tls_policy" and state["reloaded"] is True
    assert state["mta_sts_resolver"]["kill_switch"] is True and host.sh("cat /var/run/mta-sts-daemon.pid") == daemon
    host.play()
    assert host.maps() == MAPS_WITH % 8461

    # A new port: the old socketmap leaves the maps (it would answer nothing: every mail deferred).
    state, _failures = host.play("-e", "tls_forced_mta_sts_port=8470")
    assert host.maps() == MAPS_WITH % 8470 and state["mta_sts_resolver"]["restarted"] is True

    # Bad input: refused naming the role's variable, nothing changed.
    before = host.fingerprint()
    _state, message = host.play("-e", "tls_forced_mta_sts_port=25", fail=True)
    assert "tls_forced_mta_sts_port" in message and "1024-65535" in message, message
    assert host.fingerprint() == before

    # A daemon that cannot start: the port change is refused before main.cf names it, and its configuration
    # is put back (the init script starts nothing when the program is not executable).
    host.sh("chmod -x /usr/bin/mta-sts-daemon")
    _state, message = host.play("-e", "tls_forced_mta_sts_port=8471", fail=True)
    assert "does not answer" in message and "smtp_tls_policy_maps was not changed" in message, message
    assert host.maps() == MAPS_WITH % 8470
    assert "port: 8470" in host.sh("cat /etc/mta-sts-daemon.yml")
