"""Hostile review of issue 21: long deferral texts a remote server chooses (its reply, up to a line
of 64 KiB) are judged right by both readers. Their cost is measured, not timed here:
tests/bench/hostile_text_bench.py prints it (the "tls.*failed" regex was quadratic in a text of
many "tls", a reply of 64 KiB cost seconds per line; each line now costs milliseconds)."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host import maillog_files
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.maillog import is_tls_failure
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.delivery_log import LogReader

REFERENCE = datetime(2026, 12, 31, tzinfo=timezone.utc)
LINE = (b"Dec  2 16:25:06 mail postfix/smtp[999]: ABCDE12345: to=<a@example.com>, relay=mx.example.com"
        b"[192.0.2.1]:25, delay=1, delays=1/0/0/0, dsn=4.7.0, status=deferred (%s)")
SIZE = maillog_files.MAX_LINE - len(LINE)

# (text, whether Postfix's own words in it name TLS)
TEXTS = [
    (b"host mx.example.com[192.0.2.1] said: 450 " + b"tls " * (SIZE // 4 - 20), False),
    (b"connect to mx.example.com[192.0.2.1]:25: " + b"tls " * (SIZE // 4 - 20), False),
    (b"x" * (SIZE - 10), False),
    (b"a." * (SIZE // 2 - 10), False),
    (b"name=" * (SIZE // 5 - 10), False),
    (b"Cannot start TLS: handshake failure " + b"x" * (SIZE - 60), True),
    (b"TLS handshake " + b"y" * (SIZE - 60) + b" failed", True),
]


@pytest.mark.parametrize("text, tls", TEXTS, ids=range(len(TEXTS)))
@pytest.mark.parametrize("fast", [False, True])
def test_a_long_remote_text_is_judged_right_by_both_readers(text, tls, fast):
    assert is_tls_failure(text.decode()) is tls
    data = LINE % text + b"\n"
    assert len(data) <= maillog_files.MAX_LINE
    reader = LogReader(local_zone=timezone.utc)
    if fast:
        counts = reader.read_blocks(maillog_files.blocks_of(io.BytesIO(data)), REFERENCE)
    else:
        counts = reader.read(maillog_files.lines_of(io.BytesIO(data)), REFERENCE)
    assert counts == (1, 0)
    assert reader.destinations["example.com"].tls_deferrals == (1 if tls else 0)
