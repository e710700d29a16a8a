"""Benchmark: what one hostile deferral line costs the advisor's reader. Prints figures; never run by tests.

A remote server chooses the reply Postfix logs in a deferral's text. Each row is one delivery line
of about 64 KiB (host.maillog_files.MAX_LINE), read line by line and in blocks; the figure is
milliseconds per line. Regexes that backtrack on such a text (a quadratic "tls.*failed") show up
here as seconds.

    .venv/bin/python tests/bench/hostile_text_bench.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / ".cache" / "collections"))

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host import maillog_files  # noqa: E402
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.delivery_log import LogReader  # noqa: E402

LINE = (b"Dec  2 16:25:06 mail postfix/smtp[999]: ABCDE12345: to=<a@example.com>, relay=mx.example.com"
        b"[192.0.2.1]:25, delay=1, delays=1/0/0/0, dsn=4.7.0, status=deferred (%s)")
SIZE = maillog_files.MAX_LINE - len(LINE)
TEXTS = {
    "reply of 'tls '": b"host mx.example.com[192.0.2.1] said: 450 " + b"tls " * (SIZE // 4 - 20),
    "'tls ' after connect": b"connect to mx.example.com[192.0.2.1]:25: " + b"tls " * (SIZE // 4 - 20),
    "one 64 KiB word": b"x" * (SIZE - 10),
    "dotted 'a.a.a'": b"a." * (SIZE // 2 - 10),
    "'name=' repeated": b"name=" * (SIZE // 5 - 10),
    "'[' repeated": b"[" * (SIZE - 10),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    reference = datetime(2026, 12, 31, tzinfo=timezone.utc)
    print("%-22s %12s %12s" % ("hostile text", "lines ms", "blocks ms"))
    for name, text in TEXTS.items():
        data = LINE % text + b"\n"
        figures = []
        for fast in (False, True):
            best = None
            for _run in range(args.repeat):
                reader = LogReader(local_zone=timezone.utc)
                start = time.perf_counter()
                if fast:
                    reader.read_blocks(maillog_files.blocks_of(io.BytesIO(data)), reference)
                else:
                    reader.read(maillog_files.lines_of(io.BytesIO(data)), reference)
                took = time.perf_counter() - start
                best = took if best is None else min(best, took)
            figures.append(best * 1000)
        print("%-22s %12.1f %12.1f" % (name, figures[0], figures[1]))


if __name__ == "__main__":
    main()
