"""tls_profile's decisions: which destinations to probe, what a probe forbids, when DANE needs DNSSEC.

Pure: probe results are the dicts tls_probe returns, tables are parsed texts.
"""

from __future__ import annotations

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.finger import preflight_verdict
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.profile.policy_side import (
    FORCED_LEVELS, needs_probe, uses_dane)
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.host_state import packages_needed
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.table_types import table_document

# The probe level each forced level must pass: verify and secure as such, the rest a TLS session.
PROBED_AS = {"encrypt": "encrypt", "verify": "verify", "secure": "secure",
             "fingerprint": "encrypt", "dane": "encrypt", "dane-only": "encrypt"}

POLICY_TABLE = """\
weak.example may
mid.example encrypt
strong.example secure match=nexthop:dot-nexthop
upper.example ENCRYPT
dane.example dane
custom.example custom_policy
"""


def probe(**facts):
    """A tls_probe result for a server that passes everything, changed by ``facts``."""
    result = {"established": True, "starttls": True, "trust": "Verified", "protocol": "TLSv1.3",
              "errors": [], "dnssec_validation": None, "certificate": {"expired": False},
              "passes": {"may": True, "encrypt": True, "verify": True, "secure": True}}
    result.update(facts)
    return result


def test_forced_levels():
    """Every level stronger than may is forced, and so probed first."""
    assert FORCED_LEVELS == frozenset(["encrypt", "dane", "dane-only", "fingerprint", "verify", "secure"])
    assert set(PROBED_AS) == FORCED_LEVELS


# --- probe.preflight_verdict -------------------------------------------------------------

@pytest.mark.parametrize("level", sorted(PROBED_AS))
def test_each_level_needs_its_own_probe_level(level):
    """Passing exactly the needed probe level is enough; passing every other one is not."""
    needed = PROBED_AS[level]
    only_needed = dict((name, name == needed) for name in ("may", "encrypt", "verify", "secure"))
    all_but_needed = dict((name, name != needed) for name in only_needed)
    assert preflight_verdict("p.example", level, probe(passes=only_needed)) is None
    assert preflight_verdict("p.example", level, probe(passes=all_but_needed)) == \
        "p.example cannot take level %s (TLS TLSv1.3, Verified)" % level


@pytest.mark.parametrize("level, dnssec_validation", [
    ("dane", None),  # not probed: no finding, no refusal
    ("dane", True),
    ("dane-only", True),
    ("encrypt", False),  # only DANE needs the resolver
    ("verify", False),
])
def test_dnssec_matters_only_for_dane(level, dnssec_validation):
    assert preflight_verdict("p.example", level, probe(dnssec_validation=dnssec_validation)) is None


FAILED = {"established": False, "trust": None, "protocol": None, "certificate": None,
          "passes": {"may": True, "encrypt": False, "verify": False, "secure": False}}


@pytest.mark.parametrize("level, facts, reason", [
    ("dane", {"dnssec_validation": False}, "no DNSSEC-validating resolver on this host, which DANE needs"),
    ("dane-only", dict(FAILED, dnssec_validation=False, errors=["Failed to establish session to p.example"]),
     "no DNSSEC-validating resolver on this host, which DANE needs"),
    ("encrypt", dict(FAILED, starttls=False, errors=["Destination address lookup failed: Host not found", "x"]),
     "Destination address lookup failed: Host not found"),
    # What tls_profile records when the probe itself fails.
    ("verify", {"established": False, "starttls": False, "errors": ["posttls-finger -t 30 failed: oops"],
                "passes": {}}, "posttls-finger -t 30 failed: oops"),
    ("encrypt", dict(FAILED, starttls=False), "no STARTTLS"),
    ("secure", dict(FAILED, starttls=False, errors=[]), "no STARTTLS"),
    # Established: the errors are about trust, the session says more.
    ("verify", {"trust": "Untrusted", "errors": ["certificate verification failed for p.example"],
                "passes": {"may": True, "encrypt": True, "verify": False, "secure": False}},
     "TLS TLSv1.3, Untrusted"),
    ("secure", {"trust": "Trusted", "protocol": "TLSv1.2", "certificate": {"expired": True},
                "passes": {"may": True, "encrypt": True, "verify": True, "secure": False}},
     "TLS TLSv1.2, Trusted, certificate expired"),
    ("secure", {"trust": "Trusted", "certificate": None, "passes": {"encrypt": True, "verify": True}},
     "TLS TLSv1.3, Trusted"),
])
def test_reasons_in_order(level, facts, reason):
    """DNSSEC for DANE, then the first failure, then no STARTTLS, then what the session was."""
    assert preflight_verdict("[mx.p.example]:25", level, probe(**facts)) == \
        "[mx.p.example]:25 cannot take level %s (%s)" % (level, reason)


def test_reason_without_session_names_no_protocol():
    verdict = preflight_verdict("p.example", "encrypt", probe(**dict(FAILED, starttls=True, errors=[])))
    assert verdict.startswith("p.example cannot take level encrypt (")
    assert verdict == "p.example cannot take level encrypt (STARTTLS offered, but no TLS session was established)"


# --- policy_side.needs_probe -----------------------------------------------------

@pytest.mark.parametrize("destination, level, needed", [
    ("new.example", "encrypt", True),          # a new forced entry
    ("[mx.mid.example]", "encrypt", True),     # another key than mid.example's
    ("mid.example", "encrypt", False),         # the same level is there
    ("weak.example", "encrypt", True),         # may -> encrypt
    ("mid.example", "fingerprint", True),      # encrypt -> fingerprint
    ("dane.example", "encrypt", True),         # dane may fall back to may: encrypt is stronger
    ("Mid.Example", "verify", True),           # keys are looked up folded
    ("strong.example", "verify", False),       # a stronger entry is there
    ("strong.example", "secure", False),       # the level is the first word, attributes aside
    ("mid.example", "dane", False),            # dane is weaker than encrypt
    ("upper.example", "encrypt", False),       # a level in capitals still counts
    ("custom.example", "encrypt", True),       # an unknown value is no level
    ("new.example", "may", False),             # never forced: nothing to probe
    ("new.example", "none", False),
    ("mid.example", "none", False),
])
def test_needs_probe(destination, level, needed):
    document = table_document("hash", POLICY_TABLE)
    assert needs_probe(document, {"destination": destination, "level": level}) is needed


def test_needs_probe_for_a_key_without_value():
    """postmap skips such a line, so the destination has no entry: a forced level is new."""
    document = table_document("hash", "bare.example\n")
    assert needs_probe(document, {"destination": "bare.example", "level": "encrypt"}) is True


# --- policy_side.uses_dane -------------------------------------------------------

@pytest.mark.parametrize("wanted, policies, uses", [
    ({}, None, False),
    ({"smtp_tls_security_level": "dane"}, None, True),
    ({"smtp_tls_security_level": "dane-only"}, None, True),
    ({"smtp_tls_security_level": "encrypt"}, None, False),
    ({"smtp_tls_security_level": "may"}, {"a.example": "encrypt", "b.example": "dane-only protocols=>=TLSv1.2"},
     True),
    ({}, {"a.example": "dane"}, True),
    ({"smtp_tls_security_level": "encrypt"}, {"a.example": "verify match=hostname"}, False),
    ({}, {"dane.example": "encrypt"}, False),  # the level counts, not the key
    ({}, {}, False),
])
def test_uses_dane(wanted, policies, uses):
    assert uses_dane(wanted, policies) is uses


@pytest.mark.parametrize("relay, declared, wanted", [
    (None, [], []),
    ({"state": "present", "password": "pw", "sender_relays": []}, [], ["libsasl2-modules"]),
    ({"state": "present", "password": None, "sender_relays": []}, [], []),
    ({"state": "absent", "password": "pw", "sender_relays": []}, [], []),
    (None, [{"relay": {"state": "present", "password": None, "sender_relays": [{"password": "x"}]}}],
     ["libsasl2-modules"]),
])
def test_a_relay_with_a_password_needs_the_sasl_client_package(relay, declared, wanted):
    assert packages_needed(dict(packages=[], map_types=[], relay=relay, declarations=declared)) == wanted


def test_the_package_names_given_replace_debian_s():
    """The server role passes its distribution data; alone, the module knows Debian's names."""
    relay = {"state": "present", "password": "pw", "sender_relays": []}
    params = dict(packages=["postfix"], map_types=["lmdb"], relay=relay, declarations=[],
                  sasl_client_package="cyrus-sasl-plain", map_type_packages={"lmdb": "postfix-lmdb-x"})
    assert packages_needed(params) == ["postfix", "cyrus-sasl-plain", "postfix-lmdb-x"]
    params = dict(packages=["postfix"], map_types=["cdb"], relay=relay, declarations=[],
                  sasl_client_package="cyrus-sasl-plain", map_type_packages={"lmdb": "postfix-lmdb-x"})
    with pytest.raises(InputError, match="'cdb' is not a table type a package adds \\(lmdb\\)"):
        packages_needed(params)
    params = dict(packages=[], map_types=["cdb"], relay=relay, declarations=[])
    assert packages_needed(params) == ["libsasl2-modules", "postfix-cdb"]
