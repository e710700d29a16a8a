"""TLS policies as typed data: destinations, levels, attributes and version gates."""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.versions import parse_version
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.tls import (
    normalize_destination,
    policy_keys,
    render_policy,
    tlsrpt_problem,
)

V37 = (3, 7, 11)


@pytest.mark.parametrize("given, key", [
    ("Example.COM", "example.com"),
    (".example.com", ".example.com"),
    ("example.com:587", "example.com:587"),
    ("[MX.example.com]", "[mx.example.com]"),
    ("[mx.example.com]:587", "[mx.example.com]:587"),
    ("[mx.example.com]:submission", "[mx.example.com]:submission"),
    ("[192.0.2.1]", "[192.0.2.1]"),
    ("[ipv6:2001:db8::1]:25", "[ipv6:2001:db8::1]:25"),
    (" localhost ", "localhost"),
])
def test_destinations(given, key):
    assert normalize_destination(given) == key


@pytest.mark.parametrize("given", [
    "", "exa mple.com", "[mx.example.com", "[mx.example.com]587", "[300.1.1.1]", "-bad.example",
    "example..com", "example.com:", "a/b", None, "[mx.example.com]:99999x", "*.example.com",
])
def test_bad_destinations(given):
    with pytest.raises(InputError, match="destination"):
        normalize_destination(given)


def test_values_render_in_canonical_order():
    value = render_policy("secure", {"protocols": [">=TLSv1.2"], "match": ["nexthop", "dot-nexthop"],
                                     "ciphers": "high"}, V37)
    assert value == "secure ciphers=high match=nexthop:dot-nexthop protocols=>=TLSv1.2"
    assert render_policy("encrypt", {"protocols": "!SSLv2, !SSLv3"}) == "encrypt protocols=!SSLv2:!SSLv3"
    assert render_policy("fingerprint", {"match": ["ab:cd:ef", "0102"]}) == "fingerprint match=AB:CD:EF|0102"
    assert render_policy("may", {"connection_reuse": True}, V37) == "may connection_reuse=yes"
    assert render_policy("none") == "none"


def test_subdomain_keys():
    assert policy_keys("partner.example", include_subdomains=True) == ["partner.example", ".partner.example"]
    assert policy_keys("partner.example") == ["partner.example"]
    # A next hop without sub-domains gets its own key only: the default simply does not apply.
    for destination in ("[mx.example]", "[mx.example]:587", "partner.example:587", ".partner.example"):
        assert policy_keys(destination, include_subdomains=True) == [destination]


@pytest.mark.parametrize("level, attributes, problem", [
    ("maybe", {}, "not a TLS security level"),
    ("encrypt", {"match": "hostname"}, "does not apply to level encrypt"),
    ("none", {"ciphers": "high"}, "does not apply to level none"),
    ("may", {"tafile": "/etc/ta.pem"}, "does not apply to level may"),
    ("encrypt", {"cipher": "high"}, "unknown TLS policy attribute"),
    ("encrypt", {"ciphers": "strong"}, "not a cipher grade"),
    ("encrypt", {"protocols": ["TLSv1.4"]}, "not a TLS protocol"),
    ("encrypt", {"protocols": []}, "must not be empty"),
    ("encrypt", {"protocols": 12}, "must be a string or a list"),
    ("encrypt", {"exclude": ["a b"]}, "not an OpenSSL cipher"),
    ("verify", {"match": ["host name"]}, "neither hostname"),
    ("fingerprint", {"match": "xyz"}, "not a certificate or public-key fingerprint"),
    ("secure", {"tafile": "relative.pem"}, "absolute path"),
    ("encrypt", {"connection_reuse": "maybe"}, "must be a boolean"),
    ("encrypt", {"servername": "bad name"}, "must be 'hostname' or a DNS name"),
    ("fingerprint", {"enable_rpk": True}, "needs Postfix 3.9 or later; this host runs 3.7.11"),
])
def test_bad_policies(level, attributes, problem):
    with pytest.raises(InputError, match=problem) as info:
        render_policy(level, attributes, V37, "partner.example")
    assert "partner.example" in str(info.value)


def test_version_gates():
    with pytest.raises(InputError, match="needs Postfix 3.4"):
        render_policy("encrypt", {"connection_reuse": True}, (3, 3, 0))
    with pytest.raises(InputError, match="level dane needs Postfix 2.11"):
        render_policy("dane", {}, (2, 10, 0))
    assert parse_version("3.7.11") == (3, 7, 11) and parse_version("3.10-20240101") == (3, 10, 20240101)


@pytest.mark.parametrize("version, accepted", [((3, 5, 25), False), ((3, 6, 0), True), ((3, 10, 5), True)])
def test_protocol_ranges_need_postfix_3_6(version, accepted):
    attributes = {"protocols": [">=TLSv1.2"]}
    if accepted:
        assert render_policy("encrypt", attributes, version) == "encrypt protocols=>=TLSv1.2"
    else:
        with pytest.raises(InputError, match=r"attributes\.protocols: .*protocol ranges such as >=TLSv1\.2 need "
                                             r"Postfix 3\.6 or later; this host runs 3\.5\.25"):
            render_policy("encrypt", attributes, version)
    # The form every version reads.
    assert render_policy("encrypt", {"protocols": "!SSLv2:!SSLv3"}, version) == "encrypt protocols=!SSLv2:!SSLv3"


# --- TLSRPT on the sending side (postconf(5) smtp_tlsrpt_enable, TLSRPT_README) -------------------------------

@pytest.mark.parametrize("enable", [None, "no", "NO", " No "])
def test_tlsrpt_not_asked_is_no_problem(enable):
    assert tlsrpt_problem(enable, "", (3, 5, 25), False) is None


@pytest.mark.parametrize("enable", ["true", "1", "false", "0", "on", ""])
def test_tlsrpt_neither_yes_nor_no_is_refused_as_postfix_would(enable):
    # get_mail_conf_bool(): the smtp daemon exits on any other value.
    problem = tlsrpt_problem(enable, "run/tlsrpt/tlsrpt.sock", (3, 10, 5), True)
    assert problem and "neither yes nor no" in problem


@pytest.mark.parametrize("enable", ["yes", "Yes", "YES"])
def test_tlsrpt_before_3_10_is_refused_with_the_version(enable):
    problem = tlsrpt_problem(enable, "run/tlsrpt/tlsrpt.sock", (3, 7, 11), True)
    assert "needs Postfix 3.10 or later" in problem and "3.7.11" in problem


def test_tlsrpt_without_the_library_is_refused():
    problem = tlsrpt_problem("yes", "run/tlsrpt/tlsrpt.sock", (3, 10, 13), False)
    assert "not built with libtlsrpt" in problem


@pytest.mark.parametrize("socket_name", [None, "", "  "])
def test_tlsrpt_without_a_collector_socket_is_refused(socket_name):
    assert "smtp_tlsrpt_socket_name" in tlsrpt_problem("yes", socket_name, (3, 11, 7), True)


def test_tlsrpt_with_everything_is_fine():
    assert tlsrpt_problem("yes", "run/tlsrpt/tlsrpt.sock", (3, 10, 5), True) is None


def test_tlsrpt_without_dns_is_refused():
    # Postfix looks up each domain's _smtp._tls record; with DNS disabled it turns TLSRPT off itself.
    assert "smtp_dns_support_level is disabled" in tlsrpt_problem("yes", "run/tlsrpt/tlsrpt.sock", (3, 10, 5), True,
                                                                  "disabled")
    assert tlsrpt_problem("yes", "run/tlsrpt/tlsrpt.sock", (3, 10, 5), True, "dnssec") is None
