"""Benchmark: tls_posture's one round trip on a real Postfix, by number of listeners. Prints figures; never run by tests.

A scratch instance (tests/integration/drivers.py) with N smtpd listeners on loopback, each serving
an RSA and an ECDSA certificate; the module runs as Ansible runs it on a host. Each listener costs
seven s_client handshakes (Postfix's choice, four protocol versions, one per key type) and one EHLO,
run eight at a time; the figures: the wall time against the same handshakes run one by one, a
listener that never answers (what the threads are for), and the rendering of a 200-host report
on the controller.

    .venv/bin/python tests/bench/posture_bench.py [--listeners 1 3 6] [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / ".cache" / "collections"))
from drivers import run_as_ansible, scratch_postfix, start_postfix  # noqa: E402
from tls_material import new_pair, write_pair  # noqa: E402

PORT = 25600


def one_by_one(result):
    """The same handshakes as the module's, run one after the other: what the threads save."""
    started = time.perf_counter()
    for listener in result["listeners"]:
        base = ["openssl", "s_client", "-connect", "%s:%d" % (listener["address"], listener["port"]), "-showcerts"]
        if not listener["wrappermode"]:
            base += ["-starttls", "smtp"]
        for extra in ([], ["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"], ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"],
                      ["-tls1_2"], ["-tls1_3"], ["-sigalgs", "rsa_pss_rsae_sha256:RSA+SHA256"],
                      ["-sigalgs", "ECDSA+SHA256:ECDSA+SHA384"]):
            subprocess.run(base + extra, stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=False)
    return time.perf_counter() - started


def measure(count, repeat):
    listeners = ["127.0.0.1:%d inet n - n - - smtpd" % (PORT + index) for index in range(count)]
    chains = ["smtpd_tls_chain_files = {root}/tls/rsa.key, {root}/tls/rsa.pem, {root}/tls/ec.key, {root}/tls/ec.pem"]
    with scratch_postfix("mailtls-posture-bench-", PORT, server_tls=chains, listeners=listeners) as info:
        for kind, stem in (("rsa", "rsa"), ("ecdsa", "ec")):
            key, cert = new_pair(kind)
            write_pair(info["tls"], stem, cert, key)
        start_postfix(info["conf"], PORT, "127.0.0.1")
        runs = [run_as_ansible("tls_posture", {"config_dir": str(info["conf"])}) for _run in range(repeat)]
        assert all(run.result and not run.result.get("failed") for run in runs), runs[0].output[-2000:]
        serial = one_by_one(runs[0].result)
        return runs[0].result, statistics.median(run.seconds for run in runs), max(run.max_rss_mib for run in runs), \
            serial


def stalled(timeout):
    """A listener that accepts connections and never answers: what the threads are for. One by one, its
    eight connections (seven handshakes and the EHLO) would each wait the whole timeout."""
    import socket
    import tempfile
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # never accepted: the kernel completes the TCP handshake, nothing is ever sent
    port = listener.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        conf = Path(directory)
        (conf / "main.cf").write_text("inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n")
        (conf / "master.cf").write_text("127.0.0.1:%d inet n - n - - smtpd\n" % port)
        old = time.time() - 10
        os.utime(conf / "main.cf", (old, old))
        run = run_as_ansible("tls_posture", {"config_dir": str(conf), "timeout": timeout})
    listener.close()
    assert run.result and run.result["findings"][0]["code"] == "starttls_missing", run.output[-2000:]
    return run.seconds


def render(result, hosts):
    from ansible_collections.mailtls.postfix.plugins.plugin_utils.tls_report import build_report, host_metrics, \
        report_json
    from ansible_collections.mailtls.postfix.plugins.plugin_utils.tls_report_html import render_html
    postures = dict(("mx%03d.example" % index, copy.deepcopy(result)) for index in range(hosts))
    started = time.perf_counter()
    report = build_report(postures, None, "2026-12-02T16:00:00Z")
    page, text = render_html(report), report_json(report)
    metrics = [host_metrics(report, name) for name in postures]
    return time.perf_counter() - started, len(page), len(text), sum(map(len, metrics))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--listeners", type=int, nargs="+", default=[1, 3, 6])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=200)
    args = parser.parse_args()
    print("Machine: %s, %s, %d cores, Python %s; median of %d runs" % (
        platform.node(), platform.machine(), os.cpu_count(), platform.python_version(), args.repeat))
    print("| listeners | handshakes | tls_posture wall (s) | same handshakes one by one (s) | peak memory (MiB) |")
    print("|---:|---:|---:|---:|---:|")
    result = None
    for count in args.listeners:
        result, seconds, rss, serial = measure(count, args.repeat)
        print("| %d | %d | %.2f | %.2f | %.0f |" % (count, count * 7, seconds, serial, rss))
    print("\nA listener that never answers, timeout 3 s: tls_posture %.2f s (one connection after the other: "
          "8 x 3 = 24 s)" % stalled(3))
    seconds, page, text, metrics = render(result, args.hosts)
    print("\nRendering %d hosts on the controller (document, page, JSON, metrics): %.2f s; page %d KiB, JSON %d KiB, "
          "metrics %d KiB" % (args.hosts, seconds, page // 1024, text // 1024, metrics // 1024))
    print(json.dumps({"findings_per_host": len(result["findings"])}))


if __name__ == "__main__":
    main()
