"""Hostile review of issue 21: a log line dated at the edge of the calendar.

The date of an RFC 3339 line is the one the message reported (rsyslog's default file templates use
its timereported), so a local process that writes to /dev/log picks it. A client line dated
``9999-12-31T23:59:59-23:59`` (year 10000 in UTC) or ``0001-01-01T00:00:00+01:00`` (year 0) was
taken, and the whole call then died with an OverflowError traceback when the window's first and
last line were printed in UTC. Such a line is garbage: skipped and counted, in both readers.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host import maillog_files
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.delivery_log import LogReader

REFERENCE = datetime(2026, 12, 31, tzinfo=timezone.utc)
GOOD = (b"2026-12-02T10:00:00+00:00 mx postfix/smtp[7]: ABC123: to=<a@example.com>, relay=mx.example.com"
        b"[192.0.2.1]:25, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 ok)")


@pytest.mark.parametrize("stamp", [b"9999-12-31T23:59:59-23:59", b"0001-01-01T00:00:00+01:00",
                                   b"9999-12-31T23:30:00.5-00:31"])
@pytest.mark.parametrize("fast", [False, True])
def test_a_line_dated_outside_the_calendar_in_utc_is_skipped(stamp, fast):
    data = GOOD + b"\n" + stamp + GOOD[len(b"2026-12-02T10:00:00+00:00"):] + b"\n"
    reader = LogReader(local_zone=timezone.utc)
    if fast:
        counts = reader.read_blocks(maillog_files.blocks_of(io.BytesIO(data)), REFERENCE)
    else:
        counts = reader.read(maillog_files.lines_of(io.BytesIO(data)), REFERENCE)
    assert counts == (2, 1)
    assert reader.destinations["example.com"].deliveries == 1
    assert reader.window()["first_line"] == reader.window()["last_line"] == "2026-12-02T10:00:00+00:00"


def test_the_edges_themselves_are_dates():
    reader = LogReader(local_zone=timezone.utc)
    edge = b"9999-12-31T23:59:59+00:00" + GOOD[len(b"2026-12-02T10:00:00+00:00"):]
    assert reader.read([edge], REFERENCE) == (1, 0)
    assert reader.window()["last_line"] == "9999-12-31T23:59:59+00:00"
