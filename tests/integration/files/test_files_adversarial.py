"""Adversarial: files that are not what they seem, bytes that are not UTF-8, secrets that must not leak.

Each test plants what an attacker or a careless admin leaves on a host - a link or FIFO
where our temporary goes, a Latin-1 byte in a file, an index readable by everyone - and
runs the real modules through ansible-playbook, so the controller's own JSON handling
and output are part of what is tested.
"""

from __future__ import annotations

import os
import stat
import threading

import pytest
from conftest import postmap
from helpers import run_module, run_playbook, snapshot

PASSWORD = "S3cr3t-Relay-Passw0rd-q7"
LATIN1 = b"# Gr\xfc\xdfe aus M\xfcnchen\n"


def task(module, **args):
    return {"name": module, "mailtls.postfix." + module: args}


def victim(tmp_path):
    """A file outside the config directory that nothing may write to."""
    path = tmp_path / "victim"
    path.write_bytes(b"do not touch\n")
    path.chmod(0o600)
    return path


def intact(path):
    return path.read_bytes() == b"do not touch\n" and stat.S_IMODE(path.lstat().st_mode) == 0o600


# Every module that writes a file, as (module, args, the file it writes).
def writers(config_dir):
    return [
        ("postconf", {"config_dir": str(config_dir), "name": "smtp_tls_loglevel", "value": "2"},
         config_dir / "main.cf"),
        ("lookup_table", {"config_dir": str(config_dir), "path": str(config_dir / "transport"),
                          "key": "a.example", "value": "smtp:[relay.example]"}, config_dir / "transport"),
        ("tls_policy", {"config_dir": str(config_dir), "path": str(config_dir / "tls_policy"),
                        "destination": "partner.example", "level": "encrypt"}, config_dir / "tls_policy"),
        ("master_cf", {"config_dir": str(config_dir), "service": "submission", "type": "inet", "private": "n",
                       "command": "smtpd"}, config_dir / "master.cf"),
    ]


def existing_writer(config_dir, index):
    """One of ``writers``, with the file it writes already there (a table with its index)."""
    module, args, target = writers(config_dir)[index]
    if not target.exists():
        target.write_text("existing.example OK\n")
        postmap("hash:%s" % target)
    return module, args, target


def writer_ids():
    return ["postconf", "lookup_table", "tls_policy", "master_cf"]


@pytest.mark.parametrize("index", range(4), ids=writer_ids())
def test_symlinked_temporary_is_refused_and_its_target_untouched(tmp_path, config_dir, index):
    module, args, target = existing_writer(config_dir, index)
    target_link = victim(tmp_path)
    os.symlink(str(target_link), str(target) + ".tmp")
    before = snapshot(config_dir)
    rc, _results, output = run_playbook(tmp_path, [task(module, **args)])
    assert rc != 0
    assert "%s.tmp is a symbolic link; refusing to write through it" % target in output, output
    assert intact(target_link) and not target.is_symlink() and snapshot(config_dir) == before


@pytest.mark.parametrize("index", range(4), ids=writer_ids())
def test_fifo_or_hard_link_as_temporary_is_refused_without_hanging(tmp_path, config_dir, index):
    module, args, target = existing_writer(config_dir, index)
    os.mkfifo(str(target) + ".tmp")
    # A reader on the FIFO, so that a writer that opens it blocking would not fail but write.
    reader = threading.Thread(target=lambda: open(str(target) + ".tmp", "rb").read(), daemon=True)
    reader.start()
    rc, _results, output = run_playbook(tmp_path, [task(module, **args)], extra_args=["--timeout", "60"])
    assert rc != 0 and "%s.tmp is not a regular file" % target in output, output
    os.unlink(str(target) + ".tmp")
    open(str(target) + ".tmp", "wb").close()  # unblock the reader if it is still waiting
    os.unlink(str(target) + ".tmp")

    linked = victim(tmp_path)
    os.link(str(linked), str(target) + ".tmp")
    rc, _results, output = run_playbook(tmp_path, [task(module, **args)])
    assert rc != 0 and "is a hard link or belongs to another user" in output, output
    assert intact(linked)


def test_fifo_in_place_of_main_cf_or_table_fails_at_once(localhost, config_dir):
    os.mkfifo(str(config_dir / "transport"))
    result = run_module(localhost, "mailtls.postfix.lookup_table", config_dir=str(config_dir),
                        path=str(config_dir / "transport"), key="a.example", value="OK")
    assert result["failed"] and "transport is not a regular file" in result["msg"], result


@pytest.mark.parametrize("table_type, index", [("hash", ".db"), ("lmdb", ".lmdb"), ("cdb", ".cdb")])
def test_link_left_at_the_index_temporary_is_removed_not_followed(tmp_path, localhost, config_dir, table_type, index):
    path = config_dir / "transport"
    target = victim(tmp_path)
    os.symlink(str(target), str(path) + ".tmp" + index)
    result = run_module(localhost, "mailtls.postfix.lookup_table", config_dir=str(config_dir), path=str(path),
                        type=table_type, key="a.example", value="OK")
    assert result["changed"] is True, result
    assert intact(target), "postmap wrote through the link"
    assert not os.path.lexists(str(path) + ".tmp" + index)
    assert postmap("-q", "a.example", "%s:%s" % (table_type, path)).stdout == "OK\n"


# --- bytes that are not UTF-8 --------------------------------------------------------------

def latin1_files(config_dir):
    """Every file kind with a Latin-1 comment, and a task that edits it."""
    (config_dir / "main.cf").write_bytes((config_dir / "main.cf").read_bytes() + LATIN1 + b"smtp_tls_loglevel = 0\n")
    (config_dir / "master.cf").write_bytes((config_dir / "master.cf").read_bytes() + LATIN1)
    (config_dir / "transport").write_bytes(LATIN1 + b"old.example smtp:[gr\xfcn.example]\n")
    (config_dir / "checks").write_bytes(LATIN1 + b"/^From: .*m\xfcller/ REJECT\n")
    (config_dir / "tls_policy").write_bytes(LATIN1 + b"old.example may\n")
    os.utime(str(config_dir / "main.cf"), (1, 1))
    directory = str(config_dir)
    return [
        task("postconf", config_dir=directory, name="smtp_tls_loglevel", value="1"),
        task("master_cf", config_dir=directory, service="submission", type="inet", private="n", command="smtpd"),
        task("lookup_table", config_dir=directory, path=directory + "/transport",
             entries={"old.example": "smtp:[new.example]", "a.example": "OK"}),
        task("lookup_table", config_dir=directory, path=directory + "/checks", type="regexp",
             key="/^Subject:.spam/", value="REJECT"),
        task("tls_policy", config_dir=directory, path=directory + "/tls_policy", destination="old.example",
             level="encrypt"),
        task("postfix_info", config_dir=directory),
    ]


@pytest.mark.parametrize("diff", [False, True], ids=["plain", "diff"])
def test_non_utf8_bytes_in_every_file_kind_are_kept_and_reported(tmp_path, config_dir, diff):
    tasks = latin1_files(config_dir)
    rc, results, output = run_playbook(tmp_path, tasks, diff=diff)
    assert rc == 0, output
    assert "Refusing to deserialize" not in output
    assert [results[t["name"]]["changed"] for t in tasks] == [True, True, True, True, True, False]
    for name in ("main.cf", "master.cf", "transport", "checks", "tls_policy"):
        assert LATIN1 in (config_dir / name).read_bytes(), name
    if diff:
        assert "M\\xfcnchen" in output  # shown escaped, never as raw bytes
    # The postconf change reports the old value, and the next run reports nothing to do.
    before = snapshot(config_dir)
    rc, results, output = run_playbook(tmp_path, tasks, diff=diff)
    assert rc == 0 and not any(results[t["name"]]["changed"] for t in tasks), output
    assert snapshot(config_dir) == before


def test_non_utf8_old_value_is_reported_escaped(tmp_path, config_dir):
    (config_dir / "main.cf").write_bytes(b"smtpd_banner = $myhostname ESMTP M\xfcnchen\n")
    os.utime(str(config_dir / "main.cf"), (1, 1))
    rc, results, output = run_playbook(tmp_path, [task("postconf", config_dir=str(config_dir),
                                                       name="smtpd_banner", value="$myhostname ESMTP")])
    assert rc == 0, output
    assert results["postconf"]["changes"]["smtpd_banner"]["before"] == "$myhostname ESMTP M\\xfcnchen"


@pytest.mark.parametrize("value", ["a\x0cb", "line\u2028separator", "x\x1cy", "caf\u00e9 \u00fc"])
def test_values_str_splitlines_would_cut_are_read_back(localhost, config_dir, value):
    result = run_module(localhost, "mailtls.postfix.postconf", config_dir=str(config_dir),
                        name="smtpd_banner", value="$myhostname " + value)
    assert result.get("failed") is not True and result["changed"] is True, result
    again = run_module(localhost, "mailtls.postfix.postconf", config_dir=str(config_dir),
                       name="smtpd_banner", value="$myhostname " + value)
    assert again["changed"] is False


# --- secret tables ---------------------------------------------------------------------------

def secret_task(config_dir, **extra):
    args = {"config_dir": str(config_dir), "path": str(config_dir / "sasl_passwd"), "secret": True,
            "entries": {"[smtp.example.net]:587": "relay@example.net:" + PASSWORD}}
    args.update(extra)
    return task("lookup_table", **args)


@pytest.mark.parametrize("table_type, index", [("hash", ".db"), ("lmdb", ".lmdb"), ("cdb", ".cdb")])
def test_secret_table_and_index_are_private_and_values_never_shown(tmp_path, config_dir, table_type, index):
    check = [secret_task(config_dir, type=table_type)]
    rc, results, output = run_playbook(tmp_path, check, check=True, diff=True, extra_args=["-vvvv"])
    assert rc == 0 and results["lookup_table"]["changed"] is True, output
    assert PASSWORD not in output and "relay@example.net:********" not in output
    assert "[smtp.example.net]:587 ********" in output  # the diff shows the key, masks the value
    assert not (config_dir / "sasl_passwd").exists()

    rc, results, output = run_playbook(tmp_path, check, diff=True, extra_args=["-vvvv"])
    assert rc == 0, output
    assert PASSWORD not in output
    for name in ("sasl_passwd", "sasl_passwd" + index):
        assert stat.S_IMODE((config_dir / name).stat().st_mode) == 0o600, name
    assert postmap("-q", "[smtp.example.net]:587", "%s:%s" % (table_type, config_dir / "sasl_passwd")).stdout \
        == "relay@example.net:%s\n" % PASSWORD

    # A changed password: still nothing shown, still private.
    changed = [secret_task(config_dir, type=table_type, entries={"[smtp.example.net]:587": "relay:other-" + PASSWORD})]
    rc, results, output = run_playbook(tmp_path, changed, diff=True, extra_args=["-vvvv"])
    assert rc == 0 and results["lookup_table"]["updated"] == ["[smtp.example.net]:587"], output
    assert PASSWORD not in output


def test_secret_table_tightens_a_leaked_table_and_index(tmp_path, config_dir):
    path = config_dir / "sasl_passwd"
    path.write_text("[smtp.example.net]:587 relay@example.net:%s\n" % PASSWORD)
    path.chmod(0o644)
    postmap("hash:%s" % path)
    assert stat.S_IMODE((config_dir / "sasl_passwd.db").stat().st_mode) == 0o644
    rc, results, output = run_playbook(tmp_path, [secret_task(config_dir)])
    assert rc == 0 and results["lookup_table"]["changed"] is True, output
    # Other users lose every bit; the group keeps what it had, on the source and its index alike.
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE((config_dir / "sasl_passwd.db").stat().st_mode) == 0o640
    rc, results, output = run_playbook(tmp_path, [secret_task(config_dir)])
    assert rc == 0 and results["lookup_table"]["changed"] is False, output


def test_secret_table_refuses_a_world_readable_mode_and_bad_values_quietly(tmp_path, config_dir):
    rc, _results, output = run_playbook(tmp_path, [secret_task(config_dir, mode="0644")])
    assert rc != 0 and "mode: 0644 lets every user read a secret table" in output, output
    assert not (config_dir / "sasl_passwd").exists()
    injected = secret_task(config_dir, entries={"[smtp.example.net]:587": "relay:%s\nevil.example OK" % PASSWORD})
    rc, _results, output = run_playbook(tmp_path, [injected], check=True, diff=True, extra_args=["-vvvv"])
    assert rc != 0 and "the value contains a newline" in output
    assert PASSWORD not in output and "evil.example" not in output


def test_temporaries_get_the_final_mode_before_any_byte(tmp_path):
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.files import EditLock, FileAttributes

    path = str(tmp_path / "sasl_passwd")
    with EditLock(path) as lock:
        assert stat.S_IMODE(os.stat(lock.tmp_path).st_mode) == 0o600, "created private"
        lock.write("k v\n", FileAttributes(0o600, os.geteuid(), os.getegid()))
        assert stat.S_IMODE(os.stat(lock.tmp_path).st_mode) == 0o600
        lock.commit()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_temporary_another_writer_removes_under_us_is_retried_not_refused(tmp_path, monkeypatch):
    """Another writer may unlink the temporary between our open and our fstat (nlink 0): retry, not 'hard link'."""
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host import files

    path = str(tmp_path / "main.cf")
    with open(path, "w") as handle:
        handle.write("old\n")
    tmp = path + files.TMP_SUFFIX
    with open(tmp, "w") as handle:
        handle.write("another writer's\n")
    os.chmod(tmp, 0o600)
    real_open_regular = files.open_regular
    removed = []

    def open_then_lose_it(name, flags=os.O_RDONLY):
        fd, info = real_open_regular(name, flags)
        if name == tmp and not removed:
            os.unlink(tmp)
            removed.append(name)
            info = os.fstat(fd)
        return fd, info

    monkeypatch.setattr(files, "open_regular", open_then_lose_it)
    with files.EditLock(path) as lock:
        lock.replace("new\n", files.FileAttributes(0o644, os.geteuid(), os.getegid()))
    assert removed and open(path).read() == "new\n" and not os.path.exists(tmp)


def test_backup_of_a_secret_table_is_as_private_as_the_table(tmp_path, config_dir):
    path = config_dir / "sasl_passwd"
    path.write_text("[smtp.example.net]:587 relay@example.net:old-%s\n" % PASSWORD)
    path.chmod(0o644)
    rc, results, output = run_playbook(tmp_path, [secret_task(config_dir, backup=True)])
    assert rc == 0, output
    backup = results["lookup_table"]["backup_file"]
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o640 and "old-" + PASSWORD in open(backup).read()
    assert PASSWORD not in output


def test_a_secret_never_reaches_the_syslog_line_of_the_invocation(tmp_path, config_dir):
    """AnsibleModule logs its arguments to syslog; a secret table's must not be among them."""
    from drivers import run_as_ansible

    hook = tmp_path / "hook"
    hook.mkdir()
    log = tmp_path / "syslog.txt"
    (hook / "sitecustomize.py").write_text(
        "import syslog\n"
        "def _capture(*args):\n"
        "    with open(%r, 'a') as handle:\n"
        "        handle.write(repr(args) + '\\n')\n"
        "syslog.syslog = _capture\n" % str(log))
    for secret in (True, False):
        args = {"config_dir": str(config_dir), "path": str(config_dir / "sasl_passwd"), "secret": secret,
                "key": "[smtp.example.net]:587", "value": "relay:" + PASSWORD}
        proc = run_as_ansible("lookup_table", dict(args, _ansible_syslog_facility="LOG_USER"), pythonpath=[hook])
        assert '"failed"' not in proc.stdout, proc.stdout
        logged = log.read_text() if log.exists() else ""
        if secret:
            assert PASSWORD not in logged and PASSWORD not in proc.stdout
        else:
            assert PASSWORD in logged, "the capture works: without secret the value is logged"
