"""The summary a person reads at the end of the roles' apply, from a tls_profile result."""

from __future__ import annotations

from ansible_collections.mailtls.postfix.plugins.plugin_utils.profile_summary import summary

RESULT = {
    "postfix_installed": True, "applied": True,
    "main_cf": {"changes": {"smtp_tls_security_level": {"before": None, "after": "may"},
                            "smtp_tls_policy_maps": {"before": None, "after": "hash:/etc/postfix/tls_policy"}}},
    "policy_table": {"table": "hash:/etc/postfix/tls_policy", "added": ["a.example", ".a.example"], "updated": [],
                     "removed": ["old.example"], "kept": ["bank.example"]},
    "certificate": {"changed_files": ["/etc/ssl/certs/mx.pem"],
                    "certificate": {"not_after": "Mar  1 12:00:00 2027 GMT", "days_left": 89}},
    "probes": {"a.example": {"passes": {"may": True, "encrypt": True, "verify": False}},
               "b.example": {"passes": {"encrypt": False}, "errors": ["Failed to establish session to b.example"]}},
    "self_probe": {"status": "passed", "listeners": [{"port": 25}, {"port": 587}]},
    "reloaded": True, "restart_required": False,
    "warnings": ["smtp_tls_CAfile: the file is empty", "another"],
}


def test_a_change_is_said_in_a_few_lines():
    assert summary(RESULT) == [
        "main.cf changed: smtp_tls_policy_maps, smtp_tls_security_level",
        "policy table hash:/etc/postfix/tls_policy: 2 added, 1 removed; kept stronger: bank.example",
        "certificate: replaced /etc/ssl/certs/mx.pem (expires Mar  1 12:00:00 2027 GMT, in 89 days)",
        "pre-flight a.example: takes encrypt",
        "pre-flight b.example: Failed to establish session to b.example",
        "self-probe: passed (ports 25, 587)",
        "Postfix reloaded",
        "2 warnings: smtp_tls_CAfile: the file is empty",
    ]


def test_master_cf_services_are_named():
    state = {"master_cf": {"services": {"submission/inet": {"before": None, "after": "x"},
                                        ("smtps", "inet"): {"before": "y", "after": None}}}}
    assert summary(state) == ["master.cf changed: smtps/inet, submission/inet"]
    assert summary({"master_cf": {"services": {}}}) == ["no change: Postfix already runs the wanted TLS state"]


def test_check_mode_says_would():
    lines = summary(dict(RESULT, reloaded=True), check_mode=True)
    assert lines[0].startswith("main.cf would change:") and "Postfix would be reloaded" in lines


def test_nothing_changed_and_long_lists():
    assert summary({"postfix_installed": True, "applied": True, "main_cf": {"changes": {}}}) == [
        "no change: Postfix already runs the wanted TLS state"]
    many = {"main_cf": {"changes": dict(("p%d" % number, {}) for number in range(8))}}
    assert summary(many) == ["main.cf changed: p0, p1, p2, p3, p4 and 3 more"]
    assert summary({"postfix_installed": False}) == ["Postfix is not installed: nothing was read or changed"]
    assert summary({"applied": False, "missing_packages": ["postfix-lmdb"]}) == [
        "nothing applied: missing packages postfix-lmdb"]
