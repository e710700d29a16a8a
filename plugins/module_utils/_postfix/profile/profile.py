# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tls_profile module's work: the wanted Postfix state of one or more profiles, in one call (private).

Everything is read, planned and checked before the first write:

1. what the host runs: Postfix installed, the packages asked for, the service running;
2. the declarations merged (a later one wins; one with downgrade=false never weakens);
3. the policy table's plan; the pre-flight probes, in parallel, only the destinations whose
   entry is new or stronger, and refuses (in check mode: warns);
4. every write rehearsed in check mode (the certificate pair, the table with its patterns, the
   temporaries of main.cf and master.cf), so that what a write would refuse is refused now;

the migration of the obsolete TLS switches (tls_migrate's, when asked and present) is planned
and confirmed without a write, main.cf and master.cf are planned together on the texts it leaves
(in check mode as in the run), read back by ``postconf -n``/``-M`` and validated once
(``validate``, such as ``postfix -c %s check``) in one scratch directory, and the files are
written in the order Postfix needs them: certificate, policy table, the migration, master.cf,
main.cf (main.cf last: it names the others). Each write is the shared locked, atomic flow of the single modules.
Last, one ``postfix reload`` when something Postfix reads changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .config_files import ConfigFiles
from ..plan.declarations import ConfigRequest, declarations_of, masked_arguments, merge_config, the_one
from ..core.errors import ConfigError
from ..plan.file_roles import refuse_one_file_in_two_roles, writes
from ..host.files import read_text
from ..host.host_state import HostState, packages_needed
from ..model.parameters import RESTART_PARAMETERS
from .policy_side import PolicySide
from ..work.postconf_edit import PostconfEdit, TlsMigrate
from .ownership_side import OwnershipSide
from .preflight import Preflight
from .mta_sts_side import MtaStsSide
from .mta_sts_sending import ResolverSide
from .receiving_edit import ReceivingSide
from .relay_edit import RelaySide


class Part(object):
    """The AnsibleModule a part (certificate, table, probe, migration) sees: the profile's, with its own params."""

    def __init__(self, module, params, check_mode=None):
        self._module = module
        self.params = params
        if check_mode is not None:
            self.check_mode = check_mode  # a rehearsal of a write runs in check mode

    def __getattr__(self, name):
        return getattr(self._module, name)


@dataclass
class CallPlan(object):
    """What one call's phases hand each other: the declarations, each side, the merged request."""

    config_dir: str
    main_path: str
    declarations: list
    config: ConfigRequest = None
    relay: RelaySide = None
    receiving: ReceivingSide = None
    mta_sts: MtaStsSide = None
    resolver: ResolverSide = None
    policy: PolicySide = None
    ownership: OwnershipSide = None
    certificate: dict = None
    migration: TlsMigrate = None
    kept: dict = field(default_factory=dict)
    main_text: str = None       # main.cf as planned (None: unchanged)
    master_text: str = None     # master.cf as planned (None: unchanged)


def reload_required(result, config_changed):
    """Whether the call's ``result`` asks for a reload: main.cf or master.cf (``config_changed``) or a file
    Postfix reads changed, or TLS files it has not loaded, and no restart is owed instead."""
    return bool(not result["restart_required"]
                and (config_changed
                     or result.get("certificate", {}).get("changed")
                     or result.get("migration", {}).get("changed")
                     or result.get("policy_table", {}).get("reload_required")
                     or result.get("sni_table", {}).get("changed")
                     or result["tls_files_not_loaded"]))


class TlsProfile(PostconfEdit):
    """The tls_profile module."""

    def execute(self):
        """The phases of one call, in order, handing each other one CallPlan; every phase before the writes
        refuses with every file as it was."""
        self.result.update(changed=False, postfix_installed=True, applied=False, missing_packages=[],
                           restart_required=False, reload_required=False, reloaded=False, started=False,
                           enabled_changed=False, probes={},
                           check_mode_refusals=[])
        self.host = HostState(self.module, self.postfix)
        self.config_files = ConfigFiles(self)
        if not self._host_ready():  # read: Postfix, the packages, the service, the version
            return
        call = self._plan()  # plan: every side from the declarations; main.cf's and master.cf's request
        self._check_promises(call)  # the relay's promises, one file one role: on the merged plan
        self._preflight(call)  # the probes the sides owe
        self._settle(call)  # main.cf's request completed for the policy table, less the levels kept
        self._validate(call)  # every write rehearsed; main.cf and master.cf validated on a scratch copy
        self._write(call)  # in the order Postfix needs them: main.cf last
        self._reload_and_probe(call)  # one reload; the self-probe of the host's own listeners

    def _host_ready(self):
        """Postfix and the packages the state needs are there (in check mode: would be) to plan on."""
        self.result["missing_packages"] = self.host.missing(packages_needed(self.module.params))
        if not self.host.postfix_installed():
            self.result["postfix_installed"] = False
            self.warnings.append("Postfix is not installed: nothing was read or changed; install %s first"
                                 % ", ".join(self.result["missing_packages"] or ["postfix"]))
            return False
        config_dir, _main_path = self.main_cf_path()
        self.version = self.postfix.version(config_dir)
        self.result.update(config_dir=config_dir, version=".".join(map(str, self.version)),
                           enabled=self.host.enabled())
        if self.result["missing_packages"] and not self.module.check_mode:
            # What the state needs comes first (a relay's SASL mechanisms, a map type): Postfix
            # never runs with a configuration its packages cannot serve yet.
            return False
        self.result["applied"] = True
        return True

    def _plan(self):
        """Every side plans from the declarations and the host; main.cf's and master.cf's request merged."""
        config_dir, main_path = self.main_cf_path()
        declarations = declarations_of(self.module.params)
        call = CallPlan(config_dir=config_dir, main_path=main_path, declarations=declarations)
        call.ownership = OwnershipSide(self, config_dir)
        call.ownership.request(declarations, main_path, self.version)  # what a named profile no longer lists
        call.relay = RelaySide(self, config_dir)
        call.relay.request(main_path, declarations)  # its main.cf and master.cf parts join the declarations
        call.config = merge_config(declarations, self.version)
        self.warnings.extend(call.config.warnings)
        if call.config.hardening is not None:
            self.result["hardening"] = call.config.hardening
        self._refuse_what_this_version_cannot_read(call.config.wanted, call.config.remove, call.config.services)
        call.certificate = the_one(declarations, "certificate",
                                   "two profiles give different certificates; a host has one smtpd certificate here")
        receiving = the_one(declarations, "receiving", "two profiles declare different receiving sides (SNI, DANE, "
                                                       "renewal hook, self-probe); a host has one")
        call.receiving = ReceivingSide(self, config_dir, call.certificate, receiving)
        call.receiving.request(call.config.wanted, call.config.remove,
                               self.postfix.parameter(config_dir, "default_database_type"))
        call.certificate = call.receiving.certificate  # certificate.keep: the pair main.cf names
        call.mta_sts = MtaStsSide(self, config_dir, receiving)
        call.mta_sts.request(call.receiving)  # enforce refused here, before any write
        # Planned and confirmed, not written: main.cf and master.cf are planned on its texts, in
        # check mode as in the run, and it is written with the other files once all is checked.
        call.migration = self.config_files.plan_migration(config_dir)
        call.policy = PolicySide(self, config_dir)
        call.policy.request(declarations)
        self.warnings.extend(call.policy.warnings)
        call.resolver = ResolverSide(self, config_dir, declarations)
        call.resolver.request(call.policy)  # its socketmap after the static tables, or out (kill switch)
        call.ownership.note_files(call.policy, call.receiving, call.mta_sts)
        return call

    def _check_promises(self, call):
        """The relay's promises on the merged plan of the whole call, not on the files as they are; one file
        one role over every file a side reads or writes."""
        config_dir = call.config_dir
        call.relay.check_plan(self.config_files.planned_main(call), call.declarations)
        self._refuse_one_file_twice(config_dir, call.policy, call.relay, call.receiving, call.mta_sts, call.resolver)

    def _settle(self, call):
        """What main.cf needs for the policy table (its maps, DNSSEC for dane); the levels a downgrade=false
        profile keeps where the host's (as the migration leaves them) are stronger."""
        call.policy.request_main_cf(call.config, call.main_path)
        call.kept, warnings = self.config_files.keep_levels(call)
        self.warnings.extend(warnings)

    def _validate(self, call):
        """What the writes would still refuse (a pair that does not match, a pattern postmap skips, a link or
        FIFO at a temporary), found in check mode first; main.cf and master.cf validated on a scratch copy."""
        self._rehearse(call)
        call.main_text, call.master_text = self.config_files.plan_and_validate(call)

    def _write(self, call):
        """The files, in the order Postfix needs them: main.cf, which names the others, last."""
        # Whether Postfix runs, asked after every refusal (postfix status logs) and before anything is
        # written: a Postfix tool started within a second or two of a change to main.cf waits until it is older.
        self.result["running"] = self.host.running(call.config_dir)
        self.host.instance_to_start(self.module.params, self.result)  # a start the init system cannot do: refused
        if call.resolver:  # first: a policy server that does not answer is refused before main.cf names it
            self._merge_result("mta_sts_resolver", call.resolver.write(), [])
        if call.certificate:
            self._merge(call.receiving.certificate_part(), "certificate")
        self._take_receiving(call.receiving.write_before_main_cf())
        if call.policy:
            self._merge_result("policy_table", *call.policy.write())
        call.relay.write_tables()
        if call.migration is not None:
            call.migration.write()
            self._merge(call.migration, "migration")
        master_changed = self.config_files.write_master_cf(call)
        main_changed, changes = self.config_files.write_main_cf(call)
        self.result.update(self.config_files.result)
        self.result["main_cf"] = {"changes": dict((change.name, change.as_dict()) for change in changes),
                                  "kept": call.kept}
        self._take_receiving(call.receiving.write_after_main_cf(self.result.get("certificate")))
        self._take_receiving(call.mta_sts.write(call.config))  # the policy and its records: Postfix reads neither
        # Only once main.cf no longer names them.
        relay_changed = call.relay.remove_unused(call.main_text, call.master_text)
        relay_changed = call.ownership.write(call) or relay_changed  # what absent profiles created goes
        self.result["changed"] = bool(self.result["changed"] or master_changed or main_changed or relay_changed)
        self.result["restart_required"] = any(change.name in RESTART_PARAMETERS for change in changes)
        # A managed key or certificate whose bytes Postfix has not loaded: renewed outside Ansible.
        self.result["tls_files_not_loaded"] = call.receiving.changed_since_loaded(self.result.get("certificate"))
        self.result["changed"] = bool(self.result["changed"] or self.result["tls_files_not_loaded"])
        self.result["reload_required"] = reload_required(self.result, master_changed or main_changed)

    def _reload_and_probe(self, call):
        was_running = self.result["running"]
        self._reload(call.config_dir)
        # The server role's service task, and its module round trip, folded into this call.
        self.result.update(self.host.keep_postfix(self.module.params, self.result, self.module.check_mode))
        # A failed self-probe raises before the record: the next run reloads and probes again.
        self._self_probe(call.receiving, call.certificate, call.master_text)
        # What Postfix loads now (reloaded, started), at its start, or at the restart the caller owes it.
        if self.result["reloaded"] or not was_running or self.result["restart_required"]:
            self._take_receiving(call.receiving.record_loaded())

    def _refuse_one_file_twice(self, config_dir, policy, relay, receiving, mta_sts, resolver):
        """Every file this call writes is no other file it writes or reads: a table is not main.cf, nor a
        key given by path, nor the relay's CA file (file_roles decides; each part declares its files)."""
        config_dir = os.path.abspath(config_dir)
        uses = [writes("config_dir", os.path.join(config_dir, name)) for name in ("main.cf", "master.cf")]
        uses += receiving.file_uses() + mta_sts.file_uses() + resolver.file_uses()
        uses += policy.file_uses() + relay.file_uses()
        refuse_one_file_in_two_roles(uses)

    def _rehearse(self, call):
        """Check mode of every write to come: what it would refuse, it refuses now, before any write."""
        if self.module.check_mode:
            return  # the writes themselves run in check mode
        if call.certificate:
            call.receiving.certificate_part(check_mode=True)
        call.relay.rehearse()
        call.policy.rehearse()
        call.receiving.rehearse()
        self.config_files.rehearse(call)

    def _preflight(self, call):
        """The probes the sides owe, all at once: refused here, warned, or (check mode) reported."""
        owed = call.policy.probes + call.relay.probes
        found = Preflight(self, call.config_dir, call.config).run(call.declarations, owed)
        self.result["probes"].update(found.probes)
        self.result["check_mode_refusals"].extend(found.check_mode_refusals)
        self.warnings.extend(found.warnings)

    # --- parts, certificate, reload --------------------------------------------------

    def _merge(self, part, name):
        self._merge_result(name, part.result, part.warnings)

    def _merge_result(self, name, result, warnings):
        """A side's or part's result under ``name``; its diffs join the call's, its warnings too."""
        result = dict(result)
        diff = result.pop("diff", [])
        self.result.setdefault("diff", []).extend(diff if isinstance(diff, list) else [diff])
        self.result[name] = result
        self.result["changed"] = bool(self.result["changed"] or result.get("changed"))
        self.warnings.extend(warnings)

    def _reload(self, config_dir):
        """postfix reload when Postfix runs and reads something that changed (never in check mode)."""
        if not (self.module.params["reload"] and self.result["running"] and self.result["reload_required"]):
            return
        if not self.module.check_mode:
            self.postfix.run("postfix", ["-c", config_dir, "reload"])
        self.result["reloaded"] = True

    def _self_probe(self, receiving, certificate, master_text):
        """After a reload, the host's own listeners must offer TLS with the certificate just deployed."""
        when = self.module.params["self_probe"] or (receiving.spec or {}).get("self_probe", "changed")
        timeout = (receiving.spec or {}).get("self_probe_timeout", 20)
        if not certificate or when == "never" or self.module.check_mode:
            return
        if when == "changed" and not (self.result["reloaded"] or self.result["restart_required"]
                                      or self.result["started"]):
            return
        if not self.result["running"] or self.result["restart_required"]:
            # Postfix is started or restarted after this call (the server role does it): probe then.
            self.result["self_probe"] = {"status": "pending", "listeners": []}
            return
        config_dir = self.result["config_dir"]
        text = master_text if master_text is not None else read_text(os.path.join(config_dir, "master.cf"))
        listeners, failures = receiving.self_probe(text, timeout)
        if not listeners:
            self.warnings.append("self-probe: master.cf has no smtpd or postscreen inet listener to probe")
        self._warn_of_postscreen_without_tlsproxy(config_dir, text)
        status = "failed" if failures else "passed" if listeners else "nothing_to_probe"
        self.result["self_probe"] = {"status": status, "listeners": listeners}
        if failures:
            # Postfix does not serve what it should: no record says it loaded these files.
            receiving.forget_loaded()
            raise ConfigError("self-probe after deploying: " + "; ".join(failures))

    def _warn_of_postscreen_without_tlsproxy(self, config_dir, master_text):
        """The self-probe comes from 127.0.0.1, which postscreen lets through to smtpd: it cannot see
        that a client from elsewhere, held for postscreen's after-greeting tests, gets no STARTTLS."""
        self.warnings.extend(self.config_files.postscreen_warnings(config_dir, master_text))

    # --- what the receiving side needs of the profile ----------------------------------

    def part_module(self, params, check_mode=None):
        return Part(self.module, params, check_mode=check_mode)

    def merge_part(self, part, name):
        part.execute()
        self._merge(part, name)
        return part

    def _take_receiving(self, part):
        """The receiving side's ``ReceivingPart``: its small files written through the one writer, its
        result parts and warnings merged (the side never writes the call's result itself)."""
        for write in part.writes:
            changed = self.write_own_file(write.path, write.text, write.mode, write.odd_target)
            if write.section:
                part.result[write.section][write.flag] = changed
                part.changed = part.changed or changed
        for name, result in part.parts.items():
            self._merge_result(name, result, [])
        self.result.update(part.result)
        self.result["changed"] = bool(self.result["changed"] or part.changed)
        self.warnings.extend(part.warnings)

    def echoed_arguments(self):
        """The echo of the arguments, every certificate's key_content and relay password masked."""
        return masked_arguments(super().echoed_arguments())
