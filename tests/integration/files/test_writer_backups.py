"""Hostile tests of the one writer (host/files.py): the backup's name already taken."""

from __future__ import annotations

import os
import stat

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import ConfigError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.files import EditLock, FileAttributes


def edit(path, text):
    with EditLock(str(path)) as lock:
        return lock.replace(text, FileAttributes(0o600, os.geteuid(), os.getegid()), backup=True)


def test_two_backups_of_one_file_in_one_second_both_kept(tmp_path):
    path = tmp_path / "key.pem"
    path.write_text("one\n")
    path.chmod(0o600)
    first = edit(path, "two\n")
    try:
        second = edit(path, "three\n")
    except ConfigError as exc:
        raise AssertionError("the second backup was refused: %s" % exc)
    assert first != second and open(first).read() == "one\n" and open(second).read() == "two\n"
    assert stat.S_IMODE(os.stat(second).st_mode) == 0o600 and path.read_text() == "three\n"


def test_a_link_at_the_backup_name_is_never_followed(tmp_path, monkeypatch):
    path, victim = tmp_path / "main.cf", tmp_path / "victim"
    path.write_text("old\n")
    victim.write_text("victim\n")
    monkeypatch.setattr("time.strftime", lambda *_args: "NOW")
    os.symlink(str(victim), "%s.%d.NOW~" % (path, os.getpid()))
    try:
        saved = edit(path, "new\n")
    except ConfigError:
        saved = None  # refused cleanly, which is fine too
    assert victim.read_text() == "victim\n"
    assert not os.path.lexists(str(path) + ".tmp")
    if saved:
        assert not os.path.islink(saved) and open(saved).read() == "old\n" and path.read_text() == "new\n"
