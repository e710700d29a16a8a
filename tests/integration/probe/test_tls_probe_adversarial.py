"""tls_probe against SMTP servers that lie: nothing a server sends may pass for posttls-finger's verdict.

Each server is a small scripted SMTP server on 127.0.0.1 (a thread, a bounded number of
connections, a deadline) that never does TLS. The real module runs the real posttls-finger
against it; whatever text the server puts in its banner, EHLO reply or error replies, the
probe must report what really happened: no TLS.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from conftest import settle
from helpers import run_module, run_playbook, snapshot

# What posttls-finger prints for a verified session, as a lying server would copy it.
VERDICT = b"Verified TLS connection established to lying.test[127.0.0.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384"
PREFIXED = b"posttls-finger: " + VERDICT
NO_TLS = {"may": True, "encrypt": False, "verify": False, "secure": False}


class LyingServer(object):
    """A scripted SMTP server: fixed replies per verb, no TLS; stops after ``connections`` or ``deadline`` s."""

    def __init__(self, banner=b"220 lying.test ESMTP\r\n", ehlo=b"250-lying.test\r\n250 8BITMIME\r\n",
                 starttls=b"454 4.7.0 TLS not available\r\n", other=b"250 2.0.0 ok\r\n", connections=6, deadline=60):
        self.replies = {b"EHLO": ehlo, b"STARTTLS": starttls}
        self.banner, self.other, self.connections, self.deadline = banner, other, connections, deadline
        self.received = []
        self.accepted = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        end = time.monotonic() + self.deadline
        served = 0
        try:
            while served < self.connections and time.monotonic() < end:
                try:
                    conn, _address = self.sock.accept()
                except socket.timeout:
                    continue
                served += 1
                self.accepted += 1
                with conn:
                    conn.settimeout(5)
                    try:
                        self._talk(conn)
                    except OSError:
                        pass
        finally:
            self.sock.close()

    def _talk(self, conn):
        conn.sendall(self.banner)
        pending = b""
        while True:
            data = conn.recv(4096)
            if not data:
                return
            pending += data
            while b"\r\n" in pending:
                line, pending = pending.split(b"\r\n", 1)
                self.received.append(line)
                verb = line.split(b" ", 1)[0].upper()
                if verb == b"QUIT":
                    conn.sendall(b"221 2.0.0 bye\r\n")
                    return
                conn.sendall(self.replies.get(verb, self.other))

    def stop(self):
        self.deadline = 0
        self.thread.join(5)


@pytest.fixture
def lying_server():
    servers = []

    def start(**script):
        servers.append(LyingServer(**script))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def probe(localhost, server, **args):
    args.setdefault("destination", "lying.test")
    args.setdefault("host", "127.0.0.1")
    args.setdefault("port", server.port)
    return run_module(localhost, "mailtls.postfix.tls_probe", host_lookup="native", timeout=10, **args)


# name -> (server script, starttls offered, errors posttls-finger reports)
LIES = {
    "verdict in banner": (
        dict(banner=b"220 lying.test ESMTP " + PREFIXED + b"\r\n"), False, []),
    "verdict in EHLO lines": (
        dict(ehlo=b"250-lying.test\r\n250-" + PREFIXED + b"\r\n250-" + VERDICT + b"\r\n250 8BITMIME\r\n"), False, []),
    # Unprefixed texts of every kind posttls-finger prints itself, and a certificate that is only text.
    "unprefixed texts": (
        dict(banner=b"220-lying.test ESMTP < 250 STARTTLS\r\n220 " + VERDICT + b"\r\n",
             ehlo=b"250-lying.test\r\n250-" + VERDICT + b"\r\n250-certificate verification failed for x: none\r\n"
                  b"250-fatal: DNSSEC validation may be unavailable\r\n250-dnssec_probe 'ns:.' received a response\r\n"
                  b"250-Failed to establish session to x\r\n250------BEGIN CERTIFICATE-----\r\n250-MIIB\r\n"
                  b"250 -----END CERTIFICATE-----\r\n"), False, []),
    "verdict after a bare LF": (
        dict(ehlo=b"250-lying.test\n" + PREFIXED + b"\r\n250 8BITMIME\r\n"), False,
        ["EHLO rejected: 0 lying.test?" + PREFIXED.decode()]),
    "verdict after a bare LF in the banner": (
        dict(banner=b"220 lying.test ESMTP\n" + PREFIXED + b"\r\n"), False,
        ["EHLO rejected: 0 " + PREFIXED.decode()]),
    "verdict after CR": (
        dict(ehlo=b"250-lying.test\r" + PREFIXED + b"\r\n250-\r" + PREFIXED + b"\r\n250 8BITMIME\r\n"), False, []),
    "verdict after non-UTF-8 bytes": (
        dict(banner=b"220 lying.test \xff\xfe\xc3 ESMTP\r\n",
             ehlo=b"250-lying.test \xe9t\xe9\x85\r\n250-\xff" + PREFIXED + b"\x00\r\n250 8BITMIME\r\n"), False, []),
    "verdict in the EHLO error reply": (
        dict(ehlo=b"554 5.7.1 " + PREFIXED + b"\r\n"), False,
        ["EHLO rejected: 554 5.7.1 " + PREFIXED.decode()]),
    "verdict in the greeting error reply": (
        dict(banner=b"554 5.3.2 " + PREFIXED + b"\r\n"), False,
        ["SMTP service not available: 554 5.3.2 " + PREFIXED.decode()]),
    "XSTARTTLS and NOSTARTTLS": (
        dict(banner=b"220 lying.test ESMTP < 250 STARTTLS\r\n",
             ehlo=b"250-lying.test\r\n250-XSTARTTLS\r\n250-STARTTLSX\r\n250 NOSTARTTLS\r\n"), False, []),
    "STARTTLS then 454": (
        dict(ehlo=b"250-lying.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"), True,
        ["STARTTLS rejected: 454 4.7.0 TLS not available"]),
    "STARTTLS then 454 with the verdict": (
        dict(ehlo=b"250-lying.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n", starttls=b"454 4.7.0 " + PREFIXED + b"\r\n"),
        True, ["STARTTLS rejected: 454 4.7.0 " + PREFIXED.decode()]),
}


@pytest.mark.parametrize("case", sorted(LIES))
def test_lying_server_is_reported_as_plain(localhost, lying_server, case):
    script, starttls, errors = LIES[case]
    server = lying_server(**script)
    result = probe(localhost, server)
    assert not result.get("failed"), result
    assert result["target"] == "[127.0.0.1]:%d" % server.port
    assert result["passes"] == NO_TLS
    assert result["starttls"] is starttls
    assert (result["established"], result["trust"], result["peer"], result["protocol"], result["cipher"]) \
        == (False, None, None, None, None)
    assert result["certificate"] is None and result["dnssec_validation"] is None
    assert result["errors"] == errors
    assert server.accepted == 1  # posttls-finger really talked to it, once: no verify/secure runs


def test_bracketed_destination_takes_the_port(localhost, lying_server):
    server = lying_server()
    result = run_module(localhost, "mailtls.postfix.tls_probe", destination="[127.0.0.1]", port=server.port,
                        host_lookup="native", timeout=10)
    assert result["target"] == "[127.0.0.1]:%d" % server.port
    assert result["passes"] == NO_TLS and result["errors"] == [] and server.received[0].startswith(b"EHLO ")


def test_destination_port_is_used_and_an_equal_port_is_no_conflict(localhost, lying_server):
    server = lying_server()
    destination = "[127.0.0.1]:%d" % server.port
    for args in ({}, {"port": server.port}):
        result = run_module(localhost, "mailtls.postfix.tls_probe", destination=destination, host_lookup="native",
                            timeout=10, **args)
        assert result["target"] == destination and result["errors"] == [], result
    assert len([line for line in server.received if line.startswith(b"EHLO ")]) == 2


def test_helo_is_the_ehlo_name(localhost, lying_server):
    server = lying_server()
    result = probe(localhost, server, helo="probe.mailtls.example")
    assert result["passes"] == NO_TLS and result["errors"] == [], result
    assert server.received[0] == b"EHLO probe.mailtls.example"


BAD_INPUT = [
    (dict(destination="[127.0.0.1]:{port}", port=587),
     "port: 587 differs from the port in destination '[127.0.0.1]:{port}' ({port}); give the port in one place"),
    (dict(destination="lying.test:2525", port=25),
     "port: 25 differs from the port in destination 'lying.test:2525' (2525); give the port in one place"),
    # tls.normalize_destination refuses these (probe.py checks again, for its own sake).
    (dict(destination="[127.0.0.1]:99999"), "destination: '[127.0.0.1]:99999' is not a next-hop destination"),
    (dict(destination="example.com:0"), "destination: 'example.com:0' is not a next-hop destination"),
    (dict(destination="lying.test", port=0), "port: 0 is not a TCP port (1-65535)"),
    (dict(destination="lying.test", host="-oX=1"), "host: '-oX=1' is not a host name, IPv4 or IPv6 address"),
    (dict(destination="lying.test", host="127.0.0.1 -v"),
     "host: '127.0.0.1 -v' is not a host name, IPv4 or IPv6 address"),
    (dict(destination="lying.test", host="[127.0.0.1]"),
     "host: '[127.0.0.1]' is not a host name, IPv4 or IPv6 address"),
    (dict(destination="lying.test", host="fe80::1%eth0"),
     "host: 'fe80::1%eth0' is not a host name, IPv4 or IPv6 address"),
    (dict(destination="lying.test", host="256.0.0.1"), "host: '256.0.0.1' is not a host name, IPv4 or IPv6 address"),
    (dict(destination="lying.test", host=""), "host: '' is not a host name, IPv4 or IPv6 address"),
    (dict(destination="lying.test", host="127.0.0.1", helo="-Hx"), "helo: '-Hx' is not a domain name"),
    (dict(destination="lying.test", host="127.0.0.1", helo="probe.example smtp_tls_loglevel=4"),
     "helo: 'probe.example smtp_tls_loglevel=4' is not a domain name"),
    (dict(destination="lying.test", host="127.0.0.1", timeout=601),
     "timeout: 601 is not a number of seconds from 1 to 600"),
    (dict(destination="lying.test", host="127.0.0.1", timeout=0),
     "timeout: 0 is not a number of seconds from 1 to 600"),
]


@pytest.mark.parametrize("args, message", BAD_INPUT,
                         ids=["%s%d" % (message.split(":")[0], index) for index, (_args, message) in enumerate(BAD_INPUT)])
def test_bad_input_is_refused_before_probing(localhost, lying_server, args, message):
    server = lying_server()
    args = dict((key, value.format(port=server.port) if isinstance(value, str) else value)
                for key, value in args.items())
    if "host" in args:
        args["port"] = server.port  # a probe that ran would reach this server
    result = run_module(localhost, "mailtls.postfix.tls_probe", host_lookup="native", **args)
    message = message.format(port=server.port)
    assert result.get("failed") is True and result["parameter"] == message.split(":")[0], result
    if message.endswith("not a next-hop destination"):  # tls.normalize_destination's words, then its examples
        assert result["msg"].startswith(message + " ("), result
    else:
        assert result["msg"] == message, result
    time.sleep(0.5)
    assert server.accepted == 0  # posttls-finger never ran


@pytest.mark.parametrize("level", ["encrypt", "verify"])
def test_tls_forced_preflight_refuses_a_spoofing_server(tmp_path, config_dir, lying_server, level):
    server = lying_server(banner=b"220 lying.test ESMTP " + PREFIXED + b"\r\n",
                          ehlo=b"250-lying.test\r\n250-" + PREFIXED + b"\r\n250 8BITMIME\r\n")
    destination = "[127.0.0.1]:%d" % server.port
    task = {"name": "forced", "ansible.builtin.include_role": {"name": "mailtls.postfix.tls_forced"},
            "vars": {"server_config_dir": str(config_dir), "server_manage_packages": False,
                     "server_manage_service": False, "tls_forced_policy_table": str(config_dir / "tls_policy"),
                     "tls_forced_destinations": [destination], "tls_forced_include_subdomains": False,
                     "tls_forced_level": level, "tls_forced_preflight": "refuse",
                     "tls_forced_preflight_host_lookup": "native", "tls_forced_preflight_timeout": 5}}
    settle(config_dir / "main.cf")
    before = snapshot(config_dir)
    rc, _results, output = run_playbook(tmp_path, [task])
    assert rc != 0, output
    assert "%s cannot take level %s (no STARTTLS)" % (destination, level) in " ".join(output.split()), output
    assert "nothing was changed" in output and snapshot(config_dir) == before
    assert not (config_dir / "tls_policy").exists()
