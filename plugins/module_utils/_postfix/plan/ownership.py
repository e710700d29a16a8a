# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each named profile wrote on a host, and what taking it back means (private, pure).

The record (``mailtls-profiles.json`` beside main.cf) lists, per profile name (the role that
declared it: tls_forced, tls_opportunistic, tls_receiving, server), the main.cf parameters it
wrote with the value it replaced, the policy-table entries it wrote with the value they
replaced, and the files it created. Only what a record lists is ever taken back, and only while
it still holds the value the profile wrote: a value someone changed since stays, with a warning.
A parameter or entry two profiles wrote goes when the last of them lets it go.
"""

from __future__ import annotations

import json
import os

from ..core.errors import ConfigError, InputError
from ..core.file_names import CONFIG_FILES
from ..model.main_cf import check_parameter_name
from ..model.master_cf import FIELDS, MasterCf, check_service, wanted_entry
from ..model.table_types import FILE_TYPES
from ..model.tls import LEVEL_STRENGTH, covering_keys
from .declarations import LEVEL_PARAMETERS

PROFILES_RECORD = "mailtls-profiles.json"
RECORD_FORMAT = "mailtls.postfix profiles 2"
# Format 1 kept the server's own parameters and what its calls changed unasked in one profile:
# read as all unasked, so that a present run takes none of it back.
FORMAT_1 = "mailtls.postfix profiles 1"
# The name of the call's own declaration whose absent state takes back every recorded profile.
HOST_PROFILE = "server"
# What the server's calls changed that no declaration lists (a migration, a side's own settings):
# taken back only when the server's state is absent.
HOST_UNASKED = "server:unasked"


def empty_profile():
    return {"parameters": {}, "table": None, "files": [], "services": {}}


def _refuse(path, problem):
    raise ConfigError("%s is not the collection's record of what its profiles wrote (%s); nothing was changed: "
                      "move it away to let the roles start a new one (nothing it lists is taken back then)"
                      % (path, problem), path=path)


def _is_text(value):
    """Text that can be written back: a lone surrogate (a JSON escape of a byte that is not UTF-8) cannot."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_text_or_none(value):
    return value is None or _is_text(value)


def _check_values(path, where, values):
    if not isinstance(values, dict):
        _refuse(path, "%s is not a mapping" % where)
    for name, item in values.items():
        if not (_is_text(name) and isinstance(item, dict) and set(item) == {"value", "replaced"}
                and _is_text_or_none(item["value"]) and _is_text_or_none(item["replaced"])):
            _refuse(path, "%s.%s is not {value, replaced}" % (where, name))


def outside(file_path, config_dir, named):
    """Whether ``file_path`` is outside ``config_dir`` and no declaration of the call names it: never deleted."""
    return not file_path.startswith(config_dir + os.sep) and file_path not in named


def _check_path(path, where, file_path, config_dir, named, anywhere=False):
    if not (isinstance(file_path, str) and os.path.isabs(file_path) and os.path.normpath(file_path) == file_path):
        _refuse(path, "%s: %r is not an absolute, normal path" % (where, file_path))
    inside = os.path.dirname(file_path) == config_dir or file_path.startswith(config_dir + os.sep)
    if inside and (os.path.basename(file_path) in CONFIG_FILES + (PROFILES_RECORD,)):
        _refuse(path, "%s names %s, which no profile creates" % (where, file_path))
    if not inside and file_path not in named and not anywhere:
        _refuse(path, "%s: %s is outside %s and no declaration of this call names it" % (where, file_path, config_dir))


def _check_service(path, where, key, item):
    """A recorded service: its key names a master.cf entry, and each text is that one entry, as the
    collection would write it (its fields, command and options valid)."""
    if key.count("/") != 1:
        _refuse(path, "%s.services: %r is not service/type" % (where, key))
    try:
        check_service(*key.split("/"))
        texts = [text for text in item.values() if text is not None]
        if any(list(MasterCf(text).entries) != [key] or len(MasterCf(text).entries[key]) != 1
               or not MasterCf(text).entries[key][0].command for text in texts):
            _refuse(path, "%s.services.%s is not one %s entry" % (where, key, key))
        for back in services_back(dict((key, text) for text in texts)):
            wanted_entry(back["service"], back["type"], back, back["command"], back["args"], back["options"])
    except InputError as error:
        _refuse(path, "%s.services.%s: %s" % (where, key, error))


def parse_profiles_record(text, path, config_dir, named=()):
    """The record's profiles (name -> {parameters, table, files}); a record that is not ours is refused
    naming it. ``named``: the files outside ``config_dir`` this call's declarations name."""
    try:
        text.encode("utf-8")  # bytes that are not UTF-8 are read as surrogates: never written back
        found = json.loads(text)
    except ValueError as error:
        _refuse(path, "not UTF-8 JSON: %s" % error)
    if not isinstance(found, dict) or found.get("format") not in (RECORD_FORMAT, FORMAT_1) or \
            not isinstance(found.get("profiles"), dict):
        _refuse(path, "no %r format and profiles" % RECORD_FORMAT)
    if found["format"] == FORMAT_1 and HOST_PROFILE in found["profiles"] and HOST_UNASKED not in found["profiles"]:
        found["profiles"][HOST_UNASKED] = found["profiles"].pop(HOST_PROFILE)
    profiles = {}
    for name, profile in found["profiles"].items():
        where = "profiles.%s" % name
        # Format 1 had no services: a profile of it added none.
        profile = dict({"services": {}}, **profile) if isinstance(profile, dict) else profile
        if not isinstance(profile, dict) or set(profile) != {"parameters", "table", "files", "services"}:
            _refuse(path, "%s is not {parameters, table, files, services}" % where)
        _check_values(path, where + ".parameters", profile["parameters"])
        for parameter in profile["parameters"]:
            try:
                check_parameter_name(parameter)
            except InputError as error:
                _refuse(path, "%s.parameters: %s" % (where, error))
        _check_values(path, where + ".services", profile["services"])
        for key, item in profile["services"].items():
            _check_service(path, where, key, item)
        table = profile["table"]
        if table is not None:
            if not isinstance(table, dict) or set(table) != {"path", "type", "entries"} or \
                    table["type"] not in FILE_TYPES:
                _refuse(path, "%s.table is not {path, type, entries}" % where)
            _check_path(path, where + ".table.path", table["path"], config_dir, named)
            _check_values(path, where + ".table.entries", table["entries"])
        if not isinstance(profile["files"], list):
            _refuse(path, "%s.files is not a list" % where)
        for index, file_path in enumerate(profile["files"]):
            # A created certificate may have moved on (another path given since): kept, never deleted unnamed.
            _check_path(path, "%s.files[%d]" % (where, index), file_path, config_dir, named, anywhere=True)
        profiles[name] = profile
    return profiles


def render_profiles_record(profiles):
    """The record's text; None when no profile holds anything any more (the record goes)."""
    kept = dict((name, profile) for name, profile in profiles.items()
                if profile["parameters"] or (profile["table"] and profile["table"]["entries"]) or profile["files"]
                or profile["services"])
    if not kept:
        return None
    return json.dumps({"format": RECORD_FORMAT, "profiles": kept}, indent=1, sort_keys=True) + "\n"


def replaced_value(name, section, profiles, owner, before):
    """The value ``owner`` replaces by writing ``name``: what its record says, else what another
    profile that wrote the value there now says it replaced, else the value there now (``before``)."""
    own = section(profiles.get(owner) or empty_profile()).get(name)
    if own is not None:
        return own["replaced"]
    for other, profile in sorted(profiles.items()):
        item = section(profile).get(name)
        if other != owner and item is not None and item["value"] == before:
            return item["replaced"]
    return before


def parameters_of(profile):
    return profile["parameters"]


def services_of(profile):
    return profile["services"]


def service_texts(master_text):
    """master.cf's services as ``service/type`` -> the entry as the collection renders it (the last of a key wins, as in Postfix)."""
    document = MasterCf(master_text)
    return dict((key, document.entry(key).render()) for key in document.entries)


def listed_services(item):
    """The ``service/type`` keys a declaration adds or removes."""
    return set("%s/%s" % (service["service"], service["type"]) for service in item.get("master_services") or [])


def recorded_services(keys, owner, profiles, before, after):
    """``owner``'s record of the services ``keys``: {key: {value, replaced}} from master.cf's entries before and after."""
    found = dict((key, {"value": after.get(key),
                        "replaced": replaced_value(key, services_of, profiles, owner, before.get(key))})
                 for key in sorted(keys))
    return dict((key, item) for key, item in found.items() if item != {"value": None, "replaced": None})


def services_back(restore):
    """master_services items that put back each ``service/type`` of ``restore`` (key -> entry text, or None: removed)."""
    items = []
    for key, text in sorted(restore.items()):
        service, service_type = key.split("/", 1)
        if text is None:
            items.append(dict(service=service, type=service_type, state="absent"))
            continue
        entry = MasterCf(text).entry(key)
        items.append(dict(dict((name, entry.fields[name]) for name in FIELDS), service=service, type=service_type,
                          state="present", command=entry.command[0], args=entry.command[1:], options=dict(entry.options)))
    return items


def entries_of(profile):
    return (profile["table"] or {}).get("entries") or {}


def release(owner, names, section, profiles, releasing, current, still_wanted):
    """What taking back ``names`` of ``owner``'s record does.

    Returns (restore: name -> value to set back, or None to remove; changed: name -> (written, now),
    the values someone changed since, which stay). ``current`` holds the values there now (name ->
    value, absent: missing); ``still_wanted`` the names another declaration of the call writes;
    ``releasing`` the owners this call lets go of. Another owner that still holds a name keeps it.
    """
    restore, changed = {}, {}
    for name in names:
        written = section(profiles[owner])[name]
        now = current.get(name)
        if now != written["value"]:
            changed[name] = (written["value"], now)
            continue
        if name in still_wanted or any(name in section(profile) for other, profile in profiles.items()
                                       if other != owner and other not in releasing):
            continue
        if now != written["replaced"]:
            restore[name] = written["replaced"]
    return restore, changed


def level_of(value):
    return (value or "").split()[0].lower() if (value or "").split() else None


def level_now(key, entries, table_named, main_level):
    """(the level mail to ``key`` gets, from what) once its own entry is gone: a covering entry of the
    table (``entries``: key -> value as it will be) while main.cf names the table, else main.cf's."""
    if table_named:
        for candidate in covering_keys(key):
            if candidate != key and level_of(entries.get(candidate)):
                return level_of(entries[candidate]), "the table's %s entry" % candidate
    return (main_level or "none").split()[0].lower(), "main.cf's smtp_tls_security_level"


def lowered(removed, entries, table_named, main_level):
    """The removed entries (key -> old value) whose destination now gets a weaker level:
    [{destination, was, now, by}], a destination and its sub-domain entry told once."""
    found = []
    for key, value in sorted(removed.items(), key=lambda pair: (pair[0].lstrip("."), pair[0].startswith("."))):
        was = level_of(value)
        now, by = level_now(key, entries, table_named, main_level)
        if LEVEL_STRENGTH.get(was, 0) <= LEVEL_STRENGTH.get(now, 0):
            continue
        if key.startswith(".") and any(item["destination"] == key[1:] and item["was"] == was for item in found):
            next(item for item in found if item["destination"] == key[1:])["subdomains"] = True
            continue
        found.append({"destination": key, "was": was, "now": now, "by": by, "subdomains": False})
    return found


def lowered_warning(owner, item, table):
    what = item["destination"] + (" and its sub-domains" if item["subdomains"] else "")
    return ("TLS lowered for %s: %s no longer lists it, so its %s entry was removed from %s; mail to it now gets "
            "TLS level %s (%s)" % (what, owner, item["was"], table, item["now"], item["by"]))


# The kind of value a warning names: a service's entry is said without its lines.
SERVICE_KIND = "master.cf's service"


def lowered_parameter_warnings(owner, restore, before):
    """A warning for each level parameter that taking it back lowers (``restore``: name -> value or None)."""
    found = []
    for name in sorted(set(restore) & set(LEVEL_PARAMETERS)):
        was, now = level_of(before.get(name)) or "none", level_of(restore[name]) or "none"
        if LEVEL_STRENGTH.get(was, 0) > LEVEL_STRENGTH.get(now, 0):
            found.append("TLS lowered: main.cf's %s goes back from %s to %s (%s): %s no longer sets it"
                         % (name, was, now, "the value it replaced" if restore[name] is not None
                            else "Postfix's default", owner))
    return found


def changed_warning(owner, kind, name, written, now):
    if kind == SERVICE_KIND:
        return "%s %s stays: %s wrote it, someone changed it since; %s no longer takes it back" % (kind, name, owner, owner)
    return ("%s %s stays: %s wrote %r there, someone changed it since to %r; %s no longer takes it back"
            % (kind, name, owner, written, now, owner))


def unasked_parameters(old, changed, listed, profiles, before, after):
    """The server's record of what its calls changed unasked: ``old`` kept as recorded unless this call
    changed the parameter again (``changed``), and what it changed that no declaration ``listed``."""
    parameters = dict((name, item) for name, item in old.items() if name not in changed)
    for name in sorted(changed - listed | changed & set(old)):
        parameters[name] = {"value": after.get(name), "replaced": replaced_value(
            name, parameters_of, profiles, HOST_UNASKED, before.get(name))}
    return dict((name, item) for name, item in parameters.items() if item["value"] != item["replaced"])
