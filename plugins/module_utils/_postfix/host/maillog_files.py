# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mail log as a stream of raw lines: files (rotated, gzip) or the journal (private).

Never more than one line in memory: a line longer than ``MAX_LINE`` is cut, and the rest of it
dropped, and counted as skipped. A log is opened without following a symbolic link and without
blocking on a FIFO; neither is read.
"""

from __future__ import annotations

import errno
import gzip
import os
import re
import shutil
import stat
import subprocess
import zlib
from datetime import datetime, timezone

from ..core.errors import ConfigError, InputError

MAX_LINE = 65536
DEFAULT_LOG = "/var/log/mail.log"
# Rotated siblings: logrotate's .1, .2.gz; postfix logrotate's .YYYYMMDD-HHMMSS(.gz) (postconf(5), maillog_file_rotate_suffix).
_ROTATED = re.compile(r"\.(?:(?P<number>\d{1,4})|(?P<stamp>\d{8}(?:-\d{6})?))(?:\.gz)?")
JOURNAL_IDENTIFIERS = ("postfix/smtp", "postfix/lmtp")


def rotated_family(path):
    """``path``'s rotated siblings, oldest first, then ``path`` itself (when they exist)."""
    directory, base = os.path.split(path)
    try:
        names = os.listdir(directory or ".")
    except OSError:
        names = []
    dated, numbered = [], []
    for name in names:
        if not name.startswith(base + "."):
            continue
        match = _ROTATED.fullmatch(name[len(base):])
        if not match:
            continue
        if match.group("number") is not None:
            numbered.append((-int(match.group("number")), name))
        else:
            dated.append((match.group("stamp"), name))
    family = [os.path.join(directory, name) for _key, name in sorted(dated) + sorted(numbered)]
    return family + ([path] if os.path.lexists(path) else [])


def open_log(path, where):
    """A binary stream of the regular file ``path`` (gunzipped when it ends in .gz) and its mtime.

    ``where`` names the option in errors: a link, FIFO, device or directory is refused.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise InputError(where, "%s is a symbolic link; give the file it points to" % path)
        raise InputError(where, "cannot read %s: %s" % (path, exc.strerror))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InputError(where, "%s is not a regular file (a FIFO, device or directory is never read)" % path)
    handle = os.fdopen(fd, "rb")
    mtime = datetime.fromtimestamp(info.st_mtime, timezone.utc)
    if path.endswith(".gz"):
        return gzip.GzipFile(fileobj=handle, mode="rb"), handle, mtime
    return handle, handle, mtime


def lines_of(stream, chunk=1 << 20):
    """Each line of a binary stream, read a MiB at a time; a line over ``MAX_LINE`` bytes is dropped,
    and yields ``b"\xff overlong"`` in its place (skipped as not UTF-8). Memory: a chunk and a line."""
    rest, overlong = b"", False
    while True:
        data = stream.read(chunk)
        if not data:
            break
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        if overlong and lines:
            lines[0], overlong = b"\xff overlong", False  # the end of a line dropped before
        if lines and max(map(len, lines)) > MAX_LINE:  # checked in C; the loop only when one is too long
            lines = [b"\xff overlong" if len(line) > MAX_LINE else line for line in lines]
        yield from lines
        if len(rest) > MAX_LINE:
            rest, overlong = b"", True  # the rest of this line is dropped as it comes
    if rest or overlong:
        yield b"\xff overlong" if overlong or len(rest) > MAX_LINE else rest


def blocks_of(stream, chunk=1 << 20):
    """The lines of a binary stream as ``lines_of`` gives them, joined back into blocks of whole lines
    (``b"\n"`` between lines, none after the last), a MiB at a time: the reader scans a block in C and
    looks at few of its lines one by one (plan.delivery_log.LogReader.read_blocks)."""
    rest, overlong = b"", False
    while True:
        data = stream.read(chunk)
        if not data:
            break
        cut = data.rfind(b"\n")
        if cut < 0:  # no line ends in this chunk
            rest += data
            if len(rest) > MAX_LINE:
                rest, overlong = b"", True
            continue
        block, rest = rest + data[:cut], data[cut + 1:]
        if overlong:  # the end of a line dropped before
            end = block.find(b"\n")
            block, overlong = b"\xff overlong" + (block[end:] if end >= 0 else b""), False
        if _may_hold_overlong(block):
            block = b"\n".join(b"\xff overlong" if len(line) > MAX_LINE else line for line in block.split(b"\n"))
        yield block
        if len(rest) > MAX_LINE:
            rest, overlong = b"", True
    if rest or overlong:
        yield b"\xff overlong" if overlong or len(rest) > MAX_LINE else rest


def _may_hold_overlong(block):
    """False when no line of ``block`` is longer than ``MAX_LINE``: a line that long holds a whole aligned
    window of ``MAX_LINE // 2`` bytes without a newline, and a window is checked by one find in C."""
    step = max(MAX_LINE // 2, 1)
    return any(block.find(b"\n", start, start + step) < 0 for start in range(0, len(block) - step + 1, step))


def read_file(reader, path, where):
    """Feed one log file to ``reader`` (plan.delivery_log.LogReader); its {path, lines, skipped}."""
    stream, raw_handle, mtime = open_log(path, where)
    try:
        try:
            lines, skipped = reader.read_blocks(blocks_of(stream), mtime)
        except (OSError, EOFError, zlib.error) as exc:  # a damaged deflate stream is zlib.error, not OSError
            raise ConfigError("%s: cannot read %s: %s" % (where, path, exc), path=path)
    finally:
        stream.close()
        raw_handle.close()
    return {"path": path, "lines": lines, "skipped": skipped}


def journal_available():
    return shutil.which("journalctl") is not None


def read_journal(reader, identifiers=JOURNAL_IDENTIFIERS, since=None):
    """Feed the journal's SMTP client lines (``journalctl -o short-iso``) to ``reader``, streamed."""
    argv = ["journalctl", "-o", "short-iso", "--no-pager", "-q"]
    for identifier in identifiers:
        argv += ["-t", identifier]
    if since is not None:
        argv += ["--since", since.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        lines, skipped = reader.read_blocks(blocks_of(proc.stdout), datetime.now(timezone.utc))
    finally:
        proc.stdout.close()
        proc.wait()
    return {"path": "journal:" + ",".join(identifiers), "lines": lines, "skipped": skipped}


def local_zone():
    """The zone traditional syslog dates are written in: this host's (its current offset)."""
    return datetime.now().astimezone().tzinfo


def mx_hosts(domain, timeout=10):
    """The MX host names of ``domain`` as the host's resolver gives them (``dig``), or None if unknown."""
    dig = shutil.which("dig")
    if dig is None or not re.fullmatch(r"[A-Za-z0-9._-]+", domain):
        return None
    try:
        proc = subprocess.run([dig, "+short", "+time=%d" % timeout, "MX", domain], capture_output=True,
                              text=True, timeout=timeout * 3, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    hosts = [line.split()[-1].rstrip(".").lower() for line in proc.stdout.splitlines() if len(line.split()) == 2]
    return hosts or None
