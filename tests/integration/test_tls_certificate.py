"""tls_certificate with the real openssl: the pair is checked before anything is written.

Every refusal leaves the live files byte-identical (bytes, mtime, mode), links are never
followed for writing, a FIFO never blocks, existing directories keep their mode and owner,
and the key never shows up in any output.
"""

from __future__ import annotations

import datetime
import grp
import hashlib
import os
import stat
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from drivers import run_as_ansible
from helpers import run_module, run_playbook, snapshot
from tls_material import make_cert

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model import certificate_facts as certificate
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError

MODULE = "mailtls.postfix.tls_certificate"


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True,
                          env=dict(os.environ, LANG="C", LC_ALL="C")).stdout


def make_pair(directory, name, subject):
    cert, key = directory / (name + ".crt"), directory / (name + ".key")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", subject,
            "-keyout", str(key), "-out", str(cert))
    os.chmod(str(key), 0o600)
    return cert.read_text(), key.read_text()


@pytest.fixture(scope="module")
def pems(tmp_path_factory):
    """Two certificate/key pairs (A and B) and A's key encrypted with a passphrase."""
    directory = tmp_path_factory.mktemp("pems")
    cert_a, key_a = make_pair(directory, "a", "/CN=mx-a.test")
    cert_b, key_b = make_pair(directory, "b", "/CN=mx-b.test")
    encrypted = openssl("pkey", "-aes256", "-passout", "pass:secret", data=key_a.encode()).decode()
    return {"cert_a": cert_a, "key_a": key_a, "cert_b": cert_b, "key_b": key_b, "encrypted": encrypted}


def key_slice(key_text):
    """A distinctive piece of a key's base64 (a middle line), to search outputs for."""
    return key_text.splitlines()[5]


def paths(tmp_path):
    live = tmp_path / "live"
    return live / "certs" / "mx.pem", live / "private" / "mx.key"


def tls_certificate(localhost, cert_file, key_file, **args):
    return run_module(localhost, MODULE, cert_file=str(cert_file), key_file=str(key_file), **args)


def in_check_mode(cert_file, key_file, **args):
    """The module as a process given JSON arguments, in check mode (the localhost fixture cannot say so)."""
    args.update(cert_file=str(cert_file), key_file=str(key_file), _ansible_check_mode=True)
    return run_as_ansible("tls_certificate", args).parsed()


def runner(localhost, check):
    if check:
        return in_check_mode
    return lambda cert_file, key_file, **args: tls_certificate(localhost, cert_file, key_file, **args)


def install(localhost, tmp_path, pems, pair="a", **args):
    cert_file, key_file = paths(tmp_path)
    result = tls_certificate(localhost, cert_file, key_file, cert_content=pems["cert_" + pair],
                             key_content=pems["key_" + pair], **args)
    assert result.get("failed") is not True, result
    return cert_file, key_file, result


def mode_and_owner(path):
    found = os.lstat(str(path))
    return stat.S_IMODE(found.st_mode), found.st_uid, found.st_gid


def task(cert_file, key_file, **args):
    return {"name": "t", MODULE: dict(cert_file=str(cert_file), key_file=str(key_file), **args)}


# --- pure functions ------------------------------------------------------------------------

@pytest.mark.parametrize("value, bits", [("0600", 0o600), ("640", 0o640), (0o644, 0o644), ("0755", 0o755)])
def test_file_mode_reads_octal_text_and_yaml_octal(value, bits):
    assert certificate.file_mode("cert_mode", value) == bits


@pytest.mark.parametrize("value, problem", [
    ("u=rw", "'u=rw' is not a file mode"),
    (600, "600 is not a file mode (decimal 600?)"),
    ("04755", "'04755' is not a file mode"),
])
def test_file_mode_refuses_what_is_not_an_octal_mode(value, problem):
    with pytest.raises(InputError) as caught:
        certificate.file_mode("cert_mode", value)
    assert str(caught.value).startswith("cert_mode: " + problem)


@pytest.mark.parametrize("value", ["0604", "0644", "0601", "0666"])
def test_key_mode_refuses_any_bit_for_others(value):
    with pytest.raises(InputError) as caught:
        certificate.key_file_mode(value)
    assert str(caught.value) == ("key_mode: %s gives users other than the owner and group access to the private "
                                 "key; use 0600, or 0640 with key_group" % value)


def test_pem_helpers(pems):
    assert certificate.is_encrypted(pems["encrypted"]) and not certificate.is_encrypted(pems["key_a"])
    traditional = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n"
    assert certificate.is_encrypted(traditional)
    combined = pems["cert_a"] + pems["key_a"] + pems["cert_b"]
    assert certificate.redact_keys(combined) == pems["cert_a"] + certificate.KEY_HIDDEN + "\n" + pems["cert_b"]
    assert certificate.holds_private_key(combined) and not certificate.holds_private_key(pems["cert_a"])
    assert certificate.pem_text("x") == "x\n" and certificate.pem_text("x\n") == "x\n"


# --- installing ----------------------------------------------------------------------------

def test_content_install_then_noop(localhost, tmp_path, pems):
    cert_file, key_file, first = install(localhost, tmp_path, pems)
    assert (first["changed"], first["cert_changed"], first["key_changed"]) == (True, True, True)
    assert cert_file.read_text() == pems["cert_a"] and key_file.read_text() == pems["key_a"]
    assert mode_and_owner(key_file) == (0o600, 0, 0) and mode_and_owner(cert_file) == (0o644, 0, 0)
    assert mode_and_owner(key_file.parent)[0] == 0o700 and mode_and_owner(cert_file.parent)[0] == 0o755
    facts = first["certificate"]
    assert facts["subject"] == "CN = mx-a.test" and facts["names"] == ["mx-a.test"] and facts["expired"] is False
    der = openssl("pkey", "-pubin", "-outform", "DER",
                  data=openssl("x509", "-noout", "-pubkey", data=pems["cert_a"].encode()))
    assert facts["tlsa_3_1_1"] == hashlib.sha256(der).hexdigest()
    fingerprint = openssl("x509", "-noout", "-fingerprint", "-sha256", data=pems["cert_a"].encode()).decode()
    assert facts["fingerprint_sha256"] == fingerprint.strip().split("=", 1)[1]
    assert facts["not_after"] == openssl("x509", "-noout", "-enddate",
                                         data=pems["cert_a"].encode()).decode().strip().split("=", 1)[1]
    before = snapshot(tmp_path / "live")
    second = tls_certificate(localhost, cert_file, key_file, cert_content=pems["cert_a"], key_content=pems["key_a"])
    assert (second["changed"], second["cert_changed"], second["key_changed"]) == (False, False, False)
    assert second["certificate"] == facts
    assert snapshot(tmp_path / "live") == before, "a no-op run rewrites nothing (same bytes and mtimes)"
    assert sorted(os.listdir(str(key_file.parent))) == ["mx.key"], "no lock file left behind"


def test_a_new_certificate_for_the_same_key_writes_only_the_certificate(localhost, tmp_path, pems):
    cert_file, key_file, _result = install(localhost, tmp_path, pems)
    key_before = snapshot(key_file.parent)
    renewed = openssl("req", "-new", "-x509", "-key", "/dev/stdin", "-days", "60", "-subj", "/CN=mx-a.test",
                      data=pems["key_a"].encode()).decode()
    result = tls_certificate(localhost, cert_file, key_file, cert_content=renewed, key_content=pems["key_a"])
    assert (result["changed"], result["cert_changed"], result["key_changed"]) == (True, True, False)
    assert cert_file.read_text() == renewed and snapshot(key_file.parent) == key_before


def test_content_without_final_newline_is_written_with_one_and_stays_idempotent(localhost, tmp_path, pems):
    cert_file, key_file = paths(tmp_path)
    args = dict(cert_content=pems["cert_a"].rstrip("\n"), key_content=pems["key_a"].rstrip("\n"))
    assert tls_certificate(localhost, cert_file, key_file, **args)["changed"] is True
    assert cert_file.read_text() == pems["cert_a"] and key_file.read_text() == pems["key_a"]
    assert tls_certificate(localhost, cert_file, key_file, **args)["changed"] is False


def test_key_group_and_mode(localhost, tmp_path, pems):
    gid = existing_group()
    cert_file, key_file, _result = install(localhost, tmp_path, pems, key_mode="0640", key_group="ssl-cert",
                                           cert_mode="0444")
    assert mode_and_owner(key_file) == (0o640, 0, gid) and mode_and_owner(cert_file) == (0o444, 0, 0)


# --- refusals: the live pair stays as it was ---------------------------------------------

def assert_refused(result, message):
    assert result.get("failed") is True, result
    assert result["msg"] == message


def test_mismatched_content_over_a_live_pair_changes_nothing(localhost, tmp_path, pems):
    cert_file, key_file, _result = install(localhost, tmp_path, pems)
    before = snapshot(tmp_path / "live")
    message = ("cert_content: the certificate given for %s is not the certificate of the key given for %s "
               "(their public keys differ); neither file was changed" % (cert_file, key_file))
    for check in (True, False):
        for cert, key in (("cert_a", "key_b"), ("cert_b", "key_a")):
            result = runner(localhost, check)(cert_file, key_file, cert_content=pems[cert], key_content=pems[key])
            assert_refused(result, message)
            assert key_slice(pems[key]) not in str(result)
    assert snapshot(tmp_path / "live") == before


def test_mismatched_files_are_refused_and_nothing_is_written(localhost, tmp_path, pems):
    cert_file, key_file = tmp_path / "mx.pem", tmp_path / "other.key"
    cert_file.write_text(pems["cert_a"])
    key_file.write_text(pems["key_b"])
    os.chmod(str(key_file), 0o600)
    before = snapshot(tmp_path)
    result = tls_certificate(localhost, cert_file, key_file)
    assert_refused(result, "cert_file: %s is not the certificate of the key %s (their public keys differ); "
                           "nothing was changed" % (cert_file, key_file))
    assert snapshot(tmp_path) == before


def test_existing_matching_files_are_checked_and_left_alone(localhost, tmp_path, pems):
    cert_file, key_file, first = install(localhost, tmp_path, pems)
    before = snapshot(tmp_path / "live")
    result = tls_certificate(localhost, cert_file, key_file)
    assert (result["changed"], result["cert_changed"], result["key_changed"]) == (False, False, False)
    assert result["certificate"] == first["certificate"]
    assert snapshot(tmp_path / "live") == before


def test_missing_files_without_content_are_refused(localhost, tmp_path):
    cert_file, key_file = paths(tmp_path)
    result = in_check_mode(cert_file, key_file)
    assert_refused(result, "cert_file: %s does not exist; give cert_content and key_content, set self_signed, or "
                           "install the files first; nothing was changed" % cert_file)
    assert not (tmp_path / "live").exists()


def test_encrypted_key_is_refused(localhost, tmp_path, pems):
    cert_file, key_file, _result = install(localhost, tmp_path, pems)
    before = snapshot(tmp_path / "live")
    problem = ("is encrypted with a passphrase, which Postfix cannot give at startup; decrypt it first "
               "(openssl pkey -in KEY -out KEY.plain); nothing was changed")
    result = tls_certificate(localhost, cert_file, key_file, cert_content=pems["cert_a"],
                             key_content=pems["encrypted"])
    assert_refused(result, "key_content: the key given for %s %s" % (key_file, problem))
    assert snapshot(tmp_path / "live") == before
    on_disk = tmp_path / "encrypted.key"
    on_disk.write_text(pems["encrypted"])
    os.chmod(str(on_disk), 0o600)
    result = tls_certificate(localhost, cert_file, on_disk)
    assert_refused(result, "key_file: %s %s" % (on_disk, problem))


@pytest.mark.parametrize("content, parameter, problem", [
    ("not a certificate", "cert_content",
     "the certificate given for {cert} is not a PEM certificate (no '-----BEGIN CERTIFICATE-----' block)"),
    ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "cert_content",
     "the certificate given for {cert} is not a certificate openssl can read: Could not read certificate from <stdin>"),
    ("cert_a+key_a", "cert_content",
     "the certificate given for {cert} holds a private key; give the key in key_content only "
     "(the certificate file is readable by everyone)"),
    ("key:cert_a", "key_content",
     "the key given for {key} is not a PEM private key (no '-----BEGIN ... PRIVATE KEY-----' block)"),
    ("key:-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "key_content",
     "the key given for {key} is not a private key openssl can read: Could not read key from <stdin>"),
])
def test_unreadable_pem_is_refused(localhost, tmp_path, pems, content, parameter, problem):
    cert_file, key_file, _result = install(localhost, tmp_path, pems)
    before = snapshot(tmp_path / "live")
    args = {"cert_content": pems["cert_a"], "key_content": pems["key_a"]}
    if content.startswith("key:"):
        args["key_content"] = pems.get(content[4:], content[4:])
    elif content == "cert_a+key_a":
        args["cert_content"] = pems["cert_a"] + pems["key_a"]
    else:
        args["cert_content"] = content
    result = tls_certificate(localhost, cert_file, key_file, **args)
    assert_refused(result, "%s: %s; nothing was changed" % (parameter, problem.format(cert=cert_file, key=key_file)))
    assert key_slice(pems["key_a"]) not in str(result)
    assert snapshot(tmp_path / "live") == before


@pytest.mark.parametrize("content", [False, True])
def test_world_readable_existing_key_is_refused(localhost, tmp_path, pems, content):
    cert_file, key_file, _result = install(localhost, tmp_path, pems)
    os.chmod(str(key_file), 0o644)
    before = snapshot(tmp_path / "live")
    args = {"cert_content": pems["cert_b"], "key_content": pems["key_b"]} if content else {}
    result = tls_certificate(localhost, cert_file, key_file, **args)
    assert_refused(result, "key_file: the private key %s has mode 0644, so users other than its owner and group can "
                           "read it (consider it exposed); make it 0600 (or 0640 for a trusted group) and replace "
                           "the key if others may have read it; nothing was changed" % key_file)
    assert snapshot(tmp_path / "live") == before


@pytest.mark.parametrize("args, message", [
    ({"key_mode": "0644"}, "key_mode: 0644 gives users other than the owner and group access to the private key; "
                           "use 0600, or 0640 with key_group"),
    ({"key_group": "no-such-group"}, "key_group: group 'no-such-group' does not exist on this host"),
    ({"self_signed": True}, "self_signed: cannot be combined with cert_content and key_content"),
    ({"key_content": None}, "parameters are required together: cert_content, key_content"),
])
def test_bad_arguments_are_refused(localhost, tmp_path, pems, args, message):
    cert_file, key_file = paths(tmp_path)
    full = {"cert_content": pems["cert_a"], "key_content": pems["key_a"]}
    full.update(args)
    result = tls_certificate(localhost, cert_file, key_file, **dict((k, v) for k, v in full.items() if v is not None))
    assert_refused(result, message)
    assert not (tmp_path / "live").exists()


# --- links, FIFOs, directories -----------------------------------------------------------

def test_symlink_at_key_file_is_not_followed(localhost, tmp_path, pems):
    cert_file, key_file, _result = install(localhost, tmp_path, pems)
    target = tmp_path / "target.key"
    target.write_text("the link's target\n")
    os.chmod(str(target), 0o600)
    key_file.unlink()
    key_file.symlink_to(target)
    before, target_before = snapshot(tmp_path / "live"), snapshot(tmp_path)["target.key"]
    result = tls_certificate(localhost, cert_file, key_file, cert_content=pems["cert_b"], key_content=pems["key_b"])
    assert_refused(result, "key_file: %s is a symbolic link; refusing to replace it (give the path it points to); "
                           "nothing was changed" % key_file)
    assert snapshot(tmp_path / "live") == before and snapshot(tmp_path)["target.key"] == target_before
    assert key_file.is_symlink()


@pytest.mark.parametrize("check", [True, False])
def test_symlink_at_the_key_temporary_is_not_followed_and_the_pair_stays(localhost, tmp_path, pems, check):
    cert_file, key_file, _result = install(localhost, tmp_path, pems)
    target = tmp_path / "target"
    target.write_text("the link's target\n")
    os.symlink(str(target), str(key_file) + ".tmp")
    before, target_before = snapshot(tmp_path / "live"), snapshot(tmp_path)["target"]
    result = runner(localhost, check)(cert_file, key_file, cert_content=pems["cert_b"], key_content=pems["key_b"])
    assert_refused(result, "%s.tmp is a symbolic link or not a regular file; refusing to write through it; "
                           "nothing was changed" % key_file)
    assert snapshot(tmp_path / "live") == before, "the certificate is not installed without its key"
    assert snapshot(tmp_path)["target"] == target_before
    assert cert_file.read_text() == pems["cert_a"]


@pytest.mark.parametrize("content", [True, False])
def test_fifo_at_key_file_is_refused_without_blocking(tmp_path, pems, content):
    cert_file, key_file = tmp_path / "mx.pem", tmp_path / "mx.key"
    cert_file.write_text(pems["cert_a"])
    os.mkfifo(str(key_file), 0o600)
    args = {"cert_content": pems["cert_a"], "key_content": pems["key_a"]} if content else {}
    tasks = [dict(task(cert_file, key_file, **args), timeout=60)]
    rc, results, output = run_playbook(tmp_path, tasks)
    assert rc != 0 and results["t"]["msg"] == ("key_file: %s is not a regular file (a directory, FIFO, socket or "
                                               "device); nothing was changed" % key_file), output
    assert stat.S_ISFIFO(os.lstat(str(key_file)).st_mode) and cert_file.read_text() == pems["cert_a"]


def existing_group():
    """ssl-cert (created when missing), as Debian keeps private keys."""
    try:
        return grp.getgrnam("ssl-cert").gr_gid
    except KeyError:
        subprocess.run(["groupadd", "--system", "ssl-cert"], check=True)
        return grp.getgrnam("ssl-cert").gr_gid


def test_existing_directories_keep_their_mode_and_owner(localhost, tmp_path, pems):
    gid = existing_group()
    private, shared = tmp_path / "private", tmp_path / "shared"
    private.mkdir()
    os.chown(str(private), 0, gid)
    os.chmod(str(private), 0o710)
    shared.mkdir()
    os.chmod(str(shared), 0o750)
    layouts = [(tmp_path / "certs" / "mx.pem", private / "mx.key"), (shared / "mx.pem", shared / "mx.key")]
    for cert_file, key_file in layouts:
        for run in range(2):
            result = tls_certificate(localhost, cert_file, key_file, cert_content=pems["cert_a"],
                                     key_content=pems["key_a"])
            assert result["changed"] is (run == 0), result
            assert mode_and_owner(private) == (0o710, 0, gid)
            assert mode_and_owner(shared) == (0o750, 0, 0)
    assert mode_and_owner(tmp_path / "certs")[0] == 0o755, "a directory it made: the certificate's mode"


# --- check mode and diff ------------------------------------------------------------------

def test_check_mode_predicts_and_writes_nothing(tmp_path, pems):
    cert_file, key_file = paths(tmp_path)
    tasks = [task(cert_file, key_file, cert_content=pems["cert_a"], key_content=pems["key_a"])]
    for check, changed in ((True, True), (False, True), (True, False), (False, False)):
        rc, results, output = run_playbook(tmp_path, tasks, check=check)
        assert rc == 0, output
        got = results["t"]
        assert (got["changed"], got["cert_changed"], got["key_changed"]) == (changed, changed, changed), output
        if check and changed:
            assert not (tmp_path / "live").exists(), "check mode creates no file and no directory"
    snap = snapshot(tmp_path / "live")
    tasks = [task(cert_file, key_file, cert_content=pems["cert_b"], key_content=pems["key_b"])]
    rc, results, output = run_playbook(tmp_path, tasks, check=True)
    assert rc == 0 and results["t"]["changed"] is True and results["t"]["certificate"]["subject"] == "CN = mx-b.test"
    assert snapshot(tmp_path / "live") == snap


def test_diff_and_verbose_output_never_contain_the_key(tmp_path, pems):
    cert_file, key_file = paths(tmp_path)
    tasks = [task(cert_file, key_file, cert_content=pems["cert_a"], key_content=pems["key_a"]),
             dict(task(cert_file, key_file, cert_content=pems["cert_b"], key_content=pems["key_b"]), name="u"),
             dict(task(cert_file, key_file, cert_content=pems["cert_a"], key_content=pems["key_b"]), name="bad")]
    rc, results, output = run_playbook(tmp_path, tasks, diff=True, extra_args=["-vvvv"])
    assert rc != 0 and results["bad"]["failed"] is True, output
    assert "+-----BEGIN CERTIFICATE-----" in output and "the private key changes (its content is not shown)" in output
    assert key_slice(pems["cert_b"]) in output, "the certificate's diff is shown"
    for key in ("key_a", "key_b"):
        assert key_slice(pems[key]) not in output and "PRIVATE KEY" not in output
    rc, results, output = run_playbook(tmp_path, tasks[:1], check=True, diff=True, extra_args=["-vvvv"])
    assert rc == 0 and results["t"]["changed"] is True and "the private key changes" in output, output
    for key in ("key_a", "key_b"):
        assert key_slice(pems[key]) not in output


# --- self-signed --------------------------------------------------------------------------

def test_self_signed_is_generated_once(tmp_path):
    cert_file, key_file = paths(tmp_path)
    tasks = [task(cert_file, key_file, self_signed=True, self_signed_subject="/CN=lab.test", self_signed_days=10)]
    rc, results, output = run_playbook(tmp_path, tasks, check=True)
    assert rc == 0 and results["t"]["changed"] is True and results["t"]["certificate"] is None, output
    assert not (tmp_path / "live").exists()
    rc, results, output = run_playbook(tmp_path, tasks)
    assert rc == 0 and results["t"]["changed"] is True, output
    facts = results["t"]["certificate"]
    assert facts["subject"] == "CN = lab.test" and facts["days_left"] in (9, 10)
    assert mode_and_owner(key_file)[0] == 0o600 and mode_and_owner(key_file.parent)[0] == 0o700
    before = snapshot(tmp_path / "live")
    for check in (True, False):
        rc, results, output = run_playbook(tmp_path, tasks, check=check)
        assert rc == 0 and results["t"]["changed"] is False and results["t"]["certificate"] == facts, output
    assert snapshot(tmp_path / "live") == before


def test_self_signed_refuses_a_lone_key_and_a_bad_subject(localhost, tmp_path, pems):
    cert_file, key_file = tmp_path / "mx.pem", tmp_path / "mx.key"
    key_file.write_text(pems["key_a"])
    os.chmod(str(key_file), 0o600)
    before = snapshot(tmp_path)
    result = tls_certificate(localhost, cert_file, key_file, self_signed=True)
    assert_refused(result, "cert_file: %s does not exist but key_file %s does; self_signed generates both or "
                           "neither: remove the other one or install the missing file; nothing was changed"
                   % (cert_file, key_file))
    assert snapshot(tmp_path) == before
    fresh_cert, fresh_key = paths(tmp_path)
    result = tls_certificate(localhost, fresh_cert, fresh_key, self_signed=True, self_signed_subject="no slash")
    assert result.get("failed") is True
    assert result["msg"] == ("self_signed_subject: openssl could not make a self-signed certificate for 'no slash': "
                             "req: subject name is expected to be in the format /type0=value0/type1=value1/type2=... "
                             "where characters may be escaped by \\. This name is not in that format: 'no slash'")
    assert not (tmp_path / "live").exists()


# --- expiry (issue 18.6) --------------------------------------------------------------------------------

def pair_valid_for(directory, name, start_days, end_days):
    """A key and a self-signed certificate valid from ``start_days`` to ``end_days`` from now (PEM texts)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(name, None, None, key, start_days, end_days)
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def test_an_expired_certificate_is_refused_naming_the_option_and_nothing_changes(localhost, tmp_path, pems):
    cert_file, key_file, _result = install(localhost, tmp_path, pems)
    before = snapshot(tmp_path / "live")
    cert, key = pair_valid_for(tmp_path, "mx-a.test", -90, -1)
    for check in (True, False):
        result = runner(localhost, check)(cert_file, key_file, cert_content=cert, key_content=key)
        assert result.get("failed") is True and result["msg"].startswith("cert_content:"), result
        assert "expired" in result["msg"] and "nothing was changed" in result["msg"], result["msg"]
        assert key.splitlines()[1] not in str(result)
    assert snapshot(tmp_path / "live") == before
    # An expired pair already in place (renewal failed): refused naming cert_file, left as it is.
    there_cert, there_key = tmp_path / "old.pem", tmp_path / "old.key"
    there_cert.write_text(cert)
    there_key.write_text(key)
    there_key.chmod(0o600)
    result = tls_certificate(localhost, there_cert, there_key)
    assert result.get("failed") is True and result["msg"].startswith("cert_file:") and "expired" in result["msg"]
    chained = run_module(localhost, MODULE, chains=[{"cert_file": str(cert_file), "key_file": str(key_file),
                                                     "cert_content": cert, "key_content": key}])
    assert chained.get("failed") is True and chained["msg"].startswith("chains[0].cert_content:"), chained
    assert snapshot(tmp_path / "live") == before


def test_a_certificate_about_to_expire_is_warned_about_by_days_left(localhost, tmp_path):
    cert_file, key_file = paths(tmp_path)
    cert, key = pair_valid_for(tmp_path, "mx.test", -80, 1)
    result = tls_certificate(localhost, cert_file, key_file, cert_content=cert, key_content=key)
    assert result.get("failed") is not True and result["changed"] is True, result
    warnings = [warning for warning in result.get("warnings", []) if "expires" in warning]
    assert len(warnings) == 1 and warnings[0].startswith("cert_content: ") and str(cert_file) in warnings[0]
    assert "0 days left" in warnings[0] and "renew" in warnings[0], warnings
    # Beyond the threshold (certificate.EXPIRY_WARNING_DAYS): no warning.
    later_cert, later_key = pair_valid_for(tmp_path, "mx.test", -1, certificate.EXPIRY_WARNING_DAYS + 2)
    result = tls_certificate(localhost, cert_file, key_file, cert_content=later_cert, key_content=later_key)
    assert not [warning for warning in result.get("warnings", []) if "expires" in warning], result
    soon_cert, soon_key = pair_valid_for(tmp_path, "mx.test", -1, certificate.EXPIRY_WARNING_DAYS - 1)
    result = tls_certificate(localhost, cert_file, key_file, cert_content=soon_cert, key_content=soon_key)
    assert [warning for warning in result.get("warnings", []) if "expires" in warning], result


# --- a key and its certificate in one file (issue 18.7) -----------------------------------------------

def combined(directory, name, first, second):
    path = directory / name
    path.write_text(first + second)
    path.chmod(0o600)
    return path


def test_a_combined_key_and_certificate_file_is_checked_where_postfix_reads_one(localhost, tmp_path, pems):
    """postconf(5): the key may be in the same file as the certificate. Postfix's tls_certkey.c reads
    smtpd_tls_chain_files in order (each key right before its chain: "key not first" otherwise) and a
    legacy pair whose key file is the certificate file in "mixed" mode (one key anywhere, the first
    certificate its own). The same pair checks apply; nothing is written."""
    key_first = combined(tmp_path, "kc.pem", pems["key_a"], pems["cert_a"])
    cert_first = combined(tmp_path, "ck.pem", pems["cert_a"], pems["key_a"])
    stranger = combined(tmp_path, "kx.pem", pems["key_b"], pems["cert_a"])
    before = snapshot(tmp_path)
    chained = run_module(localhost, MODULE, chains=[{"key_file": str(key_first), "cert_file": str(key_first)}])
    assert chained.get("failed") is not True and chained["changed"] is False, chained.get("msg")
    assert chained["certificates"][0]["names"] == ["mx-a.test"]
    for path in (key_first, cert_first):
        single = tls_certificate(localhost, path, path)
        assert single.get("failed") is not True and single["certificate"]["names"] == ["mx-a.test"], single
    refused = run_module(localhost, MODULE, chains=[{"key_file": str(cert_first), "cert_file": str(cert_first)}])
    assert refused.get("failed") is True and refused["msg"].startswith("chains[0].key_file:"), refused
    assert "before" in refused["msg"] and "nothing was changed" in refused["msg"]
    for args in ({"chains": [{"key_file": str(stranger), "cert_file": str(stranger)}]},
                 {"cert_file": str(stranger), "key_file": str(stranger)}):
        mismatch = run_module(localhost, MODULE, **args)
        assert mismatch.get("failed") is True and "public keys differ" in mismatch["msg"], mismatch
    assert snapshot(tmp_path) == before
    assert key_slice(pems["key_a"]) not in str(chained) + str(refused)


def forged_name_certificate(key, other_public_pem):
    """A self-signed certificate whose last subjectAltName holds a newline and another key's PEM block
    (openssl's -addext refuses such a name; X.509 does not)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    names = x509.SubjectAlternativeName([x509.DNSName("a.test"), x509.DNSName("x\n" + other_public_pem)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(names, False).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def test_every_subject_alternative_name_is_read_and_a_name_cannot_forge_the_key(localhost, tmp_path, pems):
    """The names are the last thing openssl prints (found by the report's review: the key printed after
    them cost the last name), and the key is read apart, so a name holding a PEM block forges nothing."""
    from cryptography.hazmat.primitives.asymmetric import ec
    work = tmp_path / "san"
    work.mkdir()
    key = work / "k.pem"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key))
    three_names = openssl("req", "-new", "-x509", "-key", str(key), "-days", "30", "-subj", "/CN=a.test",
                          "-addext", "subjectAltName=DNS:a.test,DNS:b.test,DNS:c.test").decode()
    cert_file, key_file = tmp_path / "live" / "mx.pem", tmp_path / "live" / "mx.key"
    result = tls_certificate(localhost, cert_file, key_file, cert_content=three_names, key_content=key.read_text())
    assert result["certificate"]["names"] == ["a.test", "b.test", "c.test"], result

    own = ec.generate_private_key(ec.SECP256R1())
    other = openssl("x509", "-noout", "-pubkey", data=pems["cert_b"].encode()).decode()
    forging, own_key = forged_name_certificate(own, other)
    result = tls_certificate(localhost, tmp_path / "f" / "mx.pem", tmp_path / "f" / "mx.key", cert_content=forging,
                             key_content=own_key)
    der = openssl("pkey", "-pubout", "-outform", "DER", data=own_key.encode())
    assert result["certificate"]["tlsa_3_1_1"] == hashlib.sha256(der).hexdigest(), result
    assert result["certificate"]["names"] == ["a.test"], "the name with a newline is no DNS name"
