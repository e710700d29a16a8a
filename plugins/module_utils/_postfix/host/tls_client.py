# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""openssl s_client against this host's own listeners, in parallel, each with a timeout (private).

Each probe is one ``openssl s_client`` process waiting on the network, not on a core: they run
in threads. s_client has no timeout of its own, so each process is killed at its deadline.
"""

from __future__ import annotations

import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor

from ..core.errors import CommandError
from ..model.served_tls import ehlo_offers_starttls, parse_s_client
from .commands import C_LOCALE

# s_client processes at once: each waits on a socket.
CLIENT_WORKERS = 8
# What is read of a reply at most: lines of a few hundred bytes, a greeting or EHLO reply of a few lines.
_MAX_LINE, _MAX_LINES = 4096, 200


def _target(address, port):
    return "[%s]:%d" % (address, port) if ":" in address else "%s:%d" % (address, port)


def _problem(stderr):
    """s_client's own reason for a failed handshake: its first ``error:`` or ``connect:`` line."""
    for line in stderr.split("\n"):
        if "connect:errno=" in line or ":error:" in line or line.startswith("connect"):
            reason = line.rsplit(":error:", 1)[-1] if ":error:" in line else line
            return reason.strip()[:200]
    return None


class TlsClient(object):
    """``openssl`` (a path) run as a TLS client of one host's SMTP listeners."""

    def __init__(self, openssl, timeout, environ):
        if not openssl:
            raise CommandError("openssl not found in PATH; install the package 'openssl'")
        self.openssl, self.timeout = openssl, timeout
        self.environ = dict(environ, **C_LOCALE)

    def probe(self, address, port, wrapper, extra=()):
        """One handshake: {established, protocol, cipher, chain, starttls, error}."""
        argv = [self.openssl, "s_client", "-connect", _target(address, port), "-showcerts"]
        if not wrapper:
            argv += ["-starttls", "smtp"]
        argv += list(extra)
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=self.timeout,
                                  env=self.environ, check=False)
        except subprocess.TimeoutExpired:
            return {"established": False, "protocol": None, "cipher": None, "chain": [], "starttls": None,
                    "error": "no TLS answer within %d s" % self.timeout}
        out = done.stdout.decode("utf-8", "replace")
        err = done.stderr.decode("utf-8", "replace")
        found = parse_s_client(out)
        found["error"] = None if found["established"] else (_problem(err) or "no TLS session")
        return found

    def offers_starttls(self, address, port):
        """Whether the listener's EHLO reply offers STARTTLS (None: no SMTP answer within the timeout)."""
        try:
            with socket.create_connection((address, port), timeout=self.timeout) as connection:
                reader = connection.makefile("rb")
                if not _reply(reader).startswith("220"):
                    return None
                connection.sendall(b"EHLO posture.mailtls.invalid\r\n")
                reply = _reply(reader)
                connection.sendall(b"QUIT\r\n")
                return ehlo_offers_starttls(reply)
        except (OSError, ValueError):
            return None

    def run_all(self, calls):
        """Each call ``(method name, args)`` at once, in threads; the results in call order."""
        if not calls:
            return []
        with ThreadPoolExecutor(max_workers=min(CLIENT_WORKERS, len(calls))) as pool:
            return list(pool.map(lambda call: getattr(self, call[0])(*call[1]), calls))


def _reply(reader):
    """One SMTP reply, its lines joined by newlines: up to the line whose code is followed by a space."""
    lines = []
    while len(lines) < _MAX_LINES:
        line = reader.readline(_MAX_LINE).decode("utf-8", "replace").rstrip("\r\n")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            break
    return "\n".join(lines)
