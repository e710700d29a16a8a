"""The tls_forced_merge filter: applying proposals through tls_forced takes nothing back."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mailtls.postfix.plugins.filter.tls_forced_merge import tls_forced_merge


def test_proposals_alone_become_entries_without_subdomains():
    assert tls_forced_merge({"b.example": "secure", "a.example": "encrypt"}) == [
        {"destination": "a.example", "include_subdomains": False, "level": "encrypt"},
        {"destination": "b.example", "include_subdomains": False, "level": "secure"}]


def test_what_is_forced_already_stays_and_a_second_run_gives_the_same_list():
    first = tls_forced_merge({"a.example": "encrypt"}, [], [])
    forced = [{"destination": item["destination"], "level": item["level"]} for item in first]
    assert tls_forced_merge({}, forced, []) == first


def test_the_inventorys_entries_are_kept_as_given_and_a_proposal_raises_their_level():
    given = ["partner.example", {"destination": "bank.example", "level": "secure", "attributes": {"match": "nexthop"}}]
    forced = [{"destination": "partner.example", "level": "encrypt"}, {"destination": ".partner.example", "level": "encrypt"},
              {"destination": "old.example", "level": "verify"}, {"destination": ".old.example", "level": "verify"}]
    merged = tls_forced_merge({"partner.example": "secure"}, forced, given)
    assert merged == [
        {"destination": "bank.example", "level": "secure", "attributes": {"match": "nexthop"}},
        {"destination": "old.example", "level": "verify", "include_subdomains": True},
        {"destination": "partner.example", "level": "secure"}]


def test_anything_but_proposals_is_refused():
    with pytest.raises(AnsibleFilterError, match="proposals"):
        tls_forced_merge(["a.example"])
