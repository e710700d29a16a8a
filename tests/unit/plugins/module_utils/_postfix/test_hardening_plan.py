"""TLS hardening profiles: what each profile writes to main.cf on each Postfix version (pure)."""

from __future__ import annotations

import re

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.hardening import (
    HARDENING_PARAMETERS,
    HARDENING_PROFILES,
    hardening_plan,
    protocol_floor,
)

# Debian 11, 12 and 13, as conftest.RELEASES names them.
VERSIONS = {"3.5": (3, 5, 25), "3.7": (3, 7, 11), "3.10": (3, 10, 5)}
PROTOCOLS = ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
GRADES = ["export", "low", "medium", "high"]
# Obsolete since Postfix 2.3 (docs/tls-parameters.md) or 3.6 (smtpd_tls_eecdh_grade).
OBSOLETE = {"smtpd_use_tls", "smtpd_enforce_tls", "smtp_use_tls", "smtp_enforce_tls", "smtp_tls_enforce_peername",
            "smtp_tls_per_site", "smtpd_tls_cipherlist", "smtp_tls_cipherlist", "lmtp_tls_cipherlist",
            "smtpd_tls_eecdh_grade"}
LEGACY = "SEED, IDEA, 3DES, RC2, RC4, RC5, MD5, kDH, kECDH, aDSS"
AEAD = "aNULL, kRSA, SHA1, SHA256, SHA384, ARIA, AESCCM, PSK, aDSS"
# (opportunistic, mandatory) pairs of one side.
SIDES = [("smtpd_tls_protocols", "smtpd_tls_mandatory_protocols", "smtpd_tls_ciphers", "smtpd_tls_mandatory_ciphers"),
         ("smtp_tls_protocols", "smtp_tls_mandatory_protocols", "smtp_tls_ciphers", "smtp_tls_mandatory_ciphers")]


def lowest_protocol(value, release):
    """The oldest protocol a protocols value lets through, read as postconf(5) describes it."""
    if not value:  # absent: postconf -d of that release
        value = "!SSLv2, !SSLv3" if release == "3.5" else ">=TLSv1"
    items = [item for item in re.split(r"[\s,:]+", value) if item]
    bounds = [item[2:] for item in items if item.startswith(">=")]
    if bounds:
        assert release != "3.5", "Postfix 3.5 has no >= bounds: %r" % value
        return PROTOCOLS.index(bounds[0])
    excluded = set(item[1:] for item in items if item.startswith("!"))
    assert excluded <= set(PROTOCOLS) and len(excluded) == len(items), value
    return min(index for index, name in enumerate(PROTOCOLS) if name not in excluded)


def grade(value):
    return GRADES.index(value or "medium")


def test_the_profile_names():
    assert HARDENING_PROFILES == ("postfix_default", "intermediate", "modern")


@pytest.mark.parametrize("release", sorted(VERSIONS))
@pytest.mark.parametrize("profile", HARDENING_PROFILES)
def test_every_profile_sets_or_removes_each_parameter_it_owns(profile, release):
    parameters, absent = hardening_plan(profile, VERSIONS[release])
    assert not set(parameters) & set(absent) and len(absent) == len(set(absent))
    assert set(parameters) | set(absent) == set(HARDENING_PARAMETERS)
    for name, value in parameters.items():
        assert isinstance(value, str) and value.strip() == value and value and "\n" not in value, (name, value)


@pytest.mark.parametrize("release", sorted(VERSIONS))
@pytest.mark.parametrize("profile", HARDENING_PROFILES)
def test_no_obsolete_parameter_is_ever_written_or_removed(profile, release):
    parameters, absent = hardening_plan(profile, VERSIONS[release])
    assert not OBSOLETE & (set(parameters) | set(absent))
    for name in set(parameters) | set(absent):
        assert re.match(r"^(smtpd?_tls_|tls_)[a-z_]+$", name), name


@pytest.mark.parametrize("release", sorted(VERSIONS))
def test_postfix_default_leaves_everything_to_postfix(release):
    assert hardening_plan("postfix_default", VERSIONS[release]) == ({}, list(HARDENING_PARAMETERS))


INTERMEDIATE_3_7 = {
    "smtpd_tls_protocols": ">=TLSv1",
    "smtpd_tls_ciphers": "medium",
    "smtpd_tls_exclude_ciphers": LEGACY,
    "smtpd_tls_mandatory_protocols": ">=TLSv1.2",
    "smtpd_tls_mandatory_ciphers": "high",
    "smtpd_tls_mandatory_exclude_ciphers": AEAD,
    "smtp_tls_protocols": ">=TLSv1",
    "smtp_tls_ciphers": "medium",
    "smtp_tls_exclude_ciphers": LEGACY,
    "smtp_tls_mandatory_protocols": ">=TLSv1.2",
    "smtp_tls_mandatory_ciphers": "medium",
    "tls_preempt_cipherlist": "no",
    "tls_ssl_options": "NO_COMPRESSION, NO_RENEGOTIATION",
}
MODERN_CHANGES = {
    "smtpd_tls_protocols": ">=TLSv1.2",
    "smtp_tls_protocols": ">=TLSv1.2",
    "smtpd_tls_mandatory_protocols": ">=TLSv1.3",
    "smtp_tls_mandatory_ciphers": "high",
    "smtp_tls_mandatory_exclude_ciphers": AEAD,
}
# Postfix 3.5 knows only the exclusion form of the same floors.
LEGACY_SYNTAX = {">=TLSv1": "!SSLv2, !SSLv3", ">=TLSv1.2": "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1",
                 ">=TLSv1.3": "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1, !TLSv1.2"}


def expected(profile, release):
    wanted = dict(INTERMEDIATE_3_7)
    if profile == "modern":
        wanted.update(MODERN_CHANGES)
    if release == "3.5":
        wanted = dict((name, LEGACY_SYNTAX.get(value, value)) for name, value in wanted.items())
    if release == "3.10":  # Postfix 3.8 and later exclude the legacy ciphers themselves
        wanted = dict((name, value) for name, value in wanted.items() if value != LEGACY)
    return wanted


@pytest.mark.parametrize("release", sorted(VERSIONS))
@pytest.mark.parametrize("profile", ["intermediate", "modern"])
def test_the_values_of_each_profile_on_each_release(profile, release):
    parameters, absent = hardening_plan(profile, VERSIONS[release])
    assert parameters == expected(profile, release)
    assert absent == [name for name in HARDENING_PARAMETERS if name not in parameters]


@pytest.mark.parametrize("version, floor", [
    ((3, 5, 25), "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1"), ((3, 5), "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1"),
    ((3, 6, 0), ">=TLSv1.2"), ((3, 7, 11), ">=TLSv1.2"), ((4, 0, 0), ">=TLSv1.2")])
def test_protocol_syntax_follows_the_version(version, floor):
    assert protocol_floor("TLSv1.2", version) == floor
    assert hardening_plan("intermediate", version)[0]["smtpd_tls_mandatory_protocols"] == floor


@pytest.mark.parametrize("version, legacy", [((3, 7, 99), True), ((3, 8, 0), False), ((3, 10, 5), False)])
def test_legacy_cipher_exclusions_only_where_postfix_lacks_them(version, legacy):
    parameters, absent = hardening_plan("modern", version)
    for name in ("smtpd_tls_exclude_ciphers", "smtp_tls_exclude_ciphers"):
        assert (parameters.get(name) == LEGACY) is legacy
        assert (name in absent) is not legacy


@pytest.mark.parametrize("release", sorted(VERSIONS))
@pytest.mark.parametrize("profile", HARDENING_PROFILES)
def test_opportunistic_tls_is_never_stricter_than_mandatory_tls(profile, release):
    parameters, _absent = hardening_plan(profile, VERSIONS[release])
    for protocols, mandatory_protocols, ciphers, mandatory_ciphers in SIDES:
        assert lowest_protocol(parameters.get(protocols), release) <= lowest_protocol(
            parameters.get(mandatory_protocols), release)
        assert grade(parameters.get(ciphers)) <= grade(parameters.get(mandatory_ciphers))
    # Port 25 and opportunistic delivery keep TLS 1.2 at least (TLS 1.3-only would turn older
    # peers to plaintext), and never fall below Postfix's own floor of TLS 1.0.
    for name in ("smtpd_tls_protocols", "smtp_tls_protocols"):
        assert PROTOCOLS.index("TLSv1") <= lowest_protocol(parameters.get(name), release) <= PROTOCOLS.index("TLSv1.2")
    for name in ("smtpd_tls_ciphers", "smtp_tls_ciphers"):
        assert grade(parameters.get(name)) == grade("medium")


@pytest.mark.parametrize("release", sorted(VERSIONS))
def test_the_profiles_only_ever_tighten_in_order(release):
    plans = [hardening_plan(profile, VERSIONS[release])[0] for profile in HARDENING_PROFILES]
    for name in [name for name in HARDENING_PARAMETERS if name.endswith("_protocols")]:
        floors = [lowest_protocol(plan.get(name), release) for plan in plans]
        assert floors == sorted(floors), (name, floors)
    assert lowest_protocol(plans[2]["smtpd_tls_mandatory_protocols"], release) == PROTOCOLS.index("TLSv1.3")


@pytest.mark.parametrize("profile", [None, "", "Modern", "old", "intermediate ", ["modern"]])
def test_an_unknown_profile_is_refused_naming_hardening(profile):
    with pytest.raises(InputError) as raised:
        hardening_plan(profile, (3, 7, 11))
    assert str(raised.value).startswith("hardening: unknown profile ")
    assert raised.value.details["parameter"] == "hardening"
    assert "postfix_default, intermediate, modern" in str(raised.value)


@pytest.mark.parametrize("version", ["3.7.11", (3,), (3, "7"), None, (True, 7)])
def test_a_version_that_is_not_a_tuple_of_integers_is_refused(version):
    with pytest.raises(InputError, match="^hardening: the Postfix version"):
        hardening_plan("modern", version)


def test_protocol_floor_refuses_an_unknown_protocol():
    with pytest.raises(InputError, match="^hardening: 'TLSv1.4' is not a TLS protocol name"):
        protocol_floor("TLSv1.4", (3, 7, 11))
