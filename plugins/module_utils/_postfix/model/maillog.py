# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Postfix's mail log, one line at a time: the SMTP client's TLS verdicts and deliveries (private).

Pure: bytes in, events out. Four line formats carry the same message:

- traditional syslog, ``Dec  2 15:48:43 host postfix/smtp[123]: ...`` (no year: the caller gives a
  reference time, and a date after it is taken as last year's);
- RFC 3339 syslog, ``2026-12-02T15:48:43.123456+00:00 host postfix/smtp[123]: ...``;
- Postfix's own ``maillog_file`` (postlog, Postfix 3.4 and later), which writes the traditional
  form (``postconf(5)``, maillog_file);
- ``journalctl -o short-iso``, ``2026-12-02T15:48:43+0000 host postfix/smtp[123]: ...``.

Only the SMTP (or LMTP) client's own lines are evidence: the program must be exactly
``<syslog_name>/smtp`` or ``<syslog_name>/lmtp`` with a process id, and a TLS verdict must start
the message. Text the sender, the recipient or a remote server chose (a subject logged by
header_checks, a quoted local part, a server's reply) can never make a line a verdict: the
recipient is read as an address (quoted strings kept whole), and the fields after it are
Postfix's own.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta, timezone

MONTHS = dict((name, number) for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1))
# The TLS_README's four verdicts of a completed handshake (smtp_tls_loglevel >= 1).
VERDICTS = ("verified", "trusted", "untrusted", "anonymous")
_PROGRAM = r"(?P<program>(?P<syslog_name>[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*)/(?P<service>smtp|lmtp))\[(?P<pid>\d{1,10})\]: "
_TRADITIONAL = re.compile(r"(?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]\d) (?P<time>\d\d:\d\d:\d\d)(?:\.\d+)? (?P<host>\S+) "
                          + _PROGRAM)
_ISO = re.compile(r"(?P<stamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?)(?P<zone>Z|[+-]\d\d:?\d\d) (?P<host>\S+) "
                  + _PROGRAM)
# Any program's line, as far as its program: a line of another program is read (never evidence), not garbage.
_ANY_PROGRAM = re.compile(r"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\dT\S+) \S+ "
                          r"(?P<program>[^\s\[:]+)(?:\[\d{1,10}\])?: ")
_ENDPOINT = r"(?P<host>[A-Za-z0-9._-]*)\[(?P<addr>[0-9A-Fa-f.:]+)\]:(?P<port>\d{1,5})"
_TLS = re.compile(r"(?P<verdict>Verified|Trusted|Untrusted|Anonymous) TLS connection established to " + _ENDPOINT
                  + r": (?P<protocol>[A-Za-z0-9.]+) with cipher (?P<cipher>[A-Za-z0-9_.-]+) \((?P<bits>\d+/\d+) bits\)")
# tls_dane_log() (src/tls/tls_dane.c): "host[addr]:port: Matched DANE EE certificate at depth 0: 3 1 1 ..."
_DANE = re.compile(_ENDPOINT + r": Matched DANE ")
# A recipient as Postfix logs it: quoted strings whole (they may hold ">" or ", relay="), nothing else with <>".
_ADDRESS = r'(?:"(?:[^"\\]|\\.)*"|[^"<>\\])*'
_DELIVERY = re.compile(
    r"(?P<queue_id>[0-9A-Za-z]{5,20}): to=<(?P<rcpt>" + _ADDRESS + r")>, (?:orig_to=<" + _ADDRESS + r">, )?"
    r"relay=(?P<relay>none|[A-Za-z0-9._-]*\[[0-9A-Fa-f.:]+\]:\d{1,5}|[A-Za-z0-9._-]+), "
    r"(?:conn_use=(?P<conn_use>\d+), )?delay=[\d.]+, delays=[\d./]+, (?:tls=(?P<tls>[A-Za-z0-9_./:?!=+-]+), )?"
    r"dsn=\d\.\d{1,3}\.\d{1,3}, status=(?P<status>sent|deferred|bounced|expired|undeliverable) \((?P<text>.*)\)")
# A deferral or bounce whose reason is TLS (src/smtp/smtp_proto.c, smtp_connect.c, tls_client.c wordings).
TLS_FAILURE = re.compile(r"TLS is required, but|Cannot start TLS|Server certificate not (verified|trusted)"
                         r"|certificate verification failed|not trusted|TLS handshake|handshake failure"
                         r"|STARTTLS|TLSA|DANE|SSL_connect|no usable TLSA"
                         r"|non DNSSEC destination", re.I)  # and "tls" before "failed"; the last: dane-only, unsigned
# What others chose in a deferral's text, never TLS evidence: the remote server's reply or banner (after
# "said:", "refused to talk to me:", "refused to start TLS:", to the end) and every host or domain name
# (before "[addr]", after "name=" or "mail for ", any dotted name): the domain's owner picks them.
_REMOTE_REPLY = re.compile(r"(?: said| refused to talk to me| refused to start TLS): .*", re.S)
# Each name is tried from its first character only (the look-behinds): linear in a long text, never quadratic.
_NAMES = re.compile(r"(?<![^\s\[\]])[^\s\[\]]+(?=\[)|(?<=name=)\S+|(?<=mail for )\S+"
                    r"|(?<![A-Za-z0-9_.-])[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+")
# Postfix 3.11's tls= field (postconf(5), smtp_log_tls_feature_status), as real 3.11.7 logs it
# (tests/unit/fixtures/maillog/postfix311-forky.log): the level, ``:none`` when the connection had
# no TLS after all (``may:none``), a ``!`` before a level the delivery failed to meet (``!encrypt``).
_TLS_FIELD = re.compile(r"(?P<failed>!?)(?P<level>[a-z-]+)(?::(?P<reached>[a-z-]+))?(?P<rest>.*)")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_DOMAIN = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f.:]+\]")


class Line(object):
    """One SMTP-client line: when, which program and process, and the message."""

    __slots__ = ("when", "syslog_name", "service", "pid", "message")

    def __init__(self, when, syslog_name, service, pid, message):
        self.when, self.syslog_name, self.service, self.pid, self.message = when, syslog_name, service, pid, message


class Tls(object):
    """A TLS verdict of one connection: ``endpoint`` is ``host[addr]:port``."""

    __slots__ = ("verdict", "endpoint", "host", "protocol", "cipher", "dane", "not_verify")

    def __init__(self, verdict, endpoint, host, protocol, cipher, dane=False):
        self.verdict, self.endpoint, self.host = verdict, endpoint, host
        self.protocol, self.cipher, self.dane, self.not_verify = protocol, cipher, dane, False


class Delivery(object):
    """One recipient's delivery line."""

    __slots__ = ("queue_id", "domain", "relay", "host", "conn_use", "tls_field", "status", "text")

    def __init__(self, queue_id, domain, relay, host, conn_use, tls_field, status, text):
        self.queue_id, self.domain, self.relay, self.host = queue_id, domain, relay, host
        self.conn_use, self.tls_field, self.status, self.text = conn_use, tls_field, status, text


class Dane(object):
    """A DANE match of the connection to ``endpoint`` (logged before its verdict)."""

    __slots__ = ("endpoint",)

    def __init__(self, endpoint):
        self.endpoint = endpoint


def decode(raw):
    """A log line's text, or None when it is not UTF-8 (or holds a NUL): such a line is skipped."""
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    text = text.rstrip("\r\n")
    if "\x00" in text or "\n" in text or "\r" in text:
        return None
    return text


def parse_line(text, reference, local_zone):
    """The SMTP client's ``Line`` in ``text``, or None for any other program's line or garbage.

    ``reference``: an aware datetime no traditional line can be later than (the file's mtime); a
    traditional date after it belongs to the year before. ``local_zone``: the zone of those dates.
    """
    match = _ISO.match(text) if text[:1].isdigit() else _TRADITIONAL.match(text)
    if not match:
        return None
    found = match.groups()  # one call: named groups one by one cost a fifth of the reading
    if len(found) == 7:
        stamp, zone, _host, _program, syslog_name, service, pid = found
        when = iso_time(stamp, zone)
    else:
        month, day, clock, _host, _program, syslog_name, service, pid = found
        when = traditional_time(month, day, clock, reference, local_zone)
    if when is None:
        return None
    return Line(when, syslog_name, service, int(pid), text[match.end():])


def other_program(text):
    """Whether ``text`` is a log line of a program other than an SMTP (or LMTP) client, such as
    postfix/cleanup logging a Subject that holds "/smtp[": read, never evidence, and no garbage."""
    match = _ANY_PROGRAM.match(text)
    return bool(match) and not match.group("program").endswith(("/smtp", "/lmtp"))


def iso_time(stamp, zone):
    if zone == "Z":
        zone = "+00:00"
    elif ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    whole, _dot, fraction = stamp.partition(".")
    if fraction:  # Python before 3.11 takes exactly 3 or 6 digits
        whole += "." + (fraction + "00000")[:6]
    try:
        when = datetime.fromisoformat(whole + zone)
        if when.year in (1, 9999):  # the calendar's edges: its UTC time (printed) may fall outside it
            when.astimezone(timezone.utc)
        return when
    except (ValueError, OverflowError):
        return None


@functools.lru_cache(maxsize=4096)  # a connection's verdict and deliveries come in the same second: each once
def traditional_time(month, day, clock, reference, local_zone):
    """A traditional syslog date in ``local_zone``, its year the latest that is not after ``reference``."""
    midnight = _midnight(month, day, reference, local_zone)
    if midnight is None:
        return None
    hour, minute, second = int(clock[0:2]), int(clock[3:5]), int(clock[6:8])
    if hour > 23 or minute > 59 or second > 59:
        return None
    return midnight.replace(hour=hour, minute=minute, second=second)


@functools.lru_cache(maxsize=64)  # a log's lines come many to the day: each day is worked out once
def _midnight(month, day, reference, local_zone):
    number = MONTHS.get(month)
    if number is None:
        return None
    try:
        when = datetime(reference.year, number, int(day), tzinfo=local_zone)
        if when > reference + timedelta(days=1):  # a day's slack: zones and clocks differ a little
            when = when.replace(year=reference.year - 1)
    except ValueError:
        return None  # 30 Feb, 29 Feb of a common year
    return when


def parse_message(message):
    """A ``Tls``, ``Dane`` or ``Delivery`` from an SMTP-client message, or None (anything else)."""
    if message.endswith("bits)") or " bits) " in message:
        match = _TLS.match(message)
        if match:
            endpoint = "%s[%s]:%s" % (match.group("host"), match.group("addr"), match.group("port"))
            return Tls(match.group("verdict").lower(), endpoint, match.group("host").lower(),
                       match.group("protocol"), match.group("cipher"))
    if "to=<" in message:
        return delivery(message)
    if ": Matched DANE " in message:
        match = _DANE.match(message)
        if match:
            return Dane("%s[%s]:%s" % (match.group("host"), match.group("addr"), match.group("port")))
    return None


def delivery(message):
    match = _DELIVERY.fullmatch(message)
    if not match:
        return None
    queue_id, rcpt, relay, conn_use, tls, status, text = match.groups()
    host = relay.split("[", 1)[0].lower() if "[" in relay else None
    return Delivery(queue_id, recipient_domain(rcpt), relay if host is not None else None, host,
                    int(conn_use) if conn_use else None, tls, status, text)


def recipient_domain(address):
    """The domain after the last ``@`` outside a quoted string, lower case; None without one."""
    unquoted = _QUOTED.sub('""', address) if '"' in address else address
    local, at, domain = unquoted.rpartition("@")
    if not at or not domain or not _DOMAIN.fullmatch(domain):
        return None
    return domain.lower().rstrip(".")


def tls_field_level(field):
    """The security level of a Postfix 3.11 ``tls=`` field, or None."""
    if not field:
        return None  # Postfix before 3.11: no field
    match = _TLS_FIELD.match(field)
    return match.group("level") if match else None


def tls_field_plaintext(field):
    """True when a Postfix 3.11 ``tls=`` field says the connection had no TLS (``may:none``)."""
    if not field:
        return False
    match = _TLS_FIELD.match(field)
    return bool(match and match.group("reached") == "none")


def is_tls_failure(text):
    """Whether Postfix's own words in a deferral's text name TLS (the remote reply and the names left out)."""
    own = _NAMES.sub("_", _REMOTE_REPLY.sub(":", text))
    if TLS_FAILURE.search(own):
        return True
    lower = own.lower()  # "tls.*failed" as a regex is quadratic in a text of many "tls"
    first = lower.find("tls")
    return first >= 0 and lower.rfind("failed") >= first + 3


def utc_text(when):
    return when.astimezone(timezone.utc).isoformat()
