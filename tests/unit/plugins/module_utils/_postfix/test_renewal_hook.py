"""The renewal hook: assembled from the collection's own stdlib-only files, and runnable alone.

The hook's code is linted and tested where it lives (host/renewal_hook_script.py and the files
it imports); these tests prove the assembled script is that code, stands alone (python3 -I -S:
no site-packages, no collection) and shares the SNI-table and record code with plan/receiving.
"""

from __future__ import annotations

import ast
import json
import os
import stat
import subprocess
import sys

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model import tls_files
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan import receiving
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.renewal_hook import (HOOK_PARTS,
                                                                                                 hook_script,
                                                                                                 part_source,
                                                                                                 standalone)

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def top_level_names(source):
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [name.id for target in node.targets for name in ast.walk(target) if isinstance(name, ast.Name)]
    return names


def test_the_hook_is_the_collections_files_one_after_the_other():
    script = hook_script("/etc/postfix", "/etc/postfix/mailtls-loaded-tls-files.json")
    assert script.startswith("#!/usr/bin/python3\n")
    for name in HOOK_PARTS:
        assert standalone(part_source(name)) in script
    tree = ast.parse(script)
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level], \
        "a relative import is left: the hook would not run alone"
    future = [node for node in tree.body if isinstance(node, ast.ImportFrom) and node.module == "__future__"]
    assert len(future) == 1 and tree.body.index(future[0]) == 0
    assert script.rstrip().endswith("sys.exit(main('/etc/postfix', '/etc/postfix/mailtls-loaded-tls-files.json', "
                                    "{'hash': ['.db'], 'btree': ['.db'], 'lmdb': ['.lmdb'], 'cdb': ['.cdb']}))")


def test_no_two_parts_of_the_hook_define_one_name():
    seen, twice = {}, []
    for name in HOOK_PARTS:
        for defined in set(top_level_names(standalone(part_source(name)))):
            if defined in seen:
                twice.append("%s in %s and %s" % (defined, seen[defined], name))
            seen[defined] = name
    assert twice == []


def test_the_hook_shares_the_record_and_the_names_with_the_receiving_plan():
    for name in ("CHAIN_FILES", "SNI_MAPS", "LEGACY_KEY_PAIRS", "LOADED_RECORD", "record_text", "file_digests",
                 "changed_since_loaded"):
        assert getattr(receiving, name) is getattr(tls_files, name), name
    assert "def sni_values" not in hook_script("/c", "/c/r"), "the old copy of the SNI parser is gone"


def test_sni_table_entries_as_postmap_reads_them():
    text = ("# comment\n\nmail.example.test\t/k/a.key /k/a.pem\n"
            "other.example.test   /k/b.key\n  /k/b.pem\n   # a comment inside\n lone.example.test\n")
    entries = tls_files.sni_table_entries(text)
    assert entries == {"mail.example.test": "/k/a.key /k/a.pem",
                       "other.example.test": "/k/b.key  /k/b.pem lone.example.test"}
    assert tls_files.sni_key_groups("hash:/t", {"a": "/k, /c"}) == [("hash:/t a", ["/k", "/c"], False)]


def test_loaded_key_groups_chain_files_win_and_a_legacy_pair_in_one_file_is_mixed():
    values = {"smtpd_tls_chain_files": "/k.pem, /c.pem", "smtpd_tls_cert_file": "/old.pem"}
    assert tls_files.loaded_key_groups(values) == [("smtpd_tls_chain_files", ["/k.pem", "/c.pem"], False)]
    values = {"smtpd_tls_cert_file": "/both.pem", "smtpd_tls_key_file": "", "smtpd_tls_eccert_file": "/ec.pem",
              "smtpd_tls_eckey_file": "/ec.key"}
    assert tls_files.loaded_key_groups(values) == [("smtpd_tls_cert_file", ["/both.pem"], True),
                                                   ("smtpd_tls_eccert_file", ["/ec.key", "/ec.pem"], False)]


@pytest.mark.parametrize("data, problem", [
    (None, "not a regular file"), (b"{not json", "not JSON text"), (b"\xff\xfe", "not JSON text"),
    (b"[1]", 'no "files" mapping'), (b'{"files": "x"}', 'no "files" mapping'),
    (b'{"files": {"/a": 7}}', 'a "files" entry'), (b'{"files": {"/a": "00"}}', None)])
def test_parse_record_says_why_a_record_is_not_ours(data, problem):
    digests, found = tls_files.parse_record(data)
    assert (found or "").startswith(problem or "") and bool(found) == bool(problem)
    assert digests == ({"/a": "00"} if problem is None else {})


def fake_tools(directory, chain_files, postfix_running=False):
    """postconf, postfix and postmap as the hook calls them; openssl stays the real one."""
    tools = {
        "postconf": "#!/bin/sh\necho 'smtpd_tls_chain_files = %s'\necho 'tls_server_sni_maps ='\n" % chain_files,
        "postfix": "#!/bin/sh\n[ \"$3\" = status ] && exit %d\nexit 0\n" % (0 if postfix_running else 1),
        "postmap": "#!/bin/sh\nexit 0\n",
    }
    for name, text in tools.items():
        path = directory / name
        path.write_text(text)
        path.chmod(0o755)


def pair(directory, name):
    key, cert = directory / (name + ".key"), directory / (name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=%s" % name, "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return key, cert


def run_alone(tmp_path, script):
    hook = tmp_path / "hook"
    hook.write_text(script)
    env = {"PATH": "%s:/usr/bin:/bin" % (tmp_path / "bin"), "LANG": "C"}
    return subprocess.run([PYTHON, "-I", "-S", str(hook)], capture_output=True, text=True, env=env, timeout=60,
                          check=False)


def test_the_assembled_hook_runs_alone_and_writes_its_record_through_the_one_writer(tmp_path):
    (tmp_path / "bin").mkdir()
    key, cert = pair(tmp_path, "a")
    fake_tools(tmp_path / "bin", "%s, %s" % (key, cert))
    record = tmp_path / "record.json"
    record.write_text('{"files": {}}\n')
    ran = run_alone(tmp_path, hook_script(str(tmp_path), str(record)))
    assert ran.returncode == 0, ran.stderr
    digests = json.loads(record.read_text())["files"]
    assert sorted(digests) == sorted([str(key), str(cert)])
    assert digests == tls_files.file_digests({str(key): key.read_bytes(), str(cert): cert.read_bytes()})
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert not os.path.lexists(str(record) + ".tmp")


def test_the_assembled_hook_refuses_a_key_of_another_certificate(tmp_path):
    (tmp_path / "bin").mkdir()
    key, _cert = pair(tmp_path, "a")
    _other, cert = pair(tmp_path, "b")
    fake_tools(tmp_path / "bin", "%s, %s" % (key, cert), postfix_running=True)
    record = tmp_path / "record.json"
    record.write_text('{"files": {}}\n')
    ran = run_alone(tmp_path, hook_script(str(tmp_path), str(record)))
    assert ran.returncode == 1 and "do not belong together" in ran.stderr and "not reloaded" in ran.stderr
    assert record.read_text() == '{"files": {}}\n'


def test_a_link_at_the_record_temporary_is_refused_not_followed_and_reported(tmp_path):
    (tmp_path / "bin").mkdir()
    key, cert = pair(tmp_path, "a")
    fake_tools(tmp_path / "bin", "%s, %s" % (key, cert))
    record, victim = tmp_path / "record.json", tmp_path / "victim"
    record.write_text('{"files": {}}\n')
    victim.write_text("do not touch\n")
    os.symlink(str(victim), str(record) + ".tmp")
    ran = run_alone(tmp_path, hook_script(str(tmp_path), str(record)))
    assert ran.returncode == 0 and "was not updated" in ran.stderr and "Traceback" not in ran.stderr, ran.stderr
    assert victim.read_text() == "do not touch\n" and record.read_text() == '{"files": {}}\n'
