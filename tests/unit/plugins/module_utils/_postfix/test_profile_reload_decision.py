"""tls_profile's one reload: when something Postfix reads changed and no restart is owed instead."""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.profile.profile import reload_required


def result(**given):
    return dict({"restart_required": False, "tls_files_not_loaded": []}, **given)


@pytest.mark.parametrize("given, config_changed, expected", [
    ({}, False, False),
    ({}, True, True),
    ({"restart_required": True}, True, False),   # the restart the caller owes loads it all
    ({"certificate": {"changed": True}}, False, True),
    ({"migration": {"changed": True}}, False, True),
    ({"policy_table": {"reload_required": True}}, False, True),
    ({"policy_table": {"changed": True, "reload_required": False}}, False, False),  # an index Postfix reopens
    ({"sni_table": {"changed": True}}, False, True),
    ({"tls_files_not_loaded": ["/etc/ssl/k.pem"]}, False, True),
])
def test_a_reload_when_something_postfix_reads_changed_and_no_restart_is_owed(given, config_changed, expected):
    assert reload_required(result(**given), config_changed) is expected
