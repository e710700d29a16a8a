# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host's tls_profile result as a few lines a person reads without -v (controller side, pure)."""

from __future__ import annotations

# Long lists are cut: a summary names what changed, the result holds all of it.
SHOWN = 5
# (enabled, check mode) -> what a call that set Postfix at boot says.
AT_BOOT = {(True, False): "starts", (False, False): "does not start",
           (True, True): "would start", (False, True): "would not start"}


def _names(items):
    items = list(items)
    shown = ", ".join(str(item) for item in items[:SHOWN])
    return shown + (" and %d more" % (len(items) - SHOWN) if len(items) > SHOWN else "")


def _table_line(label, table):
    counts = [(len(table.get(key) or []), key) for key in ("added", "updated", "removed")]
    changed = ", ".join("%d %s" % (count, key) for count, key in counts if count)
    if not changed:
        return None
    kept = table.get("kept") or []
    return "%s %s: %s%s" % (label, table.get("table") or table.get("path") or "", changed,
                            "; kept stronger: %s" % _names(kept) if kept else "")


def _certificate_lines(state):
    lines = []
    for label, result in [("certificate", state.get("certificate"))] + [
            ("SNI certificate", item) for item in state.get("sni_certificates") or []]:
        if not result:
            continue
        facts = result.get("certificate") or {}
        expiry = (" (expires %s, in %s days)" % (facts["not_after"], facts.get("days_left"))
                  if facts.get("not_after") else "")
        if result.get("kept"):
            named = ", ".join("%s = %s" % item for item in sorted((result.get("parameters") or {}).items()))
            lines.append("%s: kept the host's own, as main.cf names it (%s)%s" % (label, named, expiry))
            continue
        files = result.get("changed_files") or []
        lines.append("%s: %s%s" % (label, "replaced %s" % _names(files) if files else "unchanged", expiry))
    return lines


def _probe_lines(state):
    lines = []
    for destination, probe in sorted((state.get("probes") or {}).items()):
        policy = probe.get("policy")
        if policy:  # the entry probed as Postfix applies it (dane-only, fingerprint, a match list) decides
            lines.append("pre-flight %s: %s" % (destination, "takes %s" % policy.get("level") if policy.get("passes")
                                                else "does not take %s" % policy.get("level")))
            continue
        passes = probe.get("passes") or {}
        strongest = next((level for level in ("secure", "verify", "encrypt") if passes.get(level)), None)
        lines.append("pre-flight %s: %s" % (destination, "takes %s" % strongest if strongest else
                                            (probe.get("errors") or ["no TLS session"])[0]))
    self_probe = state.get("self_probe")
    if self_probe:
        ports = [str(listener.get("port")) for listener in self_probe.get("listeners") or []]
        lines.append("self-probe: %s%s" % (self_probe.get("status"), " (ports %s)" % _names(ports) if ports else ""))
    return lines


def summary(state, check_mode=False):
    """Lines saying what one tls_profile call did (or, in check mode, would do) on its host."""
    if not state.get("postfix_installed", True):
        return ["Postfix is not installed: nothing was read or changed"]
    if not state.get("applied", True):
        return ["nothing applied: missing packages %s" % _names(state.get("missing_packages") or [])]
    verb = "would change" if check_mode else "changed"
    lines = []
    changes = (state.get("main_cf") or {}).get("changes") or {}
    if changes:
        lines.append("main.cf %s: %s" % (verb, _names(sorted(changes))))
    services = ((state.get("master_cf") or {}).get("services")) or {}
    if services:
        names = sorted("/".join(key) if isinstance(key, (list, tuple)) else str(key) for key in services)
        lines.append("master.cf %s: %s" % (verb, _names(names)))
    for label, key in (("policy table", "policy_table"), ("password table", "password_table"),
                       ("sender table", "sender_table"), ("transport table", "transport_table"),
                       ("SNI table", "sni_table")):
        line = _table_line(label, state.get(key) or {})
        if line:
            lines.append(line)
    removed = (state.get("relay") or {}).get("removed_files") or []
    if removed:
        lines.append("relay files %s: %s" % ("would be deleted" if check_mode else "deleted", _names(removed)))
    lines += _certificate_lines(state)
    tlsa = state.get("tlsa") or {}
    if tlsa.get("records"):
        lines.append("DANE: %d TLSA records%s" % (len(tlsa["records"]), ", file %s" % verb if tlsa.get("file_changed")
                                                  else ""))
    sts = state.get("mta_sts") or {}
    if sts.get("records"):
        files = [name for name, key in (("policy file", "policy_file_changed"), ("records file", "records_file_changed"))
                 if sts.get(key)]
        lines.append("MTA-STS: mode %s, id %s, %d DNS records%s" % (sts.get("mode"), sts.get("id"), len(sts["records"]),
                                                                    ", %s %s" % (" and ".join(files), verb) if files else ""))
    resolver = state.get("mta_sts_resolver") or {}
    if resolver.get("changed"):
        done = [what for what, key in (("configuration %s" % verb, "config_changed"),
                                       ("enabled at boot" if not check_mode else "would be enabled at boot",
                                        "enabled_at_boot_changed"),
                                       ("restarted" if not check_mode else "would be restarted", "restarted"))
                if resolver.get(key)]
        lines.append("MTA-STS resolver: %s" % ", ".join(done))
    if resolver and (resolver.get("changed") or "smtp_tls_policy_maps" in changes):
        lines.append("MTA-STS: %s" % ("kill switch on, %s not in smtp_tls_policy_maps" % resolver.get("socketmap")
                                      if resolver.get("kill_switch") else "%s after the static table%s" % (
                                          resolver.get("socketmap"),
                                          ", with the policies' MX patterns" if resolver.get("mx_patterns") else "")))
    if state.get("enabled_changed"):
        lines.append("Postfix %s at boot" % AT_BOOT[(bool(state.get("enabled")), check_mode)])
    if state.get("started"):
        lines.append("Postfix %s on this state" % ("would be started" if check_mode else "started"))
    lines += _probe_lines(state)
    if state.get("restart_required"):
        lines.append("Postfix needs a restart for a changed parameter")
    elif state.get("reloaded"):
        lines.append("Postfix %s" % ("would be reloaded" if check_mode else "reloaded"))
    warnings = state.get("warnings") or []
    if warnings:
        lines.append("%d warning%s: %s" % (len(warnings), "" if len(warnings) == 1 else "s", warnings[0]))
    return lines or ["no change: Postfix already runs the wanted TLS state"]
