"""Hostile review of the sending-side TLSRPT support (pure logic): each test is a defect the review found, now
fixed.

The refusal before anything is written (work/postconf_edit.py ``_refuse_tlsrpt_without_support``) is driven here
with a Postfix whose ``postconf`` runs are answered from a table the way postconf answers without ``-x``
(values unexpanded), over smtp and libpostfix-*.so files laid out in a temporary directory; nothing on this
machine is run. What smtp does is Postfix 3.10's smtp/smtp.c and smtp/smtp_tlsrpt.c:

- ``smtp_dns_support_level`` is read with ``name_code(..., NAME_CODE_FLAG_NONE, ...)``: case-insensitive, so
  ``Disabled`` disables DNS as ``disabled`` does; an empty level falls back to ``disable_dns_lookups``
  (``var_disable_dns ? SMTP_DNS_DISABLED : SMTP_DNS_ENABLED``).
- ``smtp_tlsrpt_post_jail()``: with DNS disabled, "Cannot enable TLSRPT support: DNS is disabled"; with an empty
  ``smtp_tlsrpt_socket_name``, "parameter ... has empty value -- TLSRPT support will be disabled". Both are
  warnings: smtp runs on, and reports nothing.
"""

from __future__ import annotations

import re

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.commands import Postfix
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.tls import tlsrpt_problem
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.mta_sts import sending_tlsrpt
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.work.postconf_edit import PostconfEdit

V310 = (3, 10, 13)
SOCKET = "run/tlsrpt/tlsrpt.sock"
ELF = b"\x7fELF" + b"\0" * 60

# Debian 13's postconf -d, for the names the guard asks about.
DEFAULTS = {"mail_version": "3.10.13", "daemon_directory": "/usr/lib/postfix/sbin",
            "shlib_directory": "/usr/lib/postfix", "smtp_dns_support_level": "", "disable_dns_lookups": "no",
            "smtp_tlsrpt_enable": "no", "smtp_tlsrpt_socket_name": ""}


class TablePostfix(Postfix):
    """``postconf -c DIR [-h] NAME...`` answered from main.cf's values over the defaults, unexpanded (no -x)."""

    def __init__(self, main_cf):
        super().__init__(lambda *args, **kwargs: "/usr/sbin/postconf", None)
        self.values = dict(DEFAULTS, **main_cf)
        self.asked = []

    def run(self, name, args, data=None, check=True):
        assert name == "postconf", args
        args = list(args)
        assert args[:2] == ["-c", "/etc/postfix"], args
        args = args[2:]
        expand = args[:1] == ["-x"]  # postconf -x: $name and ${name} expanded
        args = args[1:] if expand else args
        bare = args[:1] == ["-h"]
        names = args[1:] if bare else args
        self.asked.extend(names)
        lines = []
        for item in names:
            value = self.expanded(self.values[item]) if expand else self.values[item]
            lines.append(value if bare else ("%s = %s" % (item, value)).rstrip(" "))
        return 0, "".join(line + "\n" for line in lines), ""

    def expanded(self, value):
        return re.sub(r"\$\{?([A-Za-z0-9_]+)\}?", lambda match: self.expanded(self.values[match.group(1)]), value)


class Guard(PostconfEdit):
    """Only what ``_refuse_tlsrpt_without_support`` uses of the module."""

    def __init__(self, postfix):  # pylint: disable=super-init-not-called
        self.postfix = postfix

    def main_cf_path(self):
        return "/etc/postfix", "/etc/postfix/main.cf"


def debian_layout(tmp_path):
    """Debian 13's files: smtp names libpostfix-tls.so, which names libtlsrpt.so.0."""
    shlib = tmp_path / "usr/lib/postfix"
    daemon = shlib / "sbin"
    daemon.mkdir(parents=True)
    (daemon / "smtp").write_bytes(ELF + b"libpostfix-tls.so\0libpostfix-global.so\0libc.so.6\0")
    (shlib / "libpostfix-tls.so").write_bytes(ELF + b"libssl.so.3\0libtlsrpt.so.0\0")
    (shlib / "libpostfix-global.so").write_bytes(ELF + b"libc.so.6\0")
    return str(daemon), str(shlib)


def guard(tmp_path, **main_cf):
    daemon, shlib = debian_layout(tmp_path)
    values = {"daemon_directory": daemon, "shlib_directory": shlib}
    values.update((name, value.replace("@SHLIB@", shlib)) for name, value in main_cf.items())
    return Guard(TablePostfix(values))


def test_the_harness_accepts_what_the_change_accepts_and_refuses_what_it_refuses(tmp_path):
    # Sanity of the fakes: a Debian 13 host with a socket passes; DNS disabled in the same call is refused.
    guard(tmp_path)._refuse_tlsrpt_without_support({"smtp_tlsrpt_enable": "yes", "smtp_tlsrpt_socket_name": SOCKET})
    with pytest.raises(InputError, match="smtp_dns_support_level is disabled"):
        guard(tmp_path / "2")._refuse_tlsrpt_without_support(
            {"smtp_tlsrpt_enable": "yes", "smtp_tlsrpt_socket_name": SOCKET, "smtp_dns_support_level": "disabled"})


# --- DNS disabled in the spellings smtp reads as disabled -------------------------------------------------------

@pytest.mark.parametrize("level", ["Disabled", "DISABLED"])
def test_dns_disabled_in_another_case_is_refused(level):
    assert tlsrpt_problem("yes", SOCKET, V310, True, level), level


def test_disable_dns_lookups_yes_with_an_empty_level_is_refused(tmp_path):
    edit = guard(tmp_path, disable_dns_lookups="yes")
    with pytest.raises(InputError, match="DNS"):
        edit._refuse_tlsrpt_without_support({"smtp_tlsrpt_enable": "yes", "smtp_tlsrpt_socket_name": SOCKET})


# --- Directories as postconf prints them: unexpanded ---------------------------------------------------------------

@pytest.mark.parametrize("daemon_directory", ["${shlib_directory}/sbin", "$shlib_directory/sbin"])
def test_a_daemon_directory_written_with_a_macro_is_expanded(tmp_path, daemon_directory):
    edit = guard(tmp_path, daemon_directory=daemon_directory)
    edit._refuse_tlsrpt_without_support({"smtp_tlsrpt_enable": "yes", "smtp_tlsrpt_socket_name": SOCKET})


def test_a_shlib_directory_written_with_a_macro_is_expanded(tmp_path):
    daemon, shlib = debian_layout(tmp_path)
    postfix = TablePostfix({"daemon_directory": daemon, "shlib_directory": "${my_postfix_lib}",
                            "my_postfix_lib": shlib})
    Guard(postfix)._refuse_tlsrpt_without_support({"smtp_tlsrpt_enable": "yes", "smtp_tlsrpt_socket_name": SOCKET})


# --- The guard only looks at calls that name smtp_tlsrpt_enable ---------------------------------------------------

def test_dns_disabled_later_under_tlsrpt_on_in_main_cf_is_refused(tmp_path):
    edit = guard(tmp_path, smtp_tlsrpt_enable="yes", smtp_tlsrpt_socket_name=SOCKET)
    with pytest.raises(InputError, match="smtp_dns_support_level is disabled"):
        edit._refuse_tlsrpt_without_support({"smtp_dns_support_level": "disabled"})


def test_the_socket_emptied_later_under_tlsrpt_on_in_main_cf_is_refused(tmp_path):
    edit = guard(tmp_path, smtp_tlsrpt_enable="yes", smtp_tlsrpt_socket_name=SOCKET)
    with pytest.raises(InputError, match="smtp_tlsrpt_socket_name"):
        edit._refuse_tlsrpt_without_support({"smtp_tlsrpt_socket_name": ""})


# --- The result: enabled where smtp turns it off -----------------------------------------------------------------

@pytest.mark.parametrize("socket_name", [None, "", "   "])
def test_the_result_does_not_claim_reports_without_a_socket(socket_name):
    assert sending_tlsrpt(V310, "yes", socket_name)["enabled"] is False


# --- The role's own words -----------------------------------------------------------------------------------------

def test_the_role_documents_the_way_back_of_an_empty_socket():
    import pathlib

    import yaml

    root = pathlib.Path(__file__).resolve().parents[5]
    spec = yaml.safe_load((root / "roles/tls_forced/meta/argument_specs.yml").read_text())
    said = " ".join(spec["argument_specs"]["main"]["options"]["tls_forced_tlsrpt_socket"]["description"])
    assert "leaves both parameters as they are" not in said and "takes both parameters out again" in said, said
