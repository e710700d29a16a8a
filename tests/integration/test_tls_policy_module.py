"""tls_policy against the real Postfix: typed entries, sub-domains, version gates, bad input."""

from __future__ import annotations

import pytest
from conftest import postmap
from helpers import run_module, snapshot

TLS_POLICY = "mailtls.postfix.tls_policy"


def tls_policy(localhost, config_dir, **args):
    args.setdefault("path", str(config_dir / "tls_policy"))
    return run_module(localhost, TLS_POLICY, config_dir=str(config_dir), **args)


def resolve(table, *keys):
    result = postmap("-q", "-", table, data="".join(k + "\n" for k in keys), check=False)
    return dict(line.split("\t", 1) for line in result.stdout.splitlines())


def test_seed_forced_destination_with_subdomains(localhost, config_dir):
    result = tls_policy(localhost, config_dir, destination="Partner.Example", level="encrypt",
                        include_subdomains=True)
    assert result["changed"] is True and result["postmap_run"] is True
    assert result["added"] == ["partner.example", ".partner.example"]
    assert (config_dir / "tls_policy").read_text() == "partner.example encrypt\n.partner.example encrypt\n"
    table = "hash:%s" % (config_dir / "tls_policy")
    assert resolve(table, "partner.example", ".partner.example") == {
        "partner.example": "encrypt", ".partner.example": "encrypt"}
    again = tls_policy(localhost, config_dir, destination="partner.example", level="encrypt",
                       include_subdomains=True)
    assert again["changed"] is False and again["postmap_run"] is False


def test_many_policies_one_postmap_and_postfix_reads_them(localhost, config_dir):
    policies = [
        {"destination": "bank.example", "level": "secure",
         "attributes": {"match": ["nexthop", "dot-nexthop"], "protocols": [">=TLSv1.2"]}},
        {"destination": "[relay.example.net]:587", "level": "encrypt", "attributes": {"ciphers": "high"}},
        {"destination": "legacy.example", "level": "may", "attributes": {"connection_reuse": True}},
        {"destination": "pinned.example", "level": "fingerprint",
         "attributes": {"match": ["3d:95:34:51:24:66:33:b9:d2:40:99:c0:c1:17:0b:d1"]}},
    ]
    result = tls_policy(localhost, config_dir, policies=policies, type="lmdb")
    assert result["changed"] and result["added"] == ["bank.example", "[relay.example.net]:587",
                                                     "legacy.example", "pinned.example"]
    table = "lmdb:%s" % (config_dir / "tls_policy")
    assert resolve(table, "bank.example", "[relay.example.net]:587", "legacy.example", "pinned.example") == {
        "bank.example": "secure match=nexthop:dot-nexthop protocols=>=TLSv1.2",
        "[relay.example.net]:587": "encrypt ciphers=high",
        "legacy.example": "may connection_reuse=yes",
        "pinned.example": "fingerprint match=3D:95:34:51:24:66:33:B9:D2:40:99:C0:C1:17:0B:D1",
    }
    assert tls_policy(localhost, config_dir, policies=policies, type="lmdb")["changed"] is False


def test_level_change_absent_and_exclusive(localhost, config_dir):
    tls_policy(localhost, config_dir, policies=[{"destination": "a.example", "level": "may"},
                                                {"destination": "b.example", "level": "encrypt",
                                                 "include_subdomains": True}])
    result = tls_policy(localhost, config_dir, destination="a.example", level="encrypt")
    assert result["updated"] == ["a.example"]
    result = tls_policy(localhost, config_dir, destination="b.example", include_subdomains=True, state="absent")
    assert sorted(result["removed"]) == [".b.example", "b.example"]
    result = tls_policy(localhost, config_dir, destination="c.example", level="encrypt", exclusive=True)
    assert result["removed"] == ["a.example"] and result["added"] == ["c.example"]
    table = "hash:%s" % (config_dir / "tls_policy")
    assert resolve(table, "a.example", "b.example", "c.example") == {"c.example": "encrypt"}


@pytest.mark.parametrize("args, message", [
    ({"destination": "partner.example", "level": "encrypt", "attributes": {"match": "hostname"}},
     "attributes.match: partner.example: does not apply to level encrypt (only to fingerprint, verify, secure)"),
    ({"destination": "partner.example", "level": "fingerprint", "attributes": {"enable_rpk": True}},
     "attributes.enable_rpk: partner.example: needs Postfix 3.9 or later; this host runs 3.7.11"),
    ({"destination": "partner.example", "level": "maybe"}, "value of level must be one of"),
    ({"destination": "partner example", "level": "encrypt"}, "destination: 'partner example' is not a next-hop"),
    ({"destination": "[mx.example", "level": "encrypt"}, "is not a next-hop destination"),
    ({"destination": "[mx.example]:99999", "level": "encrypt"}, "is not a next-hop destination"),
    ({"destination": "example.com:0", "level": "encrypt"}, "is not a next-hop destination"),
    ({"destination": "partner.example\n", "level": "secure", "attributes": {"tafile": "/etc/ta.pem\n/x"}},
     "attributes.tafile: partner.example: '/etc/ta.pem\\n/x' holds whitespace or control characters"),
    ({"destination": "partner.example"}, "level: partner.example: a level is required with state=present"),
    ({"destination": "partner.example", "level": "encrypt", "attributes": {"protocols": "TLSv9"}},
     "'TLSv9' is not a TLS protocol"),
    ({"destination": "partner.example", "level": "encrypt", "attributes": {"ciphers": "strong"}},
     "'strong' is not a cipher grade"),
    ({"policies": [{"destination": "a.example", "level": "may"}, {"destination": "A.example", "level": "encrypt"}]},
     "policies: a.example is given twice with different policies"),
    ({"policies": [{"level": "may"}]}, "missing required arguments: destination"),
    ({"destination": "a.example", "level": "may", "type": "dbm"}, "this Postfix does not support the 'dbm' table type"),
])
def test_bad_policies_change_nothing(localhost, config_dir, args, message):
    (config_dir / "tls_policy").write_text("keep.example encrypt\n")
    postmap("hash:%s" % (config_dir / "tls_policy"))
    before = snapshot(config_dir)
    result = tls_policy(localhost, config_dir, **args)
    assert result.get("failed") is True, result
    assert message in result["msg"]
    assert snapshot(config_dir) == before


def test_destinations_and_defaults_for_policies(localhost, config_dir):
    result = tls_policy(localhost, config_dir, destinations=["a.example", "B.example"], level="encrypt",
                        include_subdomains=True,
                        policies=[{"destination": "c.example"},
                                  {"destination": "d.example", "level": "verify", "include_subdomains": False,
                                   "attributes": {"match": ["hostname"]}}])
    assert result["changed"] is True
    assert (config_dir / "tls_policy").read_text() == (
        "a.example encrypt\n.a.example encrypt\nb.example encrypt\n.b.example encrypt\n"
        "c.example encrypt\n.c.example encrypt\nd.example verify match=hostname\n")
