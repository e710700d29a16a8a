"""tls_profile's receiving side on the real Postfix: key chains, DANE records, renewal, the hook, the self-probe.

A live instance on loopback serves what the profile deployed; openssl s_client limited to one
algorithm proves which certificate a client gets, and the TLSA record is computed again from
the served certificate with openssl alone.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from drivers import scratch_postfix, start_postfix
from helpers import run_module, run_playbook, snapshot
from tls_material import NAME, chain, fingerprint, make_cert, new_pair, pem_cert, pem_key

PROFILE = "mailtls.postfix.tls_profile"
# Each pytest-xdist worker runs its own instance, on its own port.
PORT = 25450 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)


def openssl_tlsa(cert_pem):
    """3 1 1 from the certificate with openssl alone: SHA-256 of the DER SubjectPublicKeyInfo."""
    spki = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=cert_pem.encode(), capture_output=True,
                          check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=spki, capture_output=True,
                         check=True).stdout
    return hashlib.sha256(der).hexdigest()


def served(port, sigalgs, servername=None):
    """The certificate (PEM) a client limited to ``sigalgs`` gets over STARTTLS."""
    argv = ["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % port, "-sigalgs", sigalgs,
            "-tls1_3"]
    if servername:
        argv += ["-servername", servername]
    out = subprocess.run(argv, input=b"", capture_output=True, timeout=20, check=False).stdout.decode()
    match = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", out, re.S)
    return match.group(0) if match else None


@pytest.fixture
def instance():
    with scratch_postfix("mailtls-receiving-", PORT) as info:
        yield info


def start(conf):
    start_postfix(conf, PORT)


def apply(localhost, conf, **args):
    args.setdefault("validate", "postfix -c %s check")
    return run_module(localhost, PROFILE, config_dir=str(conf), reload=True, **args)


def predict(tmp_path, conf, **args):
    """The profile in check mode, through ansible-playbook --check: its result."""
    args.setdefault("validate", "postfix -c %s check")
    task = {"name": "p", "mailtls.postfix.tls_profile": dict(config_dir=str(conf), reload=True, **args)}
    rc, results, output = run_playbook(tmp_path, [task], check=True)
    assert rc == 0, output[-3000:]
    return results["p"]


def test_rsa_and_ecdsa_side_by_side_each_client_gets_its_algorithm(localhost, instance, tmp_path):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    ec_key, ec_cert = new_pair("ecdsa")
    chains = [chain(tls, "rsa", rsa_key, rsa_cert), chain(tls, "ecdsa", ec_key, ec_cert)]
    predicted = predict(tmp_path, conf, certificate={"chains": chains})
    assert predicted["changed"] is True and not (tls / "rsa.key").exists()
    first = apply(localhost, conf, certificate={"chains": chains}, receiving={"dane": {"names": [NAME]}})
    assert first["changed"] is True, first
    lines = subprocess.run(["postconf", "-c", str(conf), "-n"], capture_output=True, text=True, check=True).stdout
    assert "smtpd_tls_chain_files = %s/rsa.key, %s/rsa.pem, %s/ecdsa.key, %s/ecdsa.pem" % ((tls,) * 4) in lines
    assert "smtpd_tls_cert_file" not in lines and "smtpd_tls_key_file" not in lines, "legacy pair removed"
    assert [item["key_algorithm"] for item in first["certificate"]["certificates"]] == ["rsa", "ecdsa"]
    for stem in ("rsa", "ecdsa"):
        assert stat.S_IMODE(os.stat(tls / (stem + ".key")).st_mode) == 0o600
    start(conf)
    got_rsa, got_ec = served(PORT, "rsa_pss_rsae_sha256:RSA+SHA256"), served(PORT, "ECDSA+SHA256")
    assert fingerprint(got_rsa) == fingerprint(pem_cert(rsa_cert))
    assert fingerprint(got_ec) == fingerprint(pem_cert(ec_cert))
    # The records the profile returns are those of the served keys, computed again with openssl alone.
    assert first["tlsa"]["current"] == [openssl_tlsa(got_rsa), openssl_tlsa(got_ec)]
    assert first["tlsa"]["records"][0] == "_25._tcp.%s. IN TLSA 3 1 1 %s" % (NAME, openssl_tlsa(got_rsa))

    before = snapshot(tls)
    again = apply(localhost, conf, certificate={"chains": chains}, receiving={"dane": {"names": [NAME]}})
    assert again["changed"] is False and again["reloaded"] is False and again["tls_files_not_loaded"] == []
    assert snapshot(tls) == before


def test_refusals_change_nothing(localhost, instance):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    other_key, other_cert = new_pair("rsa")
    before, main_before = snapshot(tls), (conf / "main.cf").read_text()
    two_rsa = apply(localhost, conf, certificate={"chains": [chain(tls, "a", rsa_key, rsa_cert),
                                                             chain(tls, "b", other_key, other_cert)]})
    assert two_rsa["failed"] and "chains[1]" in two_rsa["msg"] and "second RSA key" in two_rsa["msg"], two_rsa
    mismatch = chain(tls, "a", rsa_key, rsa_cert)
    mismatch["cert_content"] = pem_cert(other_cert)
    refused = apply(localhost, conf, certificate={"chains": [mismatch]})
    assert refused["failed"] and "chains[0].cert_content" in refused["msg"] and "public keys differ" in refused["msg"]
    legacy = apply(localhost, conf, certificate={"chains": [chain(tls, "a", rsa_key, rsa_cert)]},
                   parameters={"smtpd_tls_cert_file": "/etc/ssl/certs/x.pem"})
    assert legacy["failed"] and "certificate.chains" in legacy["msg"] and "smtpd_tls_cert_file" in legacy["msg"]
    assert snapshot(tls) == before and (conf / "main.cf").read_text() == main_before
    for result in (two_rsa, refused, legacy):
        assert pem_key(rsa_key).splitlines()[1] not in str(result)


def test_renewed_outside_ansible_reloads_and_self_probe_sees_it(localhost, instance, tmp_path):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    first = apply(localhost, conf, certificate={"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]})
    assert first["changed"] is True
    start(conf)
    paths_only = {"chains": [chain(tls, "rsa", rsa_key, rsa_cert, content=False)]}
    assert apply(localhost, conf, certificate=paths_only)["changed"] is False
    # certbot renews: a new certificate for the same key, renamed into place.
    renewed = make_cert(NAME, None, None, rsa_key, -1, 60)
    (tls / "rsa.pem.new").write_text(pem_cert(renewed))
    os.rename(str(tls / "rsa.pem.new"), str(tls / "rsa.pem"))
    predicted = predict(tmp_path, conf, certificate=paths_only)
    assert predicted["changed"] is True and predicted["tls_files_not_loaded"] == [str(tls / "rsa.pem")]
    assert predicted["reloaded"] is True  # what the real run does (check mode reloads nothing)
    result = apply(localhost, conf, certificate=paths_only, receiving={"self_probe": "changed"})
    assert result["changed"] is True and result["reloaded"] is True, result
    assert result["self_probe"]["status"] == "passed", result["self_probe"]
    assert result["self_probe"]["listeners"][0]["served_fingerprint"] == fingerprint(pem_cert(renewed))
    again = apply(localhost, conf, certificate=paths_only, receiving={"self_probe": "changed"})
    assert again["changed"] is False and again["reloaded"] is False and "self_probe" not in again


def test_self_probe_fails_when_the_listener_offers_no_starttls(localhost, instance):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    certificate = {"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]}
    apply(localhost, conf, certificate=certificate)
    master = (conf / "master.cf").read_text().replace(
        "127.0.0.1:%d inet n - n - - smtpd\n" % PORT,
        "127.0.0.1:%d inet n - n - - smtpd -o smtpd_tls_security_level=none\n" % PORT)
    (conf / "master.cf").write_text(master)
    start(conf)
    result = apply(localhost, conf, certificate=certificate, self_probe="always", receiving={"self_probe_timeout": 2})
    assert result["failed"] is True and "127.0.0.1:%d does not offer STARTTLS" % PORT in result["msg"], result
    # A failed probe leaves no record of loaded files: the next run, self_probe=changed, fails again.
    again = apply(localhost, conf, certificate=certificate, receiving={"self_probe_timeout": 2})
    assert again["failed"] is True and "does not offer STARTTLS" in again["msg"], again


def test_renewal_hook_checks_rebuilds_and_reloads(localhost, instance):
    conf, tls, root = instance["conf"], instance["tls"], instance["root"]
    hook = root / "mailtls-postfix-hook"
    rsa_key, rsa_cert = new_pair("rsa")
    paths = {"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]}
    first = apply(localhost, conf, certificate=paths, receiving={"renewal_hook": str(hook)})
    assert first["renewal_hook"] == {"path": str(hook), "changed": True}
    assert stat.S_IMODE(hook.stat().st_mode) == 0o755
    start(conf)
    renewed = make_cert(NAME, None, None, rsa_key, -1, 90)
    (tls / "rsa.pem").write_text(pem_cert(renewed))
    ran = subprocess.run([str(hook)], capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stderr
    deadline = time.time() + 15
    while time.time() < deadline and fingerprint(served(PORT, "rsa_pss_rsae_sha256:RSA+SHA256") or pem_cert(rsa_cert)) \
            != fingerprint(pem_cert(renewed)):
        time.sleep(0.5)
    assert fingerprint(served(PORT, "rsa_pss_rsae_sha256:RSA+SHA256")) == fingerprint(pem_cert(renewed))
    # The hook recorded what Postfix loaded: the next run has nothing to reload.
    paths_only = {"chains": [chain(tls, "rsa", rsa_key, rsa_cert, content=False)]}
    after = apply(localhost, conf, certificate=paths_only, receiving={"renewal_hook": str(hook)})
    assert after["changed"] is False and after["reloaded"] is False, after
    # A certificate of another key: the hook refuses to reload into a Postfix without TLS.
    _other_key, other_cert = new_pair("rsa")
    (tls / "rsa.pem").write_text(pem_cert(other_cert))
    refused = subprocess.run([str(hook)], capture_output=True, text=True, check=False)
    assert refused.returncode == 1 and "do not belong together" in refused.stderr
    assert fingerprint(served(PORT, "rsa_pss_rsae_sha256:RSA+SHA256")) == fingerprint(pem_cert(renewed))


def test_next_key_record_is_published_beside_the_current_one(localhost, instance):
    conf, tls, root = instance["conf"], instance["tls"], instance["root"]
    rsa_key, rsa_cert = new_pair("rsa")
    next_key = rsa.generate_private_key(65537, 2048)
    (root / "next.key").write_text(pem_key(next_key))
    (root / "next.key").chmod(0o600)
    zone = root / "tlsa.zone"
    dane = {"names": [NAME, "mx2.receiving.test"], "ports": [25], "file": str(zone), "next_keys": [str(root / "next.key")]}
    result = apply(localhost, conf, certificate={"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]},
                   receiving={"dane": dane})
    next_cert = make_cert(NAME, None, None, next_key, -1, 30)
    assert result["tlsa"]["next"] == [openssl_tlsa(pem_cert(next_cert))]
    assert result["tlsa"]["current"] == [openssl_tlsa(pem_cert(rsa_cert))]
    lines = zone.read_text().splitlines()
    assert len([line for line in lines if " IN TLSA 3 1 1 " in line]) == 4  # 2 names x (current + next)
    assert pem_key(next_key).splitlines()[1] not in str(result)


def test_key_contents_never_reach_the_output(tmp_path, instance):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    ec_key, ec_cert = new_pair("ecdsa")
    task = {"mailtls.postfix.tls_profile": {
        "config_dir": str(conf), "certificate": {"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]},
        "receiving": {"sni": [{"names": ["other.receiving.test"], "chains": [chain(tls, "sni", ec_key, ec_cert)]}]}}}
    rc, _results, output = run_playbook(tmp_path, [task], diff=True, extra_args=["-vvvv"])
    for key in (rsa_key, ec_key):
        for line in pem_key(key).splitlines()[1:-1]:
            assert line not in output
    assert rc == 0, output[-3000:]


def test_sni_names_get_their_certificate_and_a_renewed_file_rebuilds_the_index(localhost, instance, tmp_path):
    conf, tls = instance["conf"], instance["tls"]
    default_key, default_cert = new_pair("rsa")
    other_key, other_cert = new_pair("rsa", name="other.receiving.test")
    certificate = {"chains": [chain(tls, "default", default_key, default_cert)]}
    receiving = {"sni": [{"names": ["other.receiving.test", ".other.receiving.test"],
                          "chains": [chain(tls, "other", other_key, other_cert)]}],
                 "sni_table": str(conf / "tls_server_sni")}
    predicted = predict(tmp_path, conf, certificate=certificate, receiving=receiving)
    assert predicted["changed"] is True and predicted["sni_table"]["postmap_run"] is True
    assert not (conf / "tls_server_sni").exists() and not (tls / "other.key").exists()
    first = apply(localhost, conf, certificate=certificate, receiving=receiving)
    assert first["changed"] is True, first
    lines = subprocess.run(["postconf", "-c", str(conf), "-n"], capture_output=True, text=True, check=True).stdout
    assert "tls_server_sni_maps = hash:%s/tls_server_sni" % conf in lines
    source = (conf / "tls_server_sni").read_text()
    # The default certificate's name is mapped too (postconf(5)): a client asking for it gets no mismatch.
    assert "%s %s/default.key %s/default.pem" % (NAME, tls, tls) in source
    for path in (conf / "tls_server_sni", conf / "tls_server_sni.db"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path  # the index holds the keys
    start(conf)
    rsa_only = "rsa_pss_rsae_sha256:RSA+SHA256"
    assert fingerprint(served(PORT, rsa_only, "other.receiving.test")) == fingerprint(pem_cert(other_cert))
    assert fingerprint(served(PORT, rsa_only, "mx.other.receiving.test")) == fingerprint(pem_cert(other_cert))
    assert fingerprint(served(PORT, rsa_only, NAME)) == fingerprint(pem_cert(default_cert))
    assert fingerprint(served(PORT, rsa_only)) == fingerprint(pem_cert(default_cert))
    paths_only = {"sni": [dict(receiving["sni"][0], chains=[chain(tls, "other", other_key, other_cert, content=False)])],
                  "sni_table": receiving["sni_table"]}
    certificate_paths = {"chains": [chain(tls, "default", default_key, default_cert, content=False)]}
    assert apply(localhost, conf, certificate=certificate_paths, receiving=paths_only)["changed"] is False
    # The SNI certificate renewed outside Ansible: the table text is the same, the index is rebuilt.
    renewed = make_cert("other.receiving.test", None, None, other_key, -1, 60)
    (tls / "other.pem").write_text(pem_cert(renewed))
    result = apply(localhost, conf, certificate=certificate_paths, receiving=paths_only)
    assert result["changed"] is True and result["sni_table"]["postmap_run"] is True and result["reloaded"] is True
    deadline = time.time() + 15
    while time.time() < deadline and fingerprint(served(PORT, rsa_only, "other.receiving.test")) \
            != fingerprint(pem_cert(renewed)):
        time.sleep(0.5)
    assert fingerprint(served(PORT, rsa_only, "other.receiving.test")) == fingerprint(pem_cert(renewed))
    assert apply(localhost, conf, certificate=certificate_paths, receiving=paths_only)["changed"] is False


def test_back_to_one_pair_and_no_sni_leave_nothing_that_would_still_win(localhost, instance):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    other_key, other_cert = new_pair("rsa", name="other.receiving.test")
    receiving = {"sni": [{"names": ["other.receiving.test"], "chains": [chain(tls, "other", other_key, other_cert)]}],
                 "sni_table": str(conf / "tls_server_sni")}
    apply(localhost, conf, certificate={"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]}, receiving=receiving)
    single = {"cert_file": str(tls / "rsa.pem"), "key_file": str(tls / "rsa.key")}
    legacy = {"smtpd_tls_cert_file": single["cert_file"], "smtpd_tls_key_file": single["key_file"]}
    result = apply(localhost, conf, certificate=single, parameters=legacy,
                   receiving={"sni": [], "sni_table": receiving["sni_table"]})
    assert result["changed"] is True, result
    lines = subprocess.run(["postconf", "-c", str(conf), "-n"], capture_output=True, text=True, check=True).stdout
    assert "smtpd_tls_chain_files" not in lines and "tls_server_sni_maps" not in lines, lines
    assert "smtpd_tls_cert_file = %s/rsa.pem" % tls in lines


def test_a_combined_key_and_certificate_file_is_named_once_and_served(localhost, instance):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    path = tls / "combined.pem"
    path.write_text(pem_key(rsa_key) + pem_cert(rsa_cert))
    path.chmod(0o600)
    certificate = {"chains": [{"key_file": str(path), "cert_file": str(path)}]}
    first = apply(localhost, conf, certificate=certificate)
    assert first.get("failed") is not True and first["changed"] is True, first.get("msg")
    lines = subprocess.run(["postconf", "-c", str(conf), "-n"], capture_output=True, text=True, check=True).stdout
    assert "smtpd_tls_chain_files = %s\n" % path in lines, lines
    start(conf)
    assert fingerprint(served(PORT, "rsa_pss_rsae_sha256:RSA+SHA256")) == fingerprint(pem_cert(rsa_cert))
    assert apply(localhost, conf, certificate=certificate)["changed"] is False
