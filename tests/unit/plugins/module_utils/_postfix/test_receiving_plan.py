"""The receiving side's pure decisions: chain files, SNI entries, TLSA lines, listeners, the loaded-files record."""

from __future__ import annotations

import json

import pytest
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.certificate import key_algorithm
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.master_cf import MasterCf
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.receiving import (
    changed_since_loaded, chain_files_value, file_digests, listener_ports, record_text, sni_entries, sni_name,
    tls_turned_off_by, tlsa_record_lines)

PAIRS = [{"key_file": "/k/rsa.key", "cert_file": "/k/rsa.pem"}, {"key_file": "/k/ec.key", "cert_file": "/k/ec.pem"}]


def test_each_key_comes_right_before_its_chain():
    assert chain_files_value(PAIRS) == "/k/rsa.key, /k/rsa.pem, /k/ec.key, /k/ec.pem"


def test_a_combined_key_and_chain_file_is_named_once():
    combined = [{"key_file": "/k/rsa.pem", "cert_file": "/k/rsa.pem"}] + PAIRS[1:]
    assert chain_files_value(combined) == "/k/rsa.pem, /k/ec.key, /k/ec.pem"


@pytest.mark.parametrize("name, key", [("Mail.Example.NET", "mail.example.net"), (".example.net", ".example.net"),
                                       ("xn--bcher-kva.example.", "xn--bcher-kva.example")])
def test_sni_names_are_a_labels_folded(name, key):
    assert sni_name(name, "where") == key


@pytest.mark.parametrize("name", ["", "bücher.example", "*.example.net", "a b.example", "a\nb.example", "a\tb",
                                  "a,b.example", "-bad.example", "a..example", "x" * 64 + ".example", None])
def test_sni_names_that_postfix_cannot_look_up_are_refused(name):
    with pytest.raises(InputError) as error:
        sni_name(name, "receiving.sni[0].names")
    assert error.value.details["parameter"] == "receiving.sni[0].names"


def test_sni_entries_map_the_default_names_unless_given():
    sni = [{"names": ["other.example", "MX.example"], "chains": [PAIRS[0]]}]
    entries = sni_entries(sni, ["mx.example", "default.example", "192.0.2.1", "*.wild.example"], [PAIRS[1]])
    assert entries == {"other.example": "/k/rsa.key /k/rsa.pem", "mx.example": "/k/rsa.key /k/rsa.pem",
                       "default.example": "/k/ec.key /k/ec.pem"}
    assert sni_entries([], ["mx.example"], PAIRS) == {}, "no SNI names: no table"


def test_one_name_twice_with_different_chains_is_refused():
    sni = [{"names": ["a.example"], "chains": [PAIRS[0]]}, {"names": ["A.example"], "chains": [PAIRS[1]]}]
    with pytest.raises(InputError, match="a.example is given twice"):
        sni_entries(sni, [], [])


def test_tlsa_lines_per_name_port_and_key():
    assert tlsa_record_lines(["mx.example.", "mx2.example"], [25], ["aa", "bb"]) == [
        "_25._tcp.mx.example. IN TLSA 3 1 1 aa", "_25._tcp.mx.example. IN TLSA 3 1 1 bb",
        "_25._tcp.mx2.example. IN TLSA 3 1 1 aa", "_25._tcp.mx2.example. IN TLSA 3 1 1 bb"]


def test_the_master_cf_override_that_turns_tls_off_on_a_listener():
    text = "\n".join([
        "smtp      inet  n       -       y       -       1       postscreen",
        "  -o smtpd_tls_security_level=none",
        "submission inet n       -       y       -       -       smtpd",
        "  -o smtpd_tls_security_level=encrypt",
        "127.0.0.1:10025 inet n  -       n       -       -       smtpd -o smtpd_tls_security_level=",
        "127.0.0.1:10026 inet n  -       n       -       -       postscreen -o postscreen_tls_security_level=may"
        " -o smtpd_tls_security_level=none", ""])
    assert tls_turned_off_by(MasterCf(text)) == {("127.0.0.1", 25): "-o smtpd_tls_security_level=none",
                                                 ("127.0.0.1", 10025): "-o smtpd_tls_security_level="}


def test_listeners_from_master_cf():
    text = "\n".join([
        "smtp      inet  n       -       y       -       -       smtpd",
        "#submission inet n       -       y       -       -       smtpd",
        "submission inet n       -       y       -       -       smtpd",
        "  -o smtpd_tls_security_level=encrypt",
        "smtps     inet  n       -       y       -       -       smtpd",
        "  -o smtpd_tls_wrappermode=yes",
        "127.0.0.1:10025 inet n  -       n       -       -       smtpd",
        "192.0.2.1:2465 inet n  -       n       -       -       smtpd -o smtpd_tls_wrappermode=yes",
        "pickup    unix  n       -       y       60      1       pickup",
        "relay     unix  -       -       n       -       -       smtp", ""])
    assert listener_ports(MasterCf(text)) == [("127.0.0.1", 25, False), ("127.0.0.1", 465, True),
                                              ("127.0.0.1", 587, False), ("192.0.2.1", 2465, True),
                                              ("127.0.0.1", 10025, False)]


def test_the_record_says_which_files_postfix_has_not_loaded():
    digests = file_digests({"/k/a": b"one", "/k/b": b"two"})
    assert changed_since_loaded("", digests) == ["/k/a", "/k/b"], "no record: load them once"
    text = record_text(digests)
    assert changed_since_loaded(text, digests) == []
    assert changed_since_loaded(text, file_digests({"/k/a": b"one", "/k/b": b"renewed"})) == ["/k/b"]
    for corrupt in ("{", "[]", json.dumps({"files": ["x"]}), "\udcff"):
        assert changed_since_loaded(corrupt, digests) == ["/k/a", "/k/b"], corrupt


@pytest.mark.parametrize("spki_hex, algorithm", [
    ("3059301306072a8648ce3d020106082a8648ce3d030107034200", "ecdsa"),
    ("30820122300d06092a864886f70d01010105000382010f00", "rsa"),
    ("302a300506032b6570032100", "ed25519"),
    ("3043300506032b6571033a00", "ed448"),
    ("3000", "other")])
def test_key_algorithm_from_the_spki(spki_hex, algorithm):
    assert key_algorithm(bytes.fromhex(spki_hex)) == algorithm


# --- hostile review 2: the self-probe's view of the listeners ----------------------------------------

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.receiving import (  # noqa: E402
    postscreen_without_tlsproxy)


@pytest.mark.parametrize("value", ["yes", "YES", "Yes", " yes"])
def test_wrapper_mode_is_a_postfix_boolean_in_any_case(value):
    text = "2465 inet n - y - - smtpd\n  -o smtpd_tls_wrappermode=%s\n" % value.strip()
    assert listener_ports(MasterCf(text)) == [("127.0.0.1", 2465, True)]


@pytest.mark.parametrize("text, blind", [
    ("smtp inet n - y - 1 postscreen\nsmtpd pass - - y - - smtpd\n", True),
    ("smtp inet n - y - 1 postscreen\nsmtpd pass - - y - - smtpd\ntlsproxy unix - - y - 0 tlsproxy\n", False),
    ("smtp inet n - y - 1 postscreen\n#tlsproxy unix - - y - 0 tlsproxy\n", True),
    ("smtp inet n - y - - smtpd\n", False),
])
def test_postscreen_without_tlsproxy_is_seen(text, blind):
    assert postscreen_without_tlsproxy(MasterCf(text)) is blind


@pytest.mark.parametrize("interfaces, protocols, address", [
    ("all", "ipv4", "127.0.0.1"), ("all", "all", "127.0.0.1"), ("all", "ipv6", "::1"),
    ("loopback-only", "ipv4", "127.0.0.1"), ("localhost", "ipv6", "::1"), ("[::1]", "ipv6", "::1"),
    ("192.0.2.25", "ipv4", "192.0.2.25"), ("192.0.2.25, 127.0.0.1", "ipv4", "127.0.0.1"),
    ("[2001:db8::25]", "ipv6", "2001:db8::25"),
])
def test_a_listener_without_an_address_is_probed_where_postfix_listens(interfaces, protocols, address):
    from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.receiving import probe_address

    assert probe_address(interfaces, protocols) == address
    assert listener_ports(MasterCf("smtp inet n - y - - smtpd\n"), probe_address(interfaces, protocols)) == [
        (address, 25, False)]
