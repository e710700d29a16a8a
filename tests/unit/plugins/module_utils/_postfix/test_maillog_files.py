"""Reading the mail log (host.maillog_files): rotated families oldest first, gzip streamed, overlong
lines cut, odd files refused; and the committed fixtures read through it."""

from __future__ import annotations

import gzip
import os
import shutil
from datetime import timezone
from pathlib import Path

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host import maillog_files
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.maillog_files import (
    read_file, rotated_family)
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.delivery_log import LogReader

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "maillog"


def test_the_family_is_oldest_first_and_ignores_strangers(tmp_path):
    for name in ("mail.log", "mail.log.1", "mail.log.2.gz", "mail.log.10.gz", "mail.log.20261101-010203.gz",
                 "mail.log.bak", "mail.log.1.swp", "mail.logx", "mail.err"):
        (tmp_path / name).write_bytes(b"")
    assert [os.path.basename(path) for path in rotated_family(str(tmp_path / "mail.log"))] == [
        "mail.log.20261101-010203.gz", "mail.log.10.gz", "mail.log.2.gz", "mail.log.1", "mail.log"]


def test_gzip_is_read_like_the_plain_file(tmp_path):
    source = FIXTURES / "postfix311-documented.log"
    with gzip.open(str(tmp_path / "mail.log.2.gz"), "wb") as handle:
        handle.write(source.read_bytes())
    shutil.copy(str(source), str(tmp_path / "mail.log"))
    plain, zipped = LogReader(local_zone=timezone.utc), LogReader(local_zone=timezone.utc)
    assert read_file(plain, str(tmp_path / "mail.log"), "paths[0]")["lines"] == 5
    assert read_file(zipped, str(tmp_path / "mail.log.2.gz"), "paths[0]")["lines"] == 5
    assert sorted(plain.destinations) == sorted(zipped.destinations) == ["dane.example", "may.example", "plain.example"]


def test_a_truncated_gzip_names_the_option(tmp_path):
    data = gzip.compress((FIXTURES / "postfix311-documented.log").read_bytes())
    (tmp_path / "mail.log.1.gz").write_bytes(data[:len(data) // 2])
    with pytest.raises(Exception, match=r"^paths\[3\]: cannot read"):
        read_file(LogReader(local_zone=timezone.utc), str(tmp_path / "mail.log.1.gz"), "paths[3]")


def test_an_overlong_line_is_cut_skipped_and_memory_stays_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(maillog_files, "MAX_LINE", 64)
    short = b"Dec  2 10:00:00 mx postfix/smtp[1]: a short line\n"
    (tmp_path / "mail.log").write_bytes(b"Dec  2 10:00:00 mx postfix/smtp[1]: " + b"x" * 100000 + b"\n" + short)
    result = read_file(LogReader(local_zone=timezone.utc), str(tmp_path / "mail.log"), "paths[0]")
    assert (result["lines"], result["skipped"]) == (2, 1)  # the overlong line, counted once


@pytest.mark.parametrize("make, problem", [
    (lambda path: os.mkfifo(str(path)), "is not a regular file"),
    (lambda path: path.symlink_to("/etc/hostname"), "is a symbolic link"),
    (lambda path: path.mkdir(), "is not a regular file"),
])
def test_a_fifo_link_or_directory_is_refused_naming_the_option(tmp_path, make, problem):
    make(tmp_path / "mail.log")
    with pytest.raises(InputError, match=r"^paths\[1\]: .* %s" % problem):
        read_file(LogReader(local_zone=timezone.utc), str(tmp_path / "mail.log"), "paths[1]")


def test_the_postfix_3_11_documented_fixture():
    reader = LogReader(local_zone=timezone.utc)
    read_file(reader, str(FIXTURES / "postfix311-documented.log"), "paths[0]")
    dane, may, plain = (reader.destinations[name] for name in ("dane.example", "may.example", "plain.example"))
    assert (dane.outcomes["verified"], dane.dane, dane.dane_field) == (1, 1, 1)
    assert (may.outcomes["untrusted"], may.dane) == (1, 0)
    assert plain.outcomes["plaintext"] == 1


def test_lines_across_chunks_and_an_overlong_one_spanning_many(monkeypatch):
    import io
    monkeypatch.setattr(maillog_files, "MAX_LINE", 64)
    data = b"short one\n" + b"y" * 500 + b"\nafter it\n" + b"z" * 70 + b"\nlast without newline"
    for chunk in (7, 16, 64, 1 << 20):
        assert list(maillog_files.lines_of(io.BytesIO(data), chunk)) == [
            b"short one", b"\xff overlong", b"after it", b"\xff overlong", b"last without newline"], chunk
