# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host runs, for tls_profile: Postfix installed, the packages a state needs, the service (private)."""

from __future__ import annotations

import glob
import os

from .commands import output_lines
from ..core.errors import InputError, PostfixError
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

    def postfix_installed(self):
        try:
            self.postfix.binary("postconf")
        except PostfixError:
            return False
        return True

    def enabled(self):
        """Whether Postfix starts at boot: systemd's answer, else a SysV start link."""
        systemctl = self.module.get_bin_path("systemctl")
        if systemctl and os.path.isdir("/run/systemd/system"):
            _rc, out, _err = self.module.run_command([systemctl, "is-enabled", "postfix"])
            return out.strip() == "enabled"
        return bool(glob.glob("/etc/rc[2345].d/S*postfix"))

    def missing(self, packages):
        """The packages of ``packages`` dpkg does not list as installed (none checked without dpkg)."""
        if not packages:
            return []
        dpkg_query = self.module.get_bin_path("dpkg-query")
        if not dpkg_query:
            return []
        _rc, out, _err = self.module.run_command([dpkg_query, "-W", "-f", "${Package} ${db:Status-Status}\\n"]
                                                 + list(packages), environ_update={"LANG": "C", "LC_ALL": "C"})
        installed = set(line.split()[0] for line in output_lines(out) if line.endswith(" installed"))
        return [package for package in packages if package not in installed]

    def running(self, config_dir):
        rc, _out, _err = self.postfix.run("postfix", ["-c", config_dir, "status"], check=False)
        return rc == 0
