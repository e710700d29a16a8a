"""tls_receiving's MTA-STS variables: mapped to tls_profile's receiving.mta_sts, and its messages told back."""

from __future__ import annotations

import os

import yaml

from ansible_collections.mailtls.postfix.plugins.plugin_utils.role_declarations import in_role_words, tls_receiving

ROLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "tls_receiving")


def variables(**given):
    """The role's defaults without their prefix, changed by ``given``."""
    with open(os.path.join(ROLE, "defaults", "main.yml")) as handle:
        found = dict((name[len("tls_receiving_"):], value) for name, value in yaml.safe_load(handle).items())
    found.update(given)
    return found


def test_off_by_default_no_key_at_all():
    assert "mta_sts" not in tls_receiving(variables())["receiving"]


def test_on_every_variable_lands_in_its_option_and_empty_ones_are_left_out():
    receiving = tls_receiving(variables(mta_sts=True))["receiving"]
    assert receiving["mta_sts"] == {"mode": "testing", "domains": [], "mx_names": [], "other_mx_names": [], "mx": [],
                                    "max_age": 604800, "tlsrpt_rua": []}
    given = variables(mta_sts="yes", mta_sts_mode="enforce", mta_sts_domains=["example.org"],
                      mta_sts_mx_names=["mx1.example.org"], mta_sts_other_mx_names=["mx2.example.org"],
                      mta_sts_mx=["*.example.org"], mta_sts_max_age="86400", mta_sts_id="abc",
                      mta_sts_policy_file="/var/www/.well-known/mta-sts.txt", mta_sts_records_file="/tmp/sts.zone",
                      tlsrpt_rua=["mailto:tls@example.org"])
    assert tls_receiving(given)["receiving"]["mta_sts"] == {
        "mode": "enforce", "domains": ["example.org"], "mx_names": ["mx1.example.org"],
        "other_mx_names": ["mx2.example.org"], "mx": ["*.example.org"], "max_age": 86400, "id": "abc",
        "policy_file": "/var/www/.well-known/mta-sts.txt", "records_file": "/tmp/sts.zone",
        "tlsrpt_rua": ["mailto:tls@example.org"]}


def test_a_refusal_names_the_role_variable():
    told = in_role_words("receiving.mta_sts.mode: enforce refused, nothing was written: receiving.mta_sts.mx: no "
                         "pattern covers the MX name mx.example.org", ["tls_receiving"])
    assert told.startswith("tls_receiving_mta_sts_mode (option receiving.mta_sts.mode): enforce refused")
    assert "tls_receiving_mta_sts_mx (option receiving.mta_sts.mx): no pattern" in told
    assert in_role_words("declarations[0].receiving.mta_sts.tlsrpt_rua[0]: 'http://x' ...", ["tls_receiving"]) \
        .startswith("tls_receiving_tlsrpt_rua (option declarations[0].receiving.mta_sts.tlsrpt_rua)[0]")
