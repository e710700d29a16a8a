"""Adversarial: one tls_profile call never writes a file it also writes or reads under another option (issue 18).

The README promises that one call never writes one file twice ("a key file that is the table").
Each test points an option the call WRITES (the SNI table, the renewal hook, the DANE zone file,
the relay's tables, the policy table) at a file the call READS (an SNI chain or the default
certificate given by path, the relay's CA file, a next DANE key), under every spelling that names
the same file: the path itself, a link to it, a ``..`` detour, a linked directory, a hard link.
Each is refused before the first write, naming the option, and nothing on disk changes. Two
options that only READ one file (the same certificate served twice) are not refused.

The modules run as Ansible runs them on a host (JSON arguments on stdin), on a scratch Postfix
configuration of their own; Postfix is never started.
"""

from __future__ import annotations

import os

import pytest
from drivers import run_module_process, scratch_postfix
from helpers import snapshot
from relay_helpers import relay_spec
from tls_material import new_pair, pem_cert, pem_key

PORT = 25650 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
NAME = "mx.receiving.test"
SNI_NAME = "other.receiving.test"


def run_profile(args, cwd=None):
    """tls_profile as Ansible runs it; its result (None for a traceback) and output."""
    return run_module_process("tls_profile", args, cwd=cwd)


def write_pair(directory, stem, name):
    key, cert = new_pair("rsa", name=name)
    (directory / (stem + ".key")).write_text(pem_key(key))
    (directory / (stem + ".key")).chmod(0o600)
    (directory / (stem + ".pem")).write_text(pem_cert(cert))


@pytest.fixture
def host():
    """A scratch Postfix; the default pair and an SNI pair already on disk, given by path; a CA file; a next key."""
    with scratch_postfix("mailtls-file-roles-", PORT) as info:
        root, tls = info["root"], info["tls"]
        write_pair(tls, "default", NAME)
        write_pair(tls, "sni", SNI_NAME)
        (root / "ca.pem").write_text((tls / "default.pem").read_text())
        write_pair(root, "next", NAME)
        (root / "links").mkdir()
        os.symlink(str(tls / "sni.key"), str(root / "links" / "sni-key-symlink"))
        os.link(str(tls / "sni.key"), str(root / "links" / "sni-key-hardlink"))
        os.symlink(str(tls), str(root / "tls-linked-dir"))
        yield info


def base_args(host):
    """The default certificate and one SNI chain, both given by path (no content): the call only reads them."""
    conf, tls = host["conf"], host["tls"]
    return dict(config_dir=str(conf), validate="postfix -c %s check", reload=False, preflight={"mode": "skip"},
                certificate={"cert_file": str(tls / "default.pem"), "key_file": str(tls / "default.key")},
                receiving={"sni": [{"names": [SNI_NAME], "chains": [{"key_file": str(tls / "sni.key"),
                                                                     "cert_file": str(tls / "sni.pem")}]}],
                           "sni_table": str(conf / "tls_server_sni")})


def with_writer(args, host, option, target):
    """``args`` with the option that writes ``option`` pointed at ``target``."""
    conf = host["conf"]
    args = dict(args, receiving=dict(args["receiving"]))
    if option == "receiving.sni_table":
        args["receiving"]["sni_table"] = target
    elif option == "receiving.renewal_hook":
        args["receiving"]["renewal_hook"] = target
    elif option == "receiving.dane.file":
        args["receiving"]["dane"] = dict(args["receiving"].get("dane") or {}, names=[NAME], file=target)
    elif option == "relay.password_table":
        args["relay"] = relay_spec(conf, password_table=target, **args.get("relay_overrides", {}))
    elif option == "relay.sender_table":
        args["relay"] = relay_spec(conf, sender_table=target, sender_relays=[
            {"sender": "news@example.org", "host": "smtp2.relay.test"}], **args.get("relay_overrides", {}))
    elif option == "relay.transport_table":
        args["relay"] = relay_spec(conf, transport_table=target, destinations=["example.net"],
                                   **args.get("relay_overrides", {}))
    elif option == "policy_table.path":
        args["policy_table"] = {"path": target, "destinations": ["example.com"], "level": "may"}
    else:
        raise AssertionError(option)
    args.pop("relay_overrides", None)
    return args


WRITERS = ["receiving.sni_table", "receiving.renewal_hook", "receiving.dane.file", "relay.password_table",
           "relay.sender_table", "relay.transport_table", "policy_table.path"]


def refused_and_unchanged(host, args, option, cwd=None):
    """The call fails naming ``option``, and every file under the scratch root is as it was."""
    before = snapshot(host["root"])
    result, output = run_profile(args, cwd=cwd)
    assert result is not None, output[-3000:]
    assert result.get("failed") is True, "accepted: changed=%s" % result.get("changed")
    assert result["msg"].startswith(option + ":"), result["msg"]
    assert snapshot(host["root"]) == before, "files changed although the task failed: %s" % result["msg"]


# --- a write option at a file the call reads: by path, and the default certificate ---------------------------------

@pytest.mark.parametrize("option", WRITERS)
@pytest.mark.parametrize("target", ["sni.key", "sni.pem", "default.key", "default.pem"])
def test_a_write_option_at_a_key_or_certificate_the_call_reads_is_refused(host, target, option):
    refused_and_unchanged(host, with_writer(base_args(host), host, option, str(host["tls"] / target)), option)


# --- other spellings of the SNI key ----------------------------------------------------------------------------------

SPELLINGS = ("symlink", "dotdot", "linked-dir", "hardlink")


def spelled(host, spelling):
    root, tls = host["root"], host["tls"]
    return {"symlink": str(root / "links" / "sni-key-symlink"),
            "dotdot": str(tls) + "/../tls/./sni.key",
            "linked-dir": str(root / "tls-linked-dir" / "sni.key"),
            "hardlink": str(root / "links" / "sni-key-hardlink")}[spelling]


@pytest.mark.parametrize("option", WRITERS)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_write_option_at_another_name_of_the_sni_key_is_refused(host, option, spelling):
    refused_and_unchanged(host, with_writer(base_args(host), host, option, spelled(host, spelling)), option)


@pytest.mark.parametrize("option", WRITERS)
def test_a_relative_write_option_is_refused_naming_it(host, option):
    refused_and_unchanged(host, with_writer(base_args(host), host, option, "tls/sni.key"), option, cwd=host["root"])


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_an_sni_key_spelled_otherwise_is_still_the_file_the_table_may_not_be(host, spelling):
    """The other way round: the chain names the key through a link (a Let's Encrypt live/ path), the table the key."""
    args = base_args(host)
    args["receiving"]["sni"][0]["chains"][0]["key_file"] = spelled(host, spelling)
    refused_and_unchanged(host, with_writer(args, host, "receiving.renewal_hook", str(host["tls"] / "sni.key")),
                          "receiving.renewal_hook")


@pytest.mark.parametrize("name", ["cert_file", "key_file"])
def test_a_relative_default_certificate_is_refused_naming_it(host, name):
    """Postfix would read it relative to its queue directory, the module relative to its own working directory."""
    args = base_args(host)
    args["certificate"][name] = "tls/default.pem" if name == "cert_file" else "tls/default.key"
    refused_and_unchanged(host, args, "certificate." + name, cwd=host["root"])


# --- other files the call reads ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("option", ["receiving.sni_table", "relay.password_table", "policy_table.path",
                                    "receiving.renewal_hook"])
def test_a_write_option_at_the_relays_ca_file_is_refused(host, option):
    args = dict(base_args(host), relay_overrides={"ca_file": str(host["root"] / "ca.pem")})
    args = with_writer(args, host, option, str(host["root"] / "ca.pem"))
    args.setdefault("relay", relay_spec(host["conf"], ca_file=str(host["root"] / "ca.pem")))
    refused_and_unchanged(host, args, option)


@pytest.mark.parametrize("option", ["receiving.renewal_hook", "receiving.sni_table", "relay.password_table"])
def test_a_write_option_at_a_next_dane_key_is_refused(host, option):
    args = base_args(host)
    args["receiving"]["dane"] = {"names": [NAME], "next_keys": [str(host["root"] / "next.key")]}
    refused_and_unchanged(host, with_writer(args, host, option, str(host["root"] / "next.key")), option)


@pytest.mark.parametrize("option", ["receiving.sni_table", "receiving.renewal_hook", "relay.password_table"])
def test_a_write_option_at_an_sni_key_given_as_content_is_refused(host, option):
    """Refused before issue 18 too (two writes), though not always naming the option that writes; the one guard
    keeps it."""
    key, cert = new_pair("rsa", name=SNI_NAME)
    args = base_args(host)
    args["receiving"]["sni"][0]["chains"][0].update(key_content=pem_key(key), cert_content=pem_cert(cert))
    refused_and_unchanged(host, with_writer(args, host, option, str(host["tls"] / "sni.key")), option)


# --- reading one file twice is allowed --------------------------------------------------------------------------------

def test_the_same_certificate_served_twice_by_path_is_not_refused(host):
    """The default pair also served for an SNI name, and by a link to it: read twice, written never."""
    tls, root = host["tls"], host["root"]
    args = base_args(host)
    linked_key = str(root / "tls-linked-dir" / "default.key")
    args["receiving"]["sni"] = [{"names": [SNI_NAME], "chains": [{"key_file": linked_key,
                                                                  "cert_file": str(tls / "default.pem")}]}]
    args["relay"] = relay_spec(host["conf"], ca_file=str(tls / "default.pem"))
    result, output = run_profile(args)
    assert result is not None and not result.get("failed"), (result or {}).get("msg") or output[-3000:]
    assert result["changed"] is True
    entry = (host["conf"] / "tls_server_sni").read_text()
    assert "%s %s %s" % (SNI_NAME, root / "tls-linked-dir" / "default.key", tls / "default.pem") in entry


def test_a_relative_config_dir_still_names_the_files_beside_main_cf(host):
    """config_dir may be relative (postconf -c takes it so): main.cf, master.cf and the record are no relative options."""
    args = dict(base_args(host), config_dir="conf")
    result, output = run_profile(args, cwd=host["root"])
    assert result is not None and not result.get("failed"), (result or {}).get("msg") or output[-3000:]
