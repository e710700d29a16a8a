# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sending side's MTA-STS policy server, decided from its options (pure, private).

Debian's ``postfix-mta-sts-resolver`` answers Postfix's socketmap with the policy a domain publishes
(RFC 8461): ``secure match=<mx patterns> servername=hostname`` for ``enforce``, nothing for
``testing`` and ``none``. This module says what its configuration file holds, which socketmap
reaches it, and whether it may pass the policy's MX patterns on (its ``tlsrpt`` option: Postfix
3.10.5 and later match the MX host names against them, ``smtp_tls_enforce_sts_mx_patterns``;
older Postfix refuses the extra attributes, and the resolver knows the option from 1.5.0 on).
"""

from __future__ import annotations

import re

from ..core.errors import InputError

RESOLVER_OPTION = "mta_sts_resolver"
PACKAGE = "postfix-mta-sts-resolver"
SERVICE = "postfix-mta-sts-resolver"
CONFIG_FILE = "/etc/mta-sts-daemon.yml"
CONFIG_FILE_MODE = 0o644
# The package's own cache: sqlite in the directory its maintainer scripts create for its user, so that
# policies survive a restart (an in-memory cache would fetch every policy again after each one).
CACHE_FILE = "/var/lib/mta-sts/cache.db"
# The socketmap's name selects the resolver's zone; an unknown name takes default_zone.
SOCKETMAP_NAME = "postfix"
LISTEN_ADDRESS = "127.0.0.1"
# Postfix releases whose smtp client checks an MX host's name against the policy's patterns
# (postconf(5): smtp_tls_enforce_sts_mx_patterns, "available in Postfix >= 3.10.5").
MX_PATTERNS_POSTFIX = (3, 10, 5)
TLSRPT_OPTION_RESOLVER = (1, 5, 0)
HEADER = "# postfix-mta-sts-resolver's configuration, written by mailtls.postfix (tls_forced_mta_sts)."
PORT_LINE = re.compile(r"^port: ([0-9]{1,5})$", re.M)


def socketmap(port):
    """The socketmap Postfix reaches the resolver by: ``inet:127.0.0.1:PORT:postfix``."""
    return "inet:%s:%d:%s" % (LISTEN_ADDRESS, port, SOCKETMAP_NAME)


_MANAGED_MAP = re.compile(r"socketmap:%s[0-9]{1,5}%s" % (re.escape("inet:%s:" % LISTEN_ADDRESS),
                                                         re.escape(":" + SOCKETMAP_NAME)))


def is_managed_socketmap(table):
    """Whether an smtp_tls_policy_maps item has the form of the managed resolver's socketmap (any port):
    one left from an earlier port, or from a resolver no longer managed, answers nothing."""
    return bool(_MANAGED_MAP.fullmatch(table))


def wants_resolver(spec):
    """Whether a declaration's mta_sts_resolver asks for the resolver (state present), not its release."""
    return bool(spec) and spec.get("state", "present") == "present"


def passes_mx_patterns(postfix_version, resolver_version):
    """Whether the resolver sends the policy's MX patterns (its tlsrpt option): this Postfix checks them and
    this resolver knows the option."""
    return bool(resolver_version) and tuple(postfix_version) >= MX_PATTERNS_POSTFIX \
        and tuple(resolver_version) >= TLSRPT_OPTION_RESOLVER


def check_spec(spec):
    """Refuse what the resolver would not start with, naming the option."""
    where = RESOLVER_OPTION + "."
    # Its systemd unit runs it as _mta-sts, which cannot bind below 1024; those are Postfix's (25, 465, 587),
    # and resolver 1.1.2 must share its port (reuse_port) so it would answer there in Postfix's place.
    if not 1024 <= spec["port"] <= 65535:
        raise InputError(where + "port", "%r is not an unprivileged TCP port (1024-65535)" % spec["port"])
    for name in ("cache_grace", "timeout"):
        if spec[name] < 1:
            raise InputError(where + name, "%r must be a positive number of seconds" % spec[name])


def configured_port(text):
    """The port a configuration file of ours (``config_text``) names; None for another file or none."""
    if not text or not text.startswith(HEADER):
        return None
    found = PORT_LINE.search(text)
    return int(found.group(1)) if found else None


def config_text(spec, mx_patterns):
    """The resolver's configuration file (mta-sts-daemon.yml(5)); every value is a number or a fixed word."""
    lines = [
        HEADER,
        "# mta-sts-daemon.yml(5). Edits here are replaced on the next run.",
        "host: %s" % LISTEN_ADDRESS,
        "port: %d" % spec["port"],
        # true, as the package ships it: resolver 1.1.2 (Debian 12) fails to start with false
        # (UnboundLocalError in its responder, measured).
        "reuse_port: true",
        "shutdown_timeout: 20",
        # A cached policy older than this has its TXT id read again: a new id fetches the new policy
        # (RFC 8461 section 5.1), long before the old one's max_age.
        "cache_grace: %d" % spec["cache_grace"],
        "cache:",
        "  type: sqlite",
        "  options:",
        "    filename: %s" % CACHE_FILE,
        # Policies of domains mail went to are refreshed in the background once a day, so a domain
        # that moves its MX is followed even when no mail goes to it for a while.
        "proactive_policy_fetching:",
        "  enabled: %s" % ("true" if spec["proactive_fetching"] else "false"),
        "  interval: 86400",
        "  concurrency_limit: 100",
        "  grace_ratio: 2",
        "default_zone:",
        # RFC 8461 section 5: a testing policy is reported, never enforced.
        "  strict_testing: false",
        "  timeout: %d" % spec["timeout"],
        # RFC 8461 section 3.4 (senders send SNI); Postfix >= 3.4 takes servername=hostname.
        "  require_sni: true",
    ]
    if mx_patterns:
        lines.append("  tlsrpt: true")
    return "\n".join(lines) + "\n"
