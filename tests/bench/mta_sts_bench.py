"""Benchmark: what receiving.mta_sts adds to one tls_profile call. Prints figures; never run by tests.

A scratch Postfix configuration (tests/integration/drivers.py's scratch_postfix, not started) gets
one RSA and one ECDSA chain; then the same no-change call is timed with and without an enforce
policy (one domain, a policy file, a records file, a TLS-RPT URI), each call a process of its own
as Ansible runs it, alternating, and the medians, the difference and the peak resident set print.
The side's cost is its rehearsal of the certificate part (openssl on each chain) and two small files.

    .venv/bin/python tests/bench/mta_sts_bench.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from drivers import run_as_ansible, scratch_postfix  # noqa: E402
from tls_material import NAME, chain, new_pair  # noqa: E402


def arguments(info, chains, with_sts):
    args = dict(config_dir=str(info["conf"]), certificate={"chains": chains}, receiving={})
    if with_sts:
        args["receiving"]["mta_sts"] = {
            "mode": "enforce", "domains": ["receiving.test"], "mx_names": [NAME],
            "policy_file": str(info["web"] / "mta-sts.txt"), "records_file": str(info["root"] / "sts.zone"),
            "tlsrpt_rua": ["mailto:tlsrpt@receiving.test"]}
    return args


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    options = parser.parse_args()
    with scratch_postfix("mailtls-bench-sts-", 25960, directories=("tls", "web")) as info:
        rsa_key, rsa_cert = new_pair("rsa")
        ec_key, ec_cert = new_pair("ecdsa")
        chains = [chain(info["tls"], "rsa", rsa_key, rsa_cert), chain(info["tls"], "ec", ec_key, ec_cert)]
        for with_sts in (False, True):  # the first calls write; the timed ones change nothing
            assert run_as_ansible("tls_profile", arguments(info, chains, with_sts)).parsed().get("failed") is not True
        seconds, cpu, memory = {False: [], True: []}, {False: [], True: []}, {False: [], True: []}
        for _run in range(options.runs):
            for with_sts in (False, True):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                run = run_as_ansible("tls_profile", arguments(info, chains, with_sts))
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                assert run.parsed()["changed"] is False, run.output[-2000:]
                seconds[with_sts].append(run.seconds)
                # CPU of the module and every process it ran (openssl, postconf): steadier than wall time on a busy host.
                cpu[with_sts].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                memory[with_sts].append(run.max_rss_mib)
    without, with_ = statistics.median(seconds[False]), statistics.median(seconds[True])
    cpu_without, cpu_with = statistics.median(cpu[False]), statistics.median(cpu[True])
    print("tls_profile, no change, 2 chains, %d runs each (medians; load average %.1f):"
          % (options.runs, os.getloadavg()[0]))
    print("  without mta_sts  wall %.3f s  cpu %.3f s  peak RSS %.1f MiB" % (without, cpu_without, max(memory[False])))
    print("  with mta_sts     wall %.3f s  cpu %.3f s  peak RSS %.1f MiB" % (with_, cpu_with, max(memory[True])))
    print("  added            wall %+.3f s (%+.0f%%)  cpu %+.3f s (%+.0f%%)"
          % (with_ - without, 100.0 * (with_ - without) / without, cpu_with - cpu_without,
             100.0 * (cpu_with - cpu_without) / cpu_without))


if __name__ == "__main__":
    main()
