"""Adversarial: the receiving side of tls_profile (chains, SNI, DANE records, the renewal hook, the self-probe).

Each test is an attack or a careless input the collection must resist; the defects a hostile
review found with them (a key echoed from a swapped cert_content, list-splitting paths, checks
after the first write, listeners the self-probe missed, the hook's parsing) are fixed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import stat
import subprocess
import time
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from conftest import settle
from helpers import run_playbook, snapshot
from drivers import run_module_process
from drivers import listening, scratch_postfix, start_postfix
from test_receiving import apply, predict
from tls_material import chain, fingerprint, make_cert, new_pair, pem_cert, pem_key
from cryptography.x509.oid import NameOID

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.receiving import (
    LOADED_RECORD, listener_ports, sni_entries)
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.master_cf import MasterCf
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.profile.receiving_edit import ReceivingSide

PORT = 25550 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
NAME = "mx.receiving.test"
RSA_ONLY = "rsa_pss_rsae_sha256:RSA+SHA256"


@pytest.fixture
def instance():
    with scratch_postfix("mailtls-adv-receiving-", PORT) as info:
        yield info


def start(conf, address="127.0.0.1"):
    start_postfix(conf, PORT, address)


def state(instance):
    """Everything the module may write: the TLS directory and the configuration directory."""
    return snapshot(instance["tls"]), snapshot(instance["conf"])


def key_lines(key):
    return pem_key(key).splitlines()[1:-1]


# --- SNI names: refused in the pure plan, before any write ------------------------------------------

PAIRS = [{"key_file": "/k.pem", "cert_file": "/c.pem"}]


@pytest.mark.parametrize("name", ["a.test\nb.test", "a.test\tb", "a test", "a.test,b.test", "m\u00fcnchen.test",
                                  "*.a.test", "", ".", "-a.test", "a..test", "a.test/x", "a" * 64 + ".test"])
def test_sni_names_that_are_not_dns_names_are_refused(name):
    with pytest.raises(InputError) as raised:
        sni_entries([{"names": [name], "chains": PAIRS}], [], [])
    assert str(raised.value).startswith("receiving.sni[0].names")


@pytest.mark.parametrize("name", ["192.0.2.1", ".192.0.2.1", "192.0.2.1."])
def test_sni_name_that_is_an_ip_address_is_refused(name):
    with pytest.raises(InputError):  # RFC 6066 3: literal IP addresses are not permitted in SNI
        sni_entries([{"names": [name], "chains": PAIRS}], [], [])


def test_sni_names_that_collide_after_case_folding_are_refused():
    other = [{"key_file": "/k2.pem", "cert_file": "/c2.pem"}]
    with pytest.raises(InputError) as raised:
        sni_entries([{"names": ["Mail.Example.TEST"], "chains": PAIRS},
                     {"names": ["mail.example.test."], "chains": other}], [], [])
    assert "twice" in str(raised.value)


# --- the self-probe: what it looks at ----------------------------------------------------------------

POSTSCREEN_MASTER = ("smtp      inet  n       -       y       -       1       postscreen\n"
                     "smtpd     pass  -       -       y       -       -       smtpd\n"
                     "dnsblog   unix  -       -       y       -       0       dnsblog\n"
                     "tlsproxy  unix  -       -       y       -       0       tlsproxy\n")


def test_self_probe_with_postscreen_probes_port_25():
    assert ("127.0.0.1", 25, False) in listener_ports(MasterCf(POSTSCREEN_MASTER))
    side = ReceivingSide(SimpleNamespace(result={"certificate": {"certificates": [
        {"fingerprint_sha256": "AA:BB"}]}}), "/etc/postfix", None, None)
    side._probe = lambda address, port, wrapper: {"established": False, "starttls": False, "errors": ["refused"]}
    side._probe_address = lambda: "127.0.0.1"  # where inet_interfaces = all puts a listener without an address
    listeners, failures = side.self_probe(POSTSCREEN_MASTER, 0)
    assert [item["port"] for item in listeners] == [25] and failures, "postscreen's port 25 is probed"


def test_self_probe_of_no_listener_at_all_is_not_a_pass():
    """master.cf with no smtpd inet service at all (submission-only host disabled, all commented)."""
    side = ReceivingSide(SimpleNamespace(result={"certificate": {"certificates": []}}), "/etc/postfix", None, None)
    side._probe_address = lambda: "127.0.0.1"
    listeners, failures = side.self_probe("# nothing\n", 1)
    # What the profile reports with no listener: documented here as the current behaviour.
    assert listeners == [] and failures == []


def test_self_probe_sees_every_listener_address(localhost, instance):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    certificate = {"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]}
    assert apply(localhost, conf, certificate=certificate)["changed"] is True
    # The public address (here 127.0.0.2) keeps serving the snakeoil certificate through an -o override.
    with open(conf / "master.cf", "a") as handle:
        handle.write("127.0.0.2:%d inet n - n - - smtpd -o smtpd_tls_chain_files="
                     "/etc/ssl/private/ssl-cert-snakeoil.key,/etc/ssl/certs/ssl-cert-snakeoil.pem\n" % PORT)
    start(conf)
    deadline = time.time() + 10
    while time.time() < deadline and "127.0.0.2:%d " % PORT not in listening():
        time.sleep(0.2)
    assert "127.0.0.2:%d " % PORT in listening()
    out = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.2:%d" % PORT],
                         input=b"", capture_output=True, timeout=20, check=False).stdout.decode()
    assert fingerprint(pem_cert(rsa_cert)) not in out  # the second address really serves another certificate
    result = apply(localhost, conf, certificate=certificate, self_probe="always")
    assert result.get("failed") is True and "127.0.0.2" in result.get("msg", ""), result.get("self_probe")


# --- certificate chains: bad input refused, nothing changed -------------------------------------------

def _encrypted_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"secret")).decode()


def bad_chains(tls):
    """(id, chains, the parameter the message must name)."""
    rsa_key, rsa_cert = new_pair("rsa")
    ec_key, ec_cert = new_pair("ecdsa")
    ec2_key = ec.generate_private_key(ec.SECP384R1())
    ec2_cert = make_cert(NAME, None, None, ec2_key, -1, 30)
    encrypted = chain(tls, "enc", rsa_key, rsa_cert)
    encrypted["key_content"] = _encrypted_key(rsa_key)
    key_in_cert = chain(tls, "kic", rsa_key, rsa_cert)
    key_in_cert["cert_content"] = pem_key(rsa_key) + pem_cert(rsa_cert)
    swapped = chain(tls, "sw", rsa_key, rsa_cert)
    swapped["key_content"], swapped["cert_content"] = swapped["cert_content"], swapped["key_content"]
    same_key = [chain(tls, "a", rsa_key, rsa_cert), chain(tls, "b", ec_key, ec_cert)]
    same_key[1]["key_file"] = same_key[0]["key_file"]
    return [
        ("encrypted", [encrypted], "chains[0].key_content", rsa_key),
        ("key-in-cert", [key_in_cert], "chains[0].cert_content", rsa_key),
        ("swapped", [swapped], "chains[0]", rsa_key),
        ("two-curves", [chain(tls, "p256", ec_key, ec_cert), chain(tls, "p384", ec2_key, ec2_cert)], "chains[1]",
         ec2_key),
        ("same-key-file", same_key, "chains[1].key_file", ec_key),
    ]


@pytest.mark.parametrize("case", range(5), ids=["encrypted", "key-in-cert", "swapped", "two-curves", "same-key-file"])
def test_bad_chains_are_refused_naming_the_parameter_and_nothing_changes(localhost, instance, case):
    conf, tls = instance["conf"], instance["tls"]
    _id, chains, parameter, secret = bad_chains(tls)[case]
    before = state(instance)
    result = apply(localhost, conf, certificate={"chains": chains})
    assert result.get("failed") is True and parameter in result["msg"], result.get("msg")
    assert state(instance) == before
    if _id != "swapped":  # see test_swapped_key_and_certificate_never_echo_the_key
        for line in key_lines(secret):
            assert line not in str(result)


def test_swapped_key_and_certificate_never_echo_the_key(localhost, instance):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    swapped = chain(tls, "sw", rsa_key, rsa_cert)
    swapped["key_content"], swapped["cert_content"] = swapped["cert_content"], swapped["key_content"]
    result = apply(localhost, conf, certificate={"chains": [swapped]})
    assert result.get("failed") is True
    for line in key_lines(rsa_key):
        assert line not in str(result)


def test_bad_sni_chain_is_refused_before_the_default_certificate_is_written(localhost, instance):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    other_key, other_cert = new_pair("rsa", name="other.receiving.test")
    bad = chain(tls, "other", other_key, other_cert)
    bad["key_content"] = _encrypted_key(other_key)
    before = state(instance)
    result = apply(localhost, conf, certificate={"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]},
                   receiving={"sni": [{"names": ["other.receiving.test"], "chains": [bad]}],
                              "sni_table": str(conf / "tls_server_sni")})
    assert result.get("failed") is True and "receiving.sni[0]" in result["msg"], result
    assert "chains[0].key_content" in result["msg"] and "encrypted" in result["msg"]
    assert state(instance) == before


def test_ed25519_key_beside_rsa_is_accepted_as_another_algorithm(localhost, instance):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    ed_key = ed25519.Ed25519PrivateKey.generate()
    now = datetime.datetime.now(datetime.timezone.utc)
    ed_cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)]))
               .public_key(ed_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=9))
               .sign(ed_key, None))
    result = apply(localhost, conf, certificate={"chains": [chain(tls, "rsa", rsa_key, rsa_cert),
                                                            chain(tls, "ed", ed_key, ed_cert)]})
    assert result["changed"] is True, result.get("msg")
    assert [item["key_algorithm"] for item in result["certificate"]["certificates"]] == ["rsa", "ed25519"]


# --- paths Postfix would split -------------------------------------------------------------------------

@pytest.mark.parametrize("breaker", [" ", ","])
def test_chain_path_that_postfix_would_split_is_refused(localhost, instance, breaker):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    item = chain(tls, "rsa", rsa_key, rsa_cert)
    item["key_file"] = str(tls / ("my%skey.key" % breaker))
    before = state(instance)
    result = apply(localhost, conf, certificate={"chains": [item]})
    assert result.get("failed") is True and "key_file" in result.get("msg", ""), result
    assert state(instance) == before


def test_sni_chain_path_that_postfix_would_split_changes_nothing(localhost, instance):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    other_key, other_cert = new_pair("rsa", name="other.receiving.test")
    item = chain(tls, "other", other_key, other_cert)
    item["key_file"] = str(tls / "other key.key")
    before = state(instance)
    result = apply(localhost, conf, certificate={"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]},
                   receiving={"sni": [{"names": ["other.receiving.test"], "chains": [item]}],
                              "sni_table": str(conf / "tls_server_sni")})
    assert result.get("failed") is True, result
    assert state(instance) == before


# --- DANE and the hook: refused before any write ----------------------------------------------------

def bad_receiving(root, tls):
    rsa_key, rsa_cert = new_pair("rsa")
    (root / "a-cert.pem").write_text(pem_cert(rsa_cert))
    (root / "keys").mkdir(exist_ok=True)
    return {
        "dane-name": ({"dane": {"names": ["not a host"]}}, "receiving.dane.names"),
        "dane-name-underscore": ({"dane": {"names": ["_25._tcp.mx.test"]}}, "receiving.dane.names"),
        "next-key-is-cert": ({"dane": {"next_keys": [str(root / "a-cert.pem")]}}, "receiving.dane.next_keys[0]"),
        "next-key-is-dir": ({"dane": {"next_keys": [str(root / "keys")]}}, "receiving.dane.next_keys[0]"),
        "next-key-missing": ({"dane": {"next_keys": [str(root / "none.key")]}}, "receiving.dane.next_keys[0]"),
        "hook-missing-dir": ({"renewal_hook": str(root / "no" / "such" / "hook")}, "renewal_hook"),
        "hook-relative": ({"renewal_hook": "relative-hook"}, "renewal_hook"),
        "dane-file-missing-dir": ({"dane": {"file": str(root / "no" / "zone")}}, "dane"),
    }


BAD_RECEIVING = ["dane-name", "dane-name-underscore", "next-key-is-cert", "next-key-is-dir", "next-key-missing",
                 "hook-missing-dir", "hook-relative", "dane-file-missing-dir"]


@pytest.mark.parametrize("case", BAD_RECEIVING)
def test_bad_dane_or_hook_input_changes_nothing(localhost, instance, case):
    conf, tls, root = instance["conf"], instance["tls"], instance["root"]
    receiving, parameter = bad_receiving(root, tls)[case]
    old_key, old_cert = new_pair("rsa")
    assert apply(localhost, conf, certificate={"chains": [chain(tls, "rsa", old_key, old_cert)]})["changed"]
    new_key, new_cert = new_pair("rsa")
    before = state(instance)
    result = apply(localhost, conf, certificate={"chains": [chain(tls, "rsa", new_key, new_cert)]},
                   receiving=receiving, parameters={"smtpd_tls_loglevel": "1"})
    assert result.get("failed") is True, result
    assert state(instance) == before, "files changed although the task failed: %s" % result.get("msg")
    assert parameter in result["msg"], result["msg"]


@pytest.mark.parametrize("port", [0, -1, 70000])
def test_dane_port_out_of_range_is_refused(localhost, instance, port):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    result = apply(localhost, conf, certificate={"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]},
                   receiving={"dane": {"names": [NAME], "ports": [port]}})
    assert result.get("failed") is True and "ports" in result.get("msg", ""), result.get("tlsa")


def test_next_key_is_never_echoed_and_zone_file_holds_only_digests(localhost, instance, tmp_path):
    conf, tls, root = instance["conf"], instance["tls"], instance["root"]
    rsa_key, rsa_cert = new_pair("rsa")
    next_key = ec.generate_private_key(ec.SECP256R1())
    (root / "next.key").write_text(pem_key(next_key))
    (root / "next.key").chmod(0o600)
    zone = root / "zone"
    task = {"name": "t", "mailtls.postfix.tls_profile": {
        "config_dir": str(conf), "certificate": {"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]},
        "receiving": {"dane": {"names": [NAME], "file": str(zone), "next_keys": [str(root / "next.key")]}}}}
    rc, _results, output = run_playbook(tmp_path, [task], diff=True, extra_args=["-vvvv"])
    assert rc == 0, output[-3000:]
    for key in (rsa_key, next_key):
        for line in key_lines(key):
            assert line not in output and line not in zone.read_text()
            assert line not in (conf / LOADED_RECORD).read_text()
    assert stat.S_IMODE((conf / LOADED_RECORD).stat().st_mode) == 0o600


# --- the record of loaded files ---------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"null", b'{"files": [1]}', b'{"files": {"x": 1}}',
                                     b"\xff\xfe\x00garbage", b'{"files": "' + b"A" * 2000000 + b'"}'],
                         ids=["invalid", "list", "null", "files-list", "foreign", "non-utf8", "huge"])
def test_corrupt_record_neither_crashes_nor_suppresses_the_reload(localhost, instance, content):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    paths = {"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]}
    assert apply(localhost, conf, certificate=paths)["changed"] is True
    start(conf)
    (conf / LOADED_RECORD).write_bytes(content)
    result = apply(localhost, conf, certificate=paths)
    assert result.get("failed") is not True, result.get("msg")
    assert result["tls_files_not_loaded"] == sorted([str(tls / "rsa.key"), str(tls / "rsa.pem")])
    assert result["reloaded"] is True
    recorded = json.loads((conf / LOADED_RECORD).read_text())["files"]
    assert recorded.keys() == {str(tls / "rsa.key"), str(tls / "rsa.pem")}
    assert apply(localhost, conf, certificate=paths)["changed"] is False


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory", "hardlink"])
def test_odd_record_file_is_never_followed_and_never_blocks(localhost, instance, tmp_path, kind):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    target = tmp_path / "victim"
    target.write_bytes(b"do not touch\n")
    target.chmod(0o600)
    record = conf / LOADED_RECORD
    if kind == "symlink":
        os.symlink(str(target), str(record))
    elif kind == "fifo":
        os.mkfifo(str(record))
    elif kind == "directory":
        record.mkdir()
    else:
        os.link(str(target), str(record))
    started = time.time()
    result = apply(localhost, conf, certificate={"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]})
    assert time.time() - started < 60
    assert target.read_bytes() == b"do not touch\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    if kind == "symlink":
        assert result.get("failed") or not record.is_symlink()


def test_dane_file_at_the_loaded_record_is_refused(localhost, instance):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    args = dict(certificate={"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]},
                receiving={"dane": {"names": [NAME], "file": str(conf / LOADED_RECORD)}})
    first = apply(localhost, conf, **args)
    if first.get("failed"):
        assert "receiving.dane.file" in first["msg"]
        return
    assert apply(localhost, conf, **args)["changed"] is False


# --- check mode predicts the real run ---------------------------------------------------------------

def test_check_mode_predicts_tls_files_not_loaded(localhost, instance, tmp_path):
    conf, tls = instance["conf"], instance["tls"]
    old_key, old_cert = new_pair("rsa")
    assert apply(localhost, conf, certificate={"chains": [chain(tls, "rsa", old_key, old_cert)]})["changed"]
    start(conf)
    new_key, new_cert = new_pair("rsa")
    args = dict(certificate={"chains": [chain(tls, "rsa", new_key, new_cert)]})
    predicted = predict(tmp_path, conf, **args)
    real = apply(localhost, conf, **args)
    for name in ("changed", "reload_required", "reloaded", "tls_files_not_loaded"):
        assert predicted[name] == real[name], (name, predicted[name], real[name])


def test_check_mode_writes_nothing_and_second_run_is_a_no_op(localhost, instance, tmp_path):
    conf, tls, root = instance["conf"], instance["tls"], instance["root"]
    rsa_key, rsa_cert = new_pair("rsa")
    other_key, other_cert = new_pair("rsa", name="other.receiving.test")
    args = dict(certificate={"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]},
                receiving={"sni": [{"names": ["other.receiving.test"], "chains": [chain(tls, "o", other_key,
                                                                                        other_cert)]}],
                           "sni_table": str(conf / "tls_server_sni"), "renewal_hook": str(root / "hook"),
                           "dane": {"names": [NAME], "file": str(root / "zone")}, "self_probe": "changed"})
    assert apply(localhost, conf, **args)["changed"] is True
    start(conf)
    ours = [root / "hook", root / "zone"]
    before = state(instance), [(path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_mode) for path in ours]
    predicted = predict(tmp_path, conf, **args)
    assert (state(instance), [(p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode) for p in ours]) == before
    again = apply(localhost, conf, **args)
    assert (state(instance), [(p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode) for p in ours]) == before
    for result in (predicted, again):
        assert result["changed"] is False and result["reloaded"] is False, result
        assert result["sni_table"]["postmap_run"] is False and "self_probe" not in result
        assert result["tls_files_not_loaded"] == []
    for path in (conf / "tls_server_sni", conf / "tls_server_sni.db"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secrets_of_a_refused_sni_chain_never_reach_the_output(tmp_path, instance):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    other_key, _other_cert = new_pair("rsa", name="other.receiving.test")
    _third, third_cert = new_pair("rsa", name="other.receiving.test")
    task = {"mailtls.postfix.tls_profile": {
        "config_dir": str(conf), "certificate": {"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]},
        "receiving": {"sni": [{"names": ["other.receiving.test"],
                               "chains": [chain(tls, "sni", other_key, third_cert)]}]}}}
    rc, _results, output = run_playbook(tmp_path, [task], diff=True, extra_args=["-vvvv"])
    assert rc != 0 and "chains[0].cert_content" in output and "public keys differ" in output, output[-2000:]
    for key in (rsa_key, other_key):
        for line in key_lines(key):
            assert line not in output


# --- the renewal hook ---------------------------------------------------------------------------------

def deploy_with_hook(localhost, instance, sni=True):
    conf, tls, root = instance["conf"], instance["tls"], instance["root"]
    rsa_key, rsa_cert = new_pair("rsa")
    other_key, other_cert = new_pair("rsa", name="other.receiving.test")
    receiving = {"renewal_hook": str(root / "hook")}
    if sni:
        receiving.update(sni=[{"names": ["other.receiving.test"], "chains": [chain(tls, "o", other_key, other_cert)]}],
                         sni_table=str(conf / "tls_server_sni"))
    result = apply(localhost, conf, certificate={"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]},
                   receiving=receiving)
    assert result["changed"] is True, result.get("msg")
    return root / "hook", (rsa_key, rsa_cert, other_key, other_cert)


def run_hook(hook):
    return subprocess.run([str(hook)], capture_output=True, text=True, timeout=120, check=False)


def test_hook_reads_an_sni_source_separated_by_tabs(localhost, instance):
    hook, _pairs = deploy_with_hook(localhost, instance)
    source = instance["conf"] / "tls_server_sni"
    source.write_text("\n".join(line.replace(" ", "\t", 1) for line in source.read_text().splitlines()) + "\n")
    ran = run_hook(hook)
    assert ran.returncode == 0, ran.stderr


def test_hook_refuses_a_renewed_sni_certificate_of_another_key(localhost, instance):
    hook, (_rk, _rc, _ok, _oc) = deploy_with_hook(localhost, instance)
    start(instance["conf"])
    db = instance["conf"] / "tls_server_sni.db"
    before = db.read_bytes()
    _stranger, stranger_cert = new_pair("rsa", name="other.receiving.test")
    (instance["tls"] / "o.pem").write_text(pem_cert(stranger_cert))
    ran = run_hook(hook)
    assert ran.returncode == 1 and "do not belong together" in ran.stderr
    assert db.read_bytes() == before, "the index was rebuilt with a mismatched pair"


def test_hook_accepts_crlf_files_and_refuses_a_lone_certificate(localhost, instance):
    hook, (rsa_key, rsa_cert, _ok, _oc) = deploy_with_hook(localhost, instance, sni=False)
    tls = instance["tls"]
    # The renewal wrote CRLF files: still one key followed by its certificate, so the hook goes on.
    (tls / "rsa.key").write_bytes(pem_key(rsa_key).replace("\n", "\r\n").encode())
    (tls / "rsa.pem").write_bytes(pem_cert(rsa_cert).replace("\n", "\r\n").encode())
    assert run_hook(hook).returncode == 0
    # The renewal left the certificate where the key belongs: no key before the certificate, refused.
    (tls / "rsa.key").write_text(pem_cert(rsa_cert))
    ran = run_hook(hook)
    assert ran.returncode == 1 and "no private key" in ran.stderr, ran.stderr


def test_hook_refuses_an_encrypted_renewed_key_without_hanging(localhost, instance):
    hook, (rsa_key, _rc, _ok, _oc) = deploy_with_hook(localhost, instance, sni=False)
    (instance["tls"] / "rsa.key").write_text(_encrypted_key(rsa_key))
    ran = subprocess.run([str(hook)], capture_output=True, text=True, timeout=60, check=False,
                         stdin=subprocess.DEVNULL)
    assert ran.returncode == 1, ran.stderr


def test_hook_never_follows_a_link_at_the_record_temporary(localhost, instance, tmp_path):
    hook, _pairs = deploy_with_hook(localhost, instance)
    target = tmp_path / "victim"
    target.write_bytes(b"do not touch\n")
    record = instance["conf"] / LOADED_RECORD
    assert record.exists()
    os.symlink(str(target), str(record) + ".tmp")
    run_hook(hook)
    assert target.read_bytes() == b"do not touch\n"


def test_hook_reports_a_link_at_the_record_temporary_clearly(localhost, instance, tmp_path):
    hook, _pairs = deploy_with_hook(localhost, instance)
    os.symlink(str(tmp_path / "victim"), str(instance["conf"] / LOADED_RECORD) + ".tmp")
    ran = run_hook(hook)
    assert "Traceback" not in ran.stderr, ran.stderr


def test_hook_keeps_the_rebuilt_sni_index_private(localhost, instance):
    hook, _pairs = deploy_with_hook(localhost, instance)
    conf = instance["conf"]
    (conf / "tls_server_sni.db").unlink()
    ran = subprocess.run(["sh", "-c", "umask 000; exec %s" % hook], capture_output=True, text=True, timeout=120,
                         check=False)
    assert ran.returncode == 0, ran.stderr
    assert stat.S_IMODE((conf / "tls_server_sni.db").stat().st_mode) & 0o077 == 0


# --- two declarations ---------------------------------------------------------------------------------

def test_two_declarations_with_different_receiving_sides_or_hardening_are_refused(localhost, instance):
    conf = instance["conf"]
    before = state(instance)
    result = apply(localhost, conf, receiving={"dane": {"names": [NAME]}},
                   declarations=[{"receiving": {"dane": {"names": ["mx2.receiving.test"]}}}])
    assert result.get("failed") and "different receiving sides" in result["msg"], result
    result = apply(localhost, conf, hardening="modern", declarations=[{"hardening": "intermediate"}])
    assert result.get("failed") and "different hardening profiles" in result["msg"], result
    assert state(instance) == before


# --- the renewal hook: every pair Postfix loads, the record, the SNI index (issue 18) ---------------

def test_hook_checks_the_legacy_ecdsa_pair_and_refuses_to_reload_on_a_mismatch(localhost, instance):
    """postconf(5): without smtpd_tls_chain_files Postfix loads smtpd_tls_eccert_file/eckey_file too."""
    conf, tls, root = instance["conf"], instance["tls"], instance["root"]
    rsa_key, rsa_cert = new_pair("rsa")
    ec_key, ec_cert = new_pair("ecdsa")
    (tls / "ec.key").write_text(pem_key(ec_key))
    (tls / "ec.key").chmod(0o600)
    (tls / "ec.pem").write_text(pem_cert(ec_cert))
    single = {"cert_file": str(tls / "rsa.pem"), "key_file": str(tls / "rsa.key"),
              "cert_content": pem_cert(rsa_cert), "key_content": pem_key(rsa_key)}
    legacy = {"smtpd_tls_cert_file": single["cert_file"], "smtpd_tls_key_file": single["key_file"],
              "smtpd_tls_eccert_file": str(tls / "ec.pem"), "smtpd_tls_eckey_file": str(tls / "ec.key")}
    result = apply(localhost, conf, certificate=single, parameters=legacy,
                   receiving={"renewal_hook": str(root / "hook")})
    assert result["changed"] is True, result.get("msg")
    hook = root / "hook"
    assert run_hook(hook).returncode == 0
    _stranger, stranger_cert = new_pair("ecdsa")
    (tls / "ec.pem").write_text(pem_cert(stranger_cert))  # the ECDSA renewal wrote another key's certificate
    record_before = (conf / LOADED_RECORD).read_bytes()
    ran = run_hook(hook)
    assert ran.returncode == 1 and "smtpd_tls_eccert_file" in ran.stderr, ran.stderr
    assert "do not belong together" in ran.stderr and "not reloaded" in ran.stderr
    assert (conf / LOADED_RECORD).read_bytes() == record_before


@pytest.mark.parametrize("content", [b'{"files": [1]}', b'{"files": "abc"}', b'{"files": {"rsa.pem": 7}}',
                                     b"[1, 2]", b"{not json", b"\xff\xfe"],
                         ids=["files-list", "files-text", "foreign", "list", "invalid", "non-utf8"])
def test_hook_reports_a_malformed_record_reloads_and_rewrites_it(localhost, instance, content):
    """The pairs are checked without the record: the renewed files are served, the record says so again."""
    hook, _pairs = deploy_with_hook(localhost, instance, sni=False)
    conf, tls = instance["conf"], instance["tls"]
    start(conf)
    (conf / LOADED_RECORD).write_bytes(content)
    ran = run_hook(hook)
    assert "Traceback" not in ran.stderr, ran.stderr
    assert ran.returncode == 0 and "malformed" in ran.stderr and "reloaded" in ran.stderr, ran.stderr
    recorded = json.loads((conf / LOADED_RECORD).read_text())["files"]
    assert sorted(recorded) == sorted([str(tls / "rsa.key"), str(tls / "rsa.pem")])
    paths = {"chains": [{"key_file": str(tls / "rsa.key"), "cert_file": str(tls / "rsa.pem")}]}
    assert apply(localhost, conf, certificate=paths)["tls_files_not_loaded"] == []


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_hook_replaces_an_odd_record_file_without_blocking_or_following_it(localhost, instance, tmp_path, kind):
    hook, _pairs = deploy_with_hook(localhost, instance, sni=False)
    record = instance["conf"] / LOADED_RECORD
    victim = tmp_path / "victim"
    victim.write_bytes(b"do not touch\n")
    record.unlink()
    if kind == "fifo":
        os.mkfifo(str(record))
    else:
        os.symlink(str(victim), str(record))
    ran = run_hook(hook)  # a FIFO read would never end: the timeout fails the test
    assert ran.returncode == 0 and "not a regular file" in ran.stderr, ran.stderr
    assert victim.read_bytes() == b"do not touch\n"
    assert stat.S_ISREG(record.lstat().st_mode) and json.loads(record.read_text())["files"]


def test_hook_reads_no_file_a_tampered_record_names(localhost, instance, tmp_path):
    """Only the TLS files main.cf and the SNI table name are hashed: a record cannot point it elsewhere."""
    hook, _pairs = deploy_with_hook(localhost, instance)
    conf = instance["conf"]
    secret = tmp_path / "secret"
    secret.write_bytes(b"not a TLS file\n")
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    record = json.loads((conf / LOADED_RECORD).read_text())
    record["files"].update({str(secret): "0" * 64, str(fifo): "0" * 64, "/dev/zero": "0" * 64})
    (conf / LOADED_RECORD).write_text(json.dumps(record))
    ran = run_hook(hook)  # a FIFO or /dev/zero read would never end: the timeout fails the test
    assert ran.returncode == 0, ran.stderr
    text = (conf / LOADED_RECORD).read_text()
    for path in (secret, fifo):
        assert str(path) not in text
    assert "/dev/zero" not in text and hashlib.sha256(secret.read_bytes()).hexdigest() not in text


def test_hook_makes_an_sni_table_and_index_left_readable_private_again(localhost, instance):
    """postmap keeps an existing index's mode: a 0644 index would go on exposing the SNI keys."""
    hook, _pairs = deploy_with_hook(localhost, instance)
    conf = instance["conf"]
    for path in (conf / "tls_server_sni", conf / "tls_server_sni.db"):
        path.chmod(0o644)
    ran = run_hook(hook)
    assert ran.returncode == 0, ran.stderr
    for path in (conf / "tls_server_sni", conf / "tls_server_sni.db"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# --- the self-probe's reason (issue 18.9) ---------------------------------------------------------------

def test_self_probe_names_the_master_cf_override_that_turns_starttls_off(localhost, instance):
    conf, tls = instance["conf"], instance["tls"]
    rsa_key, rsa_cert = new_pair("rsa")
    certificate = {"chains": [chain(tls, "rsa", rsa_key, rsa_cert)]}
    assert apply(localhost, conf, certificate=certificate)["changed"] is True
    listener = "127.0.0.1:%d inet n - n - - smtpd" % PORT
    master = (conf / "master.cf").read_text().replace(listener + "\n",
                                                      listener + "\n  -o smtpd_tls_security_level=none\n")
    (conf / "master.cf").write_text(master)
    start(conf)
    result = apply(localhost, conf, certificate=certificate, self_probe="always", receiving={"self_probe_timeout": 2})
    assert result["failed"] is True and "127.0.0.1:%d does not offer STARTTLS" % PORT in result["msg"], result
    assert "-o smtpd_tls_security_level=none" in result["msg"] and "master.cf" in result["msg"], result["msg"]
    assert "key" not in result["msg"], result["msg"]


def test_hook_reads_a_legacy_combined_file_as_postfix_does(localhost, instance):
    """A legacy pair in one file is read in "mixed" mode (tls_certkey.c): the key anywhere, the first
    certificate its own. The hook accepts what Postfix loads and refuses a key of another certificate."""
    conf, tls, root = instance["conf"], instance["tls"], instance["root"]
    rsa_key, rsa_cert = new_pair("rsa")
    path = tls / "combined.pem"
    path.write_text(pem_cert(rsa_cert) + pem_key(rsa_key))
    path.chmod(0o600)
    single = {"cert_file": str(path), "key_file": str(path)}
    result = apply(localhost, conf, certificate=single, receiving={"renewal_hook": str(root / "hook")},
                   parameters={"smtpd_tls_cert_file": str(path), "smtpd_tls_key_file": str(path)})
    assert result.get("failed") is not True, result.get("msg")
    ran = run_hook(root / "hook")
    assert ran.returncode == 0, ran.stderr
    stranger_key, _stranger_cert = new_pair("rsa")
    path.write_text(pem_cert(rsa_cert) + pem_key(stranger_key))
    ran = run_hook(root / "hook")
    assert ran.returncode == 1 and "smtpd_tls_cert_file" in ran.stderr and "do not belong together" in ran.stderr


def test_postscreen_without_tlsproxy_is_not_a_silent_pass(instance, localhost):
    """Hostile review 2: with postscreen's after-greeting tests on and no tlsproxy service, a client
    from outside mynetworks gets '454 TLS not available' while the self-probe (from 127.0.0.1, let
    through to smtpd) passed silently. The call now says why and how to fix it."""
    conf, tls = instance["conf"], instance["tls"]
    master = (conf / "master.cf").read_text().replace(
        "127.0.0.1:%d inet n - n - - smtpd\n" % PORT,
        "127.0.0.1:%d inet n - n - 1 postscreen\nsmtpd pass - - n - - smtpd\n" % PORT)
    assert "\ntlsproxy " not in master
    (conf / "master.cf").write_text(master)
    with open(str(conf / "main.cf"), "a") as main_cf:
        main_cf.write("postscreen_greet_wait = 1s\npostscreen_pipelining_enable = yes\n")
    settle(conf / "main.cf")
    key, cert = new_pair("rsa")
    certificate = {"chains": [chain(tls, "rsa", key, cert)]}
    start(conf)
    result = apply(localhost, conf, certificate=certificate, self_probe="always",
                   receiving={"self_probe_timeout": 10})
    assert not result.get("failed"), result
    assert "no tlsproxy" in json.dumps(result.get("warnings") or []), result.get("warnings")
    # With tlsproxy, nothing to say.
    (conf / "master.cf").write_text((conf / "master.cf").read_text() + "tlsproxy unix - - n - 0 tlsproxy\n")
    result = apply(localhost, conf, certificate=certificate, self_probe="always", receiving={"self_probe_timeout": 10})
    assert "no tlsproxy" not in json.dumps(result.get("warnings") or []), result.get("warnings")


@pytest.mark.parametrize("case, listener, main_extra", [
    ("ipv6_address", "[::1]:{port} inet n - n - - smtpd\n", {"inet_protocols": "all"}),
    ("no_address_ipv6_only", "{port} inet n - n - - smtpd\n", {"inet_protocols": "ipv6", "inet_interfaces": "[::1]"}),
    ("wrapper_yes_uppercase", "127.0.0.1:{port} inet n - n - - smtpd -o smtpd_tls_wrappermode=YES\n", {}),
])
def test_the_self_probe_of_a_listener_that_serves_tls_passes(case, listener, main_extra):
    """Hostile review 2: an IPv6 listener ([::1]:port, refused as a destination), one without an address
    on a host that listens on IPv6 only (probed on 127.0.0.1) and a wrapper-mode listener written YES
    (probed with STARTTLS) failed the self-probe, blaming the key, while openssl s_client was served
    the certificate."""
    port = 25700 + 10 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0) + len(case) % 10
    with scratch_postfix("mailtls-adv-listener-", port) as info:
        conf, tls = info["conf"], info["tls"]
        master = (conf / "master.cf").read_text().replace("127.0.0.1:%d inet n - n - - smtpd\n" % port,
                                                          listener.format(port=port))
        (conf / "master.cf").write_text(master)
        main_cf = (conf / "main.cf").read_text()
        for name, value in main_extra.items():
            main_cf = "\n".join(line for line in main_cf.splitlines() if not line.startswith(name + " "))
            main_cf += "\n%s = %s\n" % (name, value)
        (conf / "main.cf").write_text(main_cf)
        settle(conf / "main.cf")
        key, cert = new_pair("rsa")
        certificate = {"chains": [chain(tls, "rsa", key, cert)]}
        first = run_module_process("tls_profile", dict(config_dir=str(conf), reload=True, certificate=certificate,
                                                       validate="postfix -c %s check"))[0]
        assert first.get("failed") is not True, first
        start_postfix(conf, port)
        target = "[::1]:%d" % port if "ipv6" in case else "127.0.0.1:%d" % port
        argv = ["openssl", "s_client", "-connect", target] + ([] if "wrapper" in case else ["-starttls", "smtp"])
        witness = subprocess.run(argv, input=b"", capture_output=True, timeout=20, check=False).stdout.decode()
        assert "BEGIN CERTIFICATE" in witness, "the listener really serves TLS"
        result = run_module_process("tls_profile", dict(
            config_dir=str(conf), reload=True, certificate=certificate, validate="postfix -c %s check",
            self_probe="always", receiving={"self_probe_timeout": 5}))[0]
        assert result.get("failed") is not True, result.get("msg")
        assert result["self_probe"]["status"] == "passed", result["self_probe"]
