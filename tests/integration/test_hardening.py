"""TLS hardening profiles against real Postfix: read back on 3.5, 3.7 and 3.10, and live on 3.7.

The live part runs one throw-away Postfix instance per profile on 127.0.0.1 (as
test_tls_probe.py does), each with the profile's main.cf and three listeners: port 25
(opportunistic, level may), submission (level encrypt, STARTTLS) and submissions as Debian's
master.cf ships it (wrapper mode, no level of its own). ``openssl s_client`` then offers each
protocol version alone and the test asserts which handshakes the profile accepts or refuses.
The sending side is measured with posttls-finger, the Postfix SMTP client's TLS engine, against
two peers that stop at TLS 1.1 and at TLS 1.2.

Debian 12's OpenSSL refuses TLS 1.0 and 1.1 on the client side at its default security level
(a legacy MD5-SHA1 signature), so every old-protocol attempt lowers the client's level to 0;
the postfix_default listeners then accept TLS 1.0 and 1.1, which proves that each refusal
measured here is the server's (or the Postfix client's protocols setting), never the tool's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import RELEASES, effective_config, make_config_dir, settle

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.hardening import (
    HARDENING_PARAMETERS,
    HARDENING_PROFILES,
    hardening_plan,
)
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.main_cf import plan_edit

# A main.cf that already holds a value for every profile parameter, none of them a default:
# switching to a profile must set or remove each one.
STALE = {"smtpd_tls_protocols": "!SSLv2, !SSLv3, !TLSv1", "smtpd_tls_ciphers": "high",
         "smtpd_tls_exclude_ciphers": "aNULL", "smtpd_tls_mandatory_protocols": "!SSLv2, !SSLv3, !TLSv1",
         "smtpd_tls_mandatory_ciphers": "low", "smtpd_tls_mandatory_exclude_ciphers": "MD5",
         "smtp_tls_protocols": "!SSLv2, !SSLv3, !TLSv1", "smtp_tls_ciphers": "high",
         "smtp_tls_exclude_ciphers": "aNULL", "smtp_tls_mandatory_protocols": "!SSLv2, !SSLv3, !TLSv1",
         "smtp_tls_mandatory_ciphers": "low", "smtp_tls_mandatory_exclude_ciphers": "MD5",
         "tls_preempt_cipherlist": "yes", "tls_ssl_options": "NO_TICKET"}
# Mozilla intermediate's TLS 1.2 cipher suites: what the mandatory "high" grade with the
# forward-secrecy/AEAD exclusions must come to in each release's OpenSSL.
MOZILLA_INTERMEDIATE_TLS12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305"}
LEGACY_CIPHER = re.compile(r"SEED|IDEA|DES|RC2|RC4|RC5|MD5|DSS")


def release_version(host):
    return tuple(int(part) for part in host.postconf("-h", "mail_version").stdout.strip().split("."))


def profile_config_dir(host, base, profile, extra=""):
    """A config dir whose main.cf went from the stale values to the profile, by our own editor."""
    stale_text = "compatibility_level = 3.6\n" + extra + "".join("%s = %s\n" % item for item in STALE.items())
    parameters, absent = hardening_plan(profile, release_version(host))
    new_text, _changes = plan_edit(stale_text, parameters, absent)
    return make_config_dir(base, new_text, host), parameters, absent


@pytest.mark.parametrize("profile", HARDENING_PROFILES)
@pytest.mark.parametrize("release", RELEASES)
def test_postfix_reads_each_profile_back_without_a_warning(postfix_hosts, tmp_path, release, profile):
    host = postfix_hosts(release)
    config_dir, parameters, absent = profile_config_dir(host, tmp_path / "postfix", profile)
    lines, unused = effective_config(config_dir, host)
    assert unused == [] and lines != ["fatal"], (lines, unused)
    printed = dict(line.split(" = ", 1) for line in lines if line.split(" = ", 1)[0] in HARDENING_PARAMETERS)
    assert printed == parameters
    settle(config_dir / "main.cf")
    shown = host.postconf("-c", str(config_dir), "-n", check=False)
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    # A removed parameter is back to this release's compiled-in default.
    if absent:
        defaults = host.postconf("-d", *absent).stdout
        assert host.postconf("-c", str(config_dir), *absent).stdout == defaults
    check = host.tool("postfix", "-c", str(config_dir), "check", check=False)
    assert check.returncode == 0 and "warning" not in check.stderr, check.stderr


def resolved_ciphers(host, config_dir, grade_parameter, exclusion_parameters):
    """The TLS 1.2 suites of a grade minus its exclusions, resolved by the release's OpenSSL.

    postconf(5) smtpd_tls_ciphers: the exclusions are removed from the base definition of the
    selected grade, i.e. the grade's tls_<grade>_cipherlist followed by one "!item" each.
    """
    grade = host.postconf("-c", str(config_dir), "-xh", grade_parameter).stdout.strip()
    cipherlist = host.postconf("-c", str(config_dir), "-xh", "tls_%s_cipherlist" % grade).stdout.strip()
    for name in exclusion_parameters:
        value = host.postconf("-c", str(config_dir), "-xh", name).stdout
        cipherlist += "".join(":!" + item for item in re.split(r"[\s,]+", value) if item)
    listed = host.tool("openssl", "ciphers", "-v", cipherlist, check=False)
    assert listed.returncode == 0, (cipherlist, listed.stderr)
    return set(line.split()[0] for line in listed.stdout.splitlines() if line.split()[1] != "TLSv1.3")


@pytest.mark.parametrize("profile", ["intermediate", "modern"])
@pytest.mark.parametrize("release", RELEASES)
def test_each_release_openssl_resolves_the_profile_ciphers(postfix_hosts, tmp_path, release, profile):
    host = postfix_hosts(release)
    config_dir, _parameters, _absent = profile_config_dir(host, tmp_path / "postfix", profile)
    mandatory = resolved_ciphers(host, config_dir, "smtpd_tls_mandatory_ciphers",
                                 ["smtpd_tls_exclude_ciphers", "smtpd_tls_mandatory_exclude_ciphers"])
    assert mandatory == MOZILLA_INTERMEDIATE_TLS12
    for side in ("smtpd", "smtp"):
        opportunistic = resolved_ciphers(host, config_dir, side + "_tls_ciphers", [side + "_tls_exclude_ciphers"])
        assert MOZILLA_INTERMEDIATE_TLS12 < opportunistic  # wider than mandatory: CBC, kRSA, ...
        assert not [name for name in opportunistic if LEGACY_CIPHER.search(name)], opportunistic
    sending = resolved_ciphers(host, config_dir, "smtp_tls_mandatory_ciphers",
                               ["smtp_tls_exclude_ciphers", "smtp_tls_mandatory_exclude_ciphers"])
    assert (sending == MOZILLA_INTERMEDIATE_TLS12) is (profile == "modern")


# --- Live: a Postfix 3.7 instance per profile on this machine --------------------------------

BASE_PORT = 26000 + 40 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
LISTENERS = {"port25": "-o smtpd_tls_security_level=may",
             "submission": "-o smtpd_tls_security_level=encrypt",
             "submissions": "-o smtpd_tls_wrappermode=yes"}  # as Debian's master.cf.dist has it
# Peers for the sending side, in the postfix_default instance: a server that stops at TLS 1.1
# and one that stops at TLS 1.2 (the exclusion syntax: Postfix 3.5 has no "<=" bound).
PEERS = {"peer_tls11": "-o smtpd_tls_security_level=may -o smtpd_tls_protocols=!TLSv1.2:!TLSv1.3",
         "peer_tls12": "-o smtpd_tls_security_level=may -o smtpd_tls_protocols=!TLSv1.3"}
VERSIONS = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
S_CLIENT_FLAG = {"TLSv1": "-tls1", "TLSv1.1": "-tls1_1", "TLSv1.2": "-tls1_2", "TLSv1.3": "-tls1_3"}
# Lets Debian 12's OpenSSL client speak TLS 1.0 and 1.1 at all (security level 0).
LOWERED_CLIENT = "DEFAULT:@SECLEVEL=0"

# What each listener accepted, per profile: measured alike on Postfix 3.5.25 (OpenSSL 1.1.1w,
# whose openssl.cnf MinProtocol = TLSv1.2 does not reach Postfix), 3.7.11 (OpenSSL 3.0) and
# 3.10 (OpenSSL 3.5).
ALL = set(VERSIONS)
TLS_1_2_UP = {"TLSv1.2", "TLSv1.3"}
ACCEPTED = {
    "postfix_default": {"port25": ALL, "submission": ALL, "submissions": ALL},
    "intermediate": {"port25": ALL, "submission": TLS_1_2_UP, "submissions": TLS_1_2_UP},
    "modern": {"port25": TLS_1_2_UP, "submission": {"TLSv1.3"}, "submissions": {"TLSv1.3"}},
}
# The sending side: the TLS version posttls-finger reached with the profile's client settings
# (None: refused), per level and peer; alike on the three releases too.
SENT = {
    "postfix_default": {("may", "peer_tls11"): "TLSv1.1", ("may", "peer_tls12"): "TLSv1.2",
                        ("encrypt", "peer_tls11"): "TLSv1.1", ("encrypt", "peer_tls12"): "TLSv1.2"},
    "intermediate": {("may", "peer_tls11"): "TLSv1.1", ("may", "peer_tls12"): "TLSv1.2",
                     ("encrypt", "peer_tls11"): None, ("encrypt", "peer_tls12"): "TLSv1.2"},
    "modern": {("may", "peer_tls11"): None, ("may", "peer_tls12"): "TLSv1.2",
               ("encrypt", "peer_tls11"): None, ("encrypt", "peer_tls12"): "TLSv1.2"},
}


def ports_of(profile):
    first = BASE_PORT + 10 * HARDENING_PROFILES.index(profile)
    names = list(LISTENERS) + (list(PEERS) if profile == "postfix_default" else [])
    return dict((name, first + offset) for offset, name in enumerate(names))


def start_instance(host, root, profile, certificate, key):
    """One Postfix instance with the profile's main.cf on ``host``; returns its config dir."""
    conf = root / "conf"
    for directory in (conf, root / "queue", root / "data"):
        directory.mkdir(parents=True)
    host.tool("chown", "postfix", str(root / "data"))  # the release's own postfix user
    base = "".join("%s = %s\n" % item for item in [
        ("queue_directory", root / "queue"), ("data_directory", root / "data"),
        ("inet_interfaces", "127.0.0.1"), ("inet_protocols", "ipv4"), ("myhostname", "hardening.test"),
        ("mydestination", ""), ("maillog_file_prefixes", root), ("maillog_file", root / "mail.log"),
        ("smtpd_tls_security_level", "may"), ("smtpd_tls_cert_file", certificate),
        ("smtpd_tls_key_file", key)])
    profile_config_dir(host, conf, profile, extra=base)
    # Not chrooted (the instance lives in /tmp), and no listener on the real port 25.
    master = host.dist_file("master.cf.dist").replace("smtp      inet", "#smtp      inet")
    master = re.sub(r"^(\S+\s+\S+\s+\S+\s+\S+\s+)y(\s)", r"\1n\2", master, flags=re.M)
    listeners = dict(LISTENERS, **PEERS)
    master += "".join("127.0.0.1:%d inet n - n - - smtpd -o syslog_name=%s %s\n" % (port, name, listeners[name])
                      for name, port in ports_of(profile).items())
    (conf / "master.cf").write_text(master)
    settle(conf / "main.cf")
    host.tool("postfix", "-c", str(conf), "start")
    return conf


WAIT_FOR_PORTS = """
import socket, sys, time
deadline = time.time() + 15
for port in map(int, sys.argv[1:]):
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            break
        except OSError:
            if time.time() > deadline:
                sys.exit("port %d is not listening" % port)
            time.sleep(0.2)
"""


@pytest.fixture(scope="module")
def instances(postfix_hosts):
    """``get(release)``: {profile: config dir} of instances running on that release, started on
    first use; all stopped and removed at the end."""
    root = Path(tempfile.mkdtemp(prefix="mailtls-hardening-", dir="/tmp"))
    root.chmod(0o755)  # Postfix's own user must reach the data directory
    certificate, key = root / "cert.pem", root / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(certificate), "-days", "2", "-subj", "/CN=hardening.test"],
                   check=True, capture_output=True)
    key.chmod(0o600)
    started = {}

    def get(release):
        if release not in started:
            host = postfix_hosts(release)
            started[release] = (host, {})
            for profile in HARDENING_PROFILES:
                started[release][1][profile] = start_instance(host, root / release / profile, profile,
                                                              certificate, key)
            ports = [str(port) for profile in HARDENING_PROFILES for port in ports_of(profile).values()]
            host.tool("python3", "-c", WAIT_FOR_PORTS, *ports)
        return started[release]

    try:
        yield get
    finally:
        for host, configs in started.values():
            for conf in configs.values():
                host.tool("postfix", "-c", str(conf), "stop", check=False)
        shutil.rmtree(str(root), ignore_errors=True)


def handshake(host, port, version, wrapper=False, cipher=None):
    """The protocol s_client negotiated offering only ``version``, or None when refused."""
    argv = ["openssl", "s_client", "-brief", "-connect", "127.0.0.1:%d" % port, S_CLIENT_FLAG[version]]
    if not wrapper:
        argv[2:2] = ["-starttls", "smtp"]
    if cipher or version in ("TLSv1", "TLSv1.1"):
        argv += ["-cipher", cipher or LOWERED_CLIENT]
    result = host.tool("timeout", "20", *argv, data="", check=False)
    output = result.stdout + result.stderr
    if "CONNECTION ESTABLISHED" not in output:
        assert result.returncode not in (0, 124), output
        return None
    return re.search(r"^Protocol version: (\S+)$", output, re.M).group(1)


@pytest.mark.parametrize("listener", list(LISTENERS))
@pytest.mark.parametrize("profile", HARDENING_PROFILES)
@pytest.mark.parametrize("release", RELEASES)
def test_each_listener_accepts_and_refuses_the_protocols_of_its_profile(instances, release, profile, listener):
    host, _configs = instances(release)
    port = ports_of(profile)[listener]
    measured = dict((version, handshake(host, port, version, wrapper=listener == "submissions"))
                    for version in VERSIONS)
    accepted = set(version for version, negotiated in measured.items() if negotiated)
    assert all(measured[version] == version for version in accepted), measured
    assert accepted == ACCEPTED[profile][listener], measured


@pytest.mark.parametrize("release", RELEASES)
def test_the_client_alone_would_refuse_tls_1_1(instances, release):
    """Why the old-protocol attempts lower the client's security level (see the module doc)."""
    host, _configs = instances(release)
    port = ports_of("postfix_default")["port25"]
    assert handshake(host, port, "TLSv1.1", cipher="DEFAULT") is None
    assert handshake(host, port, "TLSv1.1") == "TLSv1.1"


@pytest.mark.parametrize("profile", HARDENING_PROFILES)
@pytest.mark.parametrize("release", RELEASES)
def test_mandatory_tls_takes_only_the_ciphers_of_its_profile(instances, release, profile):
    host, _configs = instances(release)
    ports = ports_of(profile)
    cbc, aead = "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES128-GCM-SHA256"  # the certificate is ECDSA
    # Port 25 takes a CBC-only TLS 1.2 client in every profile; mandatory TLS in the hardened
    # profiles refuses it (in modern, TLS 1.2 as a whole).
    assert handshake(host, ports["port25"], "TLSv1.2", cipher=cbc) == "TLSv1.2"
    mandatory_cbc = handshake(host, ports["submission"], "TLSv1.2", cipher=cbc)
    mandatory_aead = handshake(host, ports["submission"], "TLSv1.2", cipher=aead)
    if profile == "postfix_default":
        assert mandatory_cbc == mandatory_aead == "TLSv1.2"
    elif profile == "intermediate":
        assert (mandatory_cbc, mandatory_aead) == (None, "TLSv1.2")
    else:
        assert (mandatory_cbc, mandatory_aead) == (None, None)


def postconf_value(host, config_dir, name):
    return host.postconf("-c", str(config_dir), "-xh", name).stdout.strip()


def delivered_with(host, config_dir, level, port):
    """The TLS version the Postfix SMTP client reaches with the profile's settings for a level.

    posttls-finger takes its protocols and grade as options, not from main.cf: they are the
    profile's, as postconf evaluates them; its TLS library parameters (tls_ssl_options, the
    cipherlists) do come from the profile's main.cf, and the cipherlist of the grade is given
    security level 0 so that TLS 1.1 is the protocols setting's to refuse, not OpenSSL's.
    """
    prefix = "smtp_tls_" if level == "may" else "smtp_tls_mandatory_"
    protocols, grade = (postconf_value(host, config_dir, prefix + name) for name in ("protocols", "ciphers"))
    cipherlist = postconf_value(host, config_dir, "tls_%s_cipherlist" % grade)
    lowered = "tls_%s_cipherlist=%s:@SECLEVEL=0" % (grade, cipherlist)
    result = host.tool("env", "MAIL_CONFIG=%s" % config_dir, "timeout", "30", "posttls-finger", "-c", "-l", level,
                       "-p", protocols, "-g", grade, "-o", lowered, "-t", "5", "-T", "5", "[127.0.0.1]:%d" % port,
                       check=False)
    output = result.stdout + result.stderr
    found = re.search(r"TLS connection established to \S+: (TLSv[\d.]+) with cipher", output)
    if found is None:
        assert "SSL_connect error" in output, output
    return found.group(1) if found else None


@pytest.mark.parametrize("level", ["may", "encrypt"])
@pytest.mark.parametrize("profile", HARDENING_PROFILES)
@pytest.mark.parametrize("release", RELEASES)
def test_the_sending_side_reaches_only_the_protocols_of_its_profile(instances, release, profile, level):
    host, configs = instances(release)
    peers = ports_of("postfix_default")
    reached = dict((peer, delivered_with(host, configs[profile], level, peers[peer])) for peer in PEERS)
    assert reached == dict((peer, SENT[profile][(level, peer)]) for peer in PEERS)


# What the refused handshakes above log by design, and the containers' lack of a NIS domain.
BENIGN_WARNING = re.compile(r"warning: (TLS library problem: |dict_nis_init: NIS domain name not set)")


@pytest.mark.parametrize("release", RELEASES)
def test_no_instance_logged_a_warning(instances, release):
    """A value Postfix cannot use (a protocol list, a tls_ssl_options name) is a logged warning."""
    _host, configs = instances(release)
    for profile, config_dir in configs.items():
        log = (config_dir.parent / "mail.log").read_text()
        assert "postfix/master" in log, "the instance logged nothing: %s" % config_dir
        warnings = [line for line in log.splitlines() if ("warning:" in line or "fatal:" in line)
                    and not BENIGN_WARNING.search(line)]
        assert warnings == [], (profile, warnings)
