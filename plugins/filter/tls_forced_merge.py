# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mailtls.postfix.tls_forced_merge: tls_advisor's proposals merged into the tls_forced role's list (documented in tls_forced_merge.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def tls_forced_merge(proposals, owned=None, given=None):
    """The ``tls_forced_destinations`` that apply ``proposals`` and take nothing back.

    ``given``: the role's list as the inventory gives it (names or mappings), kept as it is.
    ``owned``: the policy-table entries the role wrote on the host, as its record lists them
    (``mailtls-profiles.json``: profiles.tls_forced.table.entries, key to {value, replaced}): the
    role takes back what it no longer lists, so they stay, at their level. A ``.domain`` entry
    becomes its parent's ``include_subdomains``; an entry with attributes (``secure match=...``) the
    inventory does not give is left out (its attributes cannot be told back). ``proposals``
    (tls_advisor's ``{destination: level}``) set the level last: they are never weaker.
    """
    if not isinstance(proposals, dict):
        raise AnsibleFilterError("tls_forced_merge: the proposals must be tls_advisor's proposals, a mapping")
    if not isinstance(owned or {}, dict):
        raise AnsibleFilterError("tls_forced_merge: owned must be the record's entries, a mapping")
    merged = {}
    for item in given or []:
        entry = {"destination": item} if isinstance(item, str) else dict(item)
        merged[entry["destination"]] = entry
    levels = {}
    for key, item in (owned or {}).items():
        value = item.get("value") if isinstance(item, dict) else item
        words = (value or "").split()
        if len(words) == 1:
            levels[key] = words[0].lower()
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
