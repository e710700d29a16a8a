# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tls_profile's pre-flight: before mail is forced to a destination, its server must take the level (private).

Every probe the sides owe (the policy table's new or stronger forced entries, the relay's new
next hops) runs at once, each a posttls-finger process waiting on the network; the verdicts
refuse the call, warn, or in check mode are reported. It returns what it found and raises the
refusal; it writes nothing and touches no other part's result.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..core.errors import ConfigError, PostfixError
from ..model.finger import preflight_verdict
from ..work.probe import TlsProbe
from ..model.tls import normalize_destination

# Probes at once: each is a posttls-finger process waiting on the network, not on a core.
PROBE_WORKERS = 8
# Debian's directory of the system's trusted CAs (ca-certificates), as main.cf's smtp_tls_CApath names it.
SYSTEM_CA_PATH = "/etc/ssl/certs"


@dataclass
class PreflightResult(object):
    probes: dict = field(default_factory=dict)            # destination -> tls_probe result
    warnings: list = field(default_factory=list)
    check_mode_refusals: list = field(default_factory=list)


class Preflight(object):
    """The pre-flight of one call; ``profile`` lends the module, the Postfix tools and parts' modules."""

    def __init__(self, profile, config_dir, config):
        self.profile, self.config_dir, self.config = profile, config_dir, config
        self._trust = None

    def run(self, declarations, owed):
        """Probe ``owed`` ((request, preflight spec) pairs) and every MTA-STS policy server the declarations name."""
        found = PreflightResult()
        probes = [(request, spec) for request, spec in owed if spec["mode"] != "skip"]
        unable = {"refuse": [], "warn": []}
        if any("attributes" in request for request, _spec in probes):
            self.trust_anchors()  # once, before the probes run in parallel
        if probes:
            with ThreadPoolExecutor(max_workers=min(PROBE_WORKERS, len(probes))) as pool:
                results = list(pool.map(lambda probe: self._probe(*probe), probes))
            for (request, spec), result in zip(probes, results):
                destination = normalize_destination(request["destination"])
                found.probes[destination] = result
                verdict = preflight_verdict(destination, request["level"], result)
                if verdict:
                    unable[spec["mode"]].append(verdict)
        for item in declarations:
            spec = item["preflight"]
            if spec["mode"] != "skip" and spec["mta_sts_socketmap"]:
                problem = self._mta_sts_problem(spec["mta_sts_socketmap"])
                if problem:
                    unable[spec["mode"]].append(problem)
        if unable["warn"]:
            found.warnings.append("%s; forcing TLS anyway (preflight: warn)" % "; ".join(unable["warn"]))
        if unable["refuse"]:
            message = "; ".join(unable["refuse"])
            if not self.profile.module.check_mode:
                raise ConfigError("preflight: %s. Mail to it would wait in the queue until it bounces, so nothing "
                                  "was changed; set preflight.mode to warn to force it anyway" % message,
                                  unable=unable["refuse"])
            # A check on a fresh fleet runs before the receivers it probes have TLS.
            found.warnings.append("check mode: the real run would refuse now: %s" % message)
            found.check_mode_refusals.append(message)
        return found

    def _probe(self, request, spec):
        # A relay's own CA file is what its SMTP client trusts (smtp_tls_CAfile), and only that.
        how = request.get("probe") or {}
        policy = None
        if "attributes" in request:  # a policy table entry: probed as the smtp client will apply it
            policy = {"level": request["level"], "attributes": request["attributes"],
                      "fingerprint_digest": self._fingerprint_digest() if request["level"] == "fingerprint" else None}
        if how.get("ca_file"):
            ca_file, ca_path = how["ca_file"], None
        elif policy is not None:  # the smtp client's own trust anchors, as this call leaves main.cf
            ca_file, ca_path = self.trust_anchors()
        else:
            ca_file, ca_path = None, SYSTEM_CA_PATH
        probe = TlsProbe(self.profile.part_module(dict(
            destination=request["destination"], host=None, port=None, ca_path=ca_path, ca_file=ca_file,
            wrappermode=bool(how.get("wrappermode")), helo=None, host_lookup=spec["host_lookup"],
            timeout=spec["timeout"], policy=policy)))
        try:
            probe.execute()
        except PostfixError as exc:
            return {"established": False, "starttls": False, "errors": [str(exc)], "passes": {}}
        result = dict((key, value) for key, value in probe.result.items() if key != "changed")
        if result.get("certificate"):
            result["certificate"] = dict((key, value) for key, value in result["certificate"].items() if key != "pem")
        return result

    def trust_anchors(self):
        """(smtp_tls_CAfile, smtp_tls_CApath) as main.cf will say after this call; the system's CAs with
        tls_append_default_CA = yes and no CApath (postconf(5)); computed once for every probe."""
        if self._trust is None:
            values = [self._planned(name) for name in ("smtp_tls_CAfile", "smtp_tls_CApath", "tls_append_default_CA")]
            ca_file, ca_path, append = values
            if append.lower() == "yes" and not ca_path:
                ca_path = SYSTEM_CA_PATH
            self._trust = (ca_file or None, ca_path or None)
        return self._trust

    def _planned(self, name):
        if name in self.config.wanted:
            return self.config.wanted[name]
        if name in self.config.remove:
            return ""
        return self.profile.postfix.run("postconf", ["-c", self.config_dir, "-xh", name])[1].strip()

    def _fingerprint_digest(self):
        # The digest the smtp client compares a fingerprint policy with (md5 before Postfix 3.6).
        # Expanded: its default depends on compatibility_level.
        return self.profile.postfix.run("postconf", ["-c", self.config_dir, "-xh", "smtp_tls_fingerprint_digest"]
                                        )[1].strip() or None

    def _mta_sts_problem(self, socketmap):
        return self.profile.postfix.socketmap_problem(self.config_dir, "socketmap:%s" % socketmap)
