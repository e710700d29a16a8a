"""Module arguments to edit requests: the checks that run before anything on disk is read.

postconf's and lookup_table's (name|key, value, parameters|entries, state) forms, and
tls_policy's destination/destinations/policies with inherited defaults and version gates.
"""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.postconf_edit import requested_parameters
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.tls_policy import policy_requests
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.table_edit import (
    TlsPolicyEdit,
    requested_entries,
)

POSTCONF = {"name": None, "value": None, "parameters": None, "state": "present"}
TABLE = {"key": None, "value": None, "entries": None, "state": "present"}
POLICY = {"destination": None, "destinations": None, "policies": None, "level": None, "attributes": None,
          "include_subdomains": False}
V37 = (3, 7, 11)
BAD_NAME = "%r is not a valid Postfix parameter name (letters, digits, '_', '-' and '.' only)"


def args(defaults, **given):
    """A module's params: every option present, as AnsibleModule passes them."""
    return dict(defaults, **given)


def assert_input_error(call, option, problem):
    """The error names the option (for the user and in ``details``) and says exactly what is wrong."""
    with pytest.raises(InputError) as info:
        call()
    assert info.value.details["parameter"] == option
    assert str(info.value) == "%s: %s" % (option, problem)


def request(destination, level="encrypt", attributes=None, include_subdomains=False):
    return {"destination": destination, "level": level, "attributes": attributes,
            "include_subdomains": include_subdomains}


# --- postconf: requested_parameters ------------------------------------------------------

@pytest.mark.parametrize("route", ["name", "parameters"])
@pytest.mark.parametrize("value, rendered, is_list", [
    ("  encrypt ", "encrypt", False),  # stripped, as postconf does
    ("", "", False),
    (True, "yes", False),
    (False, "no", False),
    (3600, "3600", False),
    (1.5, "1.5", False),
    (["!SSLv2", "!SSLv3"], "!SSLv2, !SSLv3", True),
    (("hash:/etc/postfix/a", "hash:/etc/postfix/b"), "hash:/etc/postfix/a, hash:/etc/postfix/b", True),
    ([True, 2, " x "], "yes, 2, x", True),
    ([], "", True),
])
def test_present_values_render_as_main_cf_text(route, value, rendered, is_list):
    """Both forms render alike; only list values are compared as lists later (list_valued)."""
    name = "smtp_tls_thing"
    params = args(POSTCONF, name=name, value=value) if route == "name" else args(POSTCONF, parameters={name: value})
    assert requested_parameters(params) == ({name: rendered}, [], {name} if is_list else set())


def test_present_mapping_of_several():
    params = args(POSTCONF, parameters={"smtpd_tls_auth_only": True, "smtp-amavis_x.y": "1",
                                        "smtpd_tls_mandatory_protocols": ["!SSLv2", "!SSLv3"]})
    assert requested_parameters(params) == (
        {"smtpd_tls_auth_only": "yes", "smtp-amavis_x.y": "1", "smtpd_tls_mandatory_protocols": "!SSLv2, !SSLv3"},
        [], {"smtpd_tls_mandatory_protocols"})


@pytest.mark.parametrize("given, names", [
    ({"name": "smtpd_tls_cert_file"}, ["smtpd_tls_cert_file"]),
    ({"name": "a", "parameters": ["b"]}, ["a"]),  # name wins over parameters
    ({"parameters": ["a", "b.c"]}, ["a", "b.c"]),
    ({"parameters": {"a": "ignored", "b": None}}, ["a", "b"]),  # a mapping's values do not matter
    ({"parameters": "a, b\tc,d"}, ["a", "b", "c", "d"]),  # ad-hoc: parameters=a,b
])
def test_absent_names(given, names):
    assert requested_parameters(args(POSTCONF, state="absent", **given)) == ({}, names, set())


@pytest.mark.parametrize("given, option, problem", [
    ({"state": "absent", "name": "a", "value": "x"}, "value",
     "must not be given with state=absent (postconf -X takes names only)"),
    ({"state": "absent", "name": "a", "value": ""}, "value",
     "must not be given with state=absent (postconf -X takes names only)"),
    ({"state": "absent"}, "parameters", "with state=absent, give a list of names or a mapping"),
    ({"state": "absent", "parameters": 5}, "parameters", "with state=absent, give a list of names or a mapping"),
    ({"state": "absent", "name": "bad name"}, "name", BAD_NAME % "bad name"),
    ({"state": "absent", "parameters": ["ok", "bad/name"]}, "parameters", BAD_NAME % "bad/name"),
    ({"state": "absent", "parameters": "ok, $bad"}, "parameters", BAD_NAME % "$bad"),
    ({"state": "absent", "parameters": {"ok": 1, 7: 2}}, "parameters", BAD_NAME % 7),
    ({"name": "name\n", "value": "x"}, "name", BAD_NAME % "name\n"),  # "$" would have let it through
    ({"name": "", "value": "x"}, "name", BAD_NAME % ""),
    ({"parameters": {"ok": "x", "a=b": "x"}}, "parameters", BAD_NAME % "a=b"),
    ({"name": "p", "value": "a\nb = c"}, "p", "the value contains a newline, which main.cf cannot hold"),
    ({"parameters": {"p": ["ok", "a\rb"]}}, "p", "the value contains a carriage return, which main.cf cannot hold"),
    ({"name": "p", "value": "a\0"}, "p", "the value contains a NUL byte, which main.cf cannot hold"),
    ({"name": "p"}, "p", "a value is required with state=present (use an empty string to set it empty)"),
    ({"parameters": {"p": {"a": 1}}}, "p", "a value must be a string, number, boolean or list, not a mapping"),
    ({}, "parameters", "with state=present, give a mapping of names to values"),
    ({"parameters": ["a"]}, "parameters", "with state=present, give a mapping of names to values"),
    ({"parameters": "a=b"}, "parameters", "with state=present, give a mapping of names to values"),
])
def test_bad_postconf_arguments(given, option, problem):
    assert_input_error(lambda: requested_parameters(args(POSTCONF, **given)), option, problem)


# --- lookup_table: requested_entries -----------------------------------------------------

@pytest.mark.parametrize("given, wanted", [
    ({"key": "Partner.Example", "value": " encrypt "}, {"Partner.Example": "encrypt"}),  # folded later, by type
    ({"key": "k", "value": 25}, {"k": "25"}),
    ({"key": "k", "value": 0.5}, {"k": "0.5"}),
    ({"key": "k", "value": "v", "entries": {"other": "x"}}, {"k": "v"}),  # key wins over entries
    ({"entries": {"a": "x y", "/^mx .*/": "OK"}}, {"a": "x y", "/^mx .*/": "OK"}),  # spaces: type not known yet
    ({"entries": {}}, {}),
])
def test_present_entries(given, wanted):
    assert requested_entries(args(TABLE, **given)) == (wanted, [])


@pytest.mark.parametrize("given, keys", [
    ({"key": "a"}, ["a"]),
    ({"entries": ["a", "b"]}, ["a", "b"]),
    ({"entries": ("a", "b")}, ["a", "b"]),
    ({"entries": {"a": "ignored", "b": None}}, ["a", "b"]),
])
def test_absent_keys(given, keys):
    assert requested_entries(args(TABLE, state="absent", **given)) == ({}, keys)


@pytest.mark.parametrize("given, option, problem", [
    ({"state": "absent", "key": "a", "value": "x"}, "value", "must not be given with state=absent"),
    ({"state": "absent"}, "entries", "with state=absent, give a list of keys"),
    ({"state": "absent", "entries": "a,b"}, "entries", "with state=absent, give a list of keys"),
    ({"state": "absent", "key": "#a"}, "key", "key '#a' starts with '#', which makes the line a comment"),
    ({"state": "absent", "entries": ["ok", ""]}, "entries", "a key must be a non-empty string, got ''"),
    ({"key": "k"}, "k", "a value is required with state=present"),
    ({}, "entries", "with state=present, give a mapping of keys to values"),
    ({"entries": ["a"]}, "entries", "with state=present, give a mapping of keys to values"),
    ({"key": "if", "value": "x"}, "key", "key 'if' is a pattern table's if keyword, not a key"),
    ({"entries": {"a\nb": "x"}}, "entries", "key 'a\\nb' contains a newline, which a table line cannot hold"),
    ({"entries": {7: "x"}}, "entries", "a key must be a non-empty string, got 7"),
    ({"key": "k", "value": True}, "k", "a value must be a string or a number, not bool"),
    ({"key": "k", "value": ["a"]}, "k", "a value must be a string or a number, not list"),
    ({"entries": {"k": {"a": 1}}}, "k", "a value must be a string or a number, not dict"),
    ({"entries": {"ok": "x", "k": None}}, "k", "a value must be a string or a number, not NoneType"),
    ({"key": "k", "value": "encrypt\nevil.example none"}, "k",
     "the value contains a newline, which a table line cannot hold"),
    ({"key": "k", "value": "a\0"}, "k", "the value contains a NUL byte, which a table line cannot hold"),
    ({"key": "k", "value": ""}, "k", "the value is empty; postmap needs a value for every key"),
    ({"key": "k", "value": " \t"}, "k", "the value is empty; postmap needs a value for every key"),
])
def test_bad_table_arguments(given, option, problem):
    assert_input_error(lambda: requested_entries(args(TABLE, **given)), option, problem)


# --- tls_policy: policy_requests ---------------------------------------------------------

def test_requests_in_order_with_defaults():
    """destination, then destinations, then policies; top-level options are every item's defaults."""
    params = args(POLICY, destination="one.example", destinations=["two.example", "three.example"],
                  policies=[{"destination": "four.example"}], level="verify",
                  attributes={"match": "hostname"}, include_subdomains=True)
    expected = [request(name, "verify", {"match": "hostname"}, True)
                for name in ("one.example", "two.example", "three.example", "four.example")]
    assert policy_requests(params) == expected


@pytest.mark.parametrize("item, level, attributes, include_subdomains", [
    ({}, "encrypt", {"ciphers": "high"}, True),
    ({"level": None, "attributes": None, "include_subdomains": None}, "encrypt", {"ciphers": "high"}, True),
    ({"level": "secure"}, "secure", {"ciphers": "high"}, True),
    ({"attributes": {"protocols": "!SSLv3"}}, "encrypt", {"protocols": "!SSLv3"}, True),  # replaced, not merged
    ({"attributes": {}}, "encrypt", {}, True),  # an empty mapping clears the default
    ({"include_subdomains": False}, "encrypt", {"ciphers": "high"}, False),  # False is a value, not "unset"
])
def test_policy_items_override_defaults(item, level, attributes, include_subdomains):
    params = args(POLICY, policies=[dict(item, destination="p.example")], level="encrypt",
                  attributes={"ciphers": "high"}, include_subdomains=True)
    assert policy_requests(params) == [request("p.example", level, attributes, include_subdomains)]


def test_no_destinations_no_requests():
    assert policy_requests(args(POLICY, level="encrypt", destinations=[], policies=[])) == []


# --- tls_policy: TlsPolicyEdit.wanted_policies -------------------------------------------

@pytest.mark.parametrize("destination, include_subdomains, keys", [
    ("Partner.Example", True, ["partner.example", ".partner.example"]),
    ("partner.example", False, ["partner.example"]),
    (".partner.example", True, [".partner.example"]),  # already the sub-domain pattern
    ("[mx.partner.example]", True, ["[mx.partner.example]"]),
    ("[mx.partner.example]:587", True, ["[mx.partner.example]:587"]),
    ("partner.example:587", True, ["partner.example:587"]),
    ("[192.0.2.1]", True, ["[192.0.2.1]"]),
])
def test_policy_keys_present_and_absent(destination, include_subdomains, keys):
    """``.domain`` is added only for a plain domain; absent removes the very keys present writes."""
    wanted_one = request(destination, include_subdomains=include_subdomains)
    assert TlsPolicyEdit.wanted_policies([wanted_one], "present", V37) == (dict.fromkeys(keys, "encrypt"), [])
    absent_one = request(destination, level=None, include_subdomains=include_subdomains)
    assert TlsPolicyEdit.wanted_policies([absent_one], "absent", V37) == ({}, keys)


def test_policies_render_and_repeat():
    """Values are rendered policies; the same policy twice (however spelt) is no conflict."""
    requests = [
        request("bank.example", "secure", {"match": ["nexthop", "dot-nexthop"], "ciphers": "high"}),
        request("a.example", "encrypt", {"connection_reuse": True}),
        request("A.example", "encrypt", {"connection_reuse": "yes"}),
        request("b.example", "encrypt", {"connection_reuse": True}),
    ]
    assert TlsPolicyEdit.wanted_policies(requests, "present", V37) == ({
        "bank.example": "secure ciphers=high match=nexthop:dot-nexthop",
        "a.example": "encrypt connection_reuse=yes",
        "b.example": "encrypt connection_reuse=yes",
    }, [])


@pytest.mark.parametrize("requests, option, problem", [
    ([request("partner.example"), request("PARTNER.example", "verify")],
     "policies", "partner.example is given twice with different policies"),
    ([request("partner.example", include_subdomains=True), request(".partner.example", "verify")],
     "policies", ".partner.example is given twice with different policies"),
    ([request("p.example", attributes={"ciphers": "high"}), request("p.example", attributes={"ciphers": "medium"})],
     "policies", "p.example is given twice with different policies"),
    ([request("Partner.Example", level=None)], "level", "partner.example: a level is required with state=present"),
    ([request("[mx.partner.example")], "destination",
     "'[mx.partner.example' is not a next-hop destination (example.com, .example.com, [mx.example.com]:587, "
     "[192.0.2.1])"),
    ([request("p.example", "maybe")], "level",
     "p.example: 'maybe' is not a TLS security level; use one of "
     "none, may, encrypt, dane, dane-only, fingerprint, verify, secure"),
])
def test_bad_policy_requests(requests, option, problem):
    assert_input_error(lambda: TlsPolicyEdit.wanted_policies(requests, "present", V37), option, problem)


@pytest.mark.parametrize("level, attributes, since, rendered", [
    ("may", {"enable_rpk": True}, (3, 9), "may enable_rpk=yes"),
    ("encrypt", {"connection_reuse": True}, (3, 4), "encrypt connection_reuse=yes"),
    ("encrypt", {"servername": "hostname"}, (3, 4), "encrypt servername=hostname"),
    ("verify", {"tafile": "/etc/postfix/ta.pem"}, (2, 11), "verify tafile=/etc/postfix/ta.pem"),
    ("encrypt", {"ciphers": "high"}, (2, 6), "encrypt ciphers=high"),
    ("verify", {"match": "hostname"}, (2, 5), "verify match=hostname"),
])
def test_attribute_version_gates(level, attributes, since, rendered):
    """An attribute is refused, naming the attribute and both versions, on the release before its own."""
    (name,) = attributes
    older = (since[0], since[1] - 1, 7)
    assert_input_error(lambda: TlsPolicyEdit.wanted_policies([request("p.example", level, attributes)],
                                                             "present", older),
                       "attributes.%s" % name, "p.example: needs Postfix %d.%d or later; this host runs %d.%d.7"
                       % (since + older[:2]))
    assert TlsPolicyEdit.wanted_policies([request("p.example", level, attributes)], "present", since + (0,)) == \
        ({"p.example": rendered}, [])


@pytest.mark.parametrize("level, version, problem", [
    ("dane", (2, 10, 0), "level dane needs Postfix 2.11 or later"),
    ("dane-only", (2, 10, 0), "level dane-only needs Postfix 2.11 or later"),
    ("fingerprint", (2, 4, 0), "level fingerprint needs Postfix 2.5 or later"),
])
def test_level_version_gates(level, version, problem):
    assert_input_error(lambda: TlsPolicyEdit.wanted_policies([request("p.example", level)], "present", version),
                       "level", "p.example: " + problem)
