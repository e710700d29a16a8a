"""Podman containers of the Debian 12 test-host image for the service start's tests (test_service_*.py): Postfix
installed and not started, SysV init as the image has it or systemd as a server has it; the role's tls_forced play
and single module calls run on them through ansible-playbook, their results read from the json callback."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import time

import pytest
from helpers import ROOT, ansible_env
from test_mta_sts_resolver_managed import FORCED_PLAYBOOK, IMAGE

SYSTEMD_IMAGE = "localhost/mailtls-postfix-debian12-systemd:latest"
SYSTEMD_CONTAINERFILE = """FROM %s
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd \\
    systemd-sysv >/dev/null && apt-get clean
""" % IMAGE
COUNTER = itertools.count()


def systemd_image(tmp_path):
    """The test-host image with systemd as its init, built once from Debian's packages."""
    if subprocess.run(["podman", "image", "exists", SYSTEMD_IMAGE], check=False).returncode != 0:
        (tmp_path / "Containerfile").write_text(SYSTEMD_CONTAINERFILE)
        subprocess.run(["podman", "build", "-q", "-t", SYSTEMD_IMAGE, "-f", str(tmp_path / "Containerfile"),
                        str(tmp_path)], check=True, capture_output=True)
    return SYSTEMD_IMAGE


class ServiceHost(object):
    """One container; ``playbooks`` (file name -> text) are written next to its inventory."""

    def __init__(self, tmp_path, prefix, playbooks=None):
        self.name = "%s-%d-%d" % (prefix, os.getpid(), next(COUNTER))
        self.dir = tmp_path
        for name, text in dict({"forced.yml": FORCED_PLAYBOOK}, **(playbooks or {})).items():
            (tmp_path / name).write_text(text)
        (tmp_path / "inventory").write_text(
            "%s ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n" % self.name)

    def sh(self, command, check=True):
        return subprocess.run(["podman", "exec", self.name, "bash", "-c", command], capture_output=True, text=True,
                              check=check).stdout

    def play(self, playbook, *extra):
        """(the non-skipped results of the play's tasks on the host, each with its task's name; the return code)."""
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
                results.append(dict(result, task=task["task"]["name"],
                                    action=result.get("action") or task["task"].get("action", "")))
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

    def master_pid(self):
        return self.sh("cat /var/spool/postfix/pid/master.pid", check=False).strip()


def tls_profile_results(results):
    """The results of the role's tls_profile calls among a play's."""
    return [result for result in results if result["action"].endswith("tls_profile") and "started" in result]


@contextlib.contextmanager
def service_container(host, systemd=False):
    """``host`` (a ServiceHost) as a running container, removed afterwards; with ``systemd``, systemd runs it and has
    started Postfix at its boot, else Postfix is not started."""
    if subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode != 0:
        pytest.fail("image %s is missing: run bash tests/molecule/build-image.sh" % IMAGE, pytrace=False)
    run = (["--systemd=always", systemd_image(host.dir), "/lib/systemd/systemd"] if systemd
           else ["--init", IMAGE, "sleep", "infinity"])
    subprocess.run(["podman", "run", "-d", "--rm", "--name", host.name] + run, check=True, capture_output=True)
    try:
        if systemd:
            for _attempt in range(60):
                if host.sh("systemctl is-system-running", check=False).strip() in ("running", "degraded"):
                    break
                time.sleep(0.5)
        yield host
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", host.name], check=False, capture_output=True)
