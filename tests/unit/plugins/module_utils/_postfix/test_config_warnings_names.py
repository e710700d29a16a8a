"""A warning about an undefined parameter is never taken for Postfix's own note on an obsolete one."""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.commands import harmless_warning


@pytest.mark.parametrize("line", [
    "postconf: warning: /etc/postfix/main.cf: undefined parameter: foo-deprecated",
    "postconf: warning: /etc/postfix/main.cf: undefined parameter: obsolete_thing trailing",
    'postconf: warning: /etc/postfix/main.cf: truncated macro reference: "$deprecated"',
])
def test_the_users_words_are_no_verdict(line):
    assert harmless_warning(line) is False


def test_postfix_s_own_note_is_harmless():
    assert harmless_warning("postconf: warning: /etc/postfix/main.cf: support for parameter "
                            "\"smtp_use_tls\" will be removed; instead, specify \"smtp_tls_security_level\"") is True
