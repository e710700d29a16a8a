"""Hostile tests of the assembled renewal hook: what lies at the SNI table's names, FIFOs.

The hook runs as root after every renewal; postmap -F copies private keys into the SNI index.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.renewal_hook import hook_script

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def pair(directory, name):
    key, cert = directory / (name + ".key"), directory / (name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=%s" % name, "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return key, cert


POSTMAP = shutil.which("postmap") or "/usr/sbin/postmap"

pytestmark = pytest.mark.skipif(not os.path.exists(POSTMAP), reason="needs Postfix's postmap")


def run_alone(tmp_path, script, timeout=20):
    hook = tmp_path / "hook"
    hook.write_text(script)
    env = {"PATH": "%s:/usr/bin:/bin" % (tmp_path / "bin"), "LANG": "C"}
    return subprocess.run([PYTHON, "-I", "-S", str(hook)], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


def sni_host(tmp_path, chain_files, sni_table):
    """A config dir with an empty main.cf, a fake postconf and postfix, the real postmap."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "main.cf").write_text("")
    tools = {
        "postconf": "#!/bin/sh\necho 'smtpd_tls_chain_files = %s'\necho 'tls_server_sni_maps = hash:%s'\n"
                    % (chain_files, sni_table),
        "postfix": "#!/bin/sh\n[ \"$3\" = status ] && exit 1\nexit 0\n",
    }
    for name, text in tools.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    os.symlink(POSTMAP, str(bin_dir / "postmap"))


def test_a_link_at_the_sni_index_is_replaced_never_written_through(tmp_path):
    key, cert = pair(tmp_path, "a")
    sni = tmp_path / "sni"
    sni.write_text("a.example %s %s\n" % (key, cert))
    sni_host(tmp_path, "%s, %s" % (key, cert), sni)
    victim = tmp_path / "victim"
    victim.write_text("world readable\n")
    victim.chmod(0o644)
    os.symlink(str(victim), str(sni) + ".db")
    ran = run_alone(tmp_path, hook_script(str(tmp_path), str(tmp_path / "record.json")))
    assert victim.read_text() == "world readable\n", "postmap wrote the private keys through the link"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert ran.returncode == 0, ran.stderr
    index = os.lstat(str(sni) + ".db")
    assert stat.S_ISREG(index.st_mode) and stat.S_IMODE(index.st_mode) == 0o600


def test_a_hard_link_at_the_sni_index_is_replaced_so_the_other_name_gets_no_keys(tmp_path):
    key, cert = pair(tmp_path, "a")
    sni = tmp_path / "sni"
    sni.write_text("a.example %s %s\n" % (key, cert))
    sni_host(tmp_path, "%s, %s" % (key, cert), sni)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("")
    elsewhere.chmod(0o644)
    os.link(str(elsewhere), str(sni) + ".db")
    ran = run_alone(tmp_path, hook_script(str(tmp_path), str(tmp_path / "record.json")))
    assert ran.returncode == 0, ran.stderr
    assert elsewhere.read_bytes() == b"", "postmap wrote the private keys into another name's file"
    assert os.lstat(str(sni) + ".db").st_nlink == 1
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o644, "the other name's mode was changed"


def test_a_fifo_among_the_loaded_files_is_reported_never_waited_on(tmp_path):
    key, cert = pair(tmp_path, "a")
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(str(fifo))
    sni = tmp_path / "sni"
    sni.write_text("a.example %s %s\n" % (key, fifo))
    sni_host(tmp_path, "%s, %s" % (key, cert), sni)
    try:
        ran = run_alone(tmp_path, hook_script(str(tmp_path), str(tmp_path / "record.json")))
    except subprocess.TimeoutExpired:
        pytest.fail("the hook blocked on a FIFO named in the SNI table")
    assert ran.returncode == 1 and "not a regular file" in ran.stderr and "Traceback" not in ran.stderr, ran.stderr


def legacy_host(tmp_path, cert_file, key_file):
    """postconf answering a legacy RSA pair in two files; postfix running, logging a reload."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    reloads = tmp_path / "reloads"
    tools = {
        "postconf": "#!/bin/sh\necho 'smtpd_tls_chain_files ='\necho 'tls_server_sni_maps ='\n"
                    "echo 'smtpd_tls_cert_file = %s'\necho 'smtpd_tls_key_file = %s'\n" % (cert_file, key_file),
        "postfix": "#!/bin/sh\n[ \"$3\" = status ] && exit 0\necho \"$3\" >> %s\nexit 0\n" % reloads,
        "postmap": "#!/bin/sh\nexit 0\n",
    }
    for name, text in tools.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return reloads


def test_a_legacy_key_file_holding_another_pair_is_checked_as_postfix_loads_it(tmp_path):
    # Postfix (tls_certkey.c, set_cert_stuff): the first certificate of smtpd_tls_cert_file and the
    # first key of smtpd_tls_key_file, then SSL_CTX_check_private_key. A key file that carries its
    # own (stale) certificate must not make the pair look fine.
    key_a, cert_a = pair(tmp_path, "a")
    _key_b, cert_b = pair(tmp_path, "b")
    combined = tmp_path / "combined.key"
    combined.write_bytes(key_a.read_bytes() + cert_a.read_bytes())
    reloads = legacy_host(tmp_path, cert_b, combined)
    ran = run_alone(tmp_path, hook_script(str(tmp_path), str(tmp_path / "record.json")))
    assert ran.returncode == 1 and "do not belong together" in ran.stderr, ran.stderr
    assert not reloads.exists(), "Postfix was reloaded with a key that does not match its certificate"


def test_a_legacy_pair_in_two_files_that_match_is_reloaded(tmp_path):
    key_a, cert_a = pair(tmp_path, "a")
    reloads = legacy_host(tmp_path, cert_a, key_a)
    ran = run_alone(tmp_path, hook_script(str(tmp_path), str(tmp_path / "record.json")))
    assert ran.returncode == 0, ran.stderr
    assert reloads.read_text() == "reload\n"
