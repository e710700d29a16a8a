"""One file, one role (issue 18): the pure decision, and what makes two names one file."""

from __future__ import annotations

import os

import pytest
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.file_roles import (
    file_in_two_roles,
    identify,
    reads,
    refuse_one_file_in_two_roles,
    relative_use,
    table_writes,
    with_temporaries,
    writes,
)

KEY = reads("receiving.sni[0].chains[0].key_file", "/tls/sni.key")
TABLE = writes("receiving.sni_table", "/tls/sni.key")


def names(*paths):
    """Identities of files that do not exist: only their real paths tell them apart."""
    return [(path, None) for path in paths]


def test_a_written_file_that_is_read_elsewhere_names_the_writer_whatever_the_order():
    assert file_in_two_roles([KEY, TABLE], names("/tls/sni.key", "/tls/sni.key")) == (TABLE, KEY)
    assert file_in_two_roles([TABLE, KEY], names("/tls/sni.key", "/tls/sni.key")) == (TABLE, KEY)


def test_two_writes_of_one_file_name_the_later_one():
    hook = writes("receiving.renewal_hook", "/x")
    dane = writes("receiving.dane.file", "/x")
    assert file_in_two_roles([hook, dane], names("/x", "/x")) == (dane, hook)


def test_two_reads_of_one_file_are_fine():
    served_twice = [reads("certificate.cert_file", "/c.pem"), reads("receiving.sni[0].chains[0].cert_file", "/c.pem")]
    assert file_in_two_roles(served_twice, names("/c.pem", "/c.pem")) is None


def test_a_hard_link_is_one_file_under_two_names():
    assert file_in_two_roles([KEY, TABLE], [("/tls/sni.key", (1, 7)), ("/other/name", (1, 7))]) == (TABLE, KEY)
    assert file_in_two_roles([KEY, TABLE], [("/tls/sni.key", (1, 7)), ("/other/name", (2, 7))]) is None
    assert file_in_two_roles([KEY, TABLE], [("/a", None), ("/b", None)]) is None


def test_a_table_writes_its_source_and_every_index():
    assert [use.path for use in table_writes("relay.password_table", "/p", "hash")] == [
        "/p", "/p.db", "/p.tmp.db", "/__db.p.tmp.db", "/p.db.tmp"]  # and what the write makes on the way
    assert [use.path for use in table_writes("relay.password_table", "/p", "texthash")] == ["/p"]


@pytest.mark.parametrize("name", ["p.tmp", "p.tmp.db", "__db.p.tmp.db"])
def test_a_file_the_call_reads_is_never_a_temporary_of_a_write(name):
    """Hostile review: a relay ca_file at the password table's temporary was deleted as a leftover."""
    uses = table_writes("relay.password_table", "/etc/postfix/p", "hash") + [
        reads("relay.ca_file", "/etc/postfix/" + name)]
    found = file_in_two_roles(with_temporaries(uses), [identify(use.path) for use in with_temporaries(uses)])
    assert found is not None and found[1].option == "relay.ca_file"


def test_a_relative_path_is_found_whatever_its_role():
    assert relative_use([TABLE, reads("certificate.cert_file", "tls/c.pem")]).option == "certificate.cert_file"
    assert relative_use([TABLE, reads("certificate.cert_file", "$config_directory/c.pem")]) is not None
    assert relative_use([TABLE, KEY]) is None


@pytest.fixture
def files(tmp_path):
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "sni.key").write_text("key\n")
    os.symlink("sni.key", str(tmp_path / "tls" / "symlink.key"))
    os.symlink(str(tmp_path / "tls"), str(tmp_path / "linked-dir"))
    os.link(str(tmp_path / "tls" / "sni.key"), str(tmp_path / "hardlink.key"))
    return tmp_path


@pytest.mark.parametrize("spelling", ["tls/sni.key", "tls/symlink.key", "tls/../tls/./sni.key", "linked-dir/sni.key",
                                      "linked-dir/symlink.key", "hardlink.key"])
def test_every_name_of_one_file_is_that_file(files, spelling):
    key = reads("receiving.sni[0].chains[0].key_file", str(files / "tls" / "sni.key"))
    with pytest.raises(InputError) as raised:
        refuse_one_file_in_two_roles([key, writes("receiving.sni_table", str(files / spelling))])
    assert str(raised.value).startswith("receiving.sni_table: ") and "which this call reads" in str(raised.value)


def test_a_new_file_beside_the_key_is_another_file(files):
    key = reads("receiving.sni[0].chains[0].key_file", str(files / "tls" / "sni.key"))
    refuse_one_file_in_two_roles([key, writes("receiving.sni_table", str(files / "linked-dir" / "sni"))])
    assert identify(str(files / "tls" / "none"))[1] is None


def test_one_option_declared_twice_is_one_use(files):
    hook = writes("receiving.renewal_hook", str(files / "hook"))
    refuse_one_file_in_two_roles([hook, hook])
