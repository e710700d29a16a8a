# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the SMTP client's log says per destination, gathered line by line in bounded memory (private).

A delivery line is paired with the TLS verdict its own process logged for the same relay
(``host[addr]:port``) just before, as Postfix logs one connection's handshake and then its
deliveries (TLS_README, smtp_tls_loglevel). A delivery over a reused connection (``conn_use=N``,
N > 1) was handshaken in another delivery, possibly by another process: its TLS state is
``unknown``, never TLS. A delivery with no verdict on its connection is ``plaintext`` (or
``unknown`` when the caller knows the verdicts are logged elsewhere, by tlsproxy).
"""

from __future__ import annotations

import re
from collections import OrderedDict

from ..model.maillog import (MONTHS, VERDICTS, Dane, Delivery, Tls, decode, is_tls_failure, other_program, parse_line,
                             parse_message, tls_field_level, tls_field_plaintext, utc_text)

OUTCOMES = VERDICTS + ("plaintext", "unknown")
MAX_PROCESSES = 4096       # SMTP client processes remembered at once (a process handles one delivery at a time)
MAX_DESTINATIONS = 20000   # about 2 KiB each; beyond: counted in ``overflow``, never kept
MAX_MX_HOSTS = 64
MAX_NAMES = 32             # protocols, ciphers per destination
MAX_SAMPLES = 3
MAX_SAMPLE_CHARS = 300
DANE_FIELD = "field"  # a Tls's ``dane`` when Postfix 3.11's tls= field said so (certain), not a "Matched DANE" line
_MONTHS = frozenset(name.encode() for name in MONTHS)
# A line that starts with neither a month (traditional syslog) nor four digits (RFC 3339, journal): after
# each newline, what ``raw[:3] not in _MONTHS and not raw[:4].isdigit()`` says of the line (a line of
# one to three digits is digits too).
_BAD_START = re.compile(b"\n(?!%s|[0-9]{4}|[0-9]{1,3}(?![^\n]))" % b"|".join(sorted(_MONTHS)))


def new_outcomes():
    return dict((name, 0) for name in OUTCOMES)


class DestinationLog(object):
    """The evidence for one destination."""

    __slots__ = ("deliveries", "outcomes", "dane", "dane_field", "verified_elsewhere", "mx_hosts", "protocols",
                 "ciphers", "first", "last", "tls_deferrals", "samples", "plaintext_after_tls", "seen_tls", "attempts")

    def __init__(self):
        self.deliveries, self.outcomes, self.dane, self.dane_field, self.mx_hosts = 0, new_outcomes(), 0, 0, {}
        self.verified_elsewhere = 0  # Verified deliveries 3.11's tls= field puts under a level other than verify
        self.protocols, self.ciphers, self.first, self.last = {}, {}, None, None
        self.tls_deferrals, self.samples, self.plaintext_after_tls, self.seen_tls, self.attempts = 0, [], 0, False, 0

    def seen(self, when):
        if self.first is None or when < self.first:
            self.first = when
        if self.last is None or when > self.last:
            self.last = when

    def sent(self, host, outcome, tls):
        self.deliveries += 1
        self.outcomes[outcome] += 1
        if host:
            mx = self.mx_hosts.get(host)
            if mx is None:
                if len(self.mx_hosts) >= MAX_MX_HOSTS:
                    host = "(other)"
                mx = self.mx_hosts.get(host) or self.mx_hosts.setdefault(host, [0, new_outcomes()])
            mx[0] += 1
            mx[1][outcome] += 1
        if tls is not None:
            self.seen_tls = True
            if tls.dane:
                self.dane += 1
                self.dane_field += 1 if tls.dane == DANE_FIELD else 0
            if tls.not_verify:
                self.verified_elsewhere += 1
            protocols, ciphers = self.protocols, self.ciphers
            if tls.protocol in protocols:
                protocols[tls.protocol] += 1
            else:
                count(protocols, tls.protocol)
            if tls.cipher in ciphers:
                ciphers[tls.cipher] += 1
            else:
                count(ciphers, tls.cipher)
        elif outcome == "plaintext" and self.seen_tls:
            self.plaintext_after_tls += 1

    def failed(self, text):
        self.tls_deferrals += 1
        if len(self.samples) < MAX_SAMPLES:
            sample = " ".join(text.split())[:MAX_SAMPLE_CHARS]
            if sample not in self.samples:
                self.samples.append(sample)

    def merge(self, other):
        """Add ``other``'s evidence (two recipient domains behind one next hop)."""
        self.deliveries += other.deliveries
        self.dane += other.dane
        self.dane_field += other.dane_field
        self.verified_elsewhere += other.verified_elsewhere
        self.tls_deferrals += other.tls_deferrals
        self.attempts += other.attempts
        self.plaintext_after_tls += other.plaintext_after_tls
        self.seen_tls = self.seen_tls or other.seen_tls
        for name in OUTCOMES:
            self.outcomes[name] += other.outcomes[name]
        for host, (number, outcomes) in other.mx_hosts.items():
            mx = self.mx_hosts.setdefault(host, [0, new_outcomes()])
            mx[0] += number
            for name in OUTCOMES:
                mx[1][name] += outcomes[name]
        for mine, theirs in ((self.protocols, other.protocols), (self.ciphers, other.ciphers)):
            for name, number in theirs.items():
                count(mine, name, number)
        for when in (other.first, other.last):
            if when is not None:
                self.seen(when)
        for sample in other.samples:
            if len(self.samples) < MAX_SAMPLES and sample not in self.samples:
                self.samples.append(sample)


def count(counter, name, number=1):
    if name not in counter and len(counter) >= MAX_NAMES:
        name = "(other)"
    counter[name] = counter.get(name, 0) + number


class _Connection(object):
    __slots__ = ("tls", "queue_id")

    def __init__(self, tls):
        self.tls, self.queue_id = tls, None


class LogReader(object):
    """Feed it a log's lines, oldest first; ``destinations`` holds the evidence by recipient domain.

    ``since``/``until``: aware datetimes or None. ``missing_tls``: what a delivery without a
    verdict counts as (``plaintext``, or ``unknown`` when verdicts are logged by tlsproxy).
    """

    def __init__(self, since=None, until=None, missing_tls="plaintext", local_zone=None):
        self.since, self.until, self.missing_tls, self.local_zone = since, until, missing_tls, local_zone
        self.destinations, self.overflow, self.verdict_lines = {}, 0, 0
        self._connections, self._dane = OrderedDict(), OrderedDict()
        self.first = self.last = None

    def read(self, lines, reference):
        """Read an iterable of raw lines (bytes) of one file; return (lines, skipped).

        ``skipped``: lines that are not UTF-8 text or not log lines at all (garbage). Other
        programs' lines and the client's other messages are read, not skipped. ``reference``:
        an aware datetime no line is later than (the file's mtime), for traditional dates' year.
        """
        total = skipped = 0
        since, until, zone, line_of = self.since, self.until, self.local_zone, self.line
        for total, raw in enumerate(lines, 1):
            if raw.isascii():
                if b"\x00" in raw:
                    skipped += 1
                    continue
            elif decode(raw) is None:
                skipped += 1
                continue
            if b"mtp[" not in raw or (b"/smtp[" not in raw and b"/lmtp[" not in raw):  # one scan for most lines
                if raw[:3] not in _MONTHS and not raw[:4].isdigit():
                    skipped += 1
                continue
            if b"to=<" not in raw and b"TLS connection established to " not in raw and b": Matched DANE " not in raw:
                continue  # the client's other messages: never evidence, not parsed
            text = decode(raw)  # None: a carriage return inside the line
            line = parse_line(text, reference, zone) if text is not None else None
            if line is None:
                skipped += text is None or not other_program(text)
                continue
            if (since and line.when < since) or (until and line.when > until):
                continue
            line_of(line)
        return total, skipped

    def read_blocks(self, blocks, reference):
        """``read`` for blocks of whole lines (host.maillog_files.blocks_of), the same answer, faster.

        A block that is ASCII without NUL or carriage return is scanned in C: its lines counted, the
        lines that start like no log line counted as skipped, and only the lines naming an SMTP client
        program looked at one by one (a fifth of a typical log). Any other block is read line by line.
        """
        total = skipped = 0
        for block in blocks:
            if not block.isascii() or b"\x00" in block or b"\r" in block:
                counts = self.read(block.split(b"\n"), reference)
            else:
                counts = self._scan(block, reference)
            total, skipped = total + counts[0], skipped + counts[1]
        return total, skipped

    def _scan(self, block, reference):
        """One clean block (ASCII, no NUL, no CR): (lines, skipped) as ``read`` counts them."""
        skipped = len(_BAD_START.findall(b"\n" + block))  # a line that starts like no log line
        since, until, zone, line_of, find = self.since, self.until, self.local_zone, self.line, block.find
        position = find(b"mtp[")
        while position >= 0:
            start, end = block.rfind(b"\n", 0, position) + 1, find(b"\n", position)
            end = len(block) if end < 0 else end
            position = find(b"mtp[", end)
            raw = block[start:end]
            if b"/smtp[" not in raw and b"/lmtp[" not in raw:
                continue
            bad_start = raw[:3] not in _MONTHS and not raw[:4].isdigit()
            if b"to=<" not in raw and b"TLS connection established to " not in raw and b": Matched DANE " not in raw:
                skipped -= bad_start  # ``read`` does not count a client line it does not parse
                continue
            if bad_start:
                continue  # counted above: ``parse_line`` would refuse it
            text = raw.decode("ascii")
            line = parse_line(text, reference, zone)
            if line is None:
                skipped += not other_program(text)
            elif not ((since and line.when < since) or (until and line.when > until)):
                line_of(line)
        return block.count(b"\n") + 1, skipped

    def line(self, line):
        event = parse_message(line.message)
        if event is None:
            return
        key = (line.syslog_name, line.pid)
        if isinstance(event, Delivery):  # the most frequent first
            self.delivery(key, line.when, event)
        elif isinstance(event, Tls):
            self.verdict_lines += 1
            event.dane = self._dane.pop(key, None) == event.endpoint
            remember(self._connections, key, _Connection(event))
        elif isinstance(event, Dane):
            connection = self._connections.get(key)
            if connection and connection.queue_id is None and connection.tls.endpoint == event.endpoint:
                connection.tls.dane = True
            else:
                remember(self._dane, key, event.endpoint)

    def delivery(self, key, when, event):
        if event.domain is None:
            return
        destination = self.destinations.get(event.domain)
        if destination is None:
            if len(self.destinations) >= MAX_DESTINATIONS:
                self.overflow += 1
                return
            destination = self.destinations[event.domain] = DestinationLog()
        destination.seen(when)
        self.first = when if self.first is None or when < self.first else self.first
        self.last = when if self.last is None or when > self.last else self.last
        # Every delivery line binds its connection's verdict to its message, sent or not: a later
        # message of the process on a new connection without a verdict must not inherit it.
        outcome, tls = self.outcome(key, event)
        if event.status != "sent":
            destination.attempts += 1
            if is_tls_failure(event.text):
                destination.failed(event.text)
            return
        destination.sent(event.host, outcome, tls)

    def outcome(self, key, event):
        """The TLS state of a sent delivery's connection: (outcome, Tls or None)."""
        if event.relay is None:
            return "unknown", None
        if tls_field_plaintext(event.tls_field):
            self._connections.pop(key, None)
            return "plaintext", None  # Postfix 3.11 says so itself: tls=may:none
        if event.conn_use is not None and event.conn_use > 1:
            return "unknown", None  # a cached connection: its handshake is another delivery's
        connection = self._connections.get(key)
        if connection and connection.tls.endpoint == event.relay and connection.queue_id in (None, event.queue_id):
            connection.queue_id = event.queue_id
            tls = connection.tls
            level = tls_field_level(event.tls_field)
            if tls.verdict == "verified" and level in ("dane", "dane-only"):
                tls.dane = DANE_FIELD  # Postfix 3.11: a Verified handshake at level dane is DANE's
            elif tls.verdict == "verified" and level is not None and level != "verify":
                tls.not_verify = True  # Postfix 3.11: Verified at fingerprint (or secure): no ground for secure
            return tls.verdict, tls
        self._connections.pop(key, None)
        return self.missing_tls, None

    def window(self):
        return {"since": utc_text(self.since) if self.since else None,
                "until": utc_text(self.until) if self.until else None,
                "first_line": utc_text(self.first) if self.first else None,
                "last_line": utc_text(self.last) if self.last else None}


def remember(table, key, value):
    """Bounded per-process memory: the oldest process is forgotten first."""
    table.pop(key, None)
    table[key] = value
    if len(table) > MAX_PROCESSES:
        table.popitem(last=False)
