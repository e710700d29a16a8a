"""The fleet TLS report on the controller: the document, its JSON Schema, the page's escaping, the metrics.

The postures are shaped as tls_posture returns them (tests/integration/test_tls_posture.py runs the
real module); hostile text (markup, non-UTF-8 bytes as surrogate escapes, newlines, tabs, a log line
that looks like a TLS verdict) sits wherever a host, a certificate or the advisor's log can put it.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.mailtls.postfix.plugins.filter.tls_report import FilterModule
from ansible_collections.mailtls.postfix.plugins.plugin_utils.tls_report import (
    SCHEMA_PATH, build_report, host_metrics, report_json)
from ansible_collections.mailtls.postfix.plugins.plugin_utils.tls_report_html import render_html

ROOT = Path(__file__).resolve().parents[4]
SCHEMA = json.loads((ROOT / SCHEMA_PATH).read_text())
HOSTILE = "<script>alert(1)</script>"
VERDICT = "Verified TLS connection established to evil.example[192.0.2.1]:25: TLSv1.3 with cipher X"


def certificate(days, algorithm="rsa", digest="a" * 64, issuer="CN = R11"):
    return {"names": ["mx.example"], "subject": "CN = mx.example", "issuer": issuer,
            "not_after": "Jan  1 00:00:00 2027 GMT", "days_left": days, "expired": days < 0, "chain_length": 2,
            "key_algorithm": algorithm, "key_bits": 2048 if algorithm == "rsa" else 256, "tlsa_3_1_1": digest,
            "fingerprint_sha256": "AB:CD"}


def listener(port, role, certificates, legacy=False):
    return {"address": "127.0.0.1", "port": port, "role": role, "wrappermode": role == "smtps",
            "starttls": None if role == "smtps" else True, "established": True, "protocol": "TLSv1.3",
            "cipher": "TLS_AES_256_GCM_SHA384", "error": None, "tls_turned_off_by": None,
            "protocols": {"TLSv1": legacy, "TLSv1.1": legacy, "TLSv1.2": True, "TLSv1.3": True},
            "certificates": certificates}


def posture(days=90, records=(), legacy=False, issuer="CN = R11"):
    return {"changed": False, "invocation": {"module_args": {}}, "hostname": "mx.example", "version": "3.7.11",
            "config_dir": "/etc/postfix", "findings": [],
            "listeners": [listener(25, "mx", [certificate(days, issuer=issuer)], legacy),
                          listener(587, "submission", [certificate(days, issuer=issuer)], legacy)],
            "protocols_probed": ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"],
            "dane": {"files": ["/etc/postfix/tlsa.zone"], "records": [dict(record) for record in records]},
            "hardening": {"profile": "intermediate", "differences": {}},
            "sending": {"security_level": "may", "relay": None, "tables": [
                {"table": "hash:/etc/postfix/tls_policy", "exists": True, "index_fresh": True}],
                "policy": [{"destination": "partner.example", "level": "encrypt", "forced": True, "shadowed": False,
                            "table": "hash:/etc/postfix/tls_policy"},
                           {"destination": 'odd"dest\\x', "level": "verify", "forced": True, "shadowed": False,
                            "table": "hash:/etc/postfix/tls_policy"}]}}


ADVISOR = {"destinations": [
    {"destination": "partner.example", "deliveries": 12, "tls_deferrals": 2, "tls_deferral_samples": [VERDICT],
     "outcomes": {"verified": 0, "trusted": 10, "untrusted": 0, "anonymous": 0, "plaintext": 0, "unknown": 0},
     "dane": False, "first_seen": "2026-12-01T00:00:00Z", "last_seen": "2026-12-02T00:00:00Z",
     "policy": {"entry": "partner.example", "level": "encrypt", "source": "hash:/etc/postfix/tls_policy"},
     "proposal": {"level": "encrypt", "evidence": "10 trusted"},
     "problems": [{"kind": "deferred", "severity": "fail", "message": "subject: " + VERDICT + " " + HOSTILE}]},
    {"destination": "gmail.com", "deliveries": 400, "tls_deferrals": 0,
     "outcomes": {"verified": 0, "trusted": 400, "untrusted": 0, "anonymous": 0, "plaintext": 0, "unknown": 0},
     "policy": {"entry": None, "level": "may", "source": "smtp_tls_security_level"}, "problems": []},
    {"destination": "rcpt\t<b>x</b>\n.example", "deliveries": 1, "tls_deferrals": 0,
     "outcomes": {"plaintext": 1}, "policy": {"level": "may"}, "problems": []},
]}


def fleet(generated="2026-12-02T16:00:00Z", order=("web1", "mx1", "mx2", "down")):
    hostile = "mx2 \udcff\udcfe " + HOSTILE
    postures = {"mx1": posture(), "web1": posture(20, legacy=True),
                "mx2": posture(5, [{"port": 25, "name": "mx.example", "digest": "b" * 64, "file": "/z"}],
                               issuer="CN = " + HOSTILE),
                "down": {"failed": True, "msg": "Failed to connect to the host via ssh: " + HOSTILE, "unreachable": True}}
    advisors = {"mx1": ADVISOR}
    names = {"mx2": hostile}
    return build_report(dict((names.get(name, name), copy.deepcopy(postures[name])) for name in order),
                        advisors, generated)


def test_hosts_and_findings_worst_first_planted_failures_on_top():
    report = fleet()
    assert [host["host"].split()[0] for host in report["hosts"]] == ["down", "mx1", "mx2", "web1"]
    assert [host["state"] for host in report["hosts"]] == ["fail", "fail", "fail", "warn"]
    assert report["summary"] == {"hosts": 4, "fail": 3, "warn": 1, "ok": 0}
    top = [(item["severity"], item["code"]) for item in report["findings"][:6]]
    assert set(top) == {("fail", "host_not_read"), ("fail", "advisor_deferred"), ("fail", "forced_not_delivered"),
                        ("fail", "certificate_expiry"), ("fail", "tlsa_mismatch")}
    assert [item["severity"] for item in report["findings"]] == sorted(
        (item["severity"] for item in report["findings"]), key=["fail", "warn", "ok"].index)


def test_json_validates_against_the_shipped_schema():
    report = json.loads(report_json(fleet()))
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    broken = copy.deepcopy(report)
    broken["hosts"][0]["findings"][0]["severity"] = "critical"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(broken)


def test_nothing_changed_gives_the_same_bytes_apart_from_the_generation_time():
    first, second = fleet(), fleet(order=("down", "mx2", "web1", "mx1"))
    assert report_json(first) == report_json(second)
    assert render_html(first) == render_html(second)
    assert all(host_metrics(first, host["host"]) == host_metrics(second, host["host"]) for host in first["hosts"])
    later = fleet("2026-12-03T16:00:00Z")
    changed = [line for line in zip(report_json(first).split("\n"), report_json(later).split("\n")) if line[0] != line[1]]
    assert changed == [('  "generated": "2026-12-02T16:00:00Z",', '  "generated": "2026-12-03T16:00:00Z",')]
    html_changed = [pair for pair in zip(render_html(first).split("\n"), render_html(later).split("\n"))
                    if pair[0] != pair[1]]
    assert len(html_changed) == 1 and "Generated 2026-12-03T16:00:00Z" in html_changed[0][1]


def test_page_escapes_every_text_and_loads_nothing():
    page = render_html(fleet())
    assert HOSTILE not in page and "<b>x</b>" not in page
    assert page.count("<script>") == 1 and page.count("</script>") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\udcff" not in page and "\ufffd" in page
    assert not re.search(r"""(src|href|action)\s*=|url\(|@import|https?://""", page)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert csp.startswith("default-src &#x27;none&#x27;") and "unsafe-inline" not in csp
    assert "<details" in page and "@media print" in page and "@media (max-width" in page


def test_filters_are_the_renderers():
    filters = FilterModule().filters()
    report = filters["tls_report"]({"mx1": posture()}, None, "2026-12-02T16:00:00Z")
    assert filters["tls_report_html"](report).startswith("<!DOCTYPE html>")
    assert json.loads(filters["tls_report_json"](report)) == report
    assert "postfix_smtpd_tls_starttls_offered" in filters["tls_report_metrics"](report, "mx1")


def test_metrics_parse_and_their_labels_are_bounded():
    report = fleet()
    text = host_metrics(report, "mx1")
    families = dict((family.name, family) for family in text_string_to_metric_families(text))
    destinations = set(sample.labels["destination"] for sample in families["postfix_smtp_tls_deliveries"].samples)
    assert destinations == {"partner.example", "_other"}  # gmail.com and the odd recipient domain are summed
    assert {sample.labels["destination"] for sample in families["postfix_smtp_tls_policy_destination_level"].samples} \
        == {"partner.example", 'odd"dest\\x'}
    other = [sample.value for sample in families["postfix_smtp_tls_deliveries"].samples
             if sample.labels == {"destination": "_other", "trust": "trusted"}]
    assert other == [400]
    assert families["postfix_tls_report_generated_timestamp_seconds"].samples[0].value == 1796227200
    starttls = families["postfix_smtpd_tls_starttls_offered"].samples
    assert [(sample.labels["port"], sample.value) for sample in starttls] == [("25", 1), ("587", 1)]
    down = dict((family.name, family) for family in text_string_to_metric_families(host_metrics(report, "down")))
    assert down["postfix_tls_report_host_read"].samples[0].value == 0
    assert all(line.startswith(("# HELP postfix_", "# TYPE postfix_", "postfix_")) for line in text.splitlines())


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) is not installed")
def test_promtool_lints_the_metrics():
    report = fleet()
    for host in report["hosts"]:
        done = subprocess.run(["promtool", "check", "metrics"], input=host_metrics(report, host["host"]).encode(),
                              capture_output=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_a_sub_domain_counts_under_the_parent_entry_that_covers_it_not_other():
    host = posture()
    host["sending"]["policy"] += [{"destination": ".example.com", "level": "secure", "forced": True, "shadowed": False,
                                   "table": "hash:/etc/postfix/tls_policy"}]
    advisor = {"destinations": [
        {"destination": "mail.example.com", "outcomes": {"verified": 3}, "tls_deferrals": 1,
         "policy": {"entry": "secure", "level": "secure", "source": "t"}},
        {"destination": "Eu.Mail.Example.COM", "outcomes": {"verified": 2}, "tls_deferrals": 0},
        {"destination": "notexample.com", "outcomes": {"trusted": 5}, "tls_deferrals": 0}]}
    text = host_metrics(build_report({"mx1": host}, {"mx1": advisor}, "2026-12-02T16:00:00Z"), "mx1")
    families = dict((family.name, family) for family in text_string_to_metric_families(text))
    delivered = dict((tuple(sorted(sample.labels.items())), sample.value)
                     for sample in families["postfix_smtp_tls_deliveries"].samples)
    assert delivered == {(("destination", ".example.com"), ("trust", "verified")): 5,
                         (("destination", "_other"), ("trust", "trusted")): 5}
    assert [(sample.labels, sample.value) for sample in families["postfix_smtp_tls_deferrals"].samples] \
        == [({"destination": ".example.com"}, 1), ({"destination": "_other"}, 0)]
