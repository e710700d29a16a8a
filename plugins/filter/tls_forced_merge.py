# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mailtls.postfix.tls_forced_merge: tls_advisor's proposals merged into the tls_forced role's list (documented in tls_forced_merge.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def tls_forced_merge(proposals, forced=None, given=None):
    """The ``tls_forced_destinations`` that apply ``proposals`` and take nothing back.

    ``given``: the role's list as the inventory gives it (names or mappings), kept as it is.
    ``forced``: what the host's policy tables force already (postfix_info's forced_destinations),
    kept at its level: the role takes back what it no longer lists. A ``.domain`` entry becomes its
    parent's ``include_subdomains`` when the parent is forced at the same level. ``proposals``
    (tls_advisor's ``{destination: level}``) set the level last: they are never weaker.
    """
    if not isinstance(proposals, dict):
        raise AnsibleFilterError("tls_forced_merge: the proposals must be tls_advisor's proposals, a mapping")
    merged = {}
    for item in given or []:
        entry = {"destination": item} if isinstance(item, str) else dict(item)
        merged[entry["destination"]] = entry
    levels = dict((item["destination"], item["level"]) for item in forced or [])
    for destination, level in sorted(levels.items()):
        if destination.startswith(".") or destination in merged:
            continue
        subdomains = levels.get("." + destination) == level
        merged[destination] = {"destination": destination, "level": level, "include_subdomains": subdomains}
    for destination, level in sorted(proposals.items()):
        entry = merged.setdefault(destination, {"destination": destination, "include_subdomains": False})
        entry["level"] = level
    return [merged[name] for name in sorted(merged)]


class FilterModule(object):

    def filters(self):
        return {"tls_forced_merge": tls_forced_merge}
