"""MTA-STS and TLS-RPT documents (model/mta_sts.py): RFC 8461's policy file, its parser, the id, MX patterns,
RFC 8460's rua URIs; hostile text (non-ASCII bytes, a CR inside a line, a field smuggled into a value)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.mta_sts import (
    MAX_AGE_LIMIT, PolicyError, canonical_patterns, check_id, check_max_age, check_pattern, parse_policy,
    parse_sts_record, policy_id, policy_text, sts_record, tlsrpt_record, tlsrpt_uri, txt_line, wildcard_matches)

# RFC 8461 section 3.2's ABNF, written out here as the test's own oracle (field by field, LF or CRLF).
ABNF_LINE = re.compile(r"(version: STSv1|mode: (enforce|testing|none)|mx: (\*\.)?[a-z0-9.-]+|max_age: [0-9]{1,10})\Z")


# --- the policy file ---------------------------------------------------------------------------

def test_the_policy_is_crlf_fields_version_first_patterns_canonical():
    text = policy_text("enforce", ["MX2.Example.org.", "mx1.example.org", "mx1.example.org"], 86400)
    assert text == ("version: STSv1\r\nmode: enforce\r\nmx: mx1.example.org\r\nmx: mx2.example.org\r\n"
                    "max_age: 86400\r\n")


def test_the_parser_reads_what_the_generator_writes():
    text = policy_text("testing", ["*.example.org", "mx.example.net"], 0)
    assert parse_policy(text) == {"version": "STSv1", "mode": "testing", "mx": ["*.example.org", "mx.example.net"],
                                  "max_age": 0, "extensions": {}}


def test_the_parser_takes_lf_only_extra_blanks_and_unknown_fields():
    # Section 3.2: sts-policy-term = LF / CRLF; field-delim = ":" *WSP; unknown fields are ignored by senders.
    found = parse_policy(b"version:STSv1\nmode:\tenforce  \nmx: MX.example.org\nfuture_field: x-1\nmax_age: 5\n\n")
    assert found["mode"] == "enforce" and found["mx"] == ["mx.example.org"]
    assert found["extensions"] == {"future_field": "x-1"}


@pytest.mark.parametrize("text, problem", [
    ("version: STSv1\r\nmode: enforce\r\nmax_age: 86400\r\n", "no mx field"),
    ("version: STSv1\r\nmode: testing\r\nmax_age: 86400\r\n", "no mx field"),
    ("mode: enforce\r\nmx: a.example\r\nmax_age: 1\r\n", "no version field"),
    ("version: STSv2\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 1\r\n", "version 'STSv2' is not STSv1"),
    ("version: STSv1\r\nmode: Enforce\r\nmx: a.example\r\nmax_age: 1\r\n", "mode 'Enforce'"),
    ("version: STSv1\r\nmode: enforce\r\nmode: none\r\nmx: a.example\r\nmax_age: 1\r\n", "mode is given twice"),
    ("version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 31557601\r\n", "max_age '31557601'"),
    ("version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: -1\r\n", "max_age '-1'"),
    ("version: STSv1\r\nmode: enforce\r\nmx: a.example\r\n", "no max_age field"),
    ("version: STSv1\r\nmode: enforce\r\nmx: *.*.example\r\nmax_age: 1\r\n", "line 3"),
    ("version: STSv1\r\nmode: enforce\r\nmx: mx*.example\r\nmax_age: 1\r\n", "wildcard"),
    ("version: STSv1\r\nmode: enforce\r\nmx: a.example b.example\r\nmax_age: 1\r\n", "line 3"),
    # A CR inside a line: a second field hidden in the first one's value, as some clients split on CR.
    ("version: STSv1\r\nmode: testing\rmode: enforce\r\nmx: a.example\r\nmax_age: 1\r\n", "carriage return"),
    ("version: STSv1\r\nmode enforce\r\nmx: a.example\r\nmax_age: 1\r\n", "not a 'name: value' field"),
    (" version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 1\r\n", "not a 'name: value' field"),
    ("version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 1\r\nx=y: 1\r\n", "not a field"),
])
def test_the_parser_names_the_problem(text, problem):
    with pytest.raises(PolicyError, match=re.escape(problem)):
        parse_policy(text)


def test_mode_none_needs_no_mx():
    assert parse_policy("version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n")["mx"] == []


def test_non_ascii_bytes_are_refused_with_their_place():
    data = b"version: STSv1\r\nmode: enforce\r\nmx: \xff.example\r\nmax_age: 1\r\n"
    with pytest.raises(PolicyError, match="byte %d is not ASCII" % data.index(b"\xff")):
        parse_policy(data)


@pytest.mark.parametrize("value", [-1, MAX_AGE_LIMIT + 1, True, "86400", 1.5, None])
def test_max_age_outside_the_rfc_is_refused_naming_the_option(value):
    with pytest.raises(InputError, match=r"^receiving.mta_sts.max_age: .* 0 to 31557600"):
        check_max_age(value, "receiving.mta_sts.max_age")


@pytest.mark.parametrize("value", [0, 86400, MAX_AGE_LIMIT])
def test_max_age_bounds_are_kept(value):
    assert check_max_age(value, "m") == value


# --- MX patterns (RFC 8461 section 4.1) ---------------------------------------------------------

@pytest.mark.parametrize("pattern, name, matches", [
    ("*.example.com", "mx.example.com", True),
    ("*.example.com", "MX.Example.COM.", True),
    ("*.Example.com", "mx.example.com", True),
    ("*.example.com", "example.com", False),
    ("*.example.com", "a.b.example.com", False),
    ("*.example.com", ".example.com", False),
    ("*.example.com", "mx.example.com.evil", False),
    ("mx.example.com", "mx.example.com", True),
    ("mx.example.com", "a.mx.example.com", False),
    ("mx.example.com", "mx.example.co", False),
])
def test_a_wildcard_matches_exactly_one_leftmost_label(pattern, name, matches):
    assert wildcard_matches(pattern, name) is matches


@pytest.mark.parametrize("pattern", ["*", "*.", "**.example", "mx.*.example", "*example.com", "a..example",
                                     "-a.example", "a_b.example", "m\u00fc.example", "mx.example.com\n",
                                     "mx.example\tcom", "1.2.3.4", "a" * 64 + ".example", ""])
def test_patterns_the_rfc_does_not_allow_are_refused_naming_the_option(pattern):
    with pytest.raises(InputError, match=r"^receiving.mta_sts.mx\[0\]: "):
        check_pattern(pattern, "receiving.mta_sts.mx[0]")


@settings(max_examples=300, deadline=None)
@given(labels=st.lists(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True), min_size=1, max_size=5),
       first=st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True))
def test_property_a_wildcard_covers_one_label_and_no_more(labels, first):
    domain = ".".join(labels)
    assert wildcard_matches("*." + domain, first + "." + domain)
    assert not wildcard_matches("*." + domain, domain)
    assert not wildcard_matches("*." + domain, first + "." + first + "." + domain)
    assert wildcard_matches("*." + domain.upper(), (first + "." + domain).upper())


# --- the id (RFC 8461 section 3.1) --------------------------------------------------------------

_PATTERNS = st.lists(st.from_regex(r"(\*\.)?[a-z]{1,5}\.(example|test)", fullmatch=True), min_size=1, max_size=4)
_POLICIES = st.tuples(st.sampled_from(["enforce", "testing", "none"]), _PATTERNS,
                      st.integers(min_value=0, max_value=MAX_AGE_LIMIT))


@settings(max_examples=500, deadline=None)
@given(policy=_POLICIES)
def test_property_the_id_is_stable_and_allowed(policy):
    text = policy_text(*policy)
    assert policy_id(text) == policy_id(policy_text(*policy))
    assert re.fullmatch(r"[A-Za-z0-9]{1,32}", policy_id(text))
    assert parse_sts_record(sts_record(policy_id(text)))["id"] == policy_id(text)


@settings(max_examples=500, deadline=None)
@given(one=_POLICIES, other=_POLICIES)
def test_property_the_id_changes_exactly_when_the_policy_does(one, other):
    same = (one[0], canonical_patterns(one[1]), one[2]) == (other[0], canonical_patterns(other[1]), other[2])
    assert (policy_id(policy_text(*one)) == policy_id(policy_text(*other))) is same


@settings(max_examples=300, deadline=None)
@given(policy=_POLICIES, order=st.randoms())
def test_property_pattern_order_and_case_do_not_change_the_policy(policy, order):
    mode, patterns, max_age = policy
    shuffled = [pattern.upper() for pattern in patterns]
    order.shuffle(shuffled)
    assert policy_text(mode, shuffled, max_age) == policy_text(*policy)


@settings(max_examples=300, deadline=None)
@given(policy=_POLICIES)
def test_property_every_line_follows_the_abnf_and_ends_in_crlf(policy):
    text = policy_text(*policy)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")[:-1]
    assert lines[0] == "version: STSv1"
    assert all(ABNF_LINE.match(line) for line in lines), lines
    found = parse_policy(text)
    assert (found["mode"], found["mx"], found["max_age"]) == (policy[0], canonical_patterns(policy[1]), policy[2])


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=200))
def test_property_the_parser_only_ever_says_policy_error(text):
    try:
        found = parse_policy(text)
    except PolicyError:
        return
    assert found["version"] == "STSv1" and found["mode"] in ("enforce", "testing", "none")


@pytest.mark.parametrize("value", ["", "a" * 33, "abc-def", "abc def", "ab;c", "ab=c", "\u00e9t\u00e9", "ab\n"])
def test_an_id_the_rfc_forbids_is_refused_naming_the_option(value):
    with pytest.raises(InputError, match=r"^receiving.mta_sts.id: .*1 to 32 letters and digits"):
        check_id(value, "receiving.mta_sts.id")


def test_the_sts_record():
    assert sts_record("20260101T000000") == "v=STSv1; id=20260101T000000"
    assert parse_sts_record("v=STSv1;id=abc;  ext=1;")["extensions"] == {"ext": "1"}
    for bad in ("v=STSv2; id=a", "id=a; v=STSv1", "v=STSv1", "v=STSv1; id=a; id=b", "v=STSv1; id=a-b"):
        with pytest.raises(PolicyError):
            parse_sts_record(bad)


# --- TLS-RPT (RFC 8460 section 3) ---------------------------------------------------------------

@pytest.mark.parametrize("uri, kept", [
    ("mailto:tlsrpt@example.org", "mailto:tlsrpt@example.org"),
    ("MAILTO:Reports@Example.ORG", "mailto:Reports@example.org"),
    ("mailto:a!b@example.org", "mailto:a%21b@example.org"),
    ("https://reports.example.org/tlsrpt", "https://reports.example.org/tlsrpt"),
    ("https://reports.example.org:8443/a,b;c!d?x=1", "https://reports.example.org:8443/a%2Cb%3Bc%21d?x=1"),
    ("https://reports.example.org", "https://reports.example.org"),
])
def test_rua_uris_are_kept_with_commas_semicolons_and_bangs_encoded(uri, kept):
    assert tlsrpt_uri(uri, "rua") == kept


@pytest.mark.parametrize("uri, problem", [
    ("http://reports.example.org/", "mailto: or https: URIs only"),
    ("ftp://reports.example.org/", "mailto: or https: URIs only"),
    ("tlsrpt@example.org", "mailto: or https: URIs only"),
    ("mailto:a@example.org,b@example.org", "several addresses"),
    ("mailto:a@example.org?subject=x", "one address"),
    ("mailto:@example.org", "one address"),
    ("mailto:a@[192.0.2.1]", "not a domain name"),
    ("mailto:a b@example.org", "not a URI"),
    ('mailto:a"b@example.org', "not a URI"),
    ("mailto:a\\b@example.org", "not a URI"),
    ("mailto:r\u00e9ports@example.org", "not a URI"),
    ("mailto:a@example.org\n; v=TLSRPTv1", "not a URI"),
    ("https://user@reports.example.org/", "no user information"),
    ("https://reports.example.org/#frag", "no fragment"),
    ("https://reports.example.org:0/", "port"),
    ("https://reports.example.org:99999/", "port"),
    ("https:reports.example.org", "https://host/path"),
    ("https://reports.example.org/%zz", "not a URI"),
])
def test_rua_uris_that_are_not_mailto_or_https_or_not_uris_are_refused(uri, problem):
    with pytest.raises(InputError, match=r"^receiving.mta_sts.tlsrpt_rua\[0\]: .*" + re.escape(problem)):
        tlsrpt_uri(uri, "receiving.mta_sts.tlsrpt_rua[0]")


@settings(max_examples=300, deadline=None)
@given(path=st.text(alphabet="abc/,;!?=&%20", max_size=20))
def test_property_an_encoded_rua_never_holds_a_delimiter_of_the_record(path):
    try:
        uri = tlsrpt_uri("https://r.example/" + path, "rua")
    except InputError:
        return
    assert not set(uri) & set(",;! \t\"\\")
    record = tlsrpt_record([uri, "mailto:a@example.org"])
    # The record splits back into exactly its fields and its URIs (RFC 8460 section 3's ABNF).
    version, rua = record.split("; ")
    assert version == "v=TLSRPTv1" and rua[len("rua="):].split(",") == [uri, "mailto:a@example.org"]


def test_txt_lines_split_long_texts_into_255_octet_strings():
    assert txt_line("_mta-sts.example.org", "v=STSv1; id=a") == '_mta-sts.example.org. IN TXT "v=STSv1; id=a"'
    long = "v=TLSRPTv1; rua=" + ",".join("mailto:r%d@example.org" % index for index in range(20))
    strings = re.findall(r'"([^"]*)"', txt_line("_smtp._tls.example.org.", long))
    assert "".join(strings) == long and max(len(string) for string in strings) == 255
