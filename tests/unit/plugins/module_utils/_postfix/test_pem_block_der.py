# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""model.certificate_facts.pem_block_der: the one reader of a PEM block's DER, for certificates (what a
server served) and public keys (what openssl printed)."""

from __future__ import annotations

import base64

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.certificate_facts import pem_block_der

DER = bytes(range(256)) * 3


def block(label, der=DER, width=64):
    body = base64.b64encode(der).decode()
    lines = [body[index:index + width] for index in range(0, len(body), width)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)


def test_reads_a_certificate_and_a_public_key():
    assert pem_block_der(block("CERTIFICATE"), "CERTIFICATE") == DER
    assert pem_block_der("subject=CN = x\n" + block("PUBLIC KEY"), "PUBLIC KEY") == DER


def test_only_the_label_asked_for():
    """A public key block never stands for a certificate, nor the other way round."""
    assert pem_block_der(block("PUBLIC KEY"), "CERTIFICATE") is None
    assert pem_block_der(block("CERTIFICATE"), "PUBLIC KEY") is None


def test_the_first_block_counts():
    first, second = block("PUBLIC KEY", b"first"), block("PUBLIC KEY", b"second")
    assert pem_block_der(first + second, "PUBLIC KEY") == b"first"


def test_a_body_that_is_not_base64_is_none():
    assert pem_block_der("-----BEGIN CERTIFICATE-----\nnot base64 ***\n-----END CERTIFICATE-----\n",
                         "CERTIFICATE") is None
    assert pem_block_der("-----BEGIN CERTIFICATE-----\n" + "\xe9" * 8 + "\n-----END CERTIFICATE-----\n",
                         "CERTIFICATE") is None


def test_no_block_or_an_unfinished_one_is_none():
    assert pem_block_der("", "CERTIFICATE") is None
    assert pem_block_der(block("CERTIFICATE")[:-30], "CERTIFICATE") is None


def test_crlf_and_other_line_widths():
    assert pem_block_der(block("CERTIFICATE", width=76).replace("\n", "\r\n"), "CERTIFICATE") == DER
