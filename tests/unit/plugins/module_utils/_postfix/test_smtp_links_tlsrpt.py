"""Whether this Postfix's smtp can report TLSRPT (host/commands.py smtp_links_tlsrpt): read from the files, as
Debian builds it (the library named by libpostfix-tls.so) and as upstream does (named by smtp itself)."""

from __future__ import annotations

import os

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.commands import smtp_links_tlsrpt

ELF = b"\x7fELF" + b"\0" * 60


def layout(tmp_path, smtp, libraries=None):
    daemon, shlib = tmp_path / "sbin", tmp_path / "lib"
    daemon.mkdir()
    shlib.mkdir()
    (daemon / "smtp").write_bytes(ELF + smtp)
    for name, text in (libraries or {}).items():
        (shlib / name).write_bytes(ELF + text)
    return str(daemon), str(shlib)


def test_smtp_naming_the_library_itself(tmp_path):
    daemon, shlib = layout(tmp_path, b"libc.so.6\0libtlsrpt.so.0\0")
    assert smtp_links_tlsrpt(daemon, "no") is True


def test_the_library_named_by_postfixs_own_shared_library_as_debian_builds_it(tmp_path):
    daemon, shlib = layout(tmp_path, b"libpostfix-tls.so\0libpostfix-util.so\0",
                           {"libpostfix-tls.so": b"libssl.so.3\0libtlsrpt.so.0\0", "libpostfix-util.so": b"libc.so.6\0"})
    assert smtp_links_tlsrpt(daemon, shlib) is True
    # A static build (shlib_directory = no) reads smtp alone.
    assert smtp_links_tlsrpt(daemon, "no") is False


def test_a_build_without_it(tmp_path):
    daemon, shlib = layout(tmp_path, b"libpostfix-tls.so\0", {"libpostfix-tls.so": b"libssl.so.3\0"})
    assert smtp_links_tlsrpt(daemon, shlib) is False


def test_missing_files_and_a_fifo_are_no_support_and_never_block(tmp_path):
    assert smtp_links_tlsrpt(str(tmp_path / "nowhere"), str(tmp_path)) is False
    daemon, shlib = layout(tmp_path, b"libpostfix-tls.so\0")
    os.mkfifo(os.path.join(shlib, "libpostfix-tls.so"))  # a read would wait for a writer forever
    assert smtp_links_tlsrpt(daemon, shlib) is False


def test_a_library_name_with_a_path_in_it_is_never_followed(tmp_path):
    # Only libpostfix-<letters>.so names are read, inside shlib_directory.
    (tmp_path / "outside.so").write_bytes(b"libtlsrpt.so.0")
    daemon, shlib = layout(tmp_path, b"libpostfix-../../outside.so\0")
    assert smtp_links_tlsrpt(daemon, shlib) is False
