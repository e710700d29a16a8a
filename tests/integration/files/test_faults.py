"""Faults and concurrency: nothing half-written, nothing lost, nothing broken goes live."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from conftest import debian_main_cf, dump_table, effective_config, make_config_dir, postmap
from drivers import run_as_ansible
from helpers import run_module, snapshot


def module_process(module, args):
    """Run a module as Ansible runs it on a host: a Python process given JSON arguments."""
    return run_as_ansible(module, args).parsed()


@contextmanager
def tmpfs(path, size):
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def test_validate_keeps_a_config_postfix_check_rejects_off_disk(localhost, config_dir):
    before = snapshot(config_dir)
    result = run_module(localhost, "mailtls.postfix.postconf", config_dir=str(config_dir),
                        name="mail_owner", value="nosuchuser", validate="postfix -c %s check")
    assert result["failed"] is True
    assert "validate: 'postfix -c %s check' rejected the new main.cf" in result["msg"]
    assert "parameter mail_owner: unknown user name value: nosuchuser; nothing was changed" in result["msg"]
    assert snapshot(config_dir) == before
    # postconf alone accepts it: without validate, check mode would predict the change.
    result = module_process("postconf", {"config_dir": str(config_dir), "name": "mail_owner",
                                         "value": "nosuchuser", "_ansible_check_mode": True})
    assert result.get("failed") is not True and result["changed"] is True


def test_validate_needs_the_placeholder(localhost, config_dir):
    result = run_module(localhost, "mailtls.postfix.postconf", config_dir=str(config_dir),
                        name="relayhost", value="x", validate="postfix check")
    assert result["failed"] and result["msg"].startswith("validate: must contain %s")


def test_disk_full_leaves_main_cf_intact(tmp_path):
    with tmpfs(tmp_path / "full", "64k") as mount:
        config_dir = make_config_dir(mount / "postfix", debian_main_cf())
        fd = os.open(str(mount / "filler"), os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"x" * 512)
        except OSError:
            pass
        finally:
            os.close(fd)
        before = snapshot(config_dir)
        result = module_process("postconf", {"config_dir": str(config_dir),
                                             "parameters": {"smtp_tls_policy_maps": "hash:/etc/postfix/" + "t" * 4000}})
        assert result["failed"] is True
        assert "No space left on device" in result["msg"] and "the original file is unchanged" in result["msg"]
        assert snapshot(config_dir) == before, "no main.cf.tmp left, main.cf untouched"


def test_read_only_directory_leaves_everything_intact(tmp_path):
    with tmpfs(tmp_path / "ro", "1m") as mount:
        config_dir = make_config_dir(mount / "postfix", debian_main_cf())
        (config_dir / "tls_policy").write_text("a.example encrypt\n")
        postmap("hash:%s" % (config_dir / "tls_policy"))
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        before = snapshot(config_dir)
        result = module_process("postconf", {"config_dir": str(config_dir), "name": "relayhost", "value": "x"})
        assert result["failed"] and "cannot create %s/main.cf.tmp: Read-only file system" % config_dir in result["msg"]
        result = module_process("tls_policy", {"config_dir": str(config_dir), "path": str(config_dir / "tls_policy"),
                                               "destination": "b.example", "level": "encrypt"})
        assert result["failed"] and "Read-only file system" in result["msg"]
        assert snapshot(config_dir) == before


def test_crash_between_source_and_index_is_repaired(localhost, config_dir):
    path = config_dir / "tls_policy"
    run_module(localhost, "mailtls.postfix.tls_policy", config_dir=str(config_dir), path=str(path),
               destination="a.example", level="encrypt")
    # A run killed after renaming the new source and before renaming its index leaves: the new
    # source, the old index (older than the source), and the temp index.
    path.write_text("a.example encrypt\nb.example encrypt\n")
    old = path.stat().st_mtime - 5
    os.utime(str(config_dir / "tls_policy.db"), (old, old))
    (config_dir / "tls_policy.tmp").write_text("half written")
    (config_dir / "tls_policy.tmp.db").write_bytes(b"garbage")
    result = run_module(localhost, "mailtls.postfix.tls_policy", config_dir=str(config_dir), path=str(path),
                        destination="a.example", level="encrypt")
    assert result["changed"] is True and result["postmap_run"] is True and result["added"] == []
    assert dump_table("hash:%s" % path) == ["a.example\tencrypt", "b.example\tencrypt"]
    assert sorted(p.name for p in config_dir.iterdir()) == ["main.cf", "master.cf", "tls_policy", "tls_policy.db"]


@pytest.mark.parametrize("writers", [8])
def test_concurrent_main_cf_edits_lose_nothing(config_dir, writers):
    def edit(index):
        return module_process("postconf", {"config_dir": str(config_dir),
                                           "parameters": {"mailtls_concurrent_%d" % index: str(index)}})

    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(edit, range(writers)))
    assert all(result.get("changed") for result in results), results
    _known, unused = effective_config(config_dir)
    assert sorted(unused) == sorted("mailtls_concurrent_%d=%d" % (i, i) for i in range(writers))
    assert not (config_dir / "main.cf.tmp").exists()


def test_concurrent_with_real_postconf_loses_nothing(config_dir):
    def ours(index):
        return module_process("postconf", {"config_dir": str(config_dir), "name": "ours_%d" % index, "value": "1"})

    def theirs(index):
        return subprocess.run(["postconf", "-c", str(config_dir), "-e", "theirs_%d=1" % index], check=True)

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(ours if i % 2 else theirs, i) for i in range(8)]
        results = [future.result() for future in futures]
    ours_results = results[1::2]
    assert all(result.get("changed") and not result.get("failed") for result in ours_results), ours_results
    _known, unused = effective_config(config_dir)
    assert sorted(unused) == sorted(["ours_1=1", "ours_3=1", "ours_5=1", "ours_7=1",
                                     "theirs_0=1", "theirs_2=1", "theirs_4=1", "theirs_6=1"])


def test_concurrent_table_edits_lose_nothing(config_dir):
    path = config_dir / "tls_policy"

    def add(index):
        return module_process("tls_policy", {"config_dir": str(config_dir), "path": str(path),
                                             "destination": "d%d.example" % index, "level": "encrypt"})

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(add, range(8)))
    assert all(result.get("changed") for result in results), results
    assert dump_table("hash:%s" % path) == sorted("d%d.example\tencrypt" % i for i in range(8))
    assert len(path.read_text().splitlines()) == 8
