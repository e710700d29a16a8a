# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs the modules share (private to the collection); documented in doc_fragments/common.py."""

from __future__ import annotations

from ..model.hardening import HARDENING_PROFILES
from ..model.master_cf import TYPES as SERVICE_TYPES


def edit_spec(**own):
    """The arguments of every module that edits a Postfix file, plus the module's own."""
    spec = dict(
        config_dir=dict(type="path", default="/etc/postfix"),
        backup=dict(type="bool", default=False),
    )
    spec.update(own)
    return spec


# The scratch-directory check of postconf, tls_migrate and master_cf.
VALIDATE = dict(type="str")


# One source for the options a single module and tls_profile's sub-options share.
CERTIFICATE_TOGETHER = [["cert_content", "key_content"]]


def chain_spec():
    """One key and its certificate chain (an item of ``chains``, and of an SNI name's ``chains``)."""
    return dict(
        cert_file=dict(type="path", required=True),
        key_file=dict(type="path", required=True),
        cert_content=dict(type="str"),
        key_content=dict(type="str", no_log=True),
    )


def certificate_spec():
    """tls_certificate's options; tls_profile's ``certificate``."""
    return dict(
        cert_file=dict(type="path"),
        key_file=dict(type="path"),
        chains=dict(type="list", elements="dict", options=chain_spec()),
        cert_content=dict(type="str"),
        key_content=dict(type="str", no_log=True),
        self_signed=dict(type="bool", default=False),
        self_signed_subject=dict(type="str"),
        self_signed_days=dict(type="int", default=365),
        key_mode=dict(type="raw", default="0600", no_log=False),
        key_group=dict(type="str", no_log=False),
        cert_mode=dict(type="raw", default="0644"),
    )


def master_service_spec():
    """master_cf's entry options; an item of tls_profile's ``master_services``."""
    return dict(
        service=dict(type="str", required=True),
        type=dict(type="str", required=True, choices=list(SERVICE_TYPES)),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        private=dict(type="raw"),
        unprivileged=dict(type="raw"),
        chroot=dict(type="raw"),
        wakeup=dict(type="raw"),
        maxproc=dict(type="raw"),
        command=dict(type="str"),
        args=dict(type="list", elements="str", default=[]),
        options=dict(type="dict", default={}),
    )


def policy_item_spec(levels):
    """An item of tls_policy's ``policies`` (and of tls_profile's ``policy_table.policies``)."""
    return dict(
        destination=dict(type="str", required=True),
        level=dict(type="str", choices=list(levels)),
        attributes=dict(type="dict"),
        include_subdomains=dict(type="bool"),
    )


def relay_spec():
    """tls_profile's ``relay``: the smarthost, its TLS level and the SASL credentials."""
    from .relay import RELAY_LEVELS, SYSTEM_CA_FILE

    hop = dict(
        host=dict(type="str"),
        port=dict(type="int", default=587),
        mx_lookup=dict(type="bool", default=False),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
    )
    return dict(
        state=dict(type="str", default="present", choices=["present", "absent"]),
        wrappermode=dict(type="bool"),
        level=dict(type="str", default="secure", choices=list(RELAY_LEVELS)),
        allow_password_without_tls=dict(type="bool", default=False),
        ca_file=dict(type="path", default=SYSTEM_CA_FILE),
        password_table=dict(type="path", default="/etc/postfix/sasl_passwd"),
        sender_table=dict(type="path", default="/etc/postfix/sender_relay"),
        destinations=dict(type="list", elements="str", default=[]),
        transport_table=dict(type="path", default="/etc/postfix/relay_transport"),
        table_type=dict(type="str"),
        mechanisms=dict(type="list", elements="str", default=[]),
        sasl_security_options=dict(type="list", elements="str", default=["noplaintext", "noanonymous"]),
        sasl_tls_security_options=dict(type="list", elements="str", default=["noanonymous"]),
        sender_relays=dict(type="list", elements="dict", default=[],
                           options=dict(hop, sender=dict(type="str", required=True))),
        **hop
    )


def mta_sts_spec():
    """tls_profile's ``receiving.mta_sts``: the domain's MTA-STS policy and its TLS-RPT record."""
    from ..model.mta_sts import MODES

    return dict(
        mode=dict(type="str", default="testing", choices=list(MODES)),
        domains=dict(type="list", elements="str", default=[]),
        mx_names=dict(type="list", elements="str", default=[]),
        other_mx_names=dict(type="list", elements="str", default=[]),
        mx=dict(type="list", elements="str", default=[]),
        max_age=dict(type="int", default=604800),
        id=dict(type="str"),
        policy_file=dict(type="path"),
        records_file=dict(type="path"),
        tlsrpt_rua=dict(type="list", elements="str", default=[]),
    )


def receiving_spec():
    """tls_profile's ``receiving``: SNI, DANE records, MTA-STS, the renewal hook and the self-probe."""
    from .receiving import SELF_PROBE_WHEN

    return dict(
        sni=dict(type="list", elements="dict", default=[], options=dict(
            names=dict(type="list", elements="str", required=True),
            chains=dict(type="list", elements="dict", required=True, options=chain_spec()),
        )),
        sni_table=dict(type="path", default="/etc/postfix/tls_server_sni"),
        sni_table_type=dict(type="str"),
        dane=dict(type="dict", options=dict(
            names=dict(type="list", elements="str", default=[]),
            ports=dict(type="list", elements="int", default=[25]),
            file=dict(type="path"),
            next_keys=dict(type="list", elements="path", default=[], no_log=False),
        )),
        mta_sts=dict(type="dict", options=mta_sts_spec()),
        renewal_hook=dict(type="path"),
        self_probe=dict(type="str", default="changed", choices=list(SELF_PROBE_WHEN)),
        self_probe_timeout=dict(type="int", default=20),
    )


def mta_sts_resolver_spec():
    """The sending side's MTA-STS policy server (plan/mta_sts_resolver.py)."""
    return dict(
        port=dict(type="int", default=8461),
        cache_grace=dict(type="int", default=60),
        proactive_fetching=dict(type="bool", default=True),
        timeout=dict(type="int", default=4),
        kill_switch=dict(type="bool", default=False),
        # absent: the resolver is no longer wanted here; the socketmap of the one managed before goes.
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )


def declaration_spec(levels):
    """What one profile declares (tls_profile's own options, and each item of its ``declarations``)."""
    return dict(
        name=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        parameters=dict(type="dict", default={}),
        absent_parameters=dict(type="list", elements="str", default=[]),
        downgrade=dict(type="bool", default=True),
        policy_table=dict(type="dict", options=dict(
            path=dict(type="path", default="/etc/postfix/tls_policy"),
            type=dict(type="str"),
            destinations=dict(type="list", elements="str", default=[]),
            policies=dict(type="list", elements="dict", default=[], options=policy_item_spec(levels)),
            level=dict(type="str", choices=list(levels)),
            attributes=dict(type="dict", default={}),
            include_subdomains=dict(type="bool", default=False),
            absent=dict(type="list", elements="str", default=[]),
            exclusive=dict(type="bool", default=False),
            maps=dict(type="str", default="first", choices=["first", "only", "untouched"]),
            extra_maps=dict(type="list", elements="str", default=[]),
            absent_maps=dict(type="list", elements="str", default=[]),
        )),
        master_services=dict(type="list", elements="dict", default=[], options=master_service_spec()),
        # keep: the pair main.cf names, checked where it is (tls_profile's own; see profile/receiving_edit.py).
        certificate=dict(type="dict", options=dict(certificate_spec(), keep=dict(type="bool", default=False)),
                         required_together=CERTIFICATE_TOGETHER),
        relay=dict(type="dict", options=relay_spec()),
        receiving=dict(type="dict", options=receiving_spec()),
        hardening=dict(type="str", choices=list(HARDENING_PROFILES)),
        mta_sts_resolver=dict(type="dict", options=mta_sts_resolver_spec()),
        preflight=dict(type="dict", default={}, options=dict(
            mode=dict(type="str", default="refuse", choices=["refuse", "warn", "skip"]),
            timeout=dict(type="int", default=30),
            host_lookup=dict(type="str", default="dns", choices=["dns", "native", "dns, native"]),
            mta_sts_socketmap=dict(type="str"),
        )),
    )
