"""Benchmark (issue 20): a large table end to end through ansible-playbook, by each interface. Prints
figures; never run by tests.

For each size, three plays fill a table of a sandboxed config directory (connection local, config_dir)
and then run again with nothing to do:

- ``entries``: mailtls.postfix.lookup_table with ``entries`` from a vars file;
- ``src``: mailtls.postfix.lookup_table with ``src``, a table source on the controller, ``exclusive``;
- ``copy+postmap``: ansible.builtin.copy of the same source and a handler running ``postmap``, the baseline.

Peak memory is the largest resident set of any module process of the play (the interpreter is a wrapper
that waits for the real one and records its ru_maxrss; postmap and other children included).

    .venv/bin/python tests/bench/table_playbook_bench.py [--sizes 10000 100000] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INTERFACES = ("entries", "src", "copy+postmap")
WRAPPER = """#!/usr/bin/python3
import os, subprocess, sys
proc = subprocess.Popen(["/usr/bin/python3"] + sys.argv[1:])
_pid, status, usage = os.wait4(proc.pid, 0)
with open(%r, "a") as log:
    log.write("%%d\\n" %% usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def entries(size):
    """A sender access table: mostly a few verdicts, some relays."""
    verdicts = ["OK", "REJECT", "DISCARD", "smtp:[relay1.example.net]:587", "smtp:[relay2.example.net]:587"]
    return [("sender%d.example.net" % index, verdicts[index % len(verdicts)]) for index in range(size)]


def config_dir(base):
    base.mkdir(parents=True)
    shutil.copyfile("/usr/share/postfix/main.cf.debian", base / "main.cf")
    shutil.copyfile("/usr/share/postfix/master.cf.dist", base / "master.cf")
    old = time.time() - 60  # Postfix's tools wait for a main.cf younger than 2 s
    os.utime(base / "main.cf", (old, old))
    return base


def playbook(interface, workdir, conf):
    table = str(conf / "access")
    if interface == "entries":
        task = {"mailtls.postfix.lookup_table": {"path": table, "config_dir": str(conf),
                                                 "entries": "{{ table_entries }}", "exclusive": True}}
        return [{"hosts": "localhost", "connection": "local", "gather_facts": False,
                 "vars_files": [str(workdir / "entries.yml")], "tasks": [task]}]
    if interface == "src":
        task = {"mailtls.postfix.lookup_table": {"path": table, "config_dir": str(conf),
                                                 "src": str(workdir / "access.src"), "exclusive": True}}
        return [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [task]}]
    return [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"ansible.builtin.copy": {"src": str(workdir / "access.src"), "dest": table},
                        "notify": "postmap"}],
             "handlers": [{"name": "postmap",
                           "ansible.builtin.command": "postmap -c %s hash:%s" % (conf, table)}]}]


def run(workdir, interface, conf, label):
    path = workdir / ("play-%s.yml" % interface.replace("+", "_"))
    path.write_text(json.dumps(playbook(interface, workdir, conf)))
    log = workdir / ("rss-%s-%s" % (interface.replace("+", "_"), label))
    wrapper = workdir / "python-rss"
    wrapper.write_text(WRAPPER % str(log))
    wrapper.chmod(0o755)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=str(wrapper), LANG="C.UTF-8")
    start = time.perf_counter()
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", str(path)],
                          capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit("%s %s failed:\n%s" % (interface, label, proc.stdout[-3000:] + proc.stderr[-3000:]))
    changed = int(proc.stdout.rsplit("changed=", 1)[1].split()[0])
    peak = max(int(line) for line in log.read_text().split()) / 1024.0
    return elapsed, changed, peak


def bench(size, workdir):
    pairs = entries(size)
    (workdir / "access.src").write_text("".join("%s %s\n" % pair for pair in pairs))
    (workdir / "entries.yml").write_text("table_entries:\n" + "".join("  %s: %s\n" % (key, json.dumps(value))
                                                                      for key, value in pairs))
    rows = []
    for interface in INTERFACES:
        conf = config_dir(workdir / interface.replace("+", "_"))
        for label in ("first", "rerun"):
            elapsed, changed, peak = run(workdir, interface, conf, label)
            rows.append((size, interface, label, elapsed, changed, peak))
            print("%7d %-13s %-6s %7.2f s  changed=%d  module peak %.0f MiB" % (size, interface, label, elapsed,
                                                                                changed, peak), flush=True)
    return rows


def markdown(rows):
    base = dict(((size, label), elapsed) for size, interface, label, elapsed, _c, _p in rows
                if interface == "copy+postmap")
    out = ["| entries | interface | run | seconds | vs copy+postmap | changed | module peak MiB |",
           "|---:|---|---|---:|---:|---:|---:|"]
    for size, interface, label, elapsed, changed, peak in rows:
        out.append("| %s | %s | %s | %.2f | %.2fx | %d | %.0f |" % ("{:,}".format(size), interface, label, elapsed,
                                                                    elapsed / base[(size, label)], changed, peak))
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--markdown", help="append the table to this file")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        workdir = Path(tempfile.mkdtemp(prefix="mailtls-table-playbook-bench-"))
        try:
            rows.extend(bench(size, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    table = markdown(rows)
    print(table)
    if args.markdown:
        with open(args.markdown, "a") as handle:
            when = time.strftime("%Y-%m-%d")
            handle.write("\n%s, %s, %d cores:\n\n%s\n" % (when, platform.platform(), os.cpu_count(), table))


if __name__ == "__main__":
    main()
