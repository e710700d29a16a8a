"""The receiving side's MTA-STS policy and TLS-RPT record on the real Postfix (issue 22, item 4).

A scratch instance serves the certificate the profile deployed; the policy file it writes is read
back by the RFC 8461 parser, and openssl (``-verify_hostname``) proves that the certificate a
client gets over STARTTLS covers every MX name the policy lists. The refusals leave every file as
it was, byte for byte; check mode predicts the run; a second run changes nothing.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from drivers import scratch_postfix, start_postfix
from helpers import run_module, run_playbook, snapshot
from tls_material import NAME, chain, new_pair, pem_cert, pem_key

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.mta_sts import (
    parse_policy, parse_sts_record, policy_id, wildcard_matches)

PROFILE = "mailtls.postfix.tls_profile"
PORT = 25950 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
DOMAIN = "receiving.test"


@pytest.fixture
def instance():
    with scratch_postfix("mailtls-mta-sts-", PORT, directories=("tls", "web")) as info:
        yield info


def mta_sts(info, **given):
    spec = {"mode": "enforce", "domains": [DOMAIN], "policy_file": str(info["web"] / "mta-sts.txt"),
            "records_file": str(info["root"] / "mta-sts.zone"), "tlsrpt_rua": ["mailto:tlsrpt@%s" % DOMAIN]}
    spec.update(given)
    return spec


def args_for(info, chains, **given):
    return dict(config_dir=str(info["conf"]), reload=True, validate="postfix -c %s check",
                certificate={"chains": chains}, receiving={"mta_sts": mta_sts(info, **given)})


def apply(localhost, info, chains, **given):
    return run_module(localhost, PROFILE, **args_for(info, chains, **given))


def predict(tmp_path, info, chains, **given):
    task = {"name": "p", PROFILE: args_for(info, chains, **given)}
    rc, results, output = run_playbook(tmp_path, [task], check=True, diff=True)
    assert rc == 0, output[-3000:]
    return results["p"], output


def settled(*directories):
    return [snapshot(directory) for directory in directories]


def test_check_mode_predicts_the_policy_the_run_writes_and_a_second_run_changes_nothing(localhost, instance, tmp_path):
    key, cert = new_pair("ecdsa", name=NAME)
    chains = [chain(instance["tls"], "ec", key, cert)]
    predicted, output = predict(tmp_path, instance, chains, mx_names=[NAME])
    assert not (instance["web"] / "mta-sts.txt").exists() and not (instance["root"] / "mta-sts.zone").exists()
    # The diff shows the policy file as it will be served (CRLF shown as the writer writes it).
    assert "+mode: enforce" in output and "+mx: %s" % NAME in output
    assert predicted["mta_sts"]["policy_file_changed"] is True
    first = apply(localhost, instance, chains, mx_names=[NAME])
    assert first["changed"] is True and first["mta_sts"]["policy_file_changed"] is True, first
    for key_name in ("policy", "id", "records", "mx", "sts_record", "tlsrpt_record"):
        assert predicted["mta_sts"][key_name] == first["mta_sts"][key_name], key_name
    served = (instance["web"] / "mta-sts.txt").read_bytes()
    assert served == first["mta_sts"]["policy"].encode() and served.count(b"\r\n") == 4
    assert oct(os.stat(str(instance["web"] / "mta-sts.txt")).st_mode & 0o777) == "0o644"
    policy = parse_policy(served)
    assert policy == {"version": "STSv1", "mode": "enforce", "mx": [NAME], "max_age": 604800, "extensions": {}}
    zone = (instance["root"] / "mta-sts.zone").read_text().splitlines()
    sts = re.match(r'_mta-sts\.receiving\.test\. IN TXT "(.*)"\Z', zone[1]).group(1)
    assert parse_sts_record(sts)["id"] == policy_id(served) == first["mta_sts"]["id"]
    assert zone[2] == '_smtp._tls.receiving.test. IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@receiving.test"'
    # The certificate a client gets from the live instance covers every MX name the policy lists.
    start_postfix(instance["conf"], PORT)
    subprocess.run(["postfix", "-c", str(instance["conf"]), "reload"], check=True, capture_output=True)
    assert all(wildcard_matches(pattern, NAME) for pattern in policy["mx"])
    assert verified_for_cert(PORT, NAME, pem_cert(cert)) == "0"
    # This machine's Postfix 3.7 cannot report as a sender: said, and no smtp_tlsrpt_* parameter written.
    assert first["mta_sts"]["sending_tlsrpt"]["enabled"] is False
    assert "has no smtp_tlsrpt_enable" in first["mta_sts"]["sending_tlsrpt"]["reason"]
    assert "tlsrpt" not in (instance["conf"] / "main.cf").read_text()
    second = apply(localhost, instance, chains, mx_names=[NAME])
    assert second["changed"] is False and second["mta_sts"]["policy_file_changed"] is False, second
    assert second["mta_sts"]["records_file_changed"] is False
    predicted_again, _output = predict(tmp_path, instance, chains, mx_names=[NAME])
    assert predicted_again["changed"] is False


def verified_for_cert(port, name, cert_pem):
    """openssl's verify code for ``name`` with the deployed certificate as its own trust anchor."""
    anchor = "/tmp/mailtls-mta-sts-anchor-%d.pem" % os.getpid()
    with open(anchor, "w") as handle:
        handle.write(cert_pem)
    try:
        out = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % port,
                              "-servername", name, "-verify_hostname", name, "-CAfile", anchor],
                             input=b"", capture_output=True, timeout=20, check=False)
    finally:
        os.unlink(anchor)
    match = re.search(r"Verify return code: (\d+)", out.stdout.decode())
    return match.group(1) if match else out.stdout.decode() + out.stderr.decode()


def test_the_id_follows_the_policy_and_comes_back_with_it(localhost, instance):
    key, cert = new_pair("rsa", name=NAME)
    chains = [chain(instance["tls"], "rsa", key, cert)]
    testing = apply(localhost, instance, chains, mx_names=[NAME], mode="testing")
    enforce = apply(localhost, instance, chains, mx_names=[NAME])
    assert testing["mta_sts"]["id"] != enforce["mta_sts"]["id"]
    assert enforce["mta_sts"]["policy_file_changed"] is True and enforce["mta_sts"]["records_file_changed"] is True
    longer = apply(localhost, instance, chains, mx_names=[NAME], max_age=86400 * 30)
    assert longer["mta_sts"]["id"] not in (testing["mta_sts"]["id"], enforce["mta_sts"]["id"])
    back = apply(localhost, instance, chains, mx_names=[NAME], mode="testing")
    assert back["mta_sts"]["id"] == testing["mta_sts"]["id"]
    # Only the MTA-STS files changed: Postfix reads neither, so no reload.
    assert back["reloaded"] is False and back["reload_required"] is False


@pytest.mark.parametrize("case, message", [
    ("certificate_of_another_name", "receiving.mta_sts: the certificate of certificate %s/other.pem names "
                                    "other.receiving.test in its subjectAltName, not the MX name %s" % ("{tls}", NAME)),
    ("pattern_covering_no_mx", "receiving.mta_sts.mx: the pattern *.elsewhere.test covers no MX name"),
    ("mx_name_covered_by_no_pattern", "receiving.mta_sts.mx: no pattern covers the MX name mx2.receiving.test"),
    ("id_with_forbidden_characters", "receiving.mta_sts.id: 'v1-2026;x' is not 1 to 32 letters and digits"),
    ("rua_not_mailto_or_https", "receiving.mta_sts.tlsrpt_rua[0]: 'http://reports.receiving.test/' : rua takes"),
    ("policy_file_through_a_link", "receiving.mta_sts.policy_file: {web}/mta-sts.txt is a symbolic link; refusing"),
    ("policy_file_is_a_fifo", "receiving.mta_sts.policy_file: {web}/mta-sts.txt is not a regular file; refusing"),
    ("policy_file_is_main_cf", "receiving.mta_sts.policy_file: {conf}/main.cf is also config_dir"),
    ("records_file_is_the_certificate", "receiving.mta_sts.records_file: {tls}/rsa.pem is also "
                                        "certificate.chains[0].cert_file"),
    ("domain_with_a_newline", "receiving.mta_sts.domains: 'receiving.test\\n_mta-sts.evil.test' is not a domain"),
])
def test_refusals_name_the_option_and_leave_every_file_as_it_was(localhost, instance, tmp_path, case, message):
    conf, tls, web = instance["conf"], instance["tls"], instance["web"]
    key, cert = new_pair("rsa", name=NAME)
    chains = [chain(tls, "rsa", key, cert)]
    given = {"mx_names": [NAME]}
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours\n")
    if case == "certificate_of_another_name":
        other_key, other_cert = new_pair("rsa", name="other.receiving.test")
        chains = [chain(tls, "other", other_key, other_cert)]
    elif case == "pattern_covering_no_mx":
        given["mx"] = [NAME, "*.elsewhere.test"]
    elif case == "mx_name_covered_by_no_pattern":
        given.update(other_mx_names=["mx2.receiving.test"], mx=[NAME])
    elif case == "id_with_forbidden_characters":
        given["id"] = "v1-2026;x"
    elif case == "rua_not_mailto_or_https":
        given["tlsrpt_rua"] = ["http://reports.receiving.test/"]
        message = message.replace("' : ", "': ")
    elif case == "policy_file_through_a_link":
        os.symlink(str(outside), str(web / "mta-sts.txt"))
    elif case == "policy_file_is_a_fifo":
        os.mkfifo(str(web / "mta-sts.txt"))
    elif case == "policy_file_is_main_cf":
        given["policy_file"] = str(conf / "main.cf")
    elif case == "records_file_is_the_certificate":
        given["records_file"] = str(tls / "rsa.pem")
    elif case == "domain_with_a_newline":
        given["domains"] = ["receiving.test\n_mta-sts.evil.test"]
    message = message.replace("{tls}", str(tls)).replace("{web}", str(web)).replace("{conf}", str(conf))
    before = settled(conf, tls, instance["root"])
    for check in (True, False):
        task = {"name": "p", PROFILE: args_for(instance, chains, **given)}
        rc, results, output = run_playbook(tmp_path, [task], check=check)
        assert rc != 0, output[-2000:]
        assert message in results["p"]["msg"], results["p"]["msg"]
        assert settled(conf, tls, instance["root"]) == before
        assert outside.read_text() == "not yours\n"
    assert not (tls / "rsa.key").exists(), "the certificate part never ran: the refusal came first"


def test_enforce_without_a_certificate_in_the_call_is_refused_and_keep_checks_the_hosts(localhost, instance):
    args = args_for(instance, [], mx_names=[NAME])
    args.pop("certificate")
    refused = run_module(localhost, PROFILE, **args)
    assert refused.get("failed") and "knows no certificate its server serves" in refused["msg"], refused
    assert not (instance["web"] / "mta-sts.txt").exists()
    # certificate.keep: the pair main.cf names (deployed here in testing mode, of another name) is what is checked.
    other_key, other_cert = new_pair("rsa", name="other.receiving.test")
    deployed = apply(localhost, instance, [chain(instance["tls"], "other", other_key, other_cert)], mx_names=[NAME],
                     mode="testing")
    assert deployed["changed"] is True, deployed
    before = (instance["web"] / "mta-sts.txt").read_bytes()
    args["certificate"] = {"keep": True}
    kept = run_module(localhost, PROFILE, **args)
    assert kept.get("failed") and "%s/other.pem names other.receiving.test" % instance["tls"] in kept["msg"], kept
    assert (instance["web"] / "mta-sts.txt").read_bytes() == before


def test_testing_publishes_what_enforce_refuses_with_warnings(localhost, instance):
    other_key, other_cert = new_pair("rsa", name="other.receiving.test")
    chains = [chain(instance["tls"], "other", other_key, other_cert)]
    result = apply(localhost, instance, chains, mx_names=[NAME], mode="testing")
    assert result["changed"] is True
    assert any("not the MX name %s" % NAME in warning and "mode testing" in warning
               for warning in result.get("warnings", [])), result.get("warnings")
    assert parse_policy((instance["web"] / "mta-sts.txt").read_bytes())["mode"] == "testing"


def test_an_sni_certificate_of_the_mx_name_is_the_one_checked_for_it(localhost, instance):
    tls = instance["tls"]
    default_key, default_cert = new_pair("rsa", name="default.receiving.test")
    mx_key, mx_cert = new_pair("rsa", name="mx2.receiving.test")
    chains = [chain(tls, "default", default_key, default_cert)]
    args = args_for(instance, chains, mx_names=["mx2.receiving.test"])
    args["receiving"].update(sni=[{"names": ["mx2.receiving.test"], "chains": [chain(tls, "mx2", mx_key, mx_cert)]}],
                             sni_table=str(instance["conf"] / "tls_server_sni"))
    refused = run_module(localhost, PROFILE, **args)
    # The default certificate is served to a client that sends no SNI: it must cover the MX name too.
    assert refused.get("failed") and "default.receiving.test in its subjectAltName, not the MX name " \
        "mx2.receiving.test" in refused["msg"], refused
    assert "mx2.pem" not in refused["msg"]
    assert not (tls / "mx2.key").exists()


def test_the_role_declares_it_and_the_summary_says_it(tmp_path, config_dir):
    key, cert = new_pair("ecdsa", name="mx.test")
    web = tmp_path / "web"
    web.mkdir()
    role_vars = dict(server_config_dir=str(config_dir), server_manage_packages=False, server_manage_service=False,
                     tls_receiving_cert_file=str(tmp_path / "tls" / "mx.pem"),
                     tls_receiving_key_file=str(tmp_path / "tls" / "mx.key"),
                     tls_receiving_cert_content=pem_cert(cert), tls_receiving_key_content=pem_key(key),
                     tls_receiving_mta_sts=True, tls_receiving_mta_sts_mode="enforce",
                     tls_receiving_mta_sts_domains=["example.test"], tls_receiving_mta_sts_mx_names=["mx.test"],
                     tls_receiving_mta_sts_policy_file=str(web / "mta-sts.txt"),
                     tls_receiving_mta_sts_records_file=str(tmp_path / "sts.zone"),
                     tls_receiving_tlsrpt_rua=["https://reports.example.test/tls,rpt"])
    tasks = [{"name": "role", "ansible.builtin.include_role": {"name": "mailtls.postfix.tls_receiving"},
              "vars": role_vars},
             {"name": "state", "ansible.builtin.debug": {"var": "server_state.mta_sts"}}]
    rc, results, output = run_playbook(tmp_path, tasks, check=True, diff=True)
    assert rc == 0, output[-3000:]
    predicted = results["state"]["server_state.mta_sts"]
    assert "+mx: mx.test" in output and not (web / "mta-sts.txt").exists()
    assert re.search(r"MTA-STS: mode enforce, id %s, 2 DNS records, policy file and records file would change"
                     % predicted["id"], output), output[-3000:]
    rc, results, output = run_playbook(tmp_path, tasks)
    assert rc == 0, output[-3000:]
    applied = results["state"]["server_state.mta_sts"]
    assert applied["policy"] == predicted["policy"] and applied["records"] == predicted["records"]
    assert (web / "mta-sts.txt").read_bytes() == applied["policy"].encode()
    assert applied["tlsrpt_record"] == "v=TLSRPTv1; rua=https://reports.example.test/tls%2Crpt"
    before = snapshot(web)
    rc, _results, output = run_playbook(tmp_path, tasks)
    assert rc == 0 and re.search(r"\bchanged=0 ", output), output[-3000:]
    assert snapshot(web) == before
    # absent takes back what the role wrote in Postfix; the served policy, outside config_dir, stays and is said
    # to (the record's rule for every file outside config_dir: a policy pulled from the web while senders hold it
    # is the user's decision - publish mode none first, RFC 8461 section 8.3).
    absent = dict(tasks[0], vars=dict(role_vars, tls_receiving_state="absent"))
    rc, _results, output = run_playbook(tmp_path, [absent])
    assert rc == 0, output[-3000:]
    assert snapshot(web) == before
    assert "%s stays: tls_receiving created it, but it is outside" % (web / "mta-sts.txt") in " ".join(output.split())
    # A bad rua through the role: refused in the role's words, nothing written.
    role_vars["tls_receiving_tlsrpt_rua"] = ["mailto:a@example.test,b@example.test"]
    rc, _results, output = run_playbook(tmp_path, tasks)
    assert rc != 0 and "tls_receiving_tlsrpt_rua" in output and "several addresses" in output, output[-3000:]
    assert snapshot(web) == before
