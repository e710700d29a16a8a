"""Benchmark: a fleet rollout on podman hosts, our roles next to a hand-written playbook.

Prints figures; never run by the tests. Each fleet is one receiver (tls.test) and N senders
from the Debian 12 test image (tests/molecule/build-image.sh), on fresh containers for each
flavour. Every flavour goes through the same four runs, each one `ansible-playbook`:

  check      --check --diff on the fresh hosts
  converge   the first real run
  rerun      the same again: nothing should change
  recheck    --check again

`ours` is playbooks/fleet.yml (tls_receiving on the receiver, tls_forced and
tls_opportunistic on the senders, all hosts of a group at once); `readme` the same roles listed
in plays' roles: as README.md shows them (no facts), `readme-facts` that with Ansible's default
fact gathering; `hand` is
tests/bench/fleet/handwritten.yml, the how-to's job as users write it (postconf -e commands, a
copied table, postmap, a reload handler). The callback tests/bench/fleet/callback_plugins
counts, per host, the module round trips, changed results, reloads and probes of each run.
Besides wall time, each run's CPU seconds are measured: the controller's (ansible-playbook and the
podman clients it runs) and every container's (cgroup cpuacct), so that flavours compare on a
machine that other work shares.

    .venv/bin/python tests/bench/fleet_bench.py                 # the how-to's job: 1 sender
    .venv/bin/python tests/bench/fleet_bench.py --senders 1 4 8 16 --markdown /tmp/fleet.md
    .venv/bin/python tests/bench/fleet_bench.py --senders 1 8 --runs converge rerun --flavours hand readme

Needs root, podman (tests/molecule/host-setup.sh) and the image. Its own names only: network
mailtls-bench, containers mailtls-bench-*.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent / "fleet"
IMAGE = "localhost/mailtls-postfix-debian12:latest"
NETWORK = "mailtls-bench"
PREFIX = "mailtls-bench-"
RECEIVER = PREFIX + "rcv"
RUNS = [("check", ["--check", "--diff"]), ("converge", []), ("rerun", []), ("recheck", ["--check", "--diff"])]
FLAVOURS = {"hand": HERE / "handwritten.yml", "ours": ROOT / "playbooks" / "fleet.yml",
            "readme": HERE / "readme.yml", "readme-facts": HERE / "readme_facts.yml"}
FLEET_VARS = {
    "mailtls_batch": "100%",
    "server_maillog_file": "/var/log/mail.log",  # no syslog in the containers
    "tls_receiving_self_signed": True,
    "tls_forced_destinations": ["tls.test"],
}


def podman(*args, check=True):
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check)


def remove_fleet():
    names = podman("ps", "-a", "--format", "{{.Names}}").stdout.split()
    stale = [name for name in names if name.startswith(PREFIX)]
    if stale:
        podman("rm", "-f", "-t", "0", *stale)


def start_fleet(senders):
    """Fresh containers: the receiver answers as tls.test through podman's DNS."""
    remove_fleet()
    if podman("network", "exists", NETWORK, check=False).returncode != 0:
        podman("network", "create", NETWORK)
    hosts = [(RECEIVER, "tls.test")] + [("%ss%d" % (PREFIX, i), "sender%d.test" % i) for i in range(1, senders + 1)]
    for name, hostname in hosts:
        alias = ["--network-alias", hostname]
        podman("run", "-d", "--init", "--network", NETWORK, *alias, "--hostname", hostname, "--name", name,
               IMAGE, "sleep", "infinity")
    return [name for name, _hostname in hosts[1:]]


def container_cpu_seconds(names):
    """CPU seconds the containers ``names`` have used (cgroup v1 cpuacct, podman's cgroupfs manager); None when unknown.

    With CPU time the flavours compare on a shared machine: wall time grows with whatever else runs.
    """
    total = 0
    for name in names:
        cid = podman("inspect", "--format", "{{.Id}}", name, check=False).stdout.strip()
        usage = Path("/sys/fs/cgroup/cpuacct/libpod_parent/libpod-%s/cpuacct.usage" % cid)
        if not cid or not usage.exists():
            return None
        total += int(usage.read_text()) / 1e9
    return total


def controller_cpu_seconds():
    """CPU seconds of this process's waited-for children: ansible-playbook and what it ran (podman exec clients)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def inventory(workdir, senders):
    text = ["[tls_receivers]", RECEIVER, "[tls_forced_senders]", *senders, "[tls_opportunistic_senders]",
            *senders, "[all:vars]", "ansible_connection=containers.podman.podman",
            "ansible_python_interpreter=/usr/bin/python3"]
    path = workdir / "inventory.ini"
    path.write_text("\n".join(text) + "\n")
    return path


def run_playbook(workdir, playbook, inventory_file, extra, forks, hosts=()):
    counts_file = workdir / "counts.json"
    counts_file.unlink(missing_ok=True)
    vars_file = workdir / "vars.json"
    vars_file.write_text(json.dumps(FLEET_VARS))
    env = dict(os.environ,
               PATH="%s:%s" % (ROOT / ".venv" / "bin", os.environ.get("PATH", "")),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_CALLBACK_PLUGINS=str(HERE / "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="mailtls_roundtrips",
               ANSIBLE_HOST_KEY_CHECKING="false",
               ANSIBLE_NOCOLOR="1",
               MAILTLS_ROUNDTRIPS_FILE=str(counts_file))
    hosts_before, controller_before = container_cpu_seconds(hosts), controller_cpu_seconds()
    start = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", str(inventory_file), "-f", str(forks), "-e", "@%s" % vars_file,
                           str(playbook), *extra], capture_output=True, text=True, env=env, check=False)
    wall = time.monotonic() - start
    controller = controller_cpu_seconds() - controller_before
    hosts_after = container_cpu_seconds(hosts)
    cpu = controller + hosts_after - hosts_before if hosts_before is not None and hosts_after is not None else None
    counts = json.loads(counts_file.read_text()) if counts_file.exists() else {}
    failure = ""
    if proc.returncode != 0:
        lines = [line for line in proc.stdout.splitlines() if "fatal:" in line or "FAILED" in line or "msg" in line]
        failure = (lines[-1] if lines else proc.stdout[-300:]).strip()[:300]
    return {"wall": wall, "cpu": cpu, "controller_cpu": controller, "rc": proc.returncode, "counts": counts,
            "failure": failure}


def summarise(result, senders):
    """Per-run figures: the receiver's and the mean sender's counts."""
    counts = result["counts"]

    def mean(key, hosts):
        values = [counts.get(host, {}).get(key, 0) for host in hosts]
        return sum(values) / len(values) if values else 0

    return {
        "wall": result["wall"], "cpu": result["cpu"], "controller_cpu": result["controller_cpu"],
        "rc": result["rc"], "failure": result["failure"],
        "receiver_trips": mean("round_trips", [RECEIVER]),
        "sender_trips": mean("round_trips", senders),
        "changed": sum(host.get("changed", 0) for host in counts.values()),
        "reloads": sum(host.get("reloads", 0) for host in counts.values()),
        "probes": sum(host.get("probes", 0) for host in counts.values()),
    }


def measure(senders_count, flavours, runs):
    rows = []
    with tempfile.TemporaryDirectory(prefix="mailtls-fleetbench-") as tmp:
        workdir = Path(tmp)
        for flavour in flavours:
            senders = start_fleet(senders_count)
            inventory_file = inventory(workdir, senders)
            for run, extra in [(name, extra) for name, extra in RUNS if name in runs]:
                result = run_playbook(workdir, FLAVOURS[flavour], inventory_file, extra, forks=max(5, senders_count + 1),
                                      hosts=[RECEIVER] + senders)
                row = dict(summarise(result, senders), flavour=flavour, run=run, senders=senders_count)
                rows.append(row)
                print("senders=%d %-4s %-8s %6.1f s cpu %s s (controller %.1f) rc=%d trips rcv/snd %4.1f/%4.1f "
                      "changed %d reloads %d probes %d %s"
                      % (senders_count, flavour, run, row["wall"], cpu_text(row["cpu"]), row["controller_cpu"], row["rc"],
                         row["receiver_trips"], row["sender_trips"], row["changed"], row["reloads"], row["probes"],
                         row["failure"]), flush=True)
    remove_fleet()
    return rows


def cpu_text(value):
    return "%.1f" % value if value is not None else "?"


def markdown(rows):
    out = ["| senders | flavour | run | wall (s) | CPU (s): all / controller | result | round trips: receiver / each sender "
           "| changed | reloads | probes |",
           "|---:|---|---|---:|---:|---|---:|---:|---:|---:|"]
    for row in rows:
        result = "ok" if row["rc"] == 0 else "failed: %s" % row["failure"].replace("|", "\\|")
        out.append("| %d | %s | %s | %.1f | %s / %.1f | %s | %.0f / %.1f | %d | %d | %d |" % (
            row["senders"], row["flavour"], row["run"], row["wall"], cpu_text(row["cpu"]), row["controller_cpu"], result,
            row["receiver_trips"], row["sender_trips"], row["changed"], row["reloads"], row["probes"]))
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, nargs="+", default=[1], help="fleet sizes (senders besides the receiver)")
    parser.add_argument("--flavours", nargs="+", choices=sorted(FLAVOURS), default=["hand", "ours", "readme"])
    parser.add_argument("--runs", nargs="+", choices=[name for name, _extra in RUNS], default=[name for name, _extra in RUNS],
                        help="which runs, always in the order check, converge, rerun, recheck (a rerun without converge "
                             "is a first run)")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args()
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        sys.exit("image %s is missing: bash tests/molecule/build-image.sh bookworm" % IMAGE)
    rows = []
    try:
        for senders in args.senders:
            rows.extend(measure(senders, args.flavours, args.runs))
    finally:
        remove_fleet()
    table = markdown(rows)
    print("\n" + table)
    if args.markdown:
        Path(args.markdown).write_text(table)


if __name__ == "__main__":
    main()
