"""A stand-in for a TLSRPT collector (tlsrpt-collectd): receive the datagrams Postfix's TLSRPT client
library sends to its unix socket and append each one, as received, to a file (one per line).

    tlsrpt_listener.py SOCKET LOG

The lab reads LOG to see which TLS outcomes Postfix reported, per policy domain (RFC 8460)."""

import os
import socket
import sys


def main(path, log):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    os.chmod(path, 0o666)  # the smtp client runs as postfix, chrooted to the queue directory
    with open(log, "ab", buffering=0) as out:
        while True:
            datagram = server.recv(65536)
            out.write(datagram.replace(b"\n", b" ") + b"\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
