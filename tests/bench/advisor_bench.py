"""Benchmark: tls_advisor's log reading next to pflogsumm on the same mail log. Prints figures; never run by tests.

Generates a deterministic, realistic Postfix log (traditional syslog, smtp_tls_loglevel = 1: a
message is its smtpd, cleanup, qmgr, smtp TLS verdict, delivery and removal lines), then times
``pflogsumm`` (Debian's package) and the advisor's reader (host.maillog_files.read_file into
plan.delivery_log.LogReader, then the proposals) on it, each in a process of its own, and prints
both, the ratio and the peak resident set of each process.

    .venv/bin/python tests/bench/advisor_bench.py [--lines 1000000] [--keep FILE]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".cache" / "collections"
READER = """
import sys, json
from datetime import timezone
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.maillog_files import read_file
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.delivery_log import LogReader
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.advice import policy_for, propose
reader = LogReader(local_zone=timezone.utc)
files = read_file(reader, sys.argv[1], "paths[0]")
proposals = dict((name, propose(name, log, policy_for(name, {}, "may", "s"), 10, 3)["level"])
                 for name, log in reader.destinations.items())
print(json.dumps({"files": files, "destinations": len(reader.destinations),
                  "proposed": sum(1 for level in proposals.values() if level)}))
"""
VERDICTS = ("Verified", "Trusted", "Untrusted", "Anonymous")
CIPHERS = ("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES256-GCM-SHA384")


def generate(path, lines, seed=20261202):
    """A log of about ``lines`` lines, the same for the same seed."""
    rng = random.Random(seed)
    domains = ["d%04d.example" % number for number in range(600)]
    # Each domain behaves one way: all Verified, all TLS, mixed with plaintext, or deferring for TLS.
    kinds = dict((domain, rng.choice(("verified", "tls", "tls", "mixed", "plain", "defer"))) for domain in domains)
    when, written, queue = datetime(2026, 11, 25), 0, 0x100000
    with open(path, "w") as out:
        while written < lines:
            queue += 1
            qid, pid, spid = "%X" % queue, rng.randint(1000, 60000), rng.randint(1000, 60000)
            domain = rng.choice(domains)
            kind, mx = kinds[domain], "mx%d.%s" % (rng.randint(1, 2), domain)
            addr = "192.0.%d.%d" % (rng.randint(0, 255), rng.randint(1, 254))
            when += timedelta(seconds=rng.random() * 4.8)
            stamp = when.strftime("%b %e %H:%M:%S")
            head = "%s mail postfix/" % stamp
            block = [
                head + "smtpd[%d]: connect from client.example[198.51.100.7]" % spid,
                head + "smtpd[%d]: %s: client=client.example[198.51.100.7]" % (spid, qid),
                head + "cleanup[%d]: %s: message-id=<%s@client.example>" % (spid + 1, qid, qid),
                head + "qmgr[900]: %s: from=<sender@client.example>, size=%d, nrcpt=1 (queue active)"
                % (qid, rng.randint(900, 90000)),
            ]
            tls = kind in ("verified", "tls") or (kind == "mixed" and rng.random() < 0.8)
            if tls:
                verdict = "Verified" if kind == "verified" else rng.choice(VERDICTS[1:])
                block.append(head + "smtp[%d]: %s TLS connection established to %s[%s]:25: TLSv1.3 with cipher %s "
                             "(256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256"
                             % (pid, verdict, mx, addr, rng.choice(CIPHERS)))
            status = "sent (250 2.0.0 Ok: queued as %X)" % rng.getrandbits(40)
            dsn = "2.0.0"
            if kind == "defer":
                status, dsn = "deferred (TLS is required, but was not offered by host %s[%s])" % (mx, addr), "4.7.4"
            block.append(head + "smtp[%d]: %s: to=<user%d@%s>, relay=%s[%s]:25, delay=%.2f, delays=0.1/0/0.3/0.2, "
                         "dsn=%s, status=%s" % (pid, qid, rng.randint(1, 500), domain, mx, addr, rng.random() * 3, dsn, status))
            block.append(head + "qmgr[900]: %s: removed" % qid)
            block.append(head + "smtpd[%d]: disconnect from client.example[198.51.100.7] ehlo=2 starttls=1 mail=1 "
                         "rcpt=1 data=1 quit=1 commands=7" % spid)
            out.write("\n".join(block) + "\n")
            written += len(block)
    return written


def timed(argv, env=None):
    """Run ``argv``; (seconds, CPU seconds, peak resident MiB of the process and its children, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("%s failed: %s" % (argv[0], err.decode(errors="replace")[-2000:]))
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, out.decode(errors="replace")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1000000)
    parser.add_argument("--keep", help="write the generated log here instead of a temporary file")
    options = parser.parse_args()
    pflogsumm = shutil.which("pflogsumm")
    if not pflogsumm:
        raise SystemExit("pflogsumm is not installed (Debian: apt-get install pflogsumm; tests/setup.sh lists it)")
    directory = tempfile.mkdtemp(prefix="mailtls-advisor-bench-")
    try:
        path = options.keep or os.path.join(directory, "mail.log")
        lines = generate(path, options.lines)
        size = os.path.getsize(path) / 1048576.0
        print("log: %d lines, %.1f MiB (%s)" % (lines, size, path))
        env = dict(os.environ, PYTHONPATH=str(COLLECTIONS), LANG="C", LC_ALL="C")
        theirs, their_cpu, their_rss, _out = timed([pflogsumm, path], env)
        ours, our_cpu, our_rss, out = timed([sys.executable, "-c", READER, path], env)
        print("load average before: %.2f (the figures are wall-clock; CPU seconds are steadier on a busy machine)"
              % os.getloadavg()[0])
        print("pflogsumm:          %6.2f s (CPU %6.2f s), peak %6.1f MiB" % (theirs, their_cpu, their_rss))
        print("tls_advisor reader: %6.2f s (CPU %6.2f s), peak %6.1f MiB  (%s)" % (ours, our_cpu, our_rss, out.strip()))
        print("ratio advisor/pflogsumm: %.2f wall-clock, %.2f CPU (target <= 0.5); advisor peak %.1f MiB (target < 100)"
              % (ours / theirs, our_cpu / their_cpu, our_rss))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
