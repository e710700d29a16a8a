"""lookup_table with file_values (postmap -F, Postfix's SNI table) against the real postmap and a real smtpd."""

from __future__ import annotations

import datetime
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
from conftest import RELEASES, TARGET_PYTHON, debian_main_cf, make_config_dir, postmap
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from drivers import run_as_ansible, scratch_postfix, start_postfix
from helpers import run_module, run_module_on, snapshot

LOOKUP = "mailtls.postfix.lookup_table"
# Its own ports, apart from test_tls_probe's; one instance per xdist worker.
SNI_PORT = 25350 + 10 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)


def pair(directory, name, stem=None):
    """A fresh EC key and a self-signed certificate for ``name``: (key path, cert path)."""
    stem = stem or name
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    key_path, cert_path = Path(directory) / (stem + ".key"), Path(directory) / (stem + ".pem")
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def served(*paths):
    """What postmap -Fq prints for a value naming ``paths``: their content joined by newlines, plus one."""
    return b"\n".join(Path(path).read_bytes() for path in paths) + b"\n"


def fq(table, key, host=None):
    """postmap -Fq as bytes (Postfix's own decoding of the index)."""
    argv = ["postmap", "-Fq", key, table]
    if host is not None and host.container:
        argv = ["podman", "exec", host.container] + argv
    return subprocess.run(argv, capture_output=True, check=False).stdout


def lookup(localhost, config_dir, **args):
    args.setdefault("file_values", True)
    args["config_dir"] = str(config_dir)
    if args.pop("_ansible_check_mode", False):
        return run_directly(dict(args, _ansible_check_mode=True))
    return run_module(localhost, LOOKUP, **args)


def run_directly(args):
    """The module run as Ansible runs it on a managed node (JSON arguments on stdin), check mode included."""
    return run_as_ansible("lookup_table", args, python=TARGET_PYTHON).parsed()


def index_state(path):
    found = os.stat(path)
    return found.st_ino, found.st_mtime_ns, stat.S_IMODE(found.st_mode)


@pytest.fixture
def certs(tmp_path):
    directory = tmp_path / "certs"
    directory.mkdir()
    return directory


@pytest.mark.parametrize("table_type, suffix", [("hash", ".db"), ("cdb", ".cdb"), ("lmdb", ".lmdb")])
@pytest.mark.parametrize("release", RELEASES)
def test_build_read_back_private_and_noop(localhost, postfix_hosts, tmp_path, release, table_type, suffix):
    """Each release's own postmap -F builds it; the index is 0600; the second run builds nothing."""
    host = postfix_hosts(release)
    config_dir = make_config_dir(tmp_path / "postfix", debian_main_cf(), host)
    certs = tmp_path / "certs"
    certs.mkdir()
    a_key, a_cert = pair(certs, "a.example")
    b_key, b_cert = pair(certs, "b.example")
    path = config_dir / "sni"
    entries = {"a.example": "%s %s" % (a_key, a_cert), "B.example": [str(b_key), str(b_cert)],
               ".a.example": "%s,%s" % (a_key, a_cert)}
    args = dict(config_dir=str(config_dir), path=str(path), type=table_type, entries=entries, exclusive=True,
                file_values=True)
    first = run_module_on(host, localhost, LOOKUP, **args)
    assert first["changed"] is True and first["postmap_run"] is True, first
    assert first["rebuild_reason"] == "the source changes"
    table = "%s:%s" % (table_type, path)
    assert fq(table, "a.example", host) == served(a_key, a_cert)
    assert fq(table, "b.example", host) == served(b_key, b_cert)
    assert fq(table, ".a.example", host) == served(a_key, a_cert)
    # The source names files only; the index holds the private key, and is 0600 like the source.
    assert b"PRIVATE KEY" not in path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert index_state(str(path) + suffix)[2] == 0o600
    assert sorted(p.name for p in config_dir.iterdir()) == ["main.cf", "master.cf", "sni", "sni" + suffix]

    before, index = snapshot(config_dir), index_state(str(path) + suffix)
    second = run_module_on(host, localhost, LOOKUP, **args)
    assert second["changed"] is False and second["postmap_run"] is False and second["rebuild_reason"] is None
    assert snapshot(config_dir) == before and index_state(str(path) + suffix) == index, \
        "a no-op run writes nothing and builds no index"


@pytest.mark.parametrize("how", ["rename_into_place", "cp_p_old_mtime", "certbot_link"])
def test_changed_file_rebuilds_with_the_same_table_text(localhost, config_dir, certs, how):
    live = certs / "live"
    live.mkdir()
    key, cert = pair(certs, "a.example", "archive1")
    for name, target in (("privkey.pem", key), ("fullchain.pem", cert)):
        (live / name).symlink_to(target)  # certbot's live/ names are links into archive/
    path = config_dir / "sni"
    entries = {"a.example": "%s %s" % (live / "privkey.pem", live / "fullchain.pem")}
    assert lookup(localhost, config_dir, path=str(path), entries=entries)["postmap_run"] is True
    source, index = path.read_bytes(), index_state(str(path) + ".db")

    time.sleep(0.05)
    new_key, new_cert = pair(certs, "a.example", "archive2")
    if how == "rename_into_place":
        os.rename(str(new_key), str(key))
        os.rename(str(new_cert), str(cert))
    elif how == "cp_p_old_mtime":
        # Content older than the index by its mtime: only a content comparison finds it.
        old = index[1] / 1e9 - 3600
        for new in (new_key, new_cert):
            os.utime(str(new), (old, old))
        subprocess.run(["cp", "-p", str(new_key), str(key)], check=True)
        subprocess.run(["cp", "-p", str(new_cert), str(cert)], check=True)
        assert os.stat(str(cert)).st_mtime_ns < index[1]
    else:
        for name, target in (("privkey.pem", new_key), ("fullchain.pem", new_cert)):
            os.unlink(str(live / name))
            (live / name).symlink_to(target)
    expected = served(live / "privkey.pem", live / "fullchain.pem")
    assert fq("hash:%s" % path, "a.example") != expected

    check = lookup(localhost, config_dir, path=str(path), entries=entries, _ansible_check_mode=True)
    assert check["changed"] is True and check["postmap_run"] is True, check
    assert index_state(str(path) + ".db") == index, "check mode builds nothing"

    result = lookup(localhost, config_dir, path=str(path), entries=entries)
    assert result["changed"] is True and result["postmap_run"] is True and result["updated"] == []
    assert result["rebuild_reason"] == "the files of 'a.example' changed since the index was built"
    assert path.read_bytes() == source and fq("hash:%s" % path, "a.example") == expected
    assert index_state(str(path) + ".db")[2] == 0o600

    again = lookup(localhost, config_dir, path=str(path), entries=entries)
    assert again["changed"] is False and again["postmap_run"] is False
    check = lookup(localhost, config_dir, path=str(path), entries=entries, _ansible_check_mode=True)
    assert check["changed"] is False and check["postmap_run"] is False


def test_an_index_built_without_F_or_by_hand_is_repaired(localhost, config_dir, certs):
    key, cert = pair(certs, "a.example")
    path = config_dir / "sni"
    entries = {"a.example": "%s %s" % (key, cert)}
    lookup(localhost, config_dir, path=str(path), entries=entries)
    # A plain postmap stores the file names, not their content: SNI would break.
    postmap("hash:%s" % path)
    result = lookup(localhost, config_dir, path=str(path), entries=entries)
    assert result["changed"] is True and result["postmap_run"] is True, result
    assert fq("hash:%s" % path, "a.example") == served(key, cert)
    # An index made world-readable gets its 0600 back, no rebuild needed.
    os.chmod(str(path) + ".db", 0o644)
    result = lookup(localhost, config_dir, path=str(path), entries=entries)
    assert result["changed"] is True and result["postmap_run"] is False
    assert index_state(str(path) + ".db")[2] == 0o600


def test_entries_the_task_does_not_manage_are_checked_and_kept_fresh(localhost, config_dir, certs):
    a_key, a_cert = pair(certs, "a.example")
    b_key, b_cert = pair(certs, "b.example")
    path = config_dir / "sni"
    path.write_text("# SNI\nb.example %s, %s\n" % (b_key, b_cert))
    path.chmod(0o644)
    result = lookup(localhost, config_dir, path=str(path), entries={"a.example": [str(a_key), str(a_cert)]})
    assert result["changed"] is True and result["added"] == ["a.example"]
    assert fq("hash:%s" % path, "b.example") == served(b_key, b_cert)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "a file-valued table is private"
    pair(certs, "b.example")  # b's files replaced: b is rebuilt though this task names a only
    result = lookup(localhost, config_dir, path=str(path), entries={"a.example": [str(a_key), str(a_cert)]})
    assert result["postmap_run"] is True and "'b.example'" in result["rebuild_reason"]
    assert fq("hash:%s" % path, "b.example") == served(b_key, b_cert)
    # An unmanaged entry whose file went: refused, naming it, nothing written.
    os.unlink(str(b_cert))
    before = snapshot(config_dir)
    result = lookup(localhost, config_dir, path=str(path), entries={"a.example": [str(a_key), str(a_cert)]})
    assert result["failed"] and result["msg"] == "path: b.example (an entry of %s): %s does not exist" % (path, b_cert)
    assert snapshot(config_dir) == before


def bad_value(certs, case):
    """(value, message tail) of a file value the module must refuse."""
    key, cert = pair(certs, "a.example")
    if case == "missing":
        return "%s %s/gone.pem" % (key, certs), "%s/gone.pem does not exist" % certs
    if case == "directory":
        return "%s %s" % (key, certs), "%s is not a regular file (a directory, FIFO, socket or device)" % certs
    if case == "fifo":
        os.mkfifo(str(certs / "fifo.pem"))  # opened for reading it would block: it must not
        return "%s %s/fifo.pem" % (key, certs), "%s/fifo.pem is not a regular file" % certs
    if case == "relative":
        return "%s certs/a.example.pem" % key, "'certs/a.example.pem' is not an absolute path"
    if case == "space_in_list":
        spaced = certs / "with space.pem"
        shutil.copyfile(str(cert), str(spaced))
        return [str(key), str(spaced)], "%r holds whitespace, a comma" % str(spaced)
    if case == "space_in_text":
        spaced = certs / "with space.pem"
        shutil.copyfile(str(cert), str(spaced))
        return "%s %s" % (key, spaced), "'space.pem' is not an absolute path"
    if case == "not_pem":
        (certs / "der.crt").write_bytes(b"\x30\x82\x01\x0a\xff\xfe not PEM")
        return "%s %s" % (key, certs / "der.crt"), "%s/der.crt holds no PEM block" % certs
    if case == "cert_first":
        return "%s %s" % (cert, key), "%s must start with the private key (unencrypted)" % cert
    if case == "key_only":
        return str(key), "hold a private key but no certificate after it"
    if case == "unreadable_link":
        (certs / "dangling.pem").symlink_to(certs / "nowhere.pem")
        return "%s %s/dangling.pem" % (key, certs), "dangling.pem does not exist"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing", "directory", "fifo", "relative", "space_in_list", "space_in_text",
                                  "not_pem", "cert_first", "key_only", "unreadable_link"])
@pytest.mark.parametrize("existing", [False, True])
def test_bad_values_are_refused_and_nothing_changes(localhost, config_dir, certs, case, existing):
    path = config_dir / "sni"
    if existing:
        good_key, good_cert = pair(certs, "good.example")
        lookup(localhost, config_dir, path=str(path), entries={"good.example": "%s %s" % (good_key, good_cert)})
    value, message = bad_value(certs, case)
    before = snapshot(config_dir)
    for check_mode in (True, False):
        result = lookup(localhost, config_dir, path=str(path), entries={"good.example": value},
                        _ansible_check_mode=check_mode)
        assert result.get("failed") and result["msg"].startswith("entries: good.example: "), result
        assert message in result["msg"], result["msg"]
        assert snapshot(config_dir) == before
        assert not os.path.lexists(str(path) + ".tmp")


def test_single_key_form_names_the_value_option(localhost, config_dir, certs):
    result = lookup(localhost, config_dir, path=str(config_dir / "sni"), key="a.example", value="relative.pem")
    assert result["failed"] and result["msg"].startswith("value: a.example: 'relative.pem' is not an absolute path")


@pytest.mark.parametrize("table_type", ["texthash", "regexp", "pcre", "cidr"])
def test_types_postmap_F_cannot_build_are_refused(localhost, config_dir, certs, table_type):
    key, cert = pair(certs, "a.example")
    before = snapshot(config_dir)
    result = lookup(localhost, config_dir, path=str(config_dir / "sni"), type=table_type,
                    entries={"a.example": "%s %s" % (key, cert)})
    assert result["failed"] and result["msg"].startswith("file_values: postmap -F builds only indexed tables")
    assert snapshot(config_dir) == before
    # As measured: postmap -F refuses to build them itself.
    (config_dir / "scratch").write_text("a.example %s\n" % key)
    assert "does not support bulk-mode creation" in postmap("-F", "%s:%s" % (table_type, config_dir / "scratch"),
                                                            check=False).stderr


def test_world_readable_mode_is_refused(localhost, config_dir, certs):
    key, cert = pair(certs, "a.example")
    result = lookup(localhost, config_dir, path=str(config_dir / "sni"), mode="0644",
                    entries={"a.example": "%s %s" % (key, cert)})
    assert result["failed"] and result["msg"].startswith("mode: 0644 lets every user read a table whose index holds")
    result = lookup(localhost, config_dir, path=str(config_dir / "sni"), mode="0640",
                    entries={"a.example": "%s %s" % (key, cert)})
    assert result["changed"] and index_state(str(config_dir / "sni.db"))[2] == 0o640


def test_non_utf8_bytes_in_files_table_and_paths(localhost, config_dir, certs):
    key, cert = pair(certs, "a.example")
    # A Latin-1 line before the PEM block (as openssl pkcs12's "Bag Attributes" may be): bytes kept.
    cert.write_bytes(b"friendlyName: caf\xe9\n" + cert.read_bytes())
    odd_dir = Path(os.fsdecode(bytes(certs) + b"/caf\xe9"))
    odd_dir.mkdir()
    odd_key = odd_dir / "key.pem"
    shutil.copyfile(str(key), str(odd_key))
    path = config_dir / "sni"
    # An entry this task does not manage names a non-UTF-8 path: Postfix (smtputf8_enable=yes)
    # would skip that line, and the name would silently get the default certificate.
    odd_line = b"b.example " + os.fsencode(str(odd_key)) + b" " + os.fsencode(str(cert)) + b"\n"
    path.write_bytes(b"# caf\xe9\n" + odd_line)
    assert "non-UTF-8 input" in postmap("-F", "hash:%s" % path).stderr
    os.unlink(str(path) + ".db")
    before = snapshot(config_dir)
    result = lookup(localhost, config_dir, path=str(path), entries={"a.example": "%s %s" % (key, cert)})
    assert result["failed"] and result["msg"].startswith("path: b.example (an entry of %s): " % path), result
    assert result["msg"].endswith("is not UTF-8: postmap skips such a line") and snapshot(config_dir) == before

    path.write_bytes(b"# caf\xe9\nb.example " + os.fsencode(str(key)) + b" " + os.fsencode(str(cert)) + b"\n")
    result = lookup(localhost, config_dir, path=str(path), entries={"a.example": "%s %s" % (key, cert)})
    assert result["changed"] and result["postmap_run"], result
    assert fq("hash:%s" % path, "a.example") == served(key, cert) == fq("hash:%s" % path, "b.example")
    assert path.read_bytes().startswith(b"# caf\xe9\nb.example ")
    again = lookup(localhost, config_dir, path=str(path), entries={"a.example": "%s %s" % (key, cert)})
    assert again["changed"] is False and again["postmap_run"] is False


def test_a_link_at_the_temporary_is_refused(localhost, config_dir, certs, tmp_path):
    key, cert = pair(certs, "a.example")
    path = config_dir / "sni"
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    os.symlink(str(target), str(path) + ".tmp")
    for check_mode in (True, False):
        result = lookup(localhost, config_dir, path=str(path), entries={"a.example": "%s %s" % (key, cert)},
                        _ansible_check_mode=check_mode)
        assert result["failed"] and "is a symbolic link; refusing to write through it" in result["msg"], result
        assert target.read_text() == "keep\n" and not path.exists() and not os.path.exists(str(path) + ".db")
    # The -F index's temporary too: a link left at sni.tmp.db is removed, not written through.
    os.unlink(str(path) + ".tmp")
    os.symlink(str(target), str(path) + ".tmp.db")
    result = lookup(localhost, config_dir, path=str(path), entries={"a.example": "%s %s" % (key, cert)})
    assert result["changed"] and target.read_text() == "keep\n" and not os.path.lexists(str(path) + ".tmp.db")
    assert index_state(str(path) + ".db")[2] == 0o600


def test_check_mode_predicts_a_new_table_and_writes_nothing(localhost, config_dir, certs):
    key, cert = pair(certs, "a.example")
    before = snapshot(config_dir)
    result = lookup(localhost, config_dir, path=str(config_dir / "sni"), entries={"a.example": [str(key), str(cert)]},
                    _ansible_check_mode=True)
    assert result["changed"] is True and result["postmap_run"] is True and result["added"] == ["a.example"]
    assert snapshot(config_dir) == before


# A real smtpd serving the table: the SNI name gets its certificate, and the renewed one after a reload.


def _served_subject(port, name):
    proc = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % port,
                           "-servername", name], input=b"QUIT\n", capture_output=True, timeout=20, check=False)
    pem = proc.stdout[proc.stdout.find(b"-----BEGIN CERTIFICATE-----"):]
    end = pem.find(b"-----END CERTIFICATE-----")
    assert end > 0, proc.stdout + proc.stderr
    return x509.load_pem_x509_certificate(pem[:end + 25]).fingerprint(hashes.SHA256())


def _fingerprint(cert_path):
    return x509.load_pem_x509_certificate(Path(cert_path).read_bytes()).fingerprint(hashes.SHA256())


@pytest.fixture
def sni_server():
    """A Postfix instance on 127.0.0.1:SNI_PORT whose default certificate is default.test."""
    with scratch_postfix("mailtls-sni-", SNI_PORT, hostname="sni.test", directories=("certs",),
                         server_tls=["smtpd_tls_chain_files = {root}/certs/default.test.key, "
                                     "{root}/certs/default.test.pem", "tls_server_sni_maps = hash:{root}/conf/sni"]
                         ) as info:
        _default_key, default_cert = pair(info["certs"], "default.test")
        yield dict(info, default=default_cert)


def _start(conf):
    start_postfix(conf, SNI_PORT)


def test_smtpd_serves_the_table_and_the_renewed_certificate(localhost, sni_server):
    conf, certs = sni_server["conf"], sni_server["certs"]
    key, cert = pair(certs, "mail.example")
    entries = {"mail.example": "%s %s" % (key, cert), "default.test": "%s %s" % (certs / "default.test.key",
                                                                                 sni_server["default"])}
    result = lookup(localhost, conf, path=str(conf / "sni"), entries=entries, exclusive=True)
    assert result["changed"] and result["postmap_run"], result
    _start(conf)
    assert _served_subject(SNI_PORT, "mail.example") == _fingerprint(cert)
    assert _served_subject(SNI_PORT, "default.test") == _fingerprint(sni_server["default"])
    assert _served_subject(SNI_PORT, "unknown.example") == _fingerprint(sni_server["default"])

    # Renewed in place (new files renamed over the old names): the table text does not change.
    new_key, new_cert = pair(certs, "mail.example", "renewed")
    os.rename(str(new_key), str(key))
    os.rename(str(new_cert), str(cert))
    text = (conf / "sni").read_bytes()
    result = lookup(localhost, conf, path=str(conf / "sni"), entries=entries, exclusive=True)
    assert result["changed"] and result["postmap_run"] and (conf / "sni").read_bytes() == text, result
    subprocess.run(["postfix", "-c", str(conf), "reload"], check=True, capture_output=True)
    time.sleep(1)
    assert _served_subject(SNI_PORT, "mail.example") == _fingerprint(cert)

    # What the key-first check keeps out: postmap -F builds a chain in the wrong order without a
    # word, and smtpd then aborts every handshake for that name.
    (conf / "sni").write_text("mail.example %s %s\n" % (cert, key))
    assert postmap("-F", "hash:%s" % (conf / "sni")).returncode == 0
    subprocess.run(["postfix", "-c", str(conf), "reload"], check=True, capture_output=True)
    time.sleep(1)
    proc = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % SNI_PORT,
                           "-servername", "mail.example"], input=b"QUIT\n", capture_output=True, timeout=20,
                          check=False)
    assert b"-----BEGIN CERTIFICATE-----" not in proc.stdout
    time.sleep(0.5)
    assert "SNI data for mail.example: key not first" in (sni_server["root"] / "mail.log").read_text()
    result = lookup(localhost, conf, path=str(conf / "sni"), entries={"mail.example": "%s %s" % (cert, key)})
    assert result["failed"] and "must start with the private key" in result["msg"]
