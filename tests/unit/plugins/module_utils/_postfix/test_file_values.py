"""The pure parts of file-valued tables (postmap -F): splitting, PEM checks, what the index must hold."""

from __future__ import annotations

import base64

import pytest
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.file_values import (
    check_contents,
    check_paths,
    decoded,
    index_content,
    pem_labels,
    render_value,
    split_paths,
    stale_key,
)

KEY = b"-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n"
EC_KEY = b"-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n"
CERT = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
LEGACY_ENCRYPTED = (b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nabc\n"
                    b"-----END RSA PRIVATE KEY-----\n")


def test_split_paths_as_postfix_splits_a_file_list():
    assert split_paths("/a /b") == ["/a", "/b"]
    assert split_paths(" /a,/b ,\t/c\n") == ["/a", "/b", "/c"]
    assert split_paths("") == []


def test_render_value_joins_a_list_and_refuses_what_postmap_would_split():
    assert render_value(["/k.pem", "/c.pem"], "entries", "a") == "/k.pem /c.pem"
    assert render_value("/k.pem,/c.pem", "entries", "a") == "/k.pem,/c.pem"
    for bad in ("/with space.pem", "/with,comma.pem", "/brace{.pem", "", 3):
        with pytest.raises(InputError, match="^entries: a: "):
            render_value(["/k.pem", bad], "entries", "a")
    with pytest.raises(InputError, match="not int"):
        render_value(3, "entries", "a")


@pytest.mark.parametrize("value, problem", [
    ("", "names no file"),
    ("  , ", "names no file"),
    ("/k.pem c.pem", "'c.pem' is not an absolute path"),
    ("/k.pem /c{x}.pem", "holds a brace"),
    ("/k.pem /caf\udce9.pem", "is not UTF-8: postmap skips such a line"),
])
def test_check_paths_refuses_naming_the_key(value, problem):
    with pytest.raises(InputError) as raised:
        check_paths(value, "entries", "mail.example")
    assert str(raised.value).startswith("entries: mail.example: ") and problem in str(raised.value)


def test_pem_labels_in_order_and_only_complete_blocks():
    assert pem_labels(b"Bag Attributes \xe9\n" + KEY + CERT) == [b"PRIVATE KEY", b"CERTIFICATE"]
    assert pem_labels(b"-----BEGIN CERTIFICATE-----\nMIIB\n") == []
    assert pem_labels(b"-----BEGIN CERTIFICATE-----\nx\n-----END PRIVATE KEY-----\n") == []


def test_check_contents_wants_a_key_then_a_certificate():
    check_contents("entries", "a", ["/k", "/c"], [KEY, CERT])
    check_contents("entries", "a", ["/both"], [EC_KEY + CERT + CERT])
    check_contents("entries", "a", ["/k", "/c"], [KEY, b"\xe9 comment\n" + CERT])
    cases = [
        (["/c", "/k"], [CERT, KEY], "/c must start with the private key (unencrypted), then its certificate chain; "
                                    "it starts with certificate"),
        (["/k"], [KEY], "the files /k hold a private key but no certificate after it"),
        (["/k", "/x"], [KEY, b"\x30\x82 DER"], "/x holds no PEM block"),
        (["/k", "/c"], [LEGACY_ENCRYPTED, CERT], "must start with the private key (unencrypted)"),
        (["/k", "/c"], [b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED PRIVATE KEY-----\n", CERT],
         "it starts with encrypted private key"),
    ]
    for paths, contents, problem in cases:
        with pytest.raises(InputError) as raised:
            check_contents("entries", "a", paths, contents)
        assert str(raised.value).startswith("entries: a: ") and problem in str(raised.value)


def test_index_content_is_the_files_joined_by_one_newline():
    # Measured with postmap -F on Postfix 3.5, 3.7 and 3.10: a newline between files, whatever they end with.
    assert index_content([b"x\n", b"y", b"z"]) == b"x\n\ny\nz"
    assert index_content([b"", b"x\n"]) == b"\nx\n"
    assert index_content([KEY]) == KEY


def test_decoded_and_stale_key():
    stored = base64.b64encode(b"K\nC").decode()
    assert decoded(stored) == b"K\nC"
    assert decoded("/etc/postfix/k.pem /etc/postfix/c.pem") is None  # an index built without -F
    assert decoded("caf\udce9") is None
    expected = {"a.example": b"K\nC", "b.example": b"K2\nC2"}
    found = {"a.example": stored, "b.example": base64.b64encode(b"K2\nC2").decode()}
    assert stale_key(expected, found, listed=True) is None
    assert stale_key(expected, dict(found, **{"b.example": stored}), listed=True) == "b.example"
    assert stale_key(expected, {"a.example": stored}, listed=False) == "b.example"
    assert stale_key(expected, dict(found, **{"old.example": stored}), listed=True) == "old.example"
    assert stale_key(expected, dict(found, **{"old.example": stored}), listed=False) is None
    assert stale_key({}, {}, listed=True) is None
