"""Benchmark: whole ansible-playbook runs. Prints figures; never run by tests.

1. 200 policy entries: mailtls.postfix.tls_policy vs. what users write today, an
   ansible.builtin.lineinfile loop plus `command: postmap` (first apply and no-op rerun).
2. One role converge (mailtls.postfix.tls_forced on a sandboxed config directory) vs. a
   no-op play, Ansible's own floor.

    .venv/bin/python tests/bench/playbook_bench.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = 200


def play(tasks):
    return [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}]


def run(workdir, playbook):
    path = workdir / "play.yml"
    path.write_text(json.dumps(playbook))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3", ANSIBLE_LOCALHOST_WARNING="false")
    start = time.perf_counter()
    subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", str(path)],
                   check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def fresh_config(workdir):
    config = workdir / "postfix"
    shutil.rmtree(config, ignore_errors=True)
    config.mkdir()
    shutil.copy("/usr/share/postfix/main.cf.debian", config / "main.cf")
    shutil.copy("/usr/share/postfix/master.cf.dist", config / "master.cf")
    old = time.time() - 60
    os.utime(config / "main.cf", (old, old))
    return config


def first_and_noop(workdir, playbook_for, repeat):
    first, noop = [], []
    for _round in range(repeat):
        config = fresh_config(workdir)
        playbook = playbook_for(config)
        first.append(run(workdir, playbook))
        noop.append(run(workdir, playbook))
    return statistics.median(first), statistics.median(noop)


def ours(config):
    return play([{"name": "policies", "mailtls.postfix.tls_policy": {
        "config_dir": str(config), "path": str(config / "tls_policy"),
        "destinations": ["dest%d.example.net" % i for i in range(ENTRIES)], "level": "encrypt"}}])


def lineinfile(config):
    table = str(config / "tls_policy")
    return play([
        {"name": "entries", "ansible.builtin.lineinfile": {
            "path": table, "create": True, "mode": "0644",
            "regexp": "^{{ item | regex_escape }}\\s", "line": "{{ item }} encrypt"},
         "loop": ["dest%d.example.net" % i for i in range(ENTRIES)], "register": "entries"},
        {"name": "postmap", "ansible.builtin.command": "postmap -c %s hash:%s" % (config, table),
         "when": "entries is changed"},
    ])


def role(config):
    return play([{"name": "role", "ansible.builtin.include_role": {"name": "mailtls.postfix.tls_forced"},
                  "vars": {"server_config_dir": str(config), "server_manage_packages": False,
                           "server_manage_service": False, "tls_forced_policy_table": str(config / "tls_policy"),
                           "tls_forced_destinations": ["partner.example", "bank.example"]}}])


def noop_play(_config):
    return play([{"name": "nothing", "ansible.builtin.debug": {"msg": "noop"}}])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mailtls-playbench-"))
    try:
        rows = [
            ("%d entries: mailtls.postfix.tls_policy" % ENTRIES,) + first_and_noop(workdir, ours, args.repeat),
            ("%d entries: lineinfile loop + command postmap" % ENTRIES,)
            + first_and_noop(workdir, lineinfile, args.repeat),
            ("role mailtls.postfix.tls_forced (2 destinations)",) + first_and_noop(workdir, role, args.repeat),
            ("no-op play (ansible.builtin.debug)",) + first_and_noop(workdir, noop_play, args.repeat),
        ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("Median of %d runs, wall time of ansible-playbook.\n" % args.repeat)
    print("| what | first run (s) | rerun (s) |")
    print("|---|---:|---:|")
    for name, first, noop in rows:
        print("| %s | %.2f | %.2f |" % (name, first, noop))


if __name__ == "__main__":
    main()
