"""The tls_forced_merge filter: applying proposals through tls_forced takes nothing back."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mailtls.postfix.plugins.filter.tls_forced_merge import tls_forced_merge


def test_proposals_alone_become_entries_without_subdomains():
    assert tls_forced_merge({"b.example": "secure", "a.example": "encrypt"}) == [
        {"destination": "a.example", "include_subdomains": False, "level": "encrypt"},
        {"destination": "b.example", "include_subdomains": False, "level": "secure"}]


def test_what_the_role_wrote_stays_and_a_second_run_gives_the_same_list():
    first = tls_forced_merge({"a.example": "encrypt"}, {}, [])
    owned = dict((item["destination"], {"value": item["level"], "replaced": None}) for item in first)
    assert tls_forced_merge({}, owned, []) == first


def test_the_inventorys_entries_are_kept_as_given_and_a_proposal_raises_their_level():
    given = ["partner.example", {"destination": "bank.example", "level": "secure", "attributes": {"match": "nexthop"}}]
    owned = {"partner.example": {"value": "encrypt", "replaced": None}, ".partner.example": {"value": "encrypt", "replaced": None},
             "old.example": {"value": "verify", "replaced": None}, ".old.example": {"value": "verify", "replaced": "may"},
             "pinned.example": {"value": "secure match=nexthop", "replaced": None}}
    merged = tls_forced_merge({"partner.example": "secure"}, owned, given)
    assert merged == [
        {"destination": "bank.example", "level": "secure", "attributes": {"match": "nexthop"}},
        {"destination": "old.example", "level": "verify", "include_subdomains": True},
        {"destination": "partner.example", "level": "secure"}]


@pytest.mark.parametrize("proposals, owned", [(["a.example"], {}), ({}, ["a.example"])])
def test_anything_but_proposals_and_the_records_entries_is_refused(proposals, owned):
    with pytest.raises(AnsibleFilterError, match="tls_forced_merge: "):
        tls_forced_merge(proposals, owned)
