# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tls_profile's MTA-STS sending side: the policy server Postfix asks, and its place in the maps (private).

Its contract with the profile: from the one ``mta_sts_resolver`` the declarations give, it plans
the resolver's configuration (plan/mta_sts_resolver.py, pure) and tells the policy side where the
socketmap goes (after every static table; with the kill switch, out of smtp_tls_policy_maps).
It writes first, before any file Postfix reads, through the one writer: the configuration, then a
restart of the daemon when that changed or the daemon does not answer, then the check that it
answers. A resolver that does not answer is refused there, before main.cf names it: Postfix
would defer every mail with "client TLS configuration problem" while its policy map fails.
"""

from __future__ import annotations

import time

from ..core.errors import ConfigError, PostfixError
from ..host.base import current_text
from ..host.files import REPLACE
from ..plan.declarations import the_one
from ..plan.file_roles import writes
from ..plan.mta_sts_resolver import (CONFIG_FILE, CONFIG_FILE_MODE, RESOLVER_OPTION, PACKAGE, SERVICE, check_spec,
                                     config_text, configured_port, is_managed_socketmap, passes_mx_patterns, socketmap,
                                     wants_resolver)

# How long a restarted resolver may take to answer (it is a Python program: about a second here).
ANSWER_WAIT_SECONDS = 15


class ResolverSide(object):
    """The MTA-STS policy server of one tls_profile call; ``profile`` is the TlsProfile it works for."""

    def __init__(self, profile, config_dir, declarations):
        self.profile, self.config_dir = profile, config_dir
        self.spec = the_one(declarations, RESOLVER_OPTION,
                            "two profiles declare different MTA-STS policy servers (mta_sts_resolver); a host runs one")
        # state absent: none wanted, and the one managed here before (if any) is taken out of the maps.
        self.released = bool(self.spec) and not wants_resolver(self.spec)
        if self.released:
            self.spec = None
        self.text = self.table = None
        self.wired = self.mx_patterns = False
        self.version = self.before = None

    def __bool__(self):
        return self.spec is not None

    def request(self, policy):
        """Plan the configuration; the socketmap joins the policy side's maps, or leaves them (kill switch).
        A socketmap of the managed form on another port (an earlier one, or a run stopped between this
        file and main.cf), or any once the resolver is released (state absent), leaves them too: it
        answers nothing, and Postfix would defer every mail while it is listed."""
        if not self:
            # Released, and ours was managed here (our file, of any port): its socketmap goes. Something odd
            # at the path is not this call's to refuse: it manages no resolver.
            if self.released and configured_port(current_text(CONFIG_FILE, REPLACE)) is not None:
                policy.unwire_stale(is_managed_socketmap)
            return
        self.before = current_text(CONFIG_FILE)
        check_spec(self.spec)
        self.version = self.profile.host.package_versions.get(PACKAGE)  # None: not installed yet (check mode)
        self.mx_patterns = passes_mx_patterns(self.profile.version, self.version)
        self.text = config_text(self.spec, self.mx_patterns)
        self.table = "socketmap:" + socketmap(self.spec["port"])
        self.wired = not self.spec["kill_switch"]
        policy.wire(self.table, self.wired, RESOLVER_OPTION)
        policy.unwire_stale(is_managed_socketmap)

    def file_uses(self):
        return [writes(RESOLVER_OPTION, CONFIG_FILE)] if self else []

    def write(self):
        """The configuration, a restart when it changed or the daemon does not answer, then its answer:
        the result part. Refuses (ConfigError) a wired resolver that does not answer, before main.cf."""
        if not self:
            return None
        profile, check_mode = self.profile, self.profile.module.check_mode
        changed = profile.write_own_file(CONFIG_FILE, self.text, CONFIG_FILE_MODE)
        problem = self._problem() if self.version else "not installed"
        restart = bool(changed or (self.wired and problem))
        enable = not profile.host.enabled(SERVICE)
        if check_mode:
            return self._result(changed, restart, enable)
        try:
            if enable:
                profile.host.enable(SERVICE)
            if restart:
                profile.host.restart(SERVICE)
                problem = self._wait_for_answer()
        except PostfixError:
            self._put_back(changed)
            raise
        if self.wired and problem:
            problem = self._put_back(changed, problem)
            raise ConfigError("%s: %s, even after %s (%s, configured by %s), so smtp_tls_policy_maps was not "
                              "changed; the daemon's log says why" % (RESOLVER_OPTION, problem, "its restart by this call"
                                                                      if restart else "a check", SERVICE, CONFIG_FILE),
                              parameter=RESOLVER_OPTION)
        return self._result(changed, restart, enable)

    def _put_back(self, changed, problem=None):
        """A refusal's way back: the configuration main.cf still points at (or none, as before), the daemon
        restarted on it. Returns ``problem``, told that restart's failure too."""
        if not changed:
            return problem
        if self.before is None:
            self.profile.remove_own_file(CONFIG_FILE)
            return problem
        self.profile.write_own_file(CONFIG_FILE, self.before, CONFIG_FILE_MODE)
        try:
            self.profile.host.restart(SERVICE)
        except PostfixError as exc:
            return "%s; restarting it with its earlier configuration failed too: %s" % (problem, exc)
        return problem

    def _result(self, changed, restart, enable):
        return {"config_file": CONFIG_FILE, "config_changed": changed, "restarted": restart,
                "enabled_at_boot_changed": enable, "changed": bool(changed or restart or enable),
                "socketmap": self.table, "wired": self.wired, "kill_switch": not self.wired,
                "mx_patterns": self.mx_patterns,
                "resolver_version": ".".join(map(str, self.version)) if self.version else None}

    def _problem(self):
        return self.profile.postfix.socketmap_problem(self.config_dir, self.table)

    def _wait_for_answer(self):
        """After a restart: the daemon answers and still runs a moment later (one that cannot bind its port
        exits about a second after it started)."""
        deadline = time.monotonic() + ANSWER_WAIT_SECONDS
        while True:
            problem = self._problem()
            if not problem:
                time.sleep(1)
                if self.profile.host.active(SERVICE):
                    return self._problem()
                problem = "%s stopped after its start" % SERVICE
            if time.monotonic() > deadline:
                return problem
            time.sleep(0.2)
