"""The proposal rules (plan.advice): thresholds, the level the evidence supports, never a downgrade."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.maillog import Tls
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.advice import (
    check_thresholds, parse_when, policy_for, problems, propose, regroup, report)
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.delivery_log import DestinationLog

START = datetime(2026, 12, 1, tzinfo=timezone.utc)
MAY = {"entry": None, "key": None, "level": "may", "source": "smtp_tls_security_level"}
VERIFY = {"entry": "verify", "key": "example.com", "level": "verify", "source": "hash:/t"}


def log_of(verdicts, days=3, host="mx1.example.com", dane=False):
    log = DestinationLog()
    for index, verdict in enumerate(verdicts):
        log.seen(START + timedelta(days=days * index / max(len(verdicts) - 1, 1)))
        tls = None if verdict in ("plaintext", "unknown") else Tls(verdict, host + "[192.0.2.1]:25", host, "TLSv1.3",
                                                                   "TLS_AES_256_GCM_SHA384", dane)
        log.sent(host, verdict, tls)
    return log


def test_every_delivery_verified_under_verify_proposes_secure_with_its_evidence():
    proposal = propose("example.com", log_of(["verified"] * 12), VERIFY, 10, 3)
    assert proposal == {"level": "secure",
                        "evidence": "12 deliveries in 3 days, every one Verified, to every MX host seen (1)"}


@pytest.mark.parametrize("policy, host", [(MAY, "mx1.example.com"), (VERIFY, "mx1.example.net")])
def test_verified_is_no_ground_for_secure_unless_under_verify_and_every_mx_under_the_destination(policy, host):
    # Under may a Verified came under another policy (fingerprint, DANE, since changed); secure
    # matches the next hop and its sub-domains, where verify matched the MX host's name.
    proposal = propose("example.com", log_of(["verified"] * 12, host=host), policy, 10, 3)
    # encrypt, unless verify is in force already (stronger): then nothing
    assert proposal["level"] == ("encrypt" if policy is MAY else None)
    assert "secure needs them Verified under level verify" in proposal.get("evidence", proposal.get("reason"))


def test_every_delivery_over_tls_proposes_encrypt():
    proposal = propose("example.com", log_of(["verified"] * 6 + ["untrusted"] * 6), MAY, 10, 3)
    assert proposal["level"] == "encrypt" and "6 Verified, 6 Untrusted" in proposal["evidence"]


def test_dane_only_only_where_every_delivery_was_dane_under_a_dane_level():
    dane = {"entry": "dane", "key": "example.com", "level": "dane", "source": "hash:/t"}
    assert propose("example.com", log_of(["verified"] * 12, dane=True), dane, 10, 3)["level"] == "dane-only"
    mixed = propose("example.com", log_of(["verified"] * 11 + ["untrusted"], dane=True), dane, 10, 3)
    assert mixed["level"] is None and "drop the DANE authentication" in mixed["reason"]
    # Under verify, the same "Matched DANE" line is a tafile trust anchor's: secure, not dane-only.
    assert propose("example.com", log_of(["verified"] * 12, dane=True), VERIFY, 10, 3)["level"] == "secure"


@pytest.mark.parametrize("odd", ["plaintext", "unknown"])
def test_one_plaintext_or_unknown_delivery_means_no_proposal(odd):
    proposal = propose("example.com", log_of(["verified"] * 11 + [odd]), MAY, 10, 3)
    assert proposal["level"] is None and "not known to use TLS" in proposal["reason"]


def test_below_the_thresholds_nothing_is_proposed():
    assert "min_deliveries" in propose("example.com", log_of(["verified"] * 9), MAY, 10, 3)["reason"]
    assert "min_days" in propose("example.com", log_of(["verified"] * 12, days=2), MAY, 10, 3)["reason"]


@pytest.mark.parametrize("level", ["secure", "encrypt", "verify"])
def test_never_a_downgrade_nor_the_same_level_again(level):
    policy = {"entry": level, "key": "example.com", "level": level, "source": "hash:/t"}
    proposal = propose("example.com", log_of(["untrusted"] * 12), policy, 10, 3)
    assert proposal["level"] is None and "already as strong" in proposal["reason"]


def test_an_unknown_level_in_force_is_left_alone():
    policy = {"entry": "weird", "key": "example.com", "level": "weird", "source": "hash:/t"}
    assert propose("example.com", log_of(["verified"] * 12), policy, 10, 3)["level"] is None


def test_every_mx_seen_needs_every_listed_mx_host():
    proposal = propose("example.com", log_of(["verified"] * 12), VERIFY, 10, 3,
                       mx_expected=["mx1.example.com", "mx2.example.com"])
    assert proposal == {"level": None, "reason": "MX hosts never seen in the log: mx2.example.com"}


def test_the_most_specific_policy_entry_wins():
    found = {".example.com": "encrypt", "mail.example.com": "secure"}
    assert policy_for("mail.example.com", found, "may", "s")["level"] == "secure"
    assert policy_for("x.example.com", found, "may", "s")["key"] == ".example.com"
    assert policy_for("other.example", found, "may", "s") == {"entry": None, "key": None, "level": "may", "source": "s"}


def test_problems_name_a_forced_destination_that_defers_and_a_fall_to_plaintext():
    log = log_of(["verified", "plaintext"])
    log.failed("TLS is required, but was not offered by host mx1.example.com[192.0.2.1]")
    forced = {"entry": "encrypt", "key": "example.com", "level": "encrypt", "source": "t"}
    kinds = [(item["kind"], item["severity"]) for item in problems(log, forced)]
    assert kinds == [("tls_deferred_forced", "fail"), ("tls_to_plaintext", "fail")]
    unused = problems(DestinationLog(), {"entry": "secure", "key": "a.example", "level": "secure", "source": "t"})
    assert [item["kind"] for item in unused] == ["unused_entry"]


def test_regroup_merges_domains_behind_one_next_hop():
    grouped = regroup({"a.example": log_of(["verified"] * 2), "b.example": log_of(["untrusted"] * 3)},
                      lambda domain: "[relay.example]:587")
    assert list(grouped) == ["[relay.example]:587"]
    assert grouped["[relay.example]:587"].deliveries == 5


def test_the_report_keeps_the_names_another_module_renders():
    entry = report("example.com", log_of(["verified"] * 12), MAY, {"level": "secure", "evidence": "x"})
    assert sorted(entry) == sorted(["destination", "deliveries", "outcomes", "dane", "mx_hosts", "protocols", "ciphers",
                                    "first_seen", "last_seen", "tls_deferrals", "tls_deferral_samples", "policy",
                                    "proposal", "problems"])
    assert entry["mx_hosts"][0]["outcomes"]["verified"] == 12


def test_times_and_thresholds_name_their_option():
    now = datetime(2026, 12, 2, tzinfo=timezone.utc)
    assert parse_when("7d", now, "since") == now - timedelta(days=7)
    assert parse_when("2026-12-01", now, "since") == datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert parse_when("2026-12-01T10:00:00+01:00", now, "since").utcoffset() == timedelta(hours=1)
    for bad in ("yesterday", "7 days", "2026-13-01", "7d\n"):
        with pytest.raises(InputError, match="^until: "):
            parse_when(bad, now, "until")
    with pytest.raises(InputError, match="^min_deliveries: "):
        check_thresholds(0, 3)
    with pytest.raises(InputError, match="^min_days: "):
        check_thresholds(1, -1)


@pytest.mark.parametrize("level", ["fingerprint", "dane"])
def test_verified_by_a_fingerprint_or_dane_is_no_ground_for_secure(level):
    policy = {"entry": level, "key": "example.com", "level": level, "source": "hash:/t"}
    proposal = propose("example.com", log_of(["verified"] * 12), policy, 10, 3)
    assert proposal["level"] is None  # encrypt is not stronger than fingerprint, and would drop dane's DANE


def test_postfix_3_11_dane_field_is_dane_whatever_the_level_in_force_and_never_secure():
    log = log_of(["verified"] * 12, dane="field")
    log.dane_field = 12
    assert propose("example.com", log, MAY, 10, 3)["level"] == "dane-only"
    log.dane_field = 11  # one Verified without the field: DANE's matches are no ground for secure either
    proposal = propose("example.com", log, MAY, 10, 3)
    assert proposal["level"] == "encrypt"


def test_one_delivery_is_one_delivery_not_1_deliveries():
    policy = {"entry": None, "key": None, "level": "may", "source": "t"}
    assert propose("example.com", log_of(["verified"]), policy, 10, 1)["reason"] \
        == "1 delivery, fewer than min_deliveries (10)"
    assert propose("example.com", log_of(["verified"] * 2), policy, 10, 1)["reason"] \
        == "2 deliveries, fewer than min_deliveries (10)"
    unused = problems(DestinationLog(), {"entry": "secure", "key": "a.example", "level": "secure", "source": "t"})
    assert unused[0]["message"].endswith("(0 attempts)")
