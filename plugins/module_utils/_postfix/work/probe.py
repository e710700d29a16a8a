# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tls_probe module's work: connect as Postfix would, with posttls-finger (private).

posttls-finger runs once per level that matters: ``may`` (with the certificate chain),
then ``verify`` and ``secure``, which pass only when it reports a *Verified* connection.
The leaf certificate's dates and names are read with ``openssl x509``.
"""

from __future__ import annotations

from ..core.errors import CommandError
from ..host.base import PostfixModule
from ..model.finger import (
    check_helo, check_timeout, parse_finger, policy_finger_args, policy_needs_its_own_probe, policy_passes,
    probe_target, text_of,
)
from ..model.x509 import parse_x509


class TlsProbe(PostfixModule):
    """Read-only: what TLS a destination offers, and which levels it would pass."""

    def execute(self):
        params = self.module.params
        check_timeout(params["timeout"])
        target, destination = probe_target(params["destination"], params["host"], params["port"])
        base = ["-t", str(params["timeout"]), "-T", str(params["timeout"]), "-h", params["host_lookup"]]
        if params["ca_file"]:
            base += ["-F", params["ca_file"]]
        if params["ca_path"]:
            base += ["-P", params["ca_path"]]
        if params["helo"] is not None:
            # -H would be client certificate chain files: the EHLO name is myhostname.
            base += ["-o", "myhostname=%s" % check_helo(params["helo"])]
        wrappermode = bool(params.get("wrappermode"))
        if wrappermode:
            base += ["-w"]

        opportunistic = self._finger(base + ["-C", "-l", "may", "--", target])
        result = dict((key, value) for key, value in opportunistic.items() if key not in ("leaf_pem", "no_tlsa"))
        result["target"] = target
        result["wrappermode"] = wrappermode
        if wrappermode:
            result["starttls"] = False  # TLS from the first byte: nothing to offer
        result["certificate"] = self._certificate(opportunistic["leaf_pem"]) if opportunistic["leaf_pem"] else None
        passes = {"may": True, "encrypt": opportunistic["established"]}
        for level in ("verify", "secure"):
            if opportunistic["established"]:
                strict = self._finger(base + ["-l", level, "--", target] + self._match(level, destination))
                passes[level] = strict["established"] and strict["trust"] == "Verified"
            else:
                passes[level] = False
        result["passes"] = passes
        policy = params.get("policy")  # the profile's pre-flight: the policy entry exactly as Postfix applies it
        if policy and policy_needs_its_own_probe(policy["level"], policy["attributes"]):
            exact = self._finger(base + policy_finger_args(policy["level"], policy["attributes"], target,
                                                           policy.get("fingerprint_digest")))
            result["policy"] = {"level": policy["level"], "passes": policy_passes(policy["level"], exact),
                                "trust": exact["trust"], "protocol": exact["protocol"], "errors": exact["errors"],
                                "no_tlsa": exact["no_tlsa"]}
        self.result.update(changed=False, **result)

    @staticmethod
    def _match(level, destination):
        """The names a verify/secure policy for this destination would accept (Postfix's defaults)."""
        if destination.startswith("["):
            return []
        return ["hostname"] if level == "verify" else ["nexthop", "dot-nexthop"]

    def _finger(self, args):
        rc, out, err = self.postfix.run("posttls-finger", args, check=False)
        if rc not in (0, 1):
            raise CommandError("posttls-finger %s failed: %s" % (" ".join(args), text_of(err or out).strip()), rc=rc)
        return parse_finger(out)  # stderr stays empty: posttls-finger logs to stdout

    def _certificate(self, pem):
        openssl = self.module.get_bin_path("openssl")
        if not openssl:
            return {"pem": pem}
        rc, out, err = self.module.run_command(
            [openssl, "x509", "-noout", "-subject", "-issuer", "-enddate", "-fingerprint", "-sha256",
             "-ext", "subjectAltName"], data=pem, environ_update={"LANG": "C", "LC_ALL": "C"})
        if rc != 0:
            return {"pem": pem, "error": text_of(err).strip()}
        facts = parse_x509(text_of(out))  # subjectAltName values come raw, whatever bytes they hold
        facts["pem"] = pem
        return facts
