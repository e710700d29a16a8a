"""Hostile review of issue 21: a corrupt rotated ``.gz`` log.

A damaged deflate stream (a flipped bit on disk, a hand-edited archive) makes Python's gzip raise
``zlib.error``, which is neither OSError nor EOFError: it escaped host.maillog_files.read_file as a
traceback instead of an error naming the option. And among the default files (the rotated family
of the log Postfix writes to, which the report reads on every host), one damaged old archive failed
the whole tls_posture call, so the report lost the host's certificates and listeners too, while a
link or FIFO among the same defaults is only warned about.
"""

from __future__ import annotations

import gzip
import zlib
from datetime import timezone
from pathlib import Path

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import PostfixError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.log_advice import LogAdvice
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.maillog_files import read_file
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.delivery_log import LogReader

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "maillog"


def bad_block_type():
    """A gzip file whose first deflate block has the reserved type 3: zlib says "invalid block type"."""
    data = bytearray(gzip.compress((FIXTURES / "postfix311-documented.log").read_bytes(), mtime=0))
    data[10] |= 0x06  # after the 10-byte header: BFINAL, then BTYPE = 11
    with pytest.raises(zlib.error):
        gzip.decompress(bytes(data))
    return bytes(data)


def test_a_damaged_deflate_stream_is_an_error_naming_the_option(tmp_path):
    path = tmp_path / "mail.log.2.gz"
    path.write_bytes(bad_block_type())
    with pytest.raises(PostfixError, match=r"^advisor\.paths\[1\]: cannot read %s: .*invalid block type" % path):
        read_file(LogReader(local_zone=timezone.utc), str(path), "advisor.paths[1]")


@pytest.mark.parametrize("damage", ["block type", "truncated", "not gzip"])
def test_a_damaged_archive_among_the_default_files_is_warned_and_the_others_are_read(tmp_path, damage):
    good = (FIXTURES / "postfix311-documented.log").read_bytes()
    whole = gzip.compress(good, mtime=0)
    broken = {"block type": bad_block_type(), "truncated": whole[:len(whole) // 2], "not gzip": b"plain text\n"}
    (tmp_path / "mail.log.2.gz").write_bytes(broken[damage])
    (tmp_path / "mail.log").write_bytes(good)
    warnings = []
    reader = LogReader(local_zone=timezone.utc)
    files = LogAdvice(None, str(tmp_path), {}, warnings, "advisor.").read_logs(reader, None, str(tmp_path / "mail.log"))
    assert [item["path"] for item in files] == [str(tmp_path / "mail.log")]
    assert len(warnings) == 1 and warnings[0].startswith(
        "advisor.paths (default: %s): cannot read %s: " % (tmp_path / "mail.log", tmp_path / "mail.log.2.gz"))
    assert sorted(reader.destinations) == ["dane.example", "may.example", "plain.example"]
