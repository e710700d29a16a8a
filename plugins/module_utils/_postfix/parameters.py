# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What we know about individual main.cf parameters (private to the collection). Pure data."""

from __future__ import annotations

# postconf(5): "you need to stop and start Postfix when this parameter
# changes" for the first two; the directories and owner are read by master(8)
# only at start-up.
RESTART_PARAMETERS = frozenset([
    "inet_interfaces",
    "inet_protocols",
    "queue_directory",
    "data_directory",
    "mail_owner",
])

# Obsolete TLS parameters and what replaces them (TLS_README, postconf(5)).
# We never write these ourselves; users who do get a warning.
OBSOLETE_PARAMETERS = {
    "smtpd_use_tls": "smtpd_tls_security_level = may",
    "smtpd_enforce_tls": "smtpd_tls_security_level = encrypt",
    "smtp_use_tls": "smtp_tls_security_level = may",
    "smtp_enforce_tls": "smtp_tls_security_level = encrypt",
    "smtp_tls_enforce_peername": "smtp_tls_security_level = verify (or encrypt when it was 'no')",
    "smtp_tls_per_site": "smtp_tls_policy_maps",
    "lmtp_use_tls": "lmtp_tls_security_level = may",
    "lmtp_enforce_tls": "lmtp_tls_security_level = encrypt",
    "lmtp_tls_enforce_peername": "lmtp_tls_security_level = verify (or encrypt when it was 'no')",
    "lmtp_tls_per_site": "lmtp_tls_policy_maps",
    "tlsproxy_use_tls": "tlsproxy_tls_security_level = may",
    "tlsproxy_enforce_tls": "tlsproxy_tls_security_level = encrypt",
    "smtpd_tls_cipherlist": "smtpd_tls_ciphers / smtpd_tls_mandatory_ciphers",
    "smtp_tls_cipherlist": "smtp_tls_ciphers / smtp_tls_mandatory_ciphers",
    "lmtp_tls_cipherlist": "lmtp_tls_ciphers / lmtp_tls_mandatory_ciphers",
    "smtpd_tls_eecdh_grade": "tls_eecdh_auto_curves (Postfix 3.6 and later)",
}


def obsolete_warning(name):
    """A warning for an obsolete parameter, or None."""
    replacement = OBSOLETE_PARAMETERS.get(name)
    if replacement is None:
        return None
    return "%s is obsolete; use %s instead" % (name, replacement)


def _yes(value):
    return (value or "").strip().lower() in ("yes", "true", "1")


def migrate_obsolete(values):
    """Plan the move from obsolete TLS parameters to the security levels, as Postfix reads them.

    ``values`` maps the parameters main.cf sets to their values. Returns
    ``(wanted, remove, notes)``: parameters to set, obsolete ones to remove, and what
    could not be moved automatically. A security level that is already set wins, as it
    does in Postfix, so it is kept and only the obsolete parameters go.
    """
    wanted, remove, notes = {}, [], []
    for prefix in ("smtpd", "smtp", "lmtp", "tlsproxy"):
        use, enforce = values.get(prefix + "_use_tls"), values.get(prefix + "_enforce_tls")
        peername = values.get(prefix + "_tls_enforce_peername")
        obsolete = [name for name, value in ((prefix + "_use_tls", use), (prefix + "_enforce_tls", enforce),
                                             (prefix + "_tls_enforce_peername", peername)) if value is not None]
        if not obsolete:
            continue
        remove.extend(obsolete)
        level_name = prefix + "_tls_security_level"
        if values.get(level_name):
            notes.append("%s is already set to %s, which Postfix uses instead of %s"
                         % (level_name, values[level_name], ", ".join(obsolete)))
            continue
        if _yes(enforce):
            level = "verify" if prefix != "smtpd" and _yes(peername if peername is not None else "yes") else "encrypt"
        elif _yes(use):
            level = "may"
        else:
            level = None
        if level:
            wanted[level_name] = level
    for prefix in ("smtp", "lmtp"):
        if values.get(prefix + "_tls_per_site") is not None:
            notes.append("%s_tls_per_site uses the old NONE/MAY/MUST/MUST_NOPEERMATCH table format; rewrite it as "
                         "%s_tls_policy_maps entries (mailtls.postfix.tls_policy) by hand" % (prefix, prefix))
    for prefix in ("smtpd", "smtp", "lmtp"):
        name = prefix + "_tls_cipherlist"
        if values.get(name) is not None:
            remove.append(name)
            notes.append("%s is ignored by Postfix 2.3 and later; removed. Choose %s_tls_ciphers / "
                         "%s_tls_mandatory_ciphers (a grade such as high) if you need them" % (name, prefix, prefix))
    if values.get("smtpd_tls_eecdh_grade") is not None:
        notes.append("smtpd_tls_eecdh_grade is deprecated since Postfix 3.6; tls_eecdh_auto_curves replaces it "
                     "and its default is right for most servers")
    return wanted, remove, notes
