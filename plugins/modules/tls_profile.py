#!/usr/bin/python
# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tls_profile
short_description: Apply a host's wanted Postfix TLS state in one call
version_added: 0.2.0
description:
  - Applies what one TLS profile wants of a host - C(main.cf) parameters, entries of the TLS
    policy table, C(master.cf) services, the server certificate - in one module call, so that a
    role costs one round trip to the host. The roles of this collection are built on it; the
    single modules (M(mailtls.postfix.postconf), M(mailtls.postfix.tls_policy), ...) remain for
    ad-hoc use and share its engine.
  - Everything is read, planned and checked before the first write. The new C(main.cf) and
    C(master.cf) are read back by the real C(postconf) and checked with O(validate) once, in one
    scratch directory. Then the certificate, the policy table (with its index, every changed key
    read back with C(postmap -q)), C(master.cf) and C(main.cf) are written, each atomically under
    Postfix's edit lock; C(main.cf), which names the others, last.
  - The pre-flight probes, in parallel, only the destinations whose forced entry is new or
    stronger than the table's; a destination that cannot take its level stops the run before
    anything is written. In check mode that refusal is a warning, so that a check of a fresh fleet
    (whose receivers get TLS in the same playbook) completes and predicts the changes.
  - When a policy or the global level is C(dane) or C(dane-only) and O(parameters) does not set
    C(smtp_dns_support_level), it is set to C(dnssec), which DANE requires (postconf(5),
    C(smtp_tls_security_level)).
  - Reports what the role needs without another round trip - whether Postfix is installed,
    which of O(packages) are missing, whether it runs - and, with O(reload=true), reloads Postfix
    once when something it reads changed. With O(service_started=true) a Postfix that does not run is
    started on the new state, and O(service_enabled) sets whether it starts at boot, in the same call.
    A change that needs a restart of a running Postfix is reported (RV(restart_required)), never done by this module.
author:
  - mailtls.postfix developers (@mailtls)
options:
  validate:
    description:
      - A command that checks the new configuration before anything is written, with C(%s)
        standing for a scratch configuration directory holding the new C(main.cf) and
        C(master.cf), for example V(postfix -c %s check). It runs once per call.
    type: str
  name: &name
    description:
      - The declaration's name (the role that declared it - V(tls_forced), V(server)). A named
        declaration's C(main.cf) parameters, policy-table entries, C(master.cf) services and created files are recorded beside
        C(main.cf) (C(mailtls-profiles.json)), with the value each replaced; on the next call what it no
        longer lists is taken back (a replaced value restored, an added one removed), while it still holds
        what was written. A removed forced entry is warned of with the level mail to it now gets
        (RV(tls_lowered)). Unnamed declarations keep no record.
    type: str
  state: &state
    description:
      - V(absent) takes back everything the record lists for O(name) and sets nothing of the declaration;
        files it created that nothing names any more are deleted. The task's own declaration named
        V(server) with V(absent) takes back every profile recorded on the host, and what the call changed
        unasked (a migration; recorded as V(server:unasked), kept while V(server) is present). The relay
        keeps its own record and state (C(relay.state)).
    type: str
    choices: [present, absent]
    default: present
  parameters: &parameters
    description:
      - C(main.cf) parameters to set, as in M(mailtls.postfix.postconf) (lists are joined with
        C(, ); booleans become C(yes)/C(no)).
    type: dict
    default: {}
  absent_parameters: &absent_parameters
    description: C(main.cf) parameters to remove (C(postconf -X)).
    type: list
    elements: str
    default: []
  downgrade: &downgrade
    description:
      - When V(false), nothing is weakened - a policy-table entry stronger than the wanted one
        stays, as in M(mailtls.postfix.tls_policy), and so does a global level in O(parameters)
        (C(smtp_tls_security_level), C(smtpd_tls_security_level), C(lmtp_tls_security_level))
        that is already stronger. Each kept value is a warning and in RV(main_cf.kept) or
        RV(policy_table.kept).
    type: bool
    default: true
  policy_table: &policy_table
    description:
      - Entries of the TLS policy table (C(smtp_tls_policy_maps)), as in
        M(mailtls.postfix.tls_policy). Omit it to leave the table alone.
    type: dict
    suboptions:
      path:
        description: The table's source file.
        type: path
        default: /etc/postfix/tls_policy
      type:
        description: The table type; default C(default_database_type).
        type: str
      destinations:
        description: Destinations that get O(policy_table.level).
        type: list
        elements: str
        default: []
      policies:
        description: Destinations with their own level and attributes.
        type: list
        elements: dict
        default: []
        suboptions:
          destination:
            description: The destination (domain, C(.domain), C([host]) or C([host]:port)).
            type: str
            required: true
          level:
            description: Its level; default O(policy_table.level).
            type: str
            choices: [none, may, encrypt, dane, dane-only, fingerprint, verify, secure]
          attributes:
            description: Policy attributes, as in M(mailtls.postfix.tls_policy).
            type: dict
          include_subdomains:
            description: Also a C(.domain) entry; default O(policy_table.include_subdomains).
            type: bool
      level:
        description: The level of O(policy_table.destinations) and of policies without one.
        type: str
        choices: [none, may, encrypt, dane, dane-only, fingerprint, verify, secure]
      attributes:
        description: The attributes of policies without their own.
        type: dict
        default: {}
      include_subdomains:
        description: Give each plain domain a C(.domain) entry too (TLS_README's sub-domain form).
        type: bool
        default: false
      absent:
        description: Destinations whose entries are removed (with C(.domain) when O(policy_table.include_subdomains)).
        type: list
        elements: str
        default: []
      exclusive:
        description: Remove every entry not wanted.
        type: bool
        default: false
      maps:
        description:
          - How C(smtp_tls_policy_maps) names the table. V(first) - the table first, then
            O(policy_table.extra_maps), then the maps already listed. V(only) - the table and
            O(policy_table.extra_maps), nothing else. V(untouched) - not at all.
        type: str
        choices: [first, only, untouched]
        default: first
      extra_maps:
        description: Maps listed right after the table, such as an MTA-STS C(socketmap:...).
        type: list
        elements: str
        default: []
      absent_maps:
        description:
          - Maps taken out of C(smtp_tls_policy_maps) wherever they are listed (an MTA-STS policy server's kill
            switch); one also in O(policy_table.extra_maps) is left out.
        type: list
        elements: str
        default: []
  master_services: &master_services
    description: C(master.cf) service entries, each as in M(mailtls.postfix.master_cf).
    type: list
    elements: dict
    default: []
    suboptions:
      service:
        description: The service name.
        type: str
        required: true
      type:
        description: The service type.
        type: str
        required: true
        choices: [inet, unix, unix-dgram, fifo, pass]
      state:
        description: Whether the entry should be present or absent.
        type: str
        choices: [present, absent]
        default: present
      private:
        description: The private column.
        type: raw
      unprivileged:
        description: The unpriv column.
        type: raw
      chroot:
        description: The chroot column.
        type: raw
      wakeup:
        description: The wakeup column.
        type: raw
      maxproc:
        description: The maxproc column.
        type: raw
      command:
        description: The command; required with O(master_services[].state=present).
        type: str
      args:
        description: Further command arguments.
        type: list
        elements: str
        default: []
      options:
        description: C(-o name=value) options.
        type: dict
        default: {}
  certificate: &certificate
    description:
      - The server certificate and key, as in M(mailtls.postfix.tls_certificate) (checked as a
        pair, installed together when given or generated). Omit it to leave them alone.
    type: dict
    suboptions:
      keep:
        description:
          - Keep the host's own certificate - the keys and certificates C(main.cf) names as this call plans it
            (C(smtpd_tls_chain_files), else C(smtpd_tls_cert_file) and C(smtpd_tls_key_file) and the legacy
            ECDSA and DSA pairs) - checked where they are like a given pair (each key matches its certificate,
            none expired, a warning under 14 days left), never replaced, and C(main.cf) left as it names them.
          - A C(main.cf) that names none, or a file that is not there, fails the call before anything changes,
            naming the options to give instead. The result's RV(certificate.kept) says so.
          - Cannot be combined with the other options but the modes and group.
        type: bool
        default: false
      cert_file:
        description: The certificate file (C(smtpd_tls_cert_file)); with O(certificate.key_file), unless O(certificate.chains).
        type: path
      key_file:
        description: The private key file (C(smtpd_tls_key_file)).
        type: path
      chains:
        description:
          - One or more keys, each with its certificate chain (RSA and ECDSA side by side), set as
            C(smtpd_tls_chain_files) (Postfix 3.4 and later) - each key file listed right before its
            chain file, as postconf(5) requires. The legacy C(smtpd_tls_cert_file), C(smtpd_tls_key_file),
            C(smtpd_tls_eccert_file), C(smtpd_tls_eckey_file), C(smtpd_tls_dcert_file) and
            C(smtpd_tls_dkey_file) are removed (Postfix ignores them then, and warns).
          - Each key is checked to belong to its certificate before anything is replaced; two keys of one
            algorithm are refused (Postfix uses at most one RSA, one ECDSA, one Ed25519, one Ed448).
          - Cannot be combined with O(certificate.cert_file), O(certificate.key_file), the contents or
            O(certificate.self_signed).
        type: list
        elements: dict
        suboptions: &chain
          key_file:
            description: The private key file.
            type: path
            required: true
          cert_file:
            description: The certificate file, the server's certificate first, then its issuers.
            type: path
            required: true
          key_content:
            description: The key (PEM) to install; never shown. Requires O(certificate.chains[].cert_content).
            type: str
          cert_content:
            description: The certificate chain (PEM) to install.
            type: str
      cert_content:
        description: The certificate (PEM) to install.
        type: str
      key_content:
        description: The key (PEM) to install; never shown.
        type: str
      self_signed:
        description: Generate a self-signed pair when neither file exists (labs).
        type: bool
        default: false
      self_signed_subject:
        description: The generated certificate's subject.
        type: str
      self_signed_days:
        description: The generated certificate's lifetime.
        type: int
        default: 365
      key_mode:
        description: The key file's mode.
        type: raw
        default: "0600"
      key_group:
        description: The key file's group.
        type: str
      cert_mode:
        description: The certificate file's mode.
        type: raw
        default: "0644"
  receiving: &receiving
    description:
      - The receiving side beyond its own certificate - names served by SNI, DANE TLSA records, MTA-STS, a
        renewal hook for certificates renewed outside Ansible, the self-probe after a deploy.
    type: dict
    suboptions:
      sni:
        description:
          - Names (A-label DNS names, or C(.domain) for its subdomains) and the keys and chains served to a
            client that asks for them (TLS SNI), written to O(receiving.sni_table) and built with
            C(postmap -F) into C(tls_server_sni_maps). The default certificate's names (and
            C(myhostname)) are mapped to the default chains too, as postconf(5) advises, unless given here.
          - The index holds the private keys; the table and its index are C(0600). It is rebuilt when a
            key or chain file changes even when the table text does not.
        type: list
        elements: dict
        default: []
        suboptions:
          names:
            description: The names.
            type: list
            elements: str
            required: true
          chains:
            description: Their keys and chains, as O(certificate.chains).
            type: list
            elements: dict
            required: true
            suboptions: *chain
      sni_table:
        description: The SNI table's source file.
        type: path
        default: /etc/postfix/tls_server_sni
      sni_table_type:
        description: The SNI table's type (an indexed type); C(default_database_type) when omitted.
        type: str
      dane:
        description:
          - Return the DANE C(3 1 1) TLSA records of the deployed keys (RV(tlsa)), and of keys not yet deployed
            (O(receiving.dane.next_keys)), so that a key rollover publishes the next key's record first.
        type: dict
        suboptions:
          names:
            description: The MX host names the records are for; C(myhostname) when empty.
            type: list
            elements: str
            default: []
          ports:
            description: The ports the records are for.
            type: list
            elements: int
            default: [25]
          file:
            description: Write the records to this file as zone-file lines (its directory must exist).
            type: path
          next_keys:
            description:
              - Private or public key files (PEM) of the keys that will replace the deployed ones; their records
                are returned and written beside the current ones. Never installed, never shown.
            type: list
            elements: path
            default: []
      mta_sts:
        description:
          - The mail domain's MTA-STS policy (RFC 8461) and TLS-RPT record (RFC 8460), from what the receiving side
            knows - the MX names and the names of every certificate a client connecting to one of them may get (the
            default chains, and an SNI item's when it maps that name). Returned as RV(mta_sts); the policy file and
            a records file of zone-file lines are written when their paths are given. Postfix reads neither.
          - With O(receiving.mta_sts.mode=enforce) the call is refused before anything is written when a pattern
            covers no MX name, an MX name is covered by no pattern, or a certificate's subjectAltName does not cover
            one of this host's MX names (RFC 8461 sections 4.1 and 4.2); with V(testing) these are warnings.
          - The TXT record's C(id) is derived from the policy file's bytes - the same policy, the same id; another
            policy, another id - so senders fetch the new policy when it changes (RFC 8461 section 3.1).
        type: dict
        suboptions:
          mode:
            description: The policy's mode - V(testing) (senders deliver and report), V(enforce), or V(none).
            type: str
            choices: [enforce, testing, none]
            default: testing
          domains:
            description: The policy domains (the records' owners C(_mta-sts.<domain>)); C(mydomain) when empty.
            type: list
            elements: str
            default: []
          mx_names:
            description:
              - This host's MX names, checked against its certificates; the DANE names (O(receiving.dane.names)),
                else C(myhostname), when empty.
            type: list
            elements: str
            default: []
          other_mx_names:
            description:
              - The domain's MX hosts served by other machines - the patterns must cover them too; their
                certificates are checked where they run.
            type: list
            elements: str
            default: []
          mx:
            description:
              - The policy's C(mx) patterns - a host name, or C(*.) and a domain matching exactly one leftmost label
                (RFC 8461 section 4.1). The MX names when empty. Written lower case, each once, sorted.
            type: list
            elements: str
            default: []
          max_age:
            description: The policy's C(max_age) in seconds, 0 to 31557600 (RFC 8461 section 3.2).
            type: int
            default: 604800
          id:
            description:
              - The TXT record's C(id) (1 to 32 letters and digits); derived from the policy when omitted, which is
                what keeps it changing exactly when the policy does.
            type: str
          policy_file:
            description:
              - Write the policy here (CRLF line ends, C(0644)), for example a web root's
                C(.well-known/mta-sts.txt) served as C(https://mta-sts.<domain>/.well-known/mta-sts.txt).
                Its directory must exist.
            type: path
          records_file:
            description: Write the C(_mta-sts) and C(_smtp._tls) TXT records here as zone-file lines.
            type: path
          tlsrpt_rua:
            description:
              - Where senders send TLS reports - C(mailto:) addresses or C(https:) URLs (RFC 8460 section 3); a
                C(_smtp._tls) record is returned (and written) when given. A comma, C(!) or C(;) in a URL is
                percent-encoded; a mailto with a comma (several addresses) is refused - give each its own item.
            type: list
            elements: str
            default: []
      renewal_hook:
        description:
          - Install a deploy hook at this path (for example
            C(/etc/letsencrypt/renewal-hooks/deploy/mailtls-postfix)) that, after a renewal outside Ansible,
            checks every key Postfix loads against its certificate (C(smtpd_tls_chain_files), else each legacy
            pair, RSA, ECDSA and DSA; and every SNI name's files), makes the SNI table and its index 0600,
            rebuilds them, reloads Postfix and records what it loaded. A key that does not match stops it before
            the reload (exit 1). Its record names only the files main.cf and the SNI tables name; a malformed
            record is reported and written anew after the reload.
        type: path
      self_probe:
        description:
          - When to probe the host's own listeners (port 25, and 587 and 465 when master.cf has them) after
            this call - V(changed) after a reload or restart it caused, V(always), or V(never). The probe fails
            the task if a listener offers no STARTTLS (or no TLS on 465) or serves a certificate other than
            the one deployed.
          - When Postfix is stopped or needs a restart, the result says C(pending) and the probe is the
            caller's next step (the server role does it after starting or restarting Postfix).
        type: str
        choices: [changed, always, never]
        default: changed
      self_probe_timeout:
        description: Seconds each listener may take to serve the deployed certificate after the reload.
        type: int
        default: 20
  hardening: &hardening
    description:
      - A named TLS hardening baseline for the receiving side, submission and the sending side - protocols,
        ciphers and exclusions, in the syntax of the Postfix version at hand (docs/hardening.md has the
        table and the sources). V(postfix_default) removes those settings so that Postfix's own defaults
        apply. A parameter in O(parameters) wins over the baseline; two declarations choosing
        different baselines are an error.
    type: str
    choices: [postfix_default, intermediate, modern]
  relay: &relay
    description:
      - Relay outgoing mail through a smarthost over TLS with SASL credentials, as the
        C(mailtls.postfix.tls_relay) role declares it. Relay mail goes through a C(master.cf)
        transport of its own, C(relay-tls), whose C(-o) options carry O(relay.level) (with its
        policy maps emptied, so no policy-table entry can lower it), O(relay.ca_file), SMTPS and
        the C(smtp_sasl_*) client settings - never main.cf, which would offer the credentials to
        every server. main.cf routes mail there - C(relayhost) and C(default_transport = relay-tls),
        C(sender_dependent_relayhost_maps) for O(relay.sender_relays), or a transport table for
        O(relay.destinations).
      - The credentials go to a secret table (O(relay.password_table), mode 0600 with its index
        from the first byte on) whose values never appear in a result, a diff or an error.
      - Each new relay (all of them, when C(relay-tls) changes) is probed first as O(preflight)
        says, over SMTPS on port 465, trusting O(relay.ca_file) only.
      - With O(relay.state=absent) the relay's parameters and transport go and its tables are
        deleted (RV(relay.removed_files)); a table main.cf or master.cf still names stays, with a
        warning.
    type: dict
    suboptions:
      state:
        description: V(absent) stops relaying and deletes the credentials.
        type: str
        choices: [present, absent]
        default: present
      host:
        description: The relay's host name or IP address (required with O(relay.state=present)).
        type: str
      port:
        description: The relay's port (587 submission with STARTTLS, 465 SMTPS).
        type: int
        default: 587
      mx_lookup:
        description: Look up the relay's MX records (C(host:port)) instead of C([host]:port).
        type: bool
        default: false
      wrappermode:
        description: SMTPS (C(smtp_tls_wrappermode) on C(relay-tls)); unset, V(true) on port 465 only.
        type: bool
      level:
        description:
          - The relay's TLS level. V(secure) (verified certificate naming the relay) unless you
            choose otherwise; V(encrypt) is warned about; V(may) and V(none) are refused while a
            password is set, unless O(relay.allow_password_without_tls).
        type: str
        choices: [encrypt, verify, secure, may, none]
        default: secure
      allow_password_without_tls:
        description: Accept V(may) or V(none) with a password (a warning on every run).
        type: bool
        default: false
      ca_file:
        description:
          - The CAs trusted for the relay (C(smtp_tls_CAfile) of C(relay-tls)). At V(verify) and V(secure) it must
            exist (it is the relay's only trust anchor), else the task fails and nothing is changed.
        type: path
        default: /etc/ssl/certs/ca-certificates.crt
      username:
        description: The SASL username; it cannot hold C(:).
        type: str
      password:
        description: The SASL password; no control characters, no surrounding spaces.
        type: str
      password_table:
        description: The secret table of credentials.
        type: path
        default: /etc/postfix/sasl_passwd
      sender_table:
        description: The table of per-sender relays (deleted when there are none).
        type: path
        default: /etc/postfix/sender_relay
      destinations:
        description:
          - Relay only mail for these domains (C(example.com); C(.example.com) for its
            sub-domains), through entries of O(relay.transport_table) listed first in
            C(transport_maps), instead of all mail through C(relayhost).
        type: list
        elements: str
        default: []
      transport_table:
        description: The transport table of O(relay.destinations) (deleted when there are none).
        type: path
        default: /etc/postfix/relay_transport
      table_type:
        description: Both tables' type; unset, C(default_database_type).
        type: str
      mechanisms:
        description: SASL mechanisms to use (C(smtp_sasl_mechanism_filter)); empty, what the relay offers.
        type: list
        elements: str
        default: []
      sasl_security_options:
        description: C(smtp_sasl_security_options) (used without TLS).
        type: list
        elements: str
        default: [noplaintext, noanonymous]
      sasl_tls_security_options:
        description: C(smtp_sasl_tls_security_options) (used inside TLS).
        type: list
        elements: str
        default: [noanonymous]
      sender_relays:
        description:
          - Relays for some senders (C(user@example.org) or C(@example.org)), with their own
            credentials if given (C(smtp_sender_dependent_authentication)); the relay's level, CA
            file and wrapper mode apply to them too. Not with O(relay.destinations).
        type: list
        elements: dict
        default: []
        suboptions:
          sender:
            description: The sender address or C(@domain).
            type: str
            required: true
          host:
            description: The relay's host name or IP address.
            type: str
          port:
            description: The relay's port.
            type: int
            default: 587
          mx_lookup:
            description: Look up the relay's MX records.
            type: bool
            default: false
          username:
            description: The SASL username for this sender.
            type: str
          password:
            description: The SASL password for this sender.
            type: str
  mta_sts_resolver: &mta_sts_resolver
    description:
      - MTA-STS (RFC 8461) on the sending side, through Debian's C(postfix-mta-sts-resolver). Its package is
        asked for (RV(missing_packages)), its configuration C(/etc/mta-sts-daemon.yml) written, the daemon
        enabled at boot and restarted when its configuration changed or it does not answer, all before any file
        Postfix reads; one that then does not answer fails the call before C(smtp_tls_policy_maps) names it.
      - Its socketmap (C(socketmap:inet:127.0.0.1:PORT:postfix)) goes after every static table of
        C(smtp_tls_policy_maps) (needs O(policy_table)), so a static or DANE policy always wins (RFC 8461
        section 2). Other socketmaps of that form listed there (an earlier port) are taken out (see O(mta_sts_resolver.state)
        for the way back).
      - With Postfix 3.10.5 or later and resolver 1.5.0 or later the resolver passes the policy's MX patterns
        (its C(tlsrpt) option; postconf(5) C(smtp_tls_enforce_sts_mx_patterns)); before, it does not (older
        Postfix refuses the attributes).
    type: dict
    suboptions:
      port:
        description: The TCP port on 127.0.0.1 the resolver listens on.
        type: int
        default: 8461
      cache_grace:
        description: Seconds a cached policy is used before its TXT C(id) is read again (a new one is followed).
        type: int
        default: 60
      proactive_fetching:
        description: Refresh the cached policies in the background once a day.
        type: bool
        default: true
      timeout:
        description: Seconds for each DNS and HTTPS request of the resolver.
        type: int
        default: 4
      kill_switch:
        description: Take the socketmap out of C(smtp_tls_policy_maps) (the daemon stays configured and running).
        type: bool
        default: false
      state:
        description:
          - V(absent) - no resolver is wanted any more; when C(/etc/mta-sts-daemon.yml) is the collection's (one
            was managed here), every socketmap of its form leaves C(smtp_tls_policy_maps), even while the daemon
            is down. The package, the daemon and its file stay. A call that does not give this option leaves
            the socketmap as it is (another play may manage the resolver).
        type: str
        choices: [present, absent]
        default: present
  preflight: &preflight
    description: What to check before forcing TLS to a destination.
    type: dict
    default: {}
    suboptions:
      mode:
        description:
          - V(refuse) - stop before anything is written when a destination whose forced entry is
            new or stronger cannot take its level (or the MTA-STS server does not answer);
            V(warn) - write anyway, with a warning; V(skip) - probe nothing.
        type: str
        choices: [refuse, warn, skip]
        default: refuse
      timeout:
        description: Seconds per probe.
        type: int
        default: 30
      host_lookup:
        description: How the probes find servers (C(smtp_host_lookup)).
        type: str
        choices: [dns, native, "dns, native"]
        default: dns
      mta_sts_socketmap:
        description: An MTA-STS policy server (C(inet:host:port:name)) that must answer.
        type: str
  declarations:
    description:
      - The declarations of more profiles for the same host, each with the options above
        (O(parameters), O(absent_parameters), O(downgrade), O(policy_table), O(master_services),
        O(certificate), O(relay), O(receiving), O(hardening), O(mta_sts_resolver), O(preflight)), merged after the task's own in one call - so that a host
        in several profiles (forced and opportunistic TLS) costs one round trip and check mode
        predicts what the call does, not what several calls would.
      - A later declaration wins for a parameter, a policy key or a service, except that one with
        O(downgrade=false) never weakens what an earlier one asks for (nor what the host has).
        The policy tables must be the same file; C(maps) is V(only) if any says so. Two
        different certificates, or two relays, are an error. Each declaration's O(preflight) applies to its own
        forced entries.
    type: list
    elements: dict
    default: []
    suboptions:
      name: *name
      state: *state
      parameters: *parameters
      absent_parameters: *absent_parameters
      downgrade: *downgrade
      policy_table: *policy_table
      master_services: *master_services
      certificate: *certificate
      relay: *relay
      receiving: *receiving
      hardening: *hardening
      mta_sts_resolver: *mta_sts_resolver
      preflight: *preflight
  self_probe:
    description:
      - Overrides O(receiving.self_probe) for this call; the server role gives V(always) to probe after it
        started or restarted Postfix.
    type: str
    choices: [changed, always, never]
  migrate_obsolete:
    description: Move obsolete TLS switches (C(smtpd_use_tls), ...) to levels first, as M(mailtls.postfix.tls_migrate).
    type: bool
    default: false
  packages:
    description: Packages whose absence RV(missing_packages) reports (by C(dpkg-query)); nothing is installed.
    type: list
    elements: str
    default: []
  map_types:
    description:
      - Lookup table types the host needs beyond the built-in ones (C(lmdb), C(cdb), C(pcre), ...);
        the Debian package that adds each counts as one of O(packages).
    type: list
    elements: str
    default: []
  map_type_packages:
    description:
      - The package that adds each lookup table type to Postfix, for O(map_types). The
        C(mailtls.postfix.server) role passes its distribution data (C(roles/server/vars/main.yml)).
    type: dict
    default:
      lmdb: postfix-lmdb
      cdb: postfix-cdb
      pcre: postfix-pcre
      mysql: postfix-mysql
      pgsql: postfix-pgsql
      ldap: postfix-ldap
      sqlite: postfix-sqlite
  sasl_client_package:
    description:
      - The package of the SASL client mechanisms (PLAIN, LOGIN, ...), which counts as one of
        O(packages) when a relay sends credentials. The C(mailtls.postfix.server) role passes its
        distribution data.
    type: str
    default: libsasl2-modules
  reload:
    description: Run C(postfix reload) once when Postfix runs and something it reads changed.
    type: bool
    default: false
  service_started:
    description:
      - Start Postfix after the writes when it does not run, so that it loads the state just written and no
        reload or restart is owed (RV(started)). It starts systemd's unit of its instance (C(postfix@-) for
        C(/etc/postfix)), else runs the init script, which, as a boot does, starts every enabled instance that
        does not run.
      - Only a O(config_dir) that C(postmulti -l -a) lists as an enabled instance (C(/etc/postfix) always is)
        can be started so; another is refused before anything is written, in check mode too.
      - With V(false) a Postfix that does not run is left stopped. Nothing is stopped either way.
      - The self-probe (O(self_probe=changed)) counts a start as a change and probes the listeners at once.
    type: bool
    default: false
  service_enabled:
    description:
      - Whether Postfix starts at boot (systemd's C(systemctl enable) or C(disable), else C(update-rc.d)).
      - Left out, it is left as it is (RV(enabled) says what it is).
    type: bool
extends_documentation_fragment:
  - mailtls.postfix.common
notes:
  - Without Postfix installed the module changes nothing and returns RV(postfix_installed=false).
  - While a package the state needs is missing (RV(missing_packages)), the module changes nothing
    and returns RV(applied=false) - install them and call it again, as the C(mailtls.postfix.server)
    role does. In check mode it plans the state anyway.
  - With O(migrate_obsolete=true), main.cf and master.cf are planned on the texts the migration
    would leave, in check mode as in the run, so RV(main_cf.changes) in check mode are the run's;
    nothing is written until every part is checked. In check mode the main.cf diff is shown
    against the file before the migration, which the migration's own diff shows.
seealso:
  - module: mailtls.postfix.postconf
  - module: mailtls.postfix.tls_policy
  - module: mailtls.postfix.master_cf
  - module: mailtls.postfix.tls_certificate
  - module: mailtls.postfix.tls_probe
  - name: Postfix TLS support
    description: TLS_README, security levels and the policy table.
    link: https://www.postfix.org/TLS_README.html
"""

EXAMPLES = r"""
- name: Force TLS to two partners, opportunistic TLS for the rest, in one call
  mailtls.postfix.tls_profile:
    validate: postfix -c %s check
    parameters:
      smtp_tls_security_level: may
      smtp_tls_loglevel: 1
    policy_table:
      destinations: [partner.example, bank.example]
      level: encrypt
      include_subdomains: true
    preflight:
      mode: refuse
    reload: true
    service_started: true  # a fresh host's Postfix starts on this state, in this call
    service_enabled: true
  register: sender

- name: The receiving side with a certificate and the submission service
  mailtls.postfix.tls_profile:
    validate: postfix -c %s check
    certificate:
      cert_file: /etc/ssl/certs/mx.pem
      key_file: /etc/ssl/private/mx.key
    parameters:
      smtpd_tls_security_level: may
      smtpd_tls_cert_file: /etc/ssl/certs/mx.pem
      smtpd_tls_key_file: /etc/ssl/private/mx.key
    absent_parameters: [smtpd_use_tls]
    master_services:
      - service: submission
        type: inet
        private: n
        chroot: y
        command: smtpd
        options:
          smtpd_tls_security_level: encrypt
    reload: true

- name: The domain's MTA-STS policy in enforce, refused if the certificate does not name the MX host
  mailtls.postfix.tls_profile:
    certificate:
      cert_file: /etc/letsencrypt/live/mx1.example.org/fullchain.pem
      key_file: /etc/letsencrypt/live/mx1.example.org/privkey.pem
    receiving:
      mta_sts:
        mode: enforce
        domains: [example.org]
        mx_names: [mx1.example.org]
        other_mx_names: [mx2.example.org]
        policy_file: /var/www/mta-sts/.well-known/mta-sts.txt
        records_file: /etc/postfix/mta-sts.zone
        tlsrpt_rua: ["mailto:tlsrpt@example.org"]

- name: Send all mail through a smarthost on port 587, verified TLS, SASL credentials
  mailtls.postfix.tls_profile:
    validate: postfix -c %s check
    relay:
      host: smtp.example.net
      username: mailer@example.org
      password: "{{ vault_relay_password }}"
    reload: true
"""

RETURN = r"""
postfix_installed:
  description: Whether Postfix is installed; without it nothing else is read or changed.
  returned: always
  type: bool
applied:
  description:
    - Whether the state was planned and applied; V(false) without Postfix or while RV(missing_packages)
      is not empty (outside check mode), and then nothing was changed.
  returned: always
  type: bool
missing_packages:
  description:
    - The packages of O(packages) (and those O(map_types) and O(relay) need) that are not installed.
  returned: always
  type: list
  elements: str
  sample: [postfix-lmdb]
running:
  description:
    - Whether Postfix runs (C(postfix status)) as the call leaves it (in check mode - would), started by
      O(service_started) or not.
  returned: when the state was applied
  type: bool
enabled:
  description:
    - Whether Postfix starts at boot (systemd's C(is-enabled), else a SysV start link), as the call leaves it
      (O(service_enabled)).
  returned: when Postfix is installed
  type: bool
started:
  description: The module started Postfix (O(service_started); in check mode - it would).
  returned: always
  type: bool
enabled_changed:
  description: The module enabled or disabled Postfix at boot (O(service_enabled); in check mode - it would).
  returned: always
  type: bool
version:
  description: Postfix's C(mail_version).
  returned: when Postfix is installed
  type: str
  sample: 3.7.11
main_cf:
  description: What happened to main.cf.
  returned: when Postfix is installed
  type: dict
  contains:
    changes:
      description: Each parameter changed, before and after.
      type: dict
      sample: {"smtp_tls_security_level": {"before": null, "after": "may"}}
    kept:
      description: Global levels O(downgrade=false) kept, with the value kept.
      type: dict
      sample: {"smtp_tls_security_level": "encrypt"}
master_cf:
  description: The master.cf entries changed, before and after.
  returned: when O(master_services) is given
  type: dict
policy_table:
  description: The policy table's result, as M(mailtls.postfix.tls_policy) returns it.
  returned: when a declaration gives O(policy_table)
  type: dict
  contains:
    table:
      description: The table as main.cf names it.
      type: str
      sample: hash:/etc/postfix/tls_policy
    added:
      description: Keys added.
      type: list
      elements: str
    updated:
      description: Keys whose policy changed.
      type: list
      elements: str
    removed:
      description: Keys removed.
      type: list
      elements: str
    kept:
      description: Keys left at a stronger level because of O(downgrade=false).
      type: list
      elements: str
    postmap_run:
      description: Whether the index was (or in check mode would be) rebuilt.
      type: bool
relay:
  description: What the relay declaration did.
  returned: when a declaration gives O(relay)
  type: dict
  contains:
    state:
      description: O(relay.state).
      type: str
      sample: present
    relayhost:
      description: The relay's next hop as C(relayhost) names it.
      type: str
      sample: "[smtp.example.net]:587"
    senders:
      description: The senders with relays of their own.
      type: list
      elements: str
    destinations:
      description: The domains relayed through a transport table (O(relay.destinations)).
      type: list
      elements: str
    removed_files:
      description: Tables (and indexes) deleted because the relay no longer uses them (in check mode - would be).
      type: list
      elements: str
      sample: [/etc/postfix/sasl_passwd, /etc/postfix/sasl_passwd.db]
password_table:
  description: The password table's result as M(mailtls.postfix.lookup_table) returns it - keys, never values.
  returned: when the relay has credentials
  type: dict
sender_table:
  description: The sender table's result as M(mailtls.postfix.lookup_table) returns it.
  returned: when the relay has sender relays
  type: dict
transport_table:
  description: The transport table's result as M(mailtls.postfix.lookup_table) returns it.
  returned: when the relay has O(relay.destinations)
  type: dict
certificate:
  description: The certificate's result, as M(mailtls.postfix.tls_certificate) returns it.
  returned: when O(certificate) is given
  type: dict
  contains:
    kept:
      description: The certificate is the host's own, kept as C(main.cf) names it (O(certificate.keep)).
      type: bool
    parameters:
      description: The C(main.cf) parameters naming the kept keys and certificates, and their values (expanded).
      returned: when RV(certificate.kept)
      type: dict
      sample: {"smtpd_tls_cert_file": "/etc/ssl/certs/ssl-cert-snakeoil.pem",
               "smtpd_tls_key_file": "/etc/ssl/private/ssl-cert-snakeoil.key"}
sni_certificates:
  description: The result of installing each O(receiving.sni) item's chains, as M(mailtls.postfix.tls_certificate) returns it.
  returned: when O(receiving.sni) is given
  type: list
  elements: dict
sni_table:
  description: The SNI table's result, as M(mailtls.postfix.lookup_table) returns it with O(mailtls.postfix.lookup_table#module:file_values=true).
  returned: when O(receiving.sni) is given
  type: dict
tlsa:
  description: The DANE records of the receiving side.
  returned: when O(receiving.dane) is given
  type: dict
  contains:
    current:
      description: The C(3 1 1) data (hex) of each deployed key, in the order of O(certificate.chains).
      type: list
      elements: str
    next:
      description: The C(3 1 1) data of each of O(receiving.dane.next_keys).
      type: list
      elements: str
    records:
      description: Zone-file lines, one per name, port and key.
      type: list
      elements: str
      sample: ["_25._tcp.mx.example.org. IN TLSA 3 1 1 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d"]
    file_changed:
      description: Whether O(receiving.dane.file) was (would be) written.
      type: bool
mta_sts_resolver:
  description: The sending side's MTA-STS policy server (O(mta_sts_resolver)).
  returned: when O(mta_sts_resolver) is given
  type: dict
  contains:
    config_file:
      description: Its configuration file.
      type: str
      sample: /etc/mta-sts-daemon.yml
    config_changed:
      description: Whether the configuration was (would be) written.
      type: bool
    restarted:
      description: Whether the daemon was (would be) restarted (its configuration changed, or it did not answer).
      type: bool
    enabled_at_boot_changed:
      description: Whether it was (would be) enabled at boot.
      type: bool
    socketmap:
      description: The table Postfix asks it through.
      type: str
      sample: socketmap:inet:127.0.0.1:8461:postfix
    wired:
      description: Whether C(smtp_tls_policy_maps) names it (false with O(mta_sts_resolver.kill_switch)).
      type: bool
    kill_switch:
      description: Whether the kill switch is on.
      type: bool
    mx_patterns:
      description: Whether it passes the policy's MX patterns to Postfix (Postfix 3.10.5 and resolver 1.5.0 or later).
      type: bool
    resolver_version:
      description: The installed resolver's version; null when it is not installed yet (check mode).
      type: str
mta_sts:
  description: The MTA-STS policy and the DNS records to publish for it.
  returned: when O(receiving.mta_sts) is given
  type: dict
  contains:
    policy:
      description: The policy file's text (CRLF line ends).
      type: str
      sample: "version: STSv1\r\nmode: enforce\r\nmx: mx.example.org\r\nmax_age: 604800\r\n"
    id:
      description: The TXT record's C(id) (derived from the policy unless O(receiving.mta_sts.id) is given).
      type: str
    id_derived:
      description: Whether the C(id) was derived from the policy.
      type: bool
    mode:
      description: The policy's mode.
      type: str
    mx:
      description: The policy's patterns, as written.
      type: list
      elements: str
    max_age:
      description: The policy's C(max_age).
      type: int
    domains:
      description: The policy domains.
      type: list
      elements: str
    mx_names:
      description: This host's MX names, checked against its certificates.
      type: list
      elements: str
    other_mx_names:
      description: The domain's other MX names, checked against the patterns only.
      type: list
      elements: str
    policy_urls:
      description: Where senders fetch the policy (RFC 8461 section 3.3).
      type: list
      elements: str
    sts_record:
      description: The C(_mta-sts) TXT record's text.
      type: str
      sample: "v=STSv1; id=iqblh54tf5sbx5t2iwu74oozyoldbn5f"
    tlsrpt_record:
      description: The C(_smtp._tls) TXT record's text; None without O(receiving.mta_sts.tlsrpt_rua).
      type: str
      sample: "v=TLSRPTv1; rua=mailto:tlsrpt@example.org"
    records:
      description: Zone-file lines of both records for each domain.
      type: list
      elements: str
      sample: ["_mta-sts.example.org. IN TXT \"v=STSv1; id=iqblh54tf5sbx5t2iwu74oozyoldbn5f\""]
    sending_tlsrpt:
      description:
        - What this host's own sending side does about TLS-RPT, as main.cf is after this call - C(enabled) and
          C(reason). Postfix reports only from 3.10, built with libtlsrpt (C(smtp_tlsrpt_enable)), to a TLSRPT
          collector on the host (C(smtp_tlsrpt_socket_name)); the C(mailtls.postfix.tls_forced) role's
          C(tls_forced_tlsrpt_socket) turns it on. On an older Postfix the result says so instead of writing a
          parameter it would reject.
      type: dict
    policy_file_changed:
      description: Whether O(receiving.mta_sts.policy_file) was (would be) written.
      type: bool
    records_file_changed:
      description: Whether O(receiving.mta_sts.records_file) was (would be) written.
      type: bool
renewal_hook:
  description: The renewal hook's path and whether it was (would be) written.
  returned: when O(receiving.renewal_hook) is given
  type: dict
tls_files_not_loaded:
  description:
    - The managed key and certificate files whose bytes Postfix has not loaded yet (renewed outside Ansible since
      the last run); Postfix is reloaded for them.
  returned: always
  type: list
  elements: str
self_probe:
  description:
    - The probe of the host's own listeners after the deploy - C(status) (V(passed), V(failed) or V(pending) when
      Postfix is to be started or restarted first) and, per listener, C(port), C(wrappermode), C(starttls),
      C(established), C(served_fingerprint) and C(matches).
  returned: when the self-probe ran or is pending
  type: dict
tls_lowered:
  description:
    - The destinations whose forced policy entry a named declaration took back (dropped, or V(absent)) and whose mail
      now gets a weaker level - C(destination), C(was), C(now), C(by) (the covering entry or main.cf's level),
      C(subdomains), C(profile). Each is also a warning.
  returned: when a named declaration is given
  type: list
  elements: dict
profiles_released:
  description: Per declaration name, what was taken back - C(state), C(parameters_restored) (None - removed),
    C(services_restored) (C(service/type) - the entry put back, None - removed), C(entries_removed) and, for an
    absent one, C(removed_files).
  returned: when a named declaration is given
  type: dict
hardening:
  description: The hardening baseline applied - its C(profile), the C(parameters) it sets and the names it removes (C(absent)).
  returned: when O(hardening) is given
  type: dict
migration:
  description: The migration's result, as M(mailtls.postfix.tls_migrate) returns it.
  returned: when obsolete parameters were migrated
  type: dict
probes:
  description: The pre-flight probe of each destination whose forced entry is new or stronger.
  returned: always
  type: dict
check_mode_refusals:
  description: In check mode, what the real run would refuse now.
  returned: always
  type: list
  elements: str
restart_required:
  description:
    - A changed parameter needs C(postfix stop; postfix start) (a restart), not a reload.
    - False after RV(started), since Postfix started on the new state.
  returned: always
  type: bool
reload_required:
  description: Something Postfix reads changed and it must reload (indexed tables need no reload).
  returned: always
  type: bool
reloaded:
  description: The module ran C(postfix reload) (in check mode - it would).
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.base import private_key_in_arguments, run_module
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.profile.profile import TlsProfile
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.receiving import SELF_PROBE_WHEN
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.relay import SASL_CLIENT_PACKAGE
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.specs import VALIDATE, declaration_spec, edit_spec
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.table_types import TYPE_PACKAGES
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.tls import LEVELS


def main():
    module = AnsibleModule(
        argument_spec=edit_spec(
            validate=VALIDATE,
            declarations=dict(type="list", elements="dict", default=[], options=declaration_spec(LEVELS)),
            migrate_obsolete=dict(type="bool", default=False),
            packages=dict(type="list", elements="str", default=[]),
            map_types=dict(type="list", elements="str", default=[]),
            # Debian's names when the module is used alone; the server role passes its distribution data.
            map_type_packages=dict(type="dict", default=dict(TYPE_PACKAGES)),
            sasl_client_package=dict(type="str", default=SASL_CLIENT_PACKAGE),
            reload=dict(type="bool", default=False),
            service_started=dict(type="bool", default=False),
            service_enabled=dict(type="bool"),
            self_probe=dict(type="str", choices=list(SELF_PROBE_WHEN)),
            **declaration_spec(LEVELS)
        ),
        supports_check_mode=True,
        # A private key in the arguments (given as a certificate by mistake) stays out of syslog.
        no_log=private_key_in_arguments(),
    )
    run_module(module, TlsProfile)


if __name__ == "__main__":
    main()
