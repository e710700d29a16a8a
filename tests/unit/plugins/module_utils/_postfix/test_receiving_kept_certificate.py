"""The host's own certificate kept when none is given (issue 23): which pair main.cf names, and how it is said."""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import ConfigError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.receiving import (
    kept_certificate, kept_files, kept_groups, kept_in_main_cf_words, kept_missing)
from ansible_collections.mailtls.postfix.plugins.plugin_utils.profile_summary import summary
from ansible_collections.mailtls.postfix.plugins.plugin_utils.role_declarations import in_role_words

SNAKEOIL = {"smtpd_tls_chain_files": "", "smtpd_tls_cert_file": "/etc/ssl/certs/ssl-cert-snakeoil.pem",
            "smtpd_tls_key_file": "/etc/ssl/private/ssl-cert-snakeoil.key", "smtpd_tls_eccert_file": "",
            "smtpd_tls_eckey_file": "", "smtpd_tls_dcert_file": "", "smtpd_tls_dkey_file": ""}


def test_one_legacy_pair_is_checked_as_cert_file_and_key_file():
    options, names = kept_certificate(kept_groups(SNAKEOIL), [])
    assert options == {"cert_file": "/etc/ssl/certs/ssl-cert-snakeoil.pem",
                       "key_file": "/etc/ssl/private/ssl-cert-snakeoil.key"}
    assert names == {"cert_file": "smtpd_tls_cert_file", "key_file": "smtpd_tls_key_file"}
    assert kept_files(options, names) == [("smtpd_tls_key_file", "/etc/ssl/private/ssl-cert-snakeoil.key"),
                                          ("smtpd_tls_cert_file", "/etc/ssl/certs/ssl-cert-snakeoil.pem")]


def test_a_legacy_pair_in_one_file_is_that_file_twice():
    # postconf -x expands smtpd_tls_key_file's default, $smtpd_tls_cert_file.
    values = dict(SNAKEOIL, smtpd_tls_key_file="/etc/ssl/certs/ssl-cert-snakeoil.pem")
    options, names = kept_certificate(kept_groups(values), [])
    assert options == {"cert_file": "/etc/ssl/certs/ssl-cert-snakeoil.pem",
                       "key_file": "/etc/ssl/certs/ssl-cert-snakeoil.pem"}
    assert names == {"cert_file": "smtpd_tls_cert_file", "key_file": "smtpd_tls_cert_file"}


def test_rsa_and_ecdsa_legacy_pairs_are_checked_as_chains():
    values = dict(SNAKEOIL, smtpd_tls_eccert_file="/ec.pem", smtpd_tls_eckey_file="/ec.key")
    options, names = kept_certificate(kept_groups(values), [])
    assert [(chain["key_file"], chain["cert_file"]) for chain in options["chains"]] == [
        ("/etc/ssl/private/ssl-cert-snakeoil.key", "/etc/ssl/certs/ssl-cert-snakeoil.pem"), ("/ec.key", "/ec.pem")]
    assert names["chains[1].key_file"] == "smtpd_tls_eckey_file"
    assert names["chains[1].cert_file"] == "smtpd_tls_eccert_file"


def test_chain_files_win_over_the_legacy_pair():
    values = dict(SNAKEOIL, smtpd_tls_chain_files="/rsa.key, /rsa.pem, /ec.pem")
    groups = kept_groups(values)
    assert groups == [("smtpd_tls_chain_files", ["/rsa.key", "/rsa.pem", "/ec.pem"], False)]
    options, names = kept_certificate(groups, [("/rsa.key", "/rsa.pem"), ("/ec.pem", "/ec.pem")])
    assert [(chain["key_file"], chain["cert_file"]) for chain in options["chains"]] == [
        ("/rsa.key", "/rsa.pem"), ("/ec.pem", "/ec.pem")]
    assert set(names.values()) == {"smtpd_tls_chain_files"}


def test_no_pair_names_the_options_and_in_the_roles_words_the_variables():
    with pytest.raises(ConfigError) as raised:
        kept_groups(dict(SNAKEOIL, smtpd_tls_cert_file="", smtpd_tls_key_file=""))
    message = str(raised.value)
    assert message == ("this host's main.cf names no certificate and key (smtpd_tls_chain_files and "
                       "smtpd_tls_cert_file are empty): give certificate.cert_file and certificate.key_file, with "
                       "their content to install them, or certificate.self_signed: true for a lab; nothing was "
                       "changed")
    assert in_role_words(message, ["tls_receiving", "tls_forced"]) == (
        "this host's main.cf names no certificate and key (smtpd_tls_chain_files and smtpd_tls_cert_file are "
        "empty): give tls_receiving_cert_file (option certificate.cert_file) and tls_receiving_key_file (option "
        "certificate.key_file), with their content to install them, or tls_receiving_self_signed (option "
        "certificate.self_signed): true for a lab; nothing was changed")


def test_a_missing_file_is_named_by_its_parameter():
    message = str(kept_missing("smtpd_tls_cert_file", "/etc/ssl/certs/ssl-cert-snakeoil.pem"))
    assert message.startswith("smtpd_tls_cert_file: main.cf names /etc/ssl/certs/ssl-cert-snakeoil.pem, which does "
                              "not exist; no certificate was given, so the host's own is kept: install it, or give "
                              "certificate.cert_file")


def test_the_certificate_parts_words_become_main_cfs():
    names = {"cert_file": "smtpd_tls_cert_file", "key_file": "smtpd_tls_key_file"}
    said = kept_in_main_cf_words("cert_file: /a.pem is not the certificate of the key /a.key (their public keys "
                                 "differ); nothing was changed", names)
    assert said == ("the certificate main.cf names (kept: none was given): smtpd_tls_cert_file: /a.pem is not the "
                    "certificate of the key /a.key (their public keys differ); nothing was changed")
    # main.cf's own names are left alone, and so would be the role's variables.
    assert in_role_words(said, ["tls_receiving"]) == said
    chains = {"chains[1].key_file": "smtpd_tls_chain_files"}
    assert kept_in_main_cf_words("chains[1].key_file: /ec.key is encrypted", chains).endswith(
        "smtpd_tls_chain_files: /ec.key is encrypted")


def test_the_summary_says_the_certificate_was_kept():
    state = {"certificate": {"kept": True, "changed": False, "changed_files": [],
                             "parameters": {"smtpd_tls_key_file": "/k", "smtpd_tls_cert_file": "/c"},
                             "certificate": {"not_after": "Mar  1 12:00:00 2027 GMT", "days_left": 89}}}
    assert summary(state) == ["certificate: kept the host's own, as main.cf names it (smtpd_tls_cert_file = /c, "
                              "smtpd_tls_key_file = /k) (expires Mar  1 12:00:00 2027 GMT, in 89 days)"]
