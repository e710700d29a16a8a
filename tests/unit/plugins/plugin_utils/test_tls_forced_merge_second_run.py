"""tls_forced_merge on the second advisor run: what the first run applied is never taken back.

Found by extensions/molecule/tls_advisor: the inventory gives ``labca.test`` at ``verify``, the first
run applies the proposal ``secure``, and the second run (no proposal: secure is in force) gave the
role ``verify`` again, a downgrade, and the run after proposed ``secure`` again (never idempotent).
"""

from __future__ import annotations

from ansible_collections.mailtls.postfix.plugins.filter.tls_forced_merge import tls_forced_merge


def _owned(merged):
    return dict((item["destination"], {"value": item["level"], "replaced": None}) for item in merged)


def test_a_given_destination_keeps_the_applied_stronger_level_on_the_second_run():
    given = [{"destination": "labca.test", "level": "verify", "include_subdomains": False}]
    first = tls_forced_merge({"labca.test": "secure", "selfsigned.test": "encrypt"}, {}, given)
    assert first == [{"destination": "labca.test", "level": "secure", "include_subdomains": False},
                     {"destination": "selfsigned.test", "level": "encrypt", "include_subdomains": False}]
    second = tls_forced_merge({}, _owned(first), given)
    assert second == first
    assert tls_forced_merge({}, _owned(second), given) == first


def test_a_given_name_without_level_keeps_the_applied_level_above_the_default():
    owned = {"partner.example": {"value": "secure", "replaced": None}}
    assert tls_forced_merge({}, owned, ["partner.example"]) == [{"destination": "partner.example", "level": "secure"}]
    # the role's tls_forced_level as strong already: the entry stays as given
    assert tls_forced_merge({}, owned, ["partner.example"], "secure") == [{"destination": "partner.example"}]


def test_a_given_level_stronger_than_the_record_wins():
    owned = {"bank.example": {"value": "encrypt", "replaced": None}}
    given = [{"destination": "bank.example", "level": "secure"}]
    assert tls_forced_merge({}, owned, given) == given


def test_given_attributes_and_levels_the_collection_does_not_order_stay_as_given():
    given = [{"destination": "pin.example", "level": "fingerprint", "attributes": {"match": "AA:BB"}},
             {"destination": "odd.example", "level": "Bogus"}]
    owned = {"pin.example": {"value": "secure", "replaced": None}, "odd.example": {"value": "secure", "replaced": None}}
    assert tls_forced_merge({}, owned, given) == sorted(given, key=lambda item: item["destination"])


def test_a_given_entry_weaker_than_an_unordered_record_value_stays():
    given = [{"destination": "x.example", "level": "encrypt"}]
    assert tls_forced_merge({}, {"x.example": {"value": "tafile", "replaced": None}}, given) == given
