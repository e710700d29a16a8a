"""A table given as a file (issue 20): the pure parsing of src (plan/table_src.py), the requests it makes
(plan/tls_policy.py) and the bounded report of a large change (plan/table_plan.py). No files, no postmap.
"""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.table import TableChange
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.table_types import table_document
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.table_plan import REPORT_SAMPLE, \
    reported_change
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.table_src import (
    csv_policies,
    postfix_policies,
    source_entries,
    source_policies,
    yaml_policies,
)
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.tls_policy import (
    policy_requests,
    wanted_policies,
)

PARAMS = dict(destination=None, destinations=None, policies=None, level=None, attributes={}, include_subdomains=False)


def entries(text, table_type="hash"):
    return source_entries(table_document(table_type, text))


def refused(call, *args):
    with pytest.raises(InputError) as caught:
        call(*args)
    message = str(caught.value)
    assert message.startswith("src: ") or message.startswith("src_format: "), message
    return message


def test_a_postfix_source_reads_as_postmap_reads_it():
    text = "# partners\nA.example OK\n\nb.example\tREJECT  text here \nc.example smtp:[relay]:587\n  x.example\n"
    assert entries(text) == {"A.example": "OK", "b.example": "REJECT  text here",
                             "c.example": "smtp:[relay]:587  x.example"}
    assert entries("") == {}
    assert entries("a OK\r\nb REJECT\r\n") == {"a": "OK", "b": "REJECT"}


def test_pattern_sources_keep_their_patterns():
    assert entries("/^user@(.*)$/ REJECT no\n", "regexp") == {"/^user@(.*)$/": "REJECT no"}
    assert entries("192.0.2.0/24 OK\n", "cidr") == {"192.0.2.0/24": "OK"}
    assert "if/endif" in refused(entries, "if /a/\n/b/ OK\nendif\n", "regexp")


@pytest.mark.parametrize("text, said", [
    ("a.example OK\nlonely\n", "line 2: key 'lonely' has no value"),
    ("  a.example OK\n", "line 1 starts with whitespace"),
    ("# c\n\tcontinued\nb OK\n", "line 2 starts with whitespace"),
    ("a.example OK\nA.EXAMPLE REJECT\n", "line 2: key 'A.EXAMPLE' is given again (first on line 1)"),
    ("a.example O\0K\n", "line 1 holds a NUL byte"),
])
def test_lines_postmap_would_refuse_name_src_and_the_line(text, said):
    assert said in refused(entries, text)


def test_no_error_holds_a_value():
    secret = "user:hunter2"
    for text in ("[relay]:587 %s\n[relay]:587 %s\n" % (secret, secret), "a %s\nb\n" % secret,
                 "a %s\0\n" % secret):
        assert "hunter2" not in refused(entries, text)


def test_policy_sources_in_each_format_make_the_same_requests():
    postfix = "a.example encrypt protocols=>=TLSv1.2\n[mx.b.example]:587 secure match=nexthop:dot-nexthop\n"
    csv_text = ("destination,level,attributes,include_subdomains\n"
                "a.example,encrypt,protocols=>=TLSv1.2,no\n"
                "\"[mx.b.example]:587\",secure,match=nexthop:dot-nexthop,\n")
    yaml_text = ("- {destination: a.example, level: encrypt, attributes: {protocols: '>=TLSv1.2'}}\n"
                 "- destination: '[mx.b.example]:587'\n  level: secure\n  attributes: {match: [nexthop, dot-nexthop]}\n")
    results = []
    for text, src_format in ((postfix, "postfix"), (csv_text, "csv"), (yaml_text, "yaml")):
        requests = policy_requests(PARAMS, source_policies(text, src_format))
        results.append(wanted_policies(requests, "present", (3, 7)))
    assert results[0] == results[1] == results[2] == ({
        "a.example": "encrypt protocols=>=TLSv1.2",
        "[mx.b.example]:587": "secure match=nexthop:dot-nexthop"}, [])


def test_empty_cells_and_fields_take_the_top_level_defaults():
    params = dict(PARAMS, level="may", include_subdomains=True)
    requests = policy_requests(params, csv_policies("a.example\nb.example,encrypt,,no\n"))
    assert wanted_policies(requests, "present", (3, 7))[0] == {
        "a.example": "may", ".a.example": "may", "b.example": "encrypt"}
    requests = policy_requests(params, yaml_policies("- destination: c.example\n"))
    assert wanted_policies(requests, "present", (3, 7))[0] == {"c.example": "may", ".c.example": "may"}


@pytest.mark.parametrize("text, said", [
    ("a.example,bogus\n", "row 1: level 'bogus' is not a TLS security level"),
    ("a.example,may,,maybe\n", "row 1: include_subdomains must be yes or no"),
    ("a.example,may,,no,extra\n", "row 1 has 5 columns"),
    ("\"a.example\nb.example\",may\n", "row 2: destination holds a newline"),
    ("\"a.example\tb\",may\n", "row 1: destination holds a tab"),
    ("a.example,verify,\"match=a\nb\"\n", "attributes holds a newline"),
    ("a.example,verify,match\n", "row 1: 'match' is not an attribute=value pair"),
    ("a.example,encrypt,match=nexthop\n", "row 1: attributes.match: a.example: does not apply to level encrypt"),
    ("x y,may\n", "row 1: destination: 'x y' is not a next-hop destination"),
    ("a.example,may\nA.example,encrypt\n", "row 2: a.example is given twice with different policies"),
])
def test_bad_csv_rows_are_refused_naming_src_and_the_row(text, said):
    def run():
        wanted_policies(policy_requests(PARAMS, csv_policies(text)), "present", (3, 7))
    assert said in refused(run)


@pytest.mark.parametrize("text, said", [
    ("a: b\n", "must be a YAML list of policies"),
    ("- just text\n", "item 1 is not a mapping"),
    ("- {destination: a.example, levle: may}\n", "item 1: unknown field levle"),
    ("- {destination: a.example, level: maybe}\n", "item 1: level 'maybe' is not a TLS security level"),
    ("- {destination: \"a\\nb\", level: may}\n", "item 1: destination must be one line of text"),
    ("- {destination: a.example, level: may, attributes: [x]}\n", "item 1: attributes must be a mapping"),
    ("- {destination: a.example, level: may, include_subdomains: maybe}\n", "include_subdomains must be true"),
    ("- [unclosed\n", "is not valid YAML"),
])
def test_bad_yaml_is_refused_naming_src_and_the_item(text, said):
    assert said in refused(yaml_policies, text)


def test_a_postfix_policy_source_checks_every_attribute():
    assert "destination a.example: 'protocols' is not an attribute=value pair" in refused(
        postfix_policies, "a.example encrypt protocols\n")
    assert "attribute 'ciphers' is given twice" in refused(postfix_policies, "a.example encrypt ciphers=high ciphers=low\n")

    def run():
        wanted_policies(policy_requests(PARAMS, postfix_policies("a.example encrypt ciphers=bogus\n")), "present", (3, 7))
    assert "destination a.example: attributes.ciphers" in refused(run)


def test_a_large_change_reports_counts_and_a_bounded_sample():
    change = TableChange()
    change.added = ["k%d" % index for index in range(REPORT_SAMPLE * 3)]
    change.removed = ["gone"]
    sample = reported_change(change)
    assert sample["added"] == change.added[:REPORT_SAMPLE] and sample["added_count"] == REPORT_SAMPLE * 3
    assert sample["removed"] == ["gone"] and sample["removed_count"] == 1
    assert sample["updated"] == [] and sample["updated_count"] == 0
    assert reported_change(change, report_all=True)["added"] == change.added
