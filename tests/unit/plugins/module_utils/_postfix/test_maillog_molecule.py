"""The advisor on the real logs of extensions/molecule/tls_advisor, one per Postfix version.

Each sender (Debian 11: Postfix 3.5, 12: 3.7, 13: 3.10, forky: 3.11) sent three rounds of real mail
to labca.test (a lab CA's certificate, trusted by the senders, level verify in force), selfsigned.test
(a self-signed certificate, level may) and plain.test (no STARTTLS), then, after the proposals were
applied (labca.test secure, selfsigned.test encrypt), one mail to each; then selfsigned.test stopped
offering STARTTLS and one more mail to it was deferred. header_checks logged every Subject, one of them
crafted as a Verified TLS line for plain.test. The logs are kept as Postfix wrote them (maillog_file).

Each test reads a log with the advisor's reader and checks the verdicts the scenario saw: the
proposals of the first advisor run (the log up to the first mail after applying), nothing proposed
and the TLS deferral as a fail problem at the end.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.advice import policy_for, problems, propose
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.delivery_log import LogReader

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "maillog"
VERSIONS = ["3.5", "3.7", "3.10", "3.11"]
REFERENCE = datetime(2026, 12, 31, tzinfo=timezone.utc)
# The scenario's thresholds (molecule.yml: tls_advisor_min_deliveries 3, tls_advisor_min_days 0).
MIN_DELIVERIES, MIN_DAYS = 3, 0
# The first mail sent after applying: header_checks logged its Subject (verify.yml).
AFTER = b"header Subject: advisor lab after from "


def log_lines(version):
    return (FIXTURES / ("postfix%s-molecule.log" % version.replace(".", ""))).read_bytes().splitlines(True)


def read(lines):
    reader = LogReader(local_zone=timezone.utc)
    total, skipped = reader.read(lines, REFERENCE)
    return reader, total, skipped


def outcomes(log):
    return dict((name, number) for name, number in log.outcomes.items() if number)


def before_apply(lines):
    cut = next(index for index, line in enumerate(lines) if AFTER in line)
    return lines[:cut]


def verdicts(reader, in_force):
    found = {}
    for domain, log in sorted(reader.destinations.items()):
        policy = policy_for(domain, in_force, "may", "hash:/etc/postfix/tls_policy")
        found[domain] = (propose(domain, log, policy, MIN_DELIVERIES, MIN_DAYS)["level"],
                         [(item["kind"], item["severity"]) for item in problems(log, policy)])
    return found


CRAFTED = b"header Subject: postfix/smtp[1]: Verified TLS connection established to plain.test"


@pytest.mark.parametrize("version", VERSIONS)
def test_every_line_is_read_and_the_log_is_the_versions(version):
    lines = log_lines(version)
    reader, total, skipped = read(lines)
    assert total == len(lines)
    # Every line is read, the crafted Subject's cleanup line too (another program's line, no garbage).
    assert skipped == 0 and len([line for line in lines if CRAFTED in line]) == 1
    # Postfix 3.11 adds the policy level to each delivery line (postconf(5): smtp_log_tls_feature_status)
    has_field = any(b", tls=" in line and b" status=" in line for line in lines)
    assert has_field == (version == "3.11")


@pytest.mark.parametrize("version", VERSIONS)
def test_the_deliveries_and_tls_outcomes_of_the_whole_run(version):
    reader, _total, _skipped = read(log_lines(version))
    got = dict((domain, (log.deliveries, outcomes(log), log.tls_deferrals)) for domain, log in reader.destinations.items())
    # 3 rounds and 1 mail after applying to each; then 1 deferred to selfsigned.test without STARTTLS.
    assert got == {"labca.test": (4, {"verified": 4}, 0),
                   "selfsigned.test": (4, {"untrusted": 4}, 1),
                   "plain.test": (4, {"plaintext": 4}, 0)}
    labca = reader.destinations["labca.test"]
    assert sorted(labca.mx_hosts) == ["labca.test"] and labca.dane == 0
    assert set(labca.protocols) == {"TLSv1.3"}
    assert reader.destinations["selfsigned.test"].samples[0].startswith(
        "TLS is required, but was not offered by host selfsigned.test[")


@pytest.mark.parametrize("version", VERSIONS)
def test_the_first_runs_proposals_secure_encrypt_and_nothing(version):
    """What converge.yml asserted: the log up to the first mail after applying, the policy then in force."""
    reader, _total, _skipped = read(before_apply(log_lines(version)))
    assert verdicts(reader, {"labca.test": "verify"}) == {
        "labca.test": ("secure", []), "selfsigned.test": ("encrypt", []), "plain.test": (None, [])}
    plain = reader.destinations["plain.test"]
    assert outcomes(plain) == {"plaintext": 3}  # the crafted Subject is no Verified delivery


@pytest.mark.parametrize("version", VERSIONS)
def test_after_applying_nothing_is_proposed_and_the_deferral_is_a_failure(version):
    reader, _total, _skipped = read(log_lines(version))
    assert verdicts(reader, {"labca.test": "secure", "selfsigned.test": "encrypt"}) == {
        "labca.test": (None, []), "selfsigned.test": (None, [("tls_deferred_forced", "fail")]), "plain.test": (None, [])}


@pytest.mark.parametrize("version", VERSIONS)
def test_the_crafted_subject_stands_in_the_real_log_and_counts_for_nothing(version):
    lines = log_lines(version)
    crafted = [line for line in lines if CRAFTED in line]
    assert len(crafted) == 1 and b" postfix/cleanup[" in crafted[0]
    without = [line for line in lines if line not in crafted]
    assert read(without)[0].destinations["plain.test"].outcomes == read(lines)[0].destinations["plain.test"].outcomes


def test_postfix_3_11_says_the_level_of_each_delivery():
    """verify before applying, secure after it; may:none to plain.test; !encrypt for the deferral."""
    lines = log_lines("3.11")
    fields = {}
    for line in lines:
        if b" status=" in line and b", tls=" in line:
            domain = line.split(b"to=<probe@", 1)[1].split(b">", 1)[0].decode()
            fields.setdefault(domain, []).append(line.split(b", tls=", 1)[1].split(b",", 1)[0].decode())
    assert fields == {"labca.test": ["verify"] * 3 + ["secure"], "selfsigned.test": ["may"] * 3 + ["encrypt", "!encrypt"],
                      "plain.test": ["may:none"] * 4}
    reader, _total, _skipped = read(lines)
    # the Verified delivery under secure is no ground for secure again (docs/tls-advisor.md, Postfix 3.11)
    assert reader.destinations["labca.test"].verified_elsewhere == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_a_real_cleanup_line_with_a_crafted_subject_is_not_garbage(version):
    lines = [line for line in log_lines(version) if CRAFTED in line]
    reader, total, skipped = read(lines)
    assert (total, skipped) == (1, 0) and reader.destinations == {} and reader.verdict_lines == 0
    blocks = LogReader(local_zone=timezone.utc)
    assert blocks.read_blocks([b"".join(lines).rstrip(b"\n")], REFERENCE) == (1, 0) and blocks.destinations == {}
