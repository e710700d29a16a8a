"""tls_posture against lying SMTP servers: the real openssl s_client, a server's text crafted as s_client's own.

A small server on loopback (Python's ssl, a certificate from tls_material) stands where master.cf
names an smtpd listener. It puts s_client's handshake summary and session block in its greeting
and EHLO reply, or sends them as data right after a real handshake. The verdicts must be the
handshake's: no STARTTLS and no session where there is none, the real protocol and cipher where
there is one.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from contextlib import contextmanager

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from drivers import run_as_ansible
from tls_material import make_cert, write_pair

PORT = 25530 + 2 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
FORGED = (b"New, TLSv1.3, Cipher is TLS_FORGED_SUITE\r\nSSL-Session:\r\n    Protocol  : TLSv1\r\n"
          b"    Cipher    : FORGED\r\nCertificate chain\r\n-----BEGIN CERTIFICATE-----\r\nAAAA\r\n"
          b"-----END CERTIFICATE-----\r\n---\r\n")


def serve(listener, stop, context, starttls_offered, after_handshake):
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            connection, _address = listener.accept()
        except socket.timeout:
            continue
        with connection:
            try:
                connection.settimeout(5)
                connection.sendall(b"220 mx.lying.test ESMTP " + FORGED.replace(b"\r\n", b" ") + b"\r\n")
                connection.recv(1024)  # EHLO
                lines = [b"250-mx.lying.test", b"250-" + FORGED.split(b"\r\n", maxsplit=1)[0]]
                lines += [b"250-STARTTLS"] if starttls_offered else [b"250-X-NOTLS STARTTLS"]
                connection.sendall(b"\r\n".join(lines + [b"250 8BITMIME"]) + b"\r\n")
                if not starttls_offered:
                    connection.recv(1024)
                    connection.sendall(b"502 5.5.1 " + FORGED.replace(b"\r\n", b" ") + b"\r\n")
                    continue
                connection.recv(1024)  # STARTTLS
                connection.sendall(b"220 2.0.0 Ready\r\n")
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.sendall(after_handshake)
                    tls.recv(1024)
            except (OSError, ssl.SSLError):
                continue


@contextmanager
def lying_server(tmp_path, starttls_offered, after_handshake=FORGED):
    key = ec.generate_private_key(ec.SECP256R1())
    write_pair(tmp_path, "lying", make_cert("mx.lying.test", None, None, key, -1, 60), key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "lying.pem"), str(tmp_path / "lying.key"))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", PORT))
    listener.listen(16)
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(listener, stop, context, starttls_offered, after_handshake),
                              daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def posture(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "main.cf").write_text("inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n")
    (conf / "master.cf").write_text("127.0.0.1:%d inet n - n - - smtpd\n" % PORT)
    old = os.stat(conf / "main.cf").st_mtime - 10
    os.utime(conf / "main.cf", (old, old))
    run = run_as_ansible("tls_posture", {"config_dir": str(conf), "timeout": 5}, timeout=120)
    assert run.result and not run.result.get("failed"), run.output[-3000:]
    return run.result["listeners"][0], run.result["findings"]


def test_forged_summary_in_greeting_and_ehlo_makes_no_starttls_and_no_session(tmp_path):
    with lying_server(tmp_path, starttls_offered=False):
        listener, findings = posture(tmp_path)
    assert listener["starttls"] is False and listener["established"] is False
    assert listener["protocol"] is None and listener["cipher"] is None and listener["certificates"] == []
    assert not any(listener["protocols"].values())
    assert findings[0]["severity"] == "fail" and findings[0]["code"] == "starttls_missing"


def test_forged_session_after_a_real_handshake_changes_neither_protocol_nor_cipher(tmp_path):
    with lying_server(tmp_path, starttls_offered=True):
        listener, _findings = posture(tmp_path)
    assert listener["starttls"] is True and listener["established"] is True
    assert listener["protocol"] == "TLSv1.3" and listener["cipher"].startswith("TLS_") and "FORGED" not in listener["cipher"]
    # Python's ssl refuses TLSv1 and TLSv1.1 by default: the forged "Protocol : TLSv1" must not say otherwise.
    assert listener["protocols"]["TLSv1"] is False and listener["protocols"]["TLSv1.2"] is True
    assert [(item["key_algorithm"], item["names"]) for item in listener["certificates"]] == [
        ("ecdsa", ["mx.lying.test"])]


@pytest.mark.parametrize("data", [b"\xff\xfe\x00\x1b[2J" * 50, b"250 " + b"A" * 70000])
def test_binary_or_huge_data_after_the_handshake(tmp_path, data):
    with lying_server(tmp_path, starttls_offered=True, after_handshake=data):
        listener, _findings = posture(tmp_path)
    assert listener["established"] is True and listener["protocol"] == "TLSv1.3"
