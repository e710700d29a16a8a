"""The summary's pre-flight line for an entry probed as Postfix applies it (its own policy probe).

Found in extensions/molecule/tls_dane: a dane-only destination whose DANE probe passed was
summed up as "takes encrypt" (the general probe's strongest level), and one the pre-flight
refused in check mode as "takes encrypt" too.
"""

from __future__ import annotations

from ansible_collections.mailtls.postfix.plugins.plugin_utils.profile_summary import summary

GENERAL = {"may": True, "encrypt": True, "verify": False, "secure": False}


def probes(**policies):
    return {"probes": dict((name.replace("_", "."), {"passes": GENERAL, "policy": policy})
                           for name, policy in policies.items())}


def test_the_policy_probe_names_the_level():
    state = probes(lab_test={"level": "dane-only", "passes": True, "trust": "Verified", "errors": []},
                   plain_test={"level": "dane-only", "passes": False, "trust": "Untrusted", "errors": [],
                               "no_tlsa": True})
    assert summary(state) == ["pre-flight lab.test: takes dane-only", "pre-flight plain.test: does not take dane-only"]


def test_without_a_policy_probe_the_general_one_speaks():
    assert summary({"probes": {"a.example": {"passes": GENERAL}}}) == ["pre-flight a.example: takes encrypt"]
    assert summary({"probes": {"a.example": {"passes": GENERAL, "policy": None}}}) == ["pre-flight a.example: takes encrypt"]
