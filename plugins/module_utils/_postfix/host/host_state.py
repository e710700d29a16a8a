# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host runs, for tls_profile: Postfix installed, the packages a state needs, the service (private)."""

from __future__ import annotations

import glob
import os

from .commands import output_lines
from ..core.errors import InputError, PostfixError
from ..core.versions import parse_version
from ..plan.mta_sts_resolver import PACKAGE as MTA_STS_RESOLVER_PACKAGE, wants_resolver
from ..plan.relay import SASL_CLIENT_PACKAGE, needs_sasl_client
from ..model.table_types import TYPE_PACKAGES


def packages_needed(params):
    """The packages asked for, and those that provide the map types and the SASL client the state needs."""
    packages = list(params["packages"] or [])
    sasl_client = params.get("sasl_client_package") or SASL_CLIENT_PACKAGE
    type_packages = params.get("map_type_packages") or TYPE_PACKAGES
    relays = [params["relay"]] + [item["relay"] for item in params["declarations"] or []]
    if any(needs_sasl_client(relay) for relay in relays) and sasl_client not in packages:
        packages.append(sasl_client)
    if any(wants_resolver(item.get("mta_sts_resolver")) for item in [params] + list(params["declarations"] or [])) \
            and MTA_STS_RESOLVER_PACKAGE not in packages:
        packages.append(MTA_STS_RESOLVER_PACKAGE)
    for map_type in params["map_types"] or []:
        if map_type not in type_packages:
            raise InputError("map_types", "%r is not a table type a package adds (%s)"
                             % (map_type, ", ".join(sorted(type_packages))))
        if type_packages[map_type] not in packages:
            packages.append(type_packages[map_type])
    return packages


class HostState(object):
    """Read-only questions about the host; ``module`` runs the commands, ``postfix`` finds Postfix's tools."""

    def __init__(self, module, postfix):
        self.module, self.postfix = module, postfix
        self.package_versions = {}  # what missing() found installed: name -> (1, 1, 2)
        self._postmulti_list = None

    def postfix_installed(self):
        try:
            self.postfix.binary("postconf")
        except PostfixError:
            return False
        return True

    def _systemd(self):
        """systemctl when systemd runs this host, else None (a container, SysV init)."""
        systemctl = self.module.get_bin_path("systemctl")
        return systemctl if systemctl and os.path.isdir("/run/systemd/system") else None

    def enabled(self, service="postfix"):
        """Whether ``service`` starts at boot: systemd's answer, else a SysV start link."""
        systemctl = self._systemd()
        if systemctl:
            _rc, out, _err = self.module.run_command([systemctl, "is-enabled", service])
            return out.strip() == "enabled"
        return bool(glob.glob("/etc/rc[2345].d/S*%s" % glob.escape(service)))

    def enable(self, service, at_boot=True):
        """Start ``service`` at boot (or not), as its package's maintainer scripts would."""
        systemctl = self._systemd()
        if systemctl:
            self._service_command([systemctl, "enable" if at_boot else "disable", service])
            return
        update_rc_d = self.module.get_bin_path("update-rc.d", required=True)
        if at_boot and not glob.glob("/etc/rc[2345].d/[SK][0-9][0-9]%s" % glob.escape(service)):
            # No link in runlevels 2-5 (none at all, or only rc0/1/6's left after a removal by hand): `enable`
            # has nothing to turn and `defaults` does nothing while any link is left, so they are made anew.
            self._service_command([update_rc_d, "-f", service, "remove"])
            self._service_command([update_rc_d, service, "defaults"])
            return
        self._service_command([update_rc_d, service, "enable" if at_boot else "disable"])

    def active(self, service):
        """Whether ``service`` runs, as systemd or its init script's status says."""
        systemctl = self._systemd()
        argv = [systemctl, "is-active", "--quiet", service] if systemctl else ["/etc/init.d/%s" % service, "status"]
        rc, _out, _err = self.module.run_command(argv, environ_update={"LANG": "C", "LC_ALL": "C"})
        return rc == 0

    def restart(self, service):
        """Restart ``service`` (or start it) through systemd, else its init script."""
        systemctl = self._systemd()
        script = "/etc/init.d/%s" % service
        self._service_command([systemctl, "restart", service] if systemctl else [script, "restart"])

    def start_postfix(self, instance):
        """Start the Postfix instance named ``instance`` (postmulti's name; ``-`` the default one): systemd's
        unit of that instance (Debian's postfix.service is a oneshot that stays active while its instance is
        stopped, so starting it may start nothing), else the init script, which sets up the chroot and starts
        every enabled instance that does not run, as a boot does."""
        systemctl = self._systemd()
        if not systemctl:
            self._service_command(["/etc/init.d/postfix", "start"])
            return
        self._service_command([systemctl, "start", "postfix@%s" % instance])
        # And postfix.service, which systemd's restart and stop act through (the role's service tasks, handlers).
        self._service_command([systemctl, "start", "postfix"])

    def init_instance(self, config_dir):
        """postmulti's (name, enabled) of the instance whose configuration directory is ``config_dir``, or None
        when it lists none: the init system (the init script, systemd's postfix-instance-generator) starts the
        enabled instances ``postmulti -l -a`` lists and nothing else."""
        if self._postmulti_list is None:  # asked twice in a call that starts Postfix: before the writes and after
            self._postmulti_list = self.postfix.run("postmulti", ["-l", "-a"], check=False)[1]
        out, wanted = self._postmulti_list, os.path.realpath(config_dir)
        for index, words in enumerate(line.split() for line in output_lines(out)):
            if len(words) == 4 and os.path.realpath(words[3]) == wanted:
                # The first line is the default instance; another named "-" has no multi_instance_name, and
                # systemd's postfix@- and postmulti's "-i -" would start the default one instead.
                return words[0], words[2] == "y" and (index == 0 or words[0] != "-")
        return None

    def instance_to_start(self, params, found):
        """The postmulti name of the instance ``service_started`` starts (None: nothing to start, or not asked
        for); refused, in check mode as in the run and before any write, where the init system would not start
        the Postfix of ``found["config_dir"]`` (a start would bring up another Postfix, or none)."""
        if not params["service_started"] or found["running"]:
            return None
        instance = self.init_instance(found["config_dir"])
        if instance is None or not instance[1]:
            raise InputError("service_started", "the init system starts only the Postfix instances `postmulti -l -a` "
                             "lists as enabled, by its multi_instance_name, and config_dir %s is %s; start that "
                             "Postfix yourself, or leave service_started false"
                             % (found["config_dir"], "not one of them" if instance is None
                                else "a disabled or unnamed instance (postmulti -e enable, -e assign -I)"))
        return instance[0]

    def keep_postfix(self, params, found, check_mode):
        """The result's updates for ``service_enabled`` (Postfix starts at boot or not) and ``service_started``
        (a Postfix that does not run, as ``found`` says, starts now on the files just written, so no reload or
        restart is owed); done unless ``check_mode``."""
        instance = self.instance_to_start(params, found)
        updates = {}
        at_boot = params["service_enabled"]
        if at_boot is not None and at_boot != found["enabled"]:
            if not check_mode:
                self.enable("postfix", at_boot)
            updates.update(enabled=at_boot, enabled_changed=True, changed=True)
        if instance is not None:
            if not check_mode:
                self.start_postfix(instance)
                if not self.running(found["config_dir"]):
                    raise PostfixError("Postfix was started (instance %s), but `postfix -c %s status` says it does "
                                       "not run; its log says why" % (instance, found["config_dir"]))
            updates.update(running=True, started=True, changed=True, restart_required=False, reload_required=False)
        return updates

    def _service_command(self, argv):
        rc, out, err = self.module.run_command(argv, environ_update={"LANG": "C", "LC_ALL": "C"})
        if rc != 0:
            raise PostfixError("%s failed (exit %d): %s" % (" ".join(argv), rc, (err or out).strip()[-500:]))

    def missing(self, packages):
        """The packages of ``packages`` dpkg does not list as installed (none checked without dpkg)."""
        if not packages:
            return []
        dpkg_query = self.module.get_bin_path("dpkg-query")
        if not dpkg_query:
            return []
        _rc, out, _err = self.module.run_command([dpkg_query, "-W", "-f", "${Package} ${db:Status-Status} ${Version}\\n"]
                                                 + list(packages), environ_update={"LANG": "C", "LC_ALL": "C"})
        installed = set()
        for words in (line.split() for line in output_lines(out)):
            if len(words) == 3 and words[1] == "installed":
                installed.add(words[0])
                # Debian's version: an epoch before ':', the upstream release, a '-' revision after.
                self.package_versions[words[0]] = parse_version(words[2].split(":")[-1].split("-")[0])
        return [package for package in packages if package not in installed]

    def running(self, config_dir):
        rc, _out, _err = self.postfix.run("postfix", ["-c", config_dir, "status"], check=False)
        return rc == 0
