# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tls_probe module's work: connect as Postfix would, with posttls-finger (private).

posttls-finger runs once per level that matters: ``may`` (with the certificate chain),
then ``verify`` and ``secure``, which pass only when it reports a *Verified* connection.
The leaf certificate's dates and names are read with ``openssl x509``.
"""

from __future__ import annotations

import calendar
import re
import time

from .base import FileEditModule
from .errors import CommandError, InputError
from .tls import normalize_destination

_ESTABLISHED = re.compile(r"posttls-finger: (\w+) TLS connection established to (\S+): (TLSv[0-9.]+|SSLv[0-9]) "
                          r"with cipher (\S+)")
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)
_FAILURE = re.compile(r"posttls-finger: (Failed to establish session.*|.*verification failed.*|fatal: .*|.*: No route.*)$")


def parse_finger(output):
    """Facts from one posttls-finger run (its stdout and stderr together)."""
    established = _ESTABLISHED.search(output)
    ehlo = [line.split("< 250", 1)[1][1:].strip() for line in output.splitlines() if "< 250" in line]
    failures = [match.group(1) for match in (_FAILURE.search(line) for line in output.splitlines()) if match]
    pem = _PEM.findall(output)
    return {
        "starttls": any(word.upper() == "STARTTLS" for word in ehlo) or bool(established),
        "established": bool(established),
        "trust": established.group(1) if established else None,
        "peer": established.group(2) if established else None,
        "protocol": established.group(3) if established else None,
        "cipher": established.group(4) if established else None,
        "leaf_pem": pem[0] if pem else None,
        "errors": failures,
        # posttls-finger probes the resolver (dnssec_probe) when it looks names up in DNS.
        "dnssec_validation": None if "dnssec_probe" not in output and "DNSSEC validation" not in output
        else "DNSSEC validation may be unavailable" not in output,
    }


def parse_x509(text, now=None):
    """Facts from ``openssl x509 -noout -subject -issuer -enddate -fingerprint -sha256 -ext subjectAltName``."""
    facts = {"subject": None, "issuer": None, "not_after": None, "names": [], "fingerprint_sha256": None}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("subject="):
            facts["subject"] = line[len("subject="):].strip()
        elif line.startswith("issuer="):
            facts["issuer"] = line[len("issuer="):].strip()
        elif line.startswith("notAfter="):
            facts["not_after"] = line[len("notAfter="):].strip()
        elif "Fingerprint=" in line:
            facts["fingerprint_sha256"] = line.split("=", 1)[1].strip()
        elif line.startswith("DNS:") or ", DNS:" in line:
            facts["names"] = [item.strip()[4:] for item in line.split(",") if item.strip().startswith("DNS:")]
    if facts["not_after"]:
        expires = calendar.timegm(time.strptime(facts["not_after"].replace(" GMT", ""), "%b %d %H:%M:%S %Y"))
        facts["days_left"] = int((expires - (now or time.time())) // 86400)
        facts["expired"] = expires < (now or time.time())
    cn = re.search(r"CN\s*=\s*([^,/]+)", facts["subject"] or "")
    if cn and cn.group(1).strip() not in facts["names"]:
        facts["names"].insert(0, cn.group(1).strip())
    return facts


class TlsProbe(FileEditModule):
    """Read-only: what TLS a destination offers, and which levels it would pass."""

    def execute(self):
        params = self.module.params
        check_port(params["port"])
        if params["timeout"] <= 0:
            raise InputError("timeout", "must be a positive number of seconds")
        destination = normalize_destination(params["destination"])
        if params["host"]:
            target = "[%s]:%d" % (params["host"], params["port"])
        elif destination.startswith("["):
            target = destination
        else:
            target = destination if params["port"] == 25 else "%s:%d" % (destination, params["port"])
        base = ["-t", str(params["timeout"]), "-T", str(params["timeout"]), "-h", params["host_lookup"]]
        if params["ca_file"]:
            base += ["-F", params["ca_file"]]
        if params["ca_path"]:
            base += ["-P", params["ca_path"]]
        if params["helo"]:
            base += ["-H", params["helo"]]

        opportunistic = self._finger(base + ["-C", "-l", "may", target])
        result = dict((key, value) for key, value in opportunistic.items() if key != "leaf_pem")
        result["target"] = target
        result["certificate"] = self._certificate(opportunistic["leaf_pem"]) if opportunistic["leaf_pem"] else None
        passes = {"may": True, "encrypt": opportunistic["established"]}
        for level in ("verify", "secure"):
            if opportunistic["established"]:
                strict = self._finger(base + ["-l", level, target] + self._match(level, destination))
                passes[level] = strict["trust"] == "Verified"
            else:
                passes[level] = False
        result["passes"] = passes
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
            raise CommandError("posttls-finger %s failed: %s" % (" ".join(args), (err or out).strip()), rc=rc)
        return parse_finger(out + "\n" + err)

    def _certificate(self, pem):
        openssl = self.module.get_bin_path("openssl")
        if not openssl:
            return {"pem": pem}
        rc, out, err = self.module.run_command(
            [openssl, "x509", "-noout", "-subject", "-issuer", "-enddate", "-fingerprint", "-sha256",
             "-ext", "subjectAltName"], data=pem, environ_update={"LANG": "C", "LC_ALL": "C"})
        if rc != 0:
            return {"pem": pem, "error": err.strip()}
        facts = parse_x509(out)
        facts["pem"] = pem
        return facts


def check_port(port):
    if not 0 < port < 65536:
        raise InputError("port", "%d is not a TCP port" % port)
