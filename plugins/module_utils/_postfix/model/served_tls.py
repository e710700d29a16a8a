# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a server served over TLS, read from ``openssl s_client`` and DER (private). Pure: text in, facts out.

``openssl s_client -showcerts`` prints the chain the server sent (PEM, after a "Certificate
chain" line, up to the next "---"), then the handshake summary ("New, ..., Cipher is ...").
Anything the server sends after the handshake is printed after these, so only the first of
each counts: a server cannot forge a verdict (see ``parse_s_client``).

The key facts (SubjectPublicKeyInfo, algorithm, size) are read from the certificate's DER,
never from openssl's text, where a subjectAltName value may carry a forged PUBLIC KEY block.
"""

from __future__ import annotations

import re

from .certificate_facts import key_algorithm, pem_block_der, tlsa_3_1_1

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=\n]+?)-----END CERTIFICATE-----")
_NO_CIPHER = ("", "0000", "(NONE)")
_NEW = re.compile(r"New, (\S+), Cipher is (\S+)\Z")
# The protocol versions a listener is probed with, as s_client takes them and as Postfix names them.
PROBED_PROTOCOLS = (("TLSv1", "-tls1"), ("TLSv1.1", "-tls1_1"), ("TLSv1.2", "-tls1_2"), ("TLSv1.3", "-tls1_3"))
# OpenSSL 3 refuses TLS 1.0/1.1 at its default security level (SHA-1 signatures): the client
# lowers its own level so that the answer is the server's, not the client's.
LEGACY_CLIENT_CIPHERS = "DEFAULT:@SECLEVEL=0"
# The curves of ECDSA keys by the OID in their parameters (RFC 5480), and their sizes in bits.
_CURVES = ((bytes.fromhex("06082a8648ce3d030107"), "P-256", 256), (bytes.fromhex("06052b81040022"), "P-384", 384),
           (bytes.fromhex("06052b81040023"), "P-521", 521))
_FIXED_SIZES = {"ed25519": 256, "ed448": 456}


def parse_s_client(output):
    """{established, protocol, cipher, chain: [PEM, ...]} from one ``s_client -showcerts`` run's stdout.

    The handshake summary ("New, <version>, Cipher is <cipher>") is printed once, before anything
    the server sends. Its version is the cipher's: exact for TLS 1.3 (whose session block waits for
    a ticket, maybe after the server's data); up to TLS 1.2 the session block printed right after
    it names the protocol (a TLS 1.1 session with an AES-SHA cipher says TLSv1.0 there).
    """
    lines = output.replace("\r\n", "\n").split("\n")
    end = next((index for index, line in enumerate(lines) if _NEW.match(line)), None)
    if end is None:
        return {"established": False, "protocol": None, "cipher": None, "chain": _chain(lines, len(lines))}
    version, cipher = _NEW.match(lines[end]).groups()
    protocol = "TLSv1.3" if version == "TLSv1.3" else _session_protocol(lines, end)
    established = cipher not in _NO_CIPHER and bool(protocol)
    return {"established": established, "protocol": protocol if established else None,
            "cipher": cipher if established else None, "chain": _chain(lines, end)}


def _session_protocol(lines, start):
    """The Protocol line of the first session block after the summary (up to TLS 1.2, printed with it)."""
    session = next((index for index in range(start, len(lines)) if lines[index].strip() == "SSL-Session:"), None)
    for line in lines[session + 1:] if session is not None else []:
        name, sep, value = line.strip().partition(":")
        if not sep or not line.startswith("    "):
            return None  # the block ends; what follows may be the server's own text
        if name.strip() == "Protocol":
            return value.strip() or None
    return None


def ehlo_offers_starttls(reply):
    """Whether an EHLO reply has a STARTTLS keyword line: not its first line (the server's name), each
    line's first word (RFC 5321 section 4.1.1.1). s_client's own check is a substring of any line, which
    a server can put in its name or another keyword's line, so it is not used."""
    lines = reply.replace("\r\n", "\n").split("\n")
    for number, line in enumerate(lines):
        if not line.startswith(("250-", "250 ")):
            return False
        if number > 0 and re.split(r"[ =]", line[4:], maxsplit=1)[0].upper() == "STARTTLS":
            return True
        if line.startswith("250 "):
            return False
    return False


def _chain(lines, session):
    """The PEM blocks between "Certificate chain" and the next "---", before the handshake summary."""
    end = session
    try:
        start = lines.index("Certificate chain", 0, end)
    except ValueError:
        return []
    stop = next((index for index in range(start + 1, end) if lines[index] == "---"), end)
    text = "\n".join(lines[start + 1:stop]) + "\n"
    return ["-----BEGIN CERTIFICATE-----\n%s-----END CERTIFICATE-----\n" % body for body in _PEM.findall(text)]


def _element(data, position):
    """(tag, content start, end) of the DER element at ``position``; ValueError when it does not fit."""
    if position + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[position], data[position + 1]
    start = position + 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or start + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[start:start + count], "big")
        start += count
    if start + length > len(data):
        raise ValueError("truncated DER")
    return tag, start, start + length


def _children(data, start, end):
    position, found = start, []
    while position < end:
        element = _element(data, position)
        found.append((position,) + element)
        position = element[2]
    return found


def certificate_spki(der):
    """The DER SubjectPublicKeyInfo of a DER certificate (RFC 5280 section 4.1), or None."""
    try:
        _tag, start, end = _element(der, 0)
        _tag, tbs_start, tbs_end = _element(der, start)
        fields = _children(der, tbs_start, tbs_end)
        if fields and fields[0][1] == 0xA0:  # [0] version
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
        offset, tag, _content, field_end = fields[5]
        return der[offset:field_end] if tag == 0x30 else None
    except (ValueError, IndexError):
        return None


def key_size(spki):
    """The key's size in bits (RSA modulus, ECDSA curve, EdDSA), or None."""
    algorithm = key_algorithm(spki)
    if algorithm in _FIXED_SIZES:
        return _FIXED_SIZES[algorithm]
    if algorithm == "ecdsa":
        return next((size for oid, _name, size in _CURVES if oid in spki[:40]), None)
    if algorithm != "rsa":
        return None
    try:
        _tag, start, end = _element(spki, 0)
        parts = _children(spki, start, end)
        _offset, tag, bits_start, bits_end = parts[1]
        _tag, key_start, key_end = _element(spki, bits_start + 1)  # past the unused-bits byte
        _offset, tag, modulus_start, modulus_end = _children(spki, key_start, key_end)[0]
        return int.from_bytes(spki[modulus_start:modulus_end], "big").bit_length() if tag == 0x02 else None
    except (ValueError, IndexError):
        return None


def key_facts(pem):
    """{key_algorithm, key_bits, tlsa_3_1_1} of a PEM certificate's key; empty when it is not readable."""
    der = pem_block_der(pem, "CERTIFICATE")
    spki = certificate_spki(der) if der else None
    if spki is None:
        return {}
    return {"key_algorithm": key_algorithm(spki), "key_bits": key_size(spki), "tlsa_3_1_1": tlsa_3_1_1(spki)}


# One 3 1 1 record as the receiving side writes it (plan/receiving.py tlsa_record_lines), with the
# TTL and class a hand-edited zone file may add.
_TLSA = re.compile(r"_(\d{1,5})\._tcp\.(\S+?)\.?\s+(?:\d+\s+)?(?:IN\s+)?(?:\d+\s+)?TLSA\s+(\d+)\s+(\d+)\s+(\d+)\s+"
                   r"([0-9A-Fa-f ]+)\Z", re.I)


def parse_tlsa_file(text):
    """The ``3 1 1`` records of a zone-file text: [{port, name, digest}], in file order, each once.

    Comments (``;``) and other lines are skipped; other usages and selectors are not compared
    with the served key's SubjectPublicKeyInfo digest, so they are left out.
    """
    records = []
    for line in text.split("\n"):
        line = line.split(";", 1)[0].strip()
        match = _TLSA.match(line)
        if not match or match.group(3, 4, 5) != ("3", "1", "1"):
            continue
        record = {"port": int(match.group(1)), "name": match.group(2).lower(),
                  "digest": "".join(match.group(6).split()).lower()}
        if record not in records:
            records.append(record)
    return records
