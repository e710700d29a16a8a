"""Benchmark: tls_policy on large tables next to plain postmap. Prints figures; never run by tests.

Runs the module the way Ansible runs it on a host (a Python process given its
arguments as JSON) with ansible-core's
module_utils importable (the venv's Python), so the figures are the module's own work: parse, edit,
write, postmap, and the postmap -q read-back of every changed key. Each
figure is the median of --repeat runs; peak memory is the largest resident
set of the module process and its children (postmap included).

    .venv/bin/python tests/bench/table_bench.py [--sizes 1000 10000 100000] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from drivers import run_as_ansible  # noqa: E402 (the tests' one driver for running a module as Ansible does)


MODULE = "ansible_collections.mailtls.postfix.plugins.modules.tls_policy"
# Runs the module as python -m would, timing its own work: from the end of AnsibleModule's
# argument handling to the call of exit_json (ansible-core's result handling), on stderr.
OWN_WORK_TIMER = """
import runpy, sys, time
from ansible.module_utils import basic
marks = {}
setup, finish = basic.AnsibleModule.__init__, basic.AnsibleModule.exit_json
def timed_setup(self, *args, **kwargs):
    setup(self, *args, **kwargs)
    marks["start"] = time.perf_counter()
def timed_finish(self, **result):
    sys.stderr.write("own-work %.6f\\n" % (time.perf_counter() - marks["start"]))
    finish(self, **result)
basic.AnsibleModule.__init__, basic.AnsibleModule.exit_json = timed_setup, timed_finish
runpy.run_module(MODULE_NAME, run_name="__main__")
""".replace("MODULE_NAME", repr(MODULE))


def run_module(args):
    """Run tls_policy with ``args``; return (seconds, own-work seconds, peak MiB, result)."""
    run = run_as_ansible(MODULE, args, code=OWN_WORK_TIMER, env={"LANG": "C", "LC_ALL": "C"})
    if run.returncode != 0 or run.result is None or run.result.get("failed"):
        raise SystemExit("module failed: %s %s" % (run.stdout[-2000:], run.stderr[-2000:]))
    own = float(run.stderr.split("own-work ")[1].split()[0])
    return run.seconds, own, run.max_rss_mib, run.result


def plain_postmap(config_dir, source):
    start = time.perf_counter()
    subprocess.run(["postmap", "-c", str(config_dir), "hash:%s" % source], check=True)
    return time.perf_counter() - start


def median(samples):
    return statistics.median(samples)


def bench(size, repeat, workdir):
    config_dir = workdir / ("n%d" % size)
    config_dir.mkdir()
    shutil.copy("/usr/share/postfix/main.cf.debian", config_dir / "main.cf")
    old = time.time() - 60
    os.utime(config_dir / "main.cf", (old, old))
    table = config_dir / "tls_policy"
    policies = [{"destination": "dest%d.example.net" % i, "level": "encrypt"} for i in range(size)]
    base = {"path": str(table), "type": "hash", "config_dir": str(config_dir), "policies": policies}

    runs = {"first": [], "noop": [], "one": []}  # (wall seconds, own-work seconds) per run
    postmap_times, peaks = [], []
    for _round in range(repeat):
        for path in config_dir.glob("tls_policy*"):
            path.unlink()
        seconds, own, peak, result = run_module(base)
        assert result["changed"] and len(result["added"]) == size
        runs["first"].append((seconds, own))
        peaks.append(peak)
        before = (table.stat().st_mtime_ns, (config_dir / "tls_policy.db").stat().st_mtime_ns)
        seconds, own, peak, result = run_module(base)
        assert not result["changed"] and not result["postmap_run"]
        assert before == (table.stat().st_mtime_ns, (config_dir / "tls_policy.db").stat().st_mtime_ns)
        runs["noop"].append((seconds, own))
        peaks.append(peak)
        changed = dict(base, policies=policies[:-1] + [dict(policies[-1], level="verify")])
        seconds, own, peak, result = run_module(changed)
        assert result["updated"] == ["dest%d.example.net" % (size - 1)]
        runs["one"].append((seconds, own))
        peaks.append(peak)
        postmap_times.append(plain_postmap(config_dir, table))
    row = {"size": size, "postmap": median(postmap_times), "peak_mib": max(peaks)}
    for name, samples in runs.items():
        row[name] = median(wall for wall, _own in samples)
        row[name + "_own"] = median(own for _wall, own in samples)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", help="append a Markdown table of the figures to this file")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mailtls-bench-"))
    try:
        rows = [bench(size, args.repeat, workdir) for size in args.sizes]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    header = "| entries | first apply (s) | no-op rerun (s) | one-entry change (s) | plain postmap (s) | " \
             "own work / postmap: first, no-op, one | peak memory (MiB) |"
    lines = [header, "|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        ratios = ", ".join("%.1fx" % (row[name + "_own"] / row["postmap"]) for name in ("first", "noop", "one"))
        lines.append("| {size:,} | {first:.2f} ({first_own:.2f}) | {noop:.2f} ({noop_own:.2f}) | "
                     "{one:.2f} ({one_own:.2f}) | {postmap:.3f} | {ratios} | {peak_mib:.0f} |"
                     .format(ratios=ratios, **row))
    lines.append("")
    lines.append("Each time: the module process end to end (its own work in brackets: from the end of "
                 "AnsibleModule's argument handling to exit_json).")
    postfix_version = subprocess.run(["postconf", "-h", "mail_version"], capture_output=True,
                                     text=True, check=True).stdout.strip()
    machine = "%s, %s, %d cores, Python %s" % (platform.node(), platform.machine(), os.cpu_count(),
                                               platform.python_version())
    heading = "Machine: %s (Postfix %s); median of %d runs." % (machine, postfix_version, args.repeat)
    text = "\n".join([heading, ""] + lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "a") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
