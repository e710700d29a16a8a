# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mailtls.postfix.tls_forced_merge: tls_advisor's proposals merged into the tls_forced role's list (documented in tls_forced_merge.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.model.tls import LEVEL_STRENGTH


def tls_forced_merge(proposals, owned=None, given=None, default_level="encrypt"):
    """The ``tls_forced_destinations`` that apply ``proposals`` and take nothing back.

    ``given``: the role's list as the inventory gives it (names or mappings), kept as it is, except
    that a level the role wrote since (an applied proposal, in its record) stronger than the given
    one stays: a second run must not take back what the first applied (a name without a level has
    ``default_level``, the role's ``tls_forced_level``).
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
        if destination in merged:
            _keep_stronger(merged[destination], level, default_level)
            continue
        if destination.startswith("."):
            continue
        subdomains = levels.get("." + destination) == level
        merged[destination] = {"destination": destination, "level": level, "include_subdomains": subdomains}
    for destination, level in sorted(proposals.items()):
        entry = merged.setdefault(destination, {"destination": destination, "include_subdomains": False})
        entry["level"] = level
    return [merged[name] for name in sorted(merged)]


def _keep_stronger(entry, owned_level, default_level):
    """The given entry at the level the role wrote when that one is stronger (never a downgrade)."""
    given_level = str(entry.get("level") or default_level).lower()
    if entry.get("attributes") or owned_level not in LEVEL_STRENGTH or given_level not in LEVEL_STRENGTH:
        return
    if LEVEL_STRENGTH[owned_level] > LEVEL_STRENGTH[given_level]:
        entry["level"] = owned_level


class FilterModule(object):

    def filters(self):
        return {"tls_forced_merge": tls_forced_merge}
