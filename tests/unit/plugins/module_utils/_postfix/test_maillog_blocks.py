"""The fast reader (host.maillog_files.blocks_of into plan.delivery_log.LogReader.read_blocks) gives the
same answer as the line-by-line one (lines_of into LogReader.read), byte for byte, on the real logs of
Postfix 3.7 and 3.11 in every line format, and on hostile lines: not UTF-8, NUL, carriage returns,
overlong lines, lines that start like no log line, a TLS verdict inside a subject or a recipient, a
program name that only contains "smtp[". Chunk sizes cut lines anywhere."""

from __future__ import annotations

import io
import random
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host import maillog_files
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.advice import policy_for, propose, report
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.delivery_log import LogReader

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "maillog"
REFERENCE = datetime(2026, 12, 31, tzinfo=timezone.utc)
VERDICT = ("Verified TLS connection established to mx.plain.example[192.0.2.9]:25: TLSv1.3 with cipher "
           "TLS_AES_256_GCM_SHA384 (256/256 bits)")
HOSTILE = [
    b"\xff\xfe not UTF-8 at all",
    b"Dec  2 16:25:06 mail postfix/smtp[999]: \xc3\x28 " + VERDICT.encode(),
    b"Dec  2 16:25:06 mail postfix/smtp[999]: \x00" + VERDICT.encode(),
    b"Dec  2 16:25:06 mail postfix/smtp[999]: " + VERDICT.encode() + b"\r",
    b"Dec  2 16:25:06 mail postfix/smtp[999]: \r" + VERDICT.encode(),
    b"Dec  2 16:25:06 mail postfix/cleanup[998]: ABCDE12345: info: header Subject: " + VERDICT.encode(),
    b"Dec  2 16:25:06 mail postfix/smtp[999]:\t" + VERDICT.encode(),
    b"xDec  2 16:25:06 mail postfix/smtp[999]: " + VERDICT.encode(),
    b"Foo  2 16:25:06 mail postfix/smtp[999]: ABCDE12345: to=<a@plain.example>, relay=none, delay=1, "
    b"delays=1/0/0/0, dsn=4.4.1, status=deferred (TLS is required, but was not offered)",
    b"Foo  2 16:25:06 mail postfix/smtp[999]: connect to somewhere: Connection refused",
    b"Dec 31 23:59:59 mail postfix/smtp[999]: ABCDE12345: to=<\"x>, relay=mx.plain.example[192.0.2.9]:25, "
    b"delay=1, delays=1/1/1/1, dsn=2.0.0, status=sent (ok)\"@plain.example>, relay=mx.plain.example[192.0.2.9]:25, "
    b"delay=1, delays=1/1/1/1, dsn=2.0.0, status=sent (250 ok)",
    b"Dec  2 16:25:06 mail notsmtp[1]: smtp[ to=< TLS connection established to ",
    b"Dec  2 16:25:06 mail postfix/smtp[999]: 192.0.2.9[192.0.2.9]:25: Matched DANE EE certificate at depth 0",
    b"", b"7", b"123", b"1234 digits first", b"12a", b"Dec", b"De",
    b"y" * 300,
    b"2026-12-02T16:25:06.123456+00:00 mail postfix/smtp[999]: " + VERDICT.encode(),
    b"2026-13-02T16:25:06+00:00 mail postfix/smtp[999]: " + VERDICT.encode(),
]


def real_logs():
    """The committed real logs, and the 3.7 one rewritten as RFC 3339 syslog and journalctl -o short-iso."""
    texts = [(FIXTURES / name).read_bytes() for name in ("postfix37-loopback.log", "postfix311-forky.log",
                                                         "postfix311-documented.log")]
    stamp = re.compile(rb"^Dec  2 (\d\d:\d\d:\d\d)", re.M)
    texts.append(stamp.sub(rb"2026-12-02T\1.000123+00:00", texts[0]))
    texts.append(stamp.sub(rb"2026-12-02T\1+0000", texts[0]))
    return texts


def answer(reader, counts):
    destinations = [report(name, log, policy_for(name, {}, "may", "s"), propose(name, log, policy_for(
        name, {}, "may", "s"), 1, 0)) for name, log in sorted(reader.destinations.items())]
    return counts, destinations, reader.verdict_lines, reader.overflow, reader.window()


def both(data, chunk, **options):
    slow, fast = LogReader(local_zone=timezone.utc, **options), LogReader(local_zone=timezone.utc, **options)
    slow_counts = slow.read(maillog_files.lines_of(io.BytesIO(data), chunk), REFERENCE)
    fast_counts = fast.read_blocks(maillog_files.blocks_of(io.BytesIO(data), chunk), REFERENCE)
    return answer(slow, slow_counts), answer(fast, fast_counts)


@pytest.mark.parametrize("chunk", [7, 100, 4096, 1 << 20])
def test_the_real_logs_give_the_same_answer(chunk):
    for text in real_logs():
        slow, fast = both(text, chunk)
        assert fast == slow
        assert slow[0][1] == 0 and slow[1]  # read whole, with destinations


@pytest.mark.parametrize("seed", range(12))
def test_hostile_lines_mixed_into_the_real_logs_give_the_same_answer(monkeypatch, seed):
    monkeypatch.setattr(maillog_files, "MAX_LINE", 200)  # the 300-byte line and some real ones are overlong
    rng = random.Random(seed)
    lines = b"".join(real_logs()).split(b"\n")
    for _number in range(40):
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(HOSTILE))
    data = b"\n".join(lines) + rng.choice((b"", b"\n", b"\r\n", b"tail without newline"))
    for chunk in (1, 13, 199, 201, 1024, 1 << 20):
        slow, fast = both(data, chunk, since=datetime(2026, 1, 1, tzinfo=timezone.utc) if seed % 2 else None)
        assert fast == slow, (seed, chunk)
        assert slow[0][1] > 0  # the hostile lines were counted as skipped


def test_no_hostile_line_counts_as_evidence():
    """Only the real log's own lines are evidence: with every hostile line added, each destination of the
    log has what the log alone gives it (plain.example stays plaintext; the lines with a bad start or
    bytes that are not text add nothing)."""
    real = real_logs()[0]
    alone, _fast = both(real, 1 << 20)
    mixed, fast = both(real + b"\n".join(HOSTILE[:10]) + b"\n", 1 << 20)
    assert mixed == fast
    assert dict((item["destination"], item["outcomes"]) for item in mixed[1]) == dict(
        (item["destination"], item["outcomes"]) for item in alone[1])


def test_a_clean_block_is_scanned_not_read_line_by_line(monkeypatch):
    """The fast path is the one taken for an ordinary log (ASCII, LF)."""
    def refuse(self, lines, reference):
        raise AssertionError("read line by line")
    monkeypatch.setattr(LogReader, "read", refuse)
    reader = LogReader(local_zone=timezone.utc)
    counts = reader.read_blocks(maillog_files.blocks_of(io.BytesIO(real_logs()[0])), REFERENCE)
    assert counts == (109, 0) and reader.destinations["verified.example"].outcomes["verified"] == 3


def test_blocks_are_whole_lines_and_overlong_ones_are_marked(monkeypatch):
    monkeypatch.setattr(maillog_files, "MAX_LINE", 64)
    data = b"short one\n" + b"y" * 500 + b"\nafter it\n" + b"z" * 70 + b"\nlast without newline"
    for chunk in (1, 7, 16, 64, 65, 1 << 20):
        blocks = list(maillog_files.blocks_of(io.BytesIO(data), chunk))
        assert b"\n".join(blocks).split(b"\n") == list(maillog_files.lines_of(io.BytesIO(data), chunk)) == [
            b"short one", b"\xff overlong", b"after it", b"\xff overlong", b"last without newline"], chunk
