"""The two drivers every integration test uses.

``run_as_ansible``: one of our modules run as Ansible runs it on a managed node, a Python process
given ``{"ANSIBLE_MODULE_ARGS": ...}`` as JSON on stdin; its parsed result. ``run_module_process``
is the same as a pair (result or None, all it printed).

``scratch_postfix``: a live Postfix instance of its own in /tmp (queue, data, log and listeners),
started with ``start_postfix`` when a test needs it, stopped and removed at the end.

This module imports nothing from conftest, so a benchmark (tests/bench) can import it too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = ROOT / ".cache" / "collections"
MODULES = "ansible_collections.mailtls.postfix.plugins.modules."


class ModuleRun(object):
    """What one module process did: ``result`` (None when it printed no JSON), its output and figures."""

    def __init__(self, stdout, stderr, returncode, timed_out, seconds, max_rss_mib):
        self.stdout, self.stderr, self.returncode = stdout, stderr, returncode
        self.timed_out, self.seconds, self.max_rss_mib = timed_out, seconds, max_rss_mib
        try:
            self.result = json.loads(stdout)
        except ValueError:
            self.result = None  # a traceback (or a hang) instead of a result

    @property
    def output(self):
        return self.stdout + self.stderr

    def parsed(self):
        """The result; a test fails naming what the module printed when there is none."""
        assert self.result is not None, "the module printed no result: %s" % self.output[-3000:]
        return self.result


def _ansible_package_parent():
    import ansible

    return str(Path(ansible.__file__).parent.parent)


def run_as_ansible(module, args, python=None, pythonpath=(), cwd=None, timeout=None, code=None, env=None,
                   container=None):
    """Run ``module`` (its short name, or a full ``mailtls.postfix.x`` name) given ``args``; a ModuleRun.

    ``python``: the interpreter, this venv's by default; another one (Debian's /usr/bin/python3) is
    given ansible-core on PYTHONPATH. ``pythonpath``: more entries, before the collections (after them
    in a container). ``code``:
    Python text run with ``-c`` instead of ``-m module`` (a benchmark's timer). ``container``: run it
    there with ``podman exec`` (the container's Python; ``pythonpath`` names ansible-core there).
    ``timeout``: seconds before the process is killed (``timed_out``, no result).
    ``seconds`` and ``max_rss_mib`` (peak resident set of the process and its children) are measured.
    """
    name = MODULES + module.rsplit(".", 1)[-1]
    path = [str(entry) for entry in pythonpath if str(entry) != str(COLLECTIONS)]
    path.insert(0 if container is not None else len(path), str(COLLECTIONS))
    if container is not None:
        python = python or "python3"
        argv = ["podman", "exec", "-i", "-e", "PYTHONPATH=" + ":".join(path), container]
        process_env = dict(os.environ, **(env or {}))
    else:
        python = python or sys.executable
        if python != sys.executable:
            path.append(_ansible_package_parent())
        argv = []
        process_env = dict(os.environ, PYTHONPATH=os.pathsep.join(path), **(env or {}))
    argv += [python, "-c", code] if code is not None else [python, "-m", name]
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd, env=process_env)
    printed = {}

    def read(stream, key):
        printed[key] = stream.read()

    def write():
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
        except OSError:
            pass  # the process ended (or was killed) without reading its arguments

    threads = [threading.Thread(target=read, args=(proc.stdout, "out")),
               threading.Thread(target=read, args=(proc.stderr, "err")), threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    killed = []

    def kill():
        killed.append(True)
        proc.kill()

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    try:
        _pid, status, usage = os.wait4(proc.pid, 0)  # wait4: the peak memory of this run, not of the tests
    finally:
        if timer:
            timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    stdout = printed.get("out", b"").decode("utf-8", "replace")
    stderr = printed.get("err", b"").decode("utf-8", "replace")
    run = ModuleRun(stdout, stderr, proc.returncode, bool(killed), seconds, usage.ru_maxrss / 1024.0)
    if killed:
        run.result = None
    return run


def run_module_process(module, args, **options):
    """``run_as_ansible`` as a pair: (result or None, all it printed)."""
    run = run_as_ansible(module, args, **options)
    return run.result, run.output


NAME = "mx.receiving.test"
SNAKEOIL = ("smtpd_tls_cert_file = /etc/ssl/certs/ssl-cert-snakeoil.pem",
            "smtpd_tls_key_file = /etc/ssl/private/ssl-cert-snakeoil.key")


@contextmanager
def scratch_postfix(prefix, port=None, hostname=NAME, server_tls=SNAKEOIL, listeners=None, directories=("tls",)):
    """A Postfix instance of its own in /tmp, one smtpd on 127.0.0.1:``port`` (started by a test when it needs it).

    ``server_tls``: main.cf's lines for the server's certificate (Debian's snake-oil pair).
    ``listeners``: master.cf lines instead of that one smtpd. ``directories``: made under the instance's
    root besides conf, queue and data, and named in what this yields. ``{root}`` in a ``server_tls`` or
    ``listeners`` line is the instance's root. Yields {"root", "conf", "port", each directory}.
    """
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    root.chmod(0o755)  # Postfix's own user must reach the data directory
    conf = root / "conf"
    named = dict((name, root / name) for name in directories)
    for directory in [conf] + list(named.values()) + [root / "queue", root / "data"]:
        directory.mkdir()
    shutil.chown(str(root / "data"), "postfix")
    (conf / "main.cf").write_text("\n".join([
        "compatibility_level = 3.6", "queue_directory = %s/queue" % root, "data_directory = %s/data" % root,
        "inet_interfaces = 127.0.0.1", "inet_protocols = ipv4", "myhostname = %s" % hostname, "mydestination =",
        "maillog_file_prefixes = %s" % root, "maillog_file = %s/mail.log" % root,
        "smtpd_tls_security_level = may"] + [line.format(root=root) for line in server_tls] + [""]))
    master = Path("/usr/share/postfix/master.cf.dist").read_text().replace("smtp      inet", "#smtp      inet")
    master = master.replace(" y       -       -       ", " n       -       -       ")  # not chrooted
    if listeners is None:
        listeners = ["127.0.0.1:%d inet n - n - - smtpd" % port]
    (conf / "master.cf").write_text(master + "".join(line.format(root=root) + "\n" for line in listeners))
    old = os.stat(conf / "main.cf").st_mtime - 10  # Postfix tools wait ~2 s for a main.cf younger than that
    os.utime(conf / "main.cf", (old, old))
    try:
        yield dict(named, root=root, conf=conf, port=port)
    finally:
        subprocess.run(["postfix", "-c", str(conf), "stop"], check=False, capture_output=True)
        shutil.rmtree(str(root), ignore_errors=True)


def listening():
    """``ss -ltn``: the TCP listeners of this machine."""
    return subprocess.run(["ss", "-ltn"], capture_output=True, text=True, check=False).stdout


def wait_for_listener(port, address="", timeout=10):
    """Until ``address:port`` listens (any address when empty), at most ``timeout`` s."""
    deadline = time.time() + timeout
    while time.time() < deadline and "%s:%d " % (address, port) not in listening():
        time.sleep(0.2)


def start_postfix(conf, port, address=""):
    """``postfix start`` of a scratch instance, then wait until its smtpd on ``port`` listens."""
    subprocess.run(["postfix", "-c", str(conf), "start"], check=True, capture_output=True)
    wait_for_listener(port, address)
