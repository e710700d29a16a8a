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
