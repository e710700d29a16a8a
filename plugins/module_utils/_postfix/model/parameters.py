# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What we know about individual main.cf parameters, and the TLS migration plan (private to the collection).

Pure: no Ansible, no I/O.
"""

from __future__ import annotations

import re

from ..core.errors import ConfigError

# postconf(5): "you need to stop and start Postfix when this parameter
# changes" for the first two; the directories and owner are read by master(8)
# only at start-up.
RESTART_PARAMETERS = frozenset([
    "inet_interfaces",
    "inet_protocols",
    "queue_directory",
    "data_directory",
    "mail_owner",
])

# Obsolete TLS parameters and what replaces them (TLS_README, postconf(5)).
# We never write these ourselves; users who do get a warning.
OBSOLETE_PARAMETERS = {
    "smtpd_use_tls": "smtpd_tls_security_level = may",
    "smtpd_enforce_tls": "smtpd_tls_security_level = encrypt",
    "smtp_use_tls": "smtp_tls_security_level = may",
    "smtp_enforce_tls": "smtp_tls_security_level = encrypt",
    "smtp_tls_enforce_peername": "smtp_tls_security_level = verify (or encrypt when it was 'no')",
    "smtp_tls_per_site": "smtp_tls_policy_maps",
    "lmtp_use_tls": "lmtp_tls_security_level = may",
    "lmtp_enforce_tls": "lmtp_tls_security_level = encrypt",
    "lmtp_tls_enforce_peername": "lmtp_tls_security_level = verify (or encrypt when it was 'no')",
    "lmtp_tls_per_site": "lmtp_tls_policy_maps",
    "tlsproxy_use_tls": "tlsproxy_tls_security_level = may",
    "tlsproxy_enforce_tls": "tlsproxy_tls_security_level = encrypt",
    "postscreen_use_tls": "postscreen_tls_security_level = may",
    "postscreen_enforce_tls": "postscreen_tls_security_level = encrypt",
    "tlsproxy_client_use_tls": "tlsproxy_client_security_level = may",
    "tlsproxy_client_enforce_tls": "tlsproxy_client_security_level = encrypt",
    "smtpd_tls_cipherlist": "smtpd_tls_ciphers / smtpd_tls_mandatory_ciphers",
    "smtp_tls_cipherlist": "smtp_tls_ciphers / smtp_tls_mandatory_ciphers",
    "lmtp_tls_cipherlist": "lmtp_tls_ciphers / lmtp_tls_mandatory_ciphers",
    "smtpd_tls_eecdh_grade": "tls_eecdh_auto_curves (Postfix 3.6 and later)",
}


# Parameters whose default is a number but which take other words too: a level such as 3.6, a
# service name (services(5)), a protocol version with options.
_DIGITS_BUT_NOT_INTEGER = frozenset(["compatibility_level", "lmtp_tcp_port", "milter_protocol"])
# What Postfix's integer parameters read: ASCII digits, or a reference it expands first.
_INTEGER_VALUE = re.compile(r"[0-9]+|\$(?:[A-Za-z0-9_]+|\{[A-Za-z0-9_]+\})")


def integer_parameters(defaults):
    """The integer parameters among ``defaults`` (``postconf -dx``, expanded): those whose default is a number."""
    return set(name for name, value in defaults.items()
               if _INTEGER_VALUE.fullmatch(value) and value[:1] != "$" and name not in _DIGITS_BUT_NOT_INTEGER)


def integer_value_problem(value):
    """Why Postfix cannot read ``value`` as an integer parameter, or None.

    postconf and postfix check accept any text; the daemon exits on first use ("fatal: bad
    numerical configuration"). Python's str.isdigit() would accept other scripts' digits too.
    """
    if _INTEGER_VALUE.fullmatch(value):
        return None
    return "%r is not an integer (ASCII digits, or a $parameter reference)" % (value,)


def obsolete_warning(name):
    """A warning for an obsolete parameter, or None."""
    replacement = OBSOLETE_PARAMETERS.get(name)
    if replacement is None:
        return None
    return "%s is obsolete; use %s instead" % (name, replacement)


class TlsRole(object):
    """One TLS role of a Postfix daemon and the parameters that decide its security level."""

    __slots__ = ("prefix", "server", "level", "use", "enforce", "peername", "wrappermode")

    def __init__(self, prefix, server, level, use, enforce, peername=None, wrappermode=None):
        self.prefix = prefix
        self.server = server
        self.level = level
        self.use = use
        self.enforce = enforce
        self.peername = peername
        self.wrappermode = wrappermode

    @property
    def switches(self):
        """The obsolete yes/no parameters that a non-empty level overrides."""
        return [name for name in (self.use, self.enforce, self.peername) if name]

    @property
    def parameters(self):
        return [self.level, self.wrappermode] + self.switches


# How each daemon turns these parameters into a level (smtpd.c, postscreen_starttls.c,
# tlsproxy.c, smtp_tls_policy.c): a non-empty level wins; else enforce, then use.
TLS_ROLES = (
    TlsRole("smtpd", True, "smtpd_tls_security_level", "smtpd_use_tls", "smtpd_enforce_tls",
            wrappermode="smtpd_tls_wrappermode"),
    TlsRole("postscreen", True, "postscreen_tls_security_level", "postscreen_use_tls", "postscreen_enforce_tls"),
    TlsRole("tlsproxy", True, "tlsproxy_tls_security_level", "tlsproxy_use_tls", "tlsproxy_enforce_tls"),
    TlsRole("smtp", False, "smtp_tls_security_level", "smtp_use_tls", "smtp_enforce_tls",
            peername="smtp_tls_enforce_peername"),
    TlsRole("lmtp", False, "lmtp_tls_security_level", "lmtp_use_tls", "lmtp_enforce_tls",
            peername="lmtp_tls_enforce_peername"),
    TlsRole("tlsproxy_client", False, "tlsproxy_client_security_level", "tlsproxy_client_use_tls",
            "tlsproxy_client_enforce_tls"),
)
ROLES = dict((role.prefix, role) for role in TLS_ROLES)
# The roles a master.cf command runs (smtp(8) is lmtp(8) when started as lmtp).
COMMAND_ROLES = {
    "smtpd": ("smtpd",),
    "postscreen": ("postscreen",),
    "tlsproxy": ("tlsproxy", "tlsproxy_client"),
    "smtp": ("smtp",),
    "lmtp": ("lmtp",),
}
# The parameters whose defaults the migration needs (``postconf -d``), including what they refer to.
ROLE_PARAMETERS = tuple(sorted(set(name for role in TLS_ROLES for name in role.parameters if name)
                               | set(["tlsproxy_client_level"])))
# A server daemon warns about these levels and uses encrypt.
_SERVER_LEVELS = {"verify": "encrypt", "secure": "encrypt", "fingerprint": "encrypt"}
# A reference to a parameter inside a value: $name, ${name}, ${name?...}, ${name:...}, {$name}.
_REFERENCE = re.compile(r"\$\{?([A-Za-z0-9_]+)")
_SIMPLE_DEFAULT = re.compile(r"\$(?:([A-Za-z0-9_]+)|\{([A-Za-z0-9_]+)\})")
_CONDITIONAL_DEFAULT = re.compile(r"\$\{([A-Za-z0-9_]+)([?:])(?:\{(.*)\}|(.*))\}", re.S)


def evaluate(name, layers, defaults, depth=0):
    """The value of ``name``: from the first layer that sets it, else its default, evaluated.

    ``layers`` are mappings of expanded values (a service's ``-o`` overrides, then main.cf);
    a default is evaluated in the same layers, as a daemon does once its overrides are in.
    """
    for layer in layers:
        if name in layer:
            return layer[name]
    expression = defaults.get(name)
    if expression is None:
        return ""  # neither set nor known: Postfix expands it to nothing
    if depth > 10:
        raise ConfigError("the default of %s refers to itself" % name)
    return _evaluate_default(name, expression, layers, defaults, depth + 1)


def _evaluate_default(name, expression, layers, defaults, depth):
    if "$" not in expression:
        return expression
    match = _SIMPLE_DEFAULT.fullmatch(expression)
    if match:
        return evaluate(match.group(1) or match.group(2), layers, defaults, depth)
    match = _CONDITIONAL_DEFAULT.fullmatch(expression)
    if match:
        # ${name?value}: value when $name is not empty; ${name:value}: when it is.
        inner = match.group(3) if match.group(3) is not None else match.group(4)
        if bool(evaluate(match.group(1), layers, defaults, depth)) == (match.group(2) == "?"):
            return _evaluate_default(name, inner, layers, defaults, depth)
        return ""
    raise ConfigError("cannot tell what the default of %s (%s) amounts to" % (name, expression))


def _switch(name, layers, defaults):
    value = evaluate(name, layers, defaults).strip()
    if value.lower() not in ("yes", "no"):
        # get_mail_conf_bool(): anything else is fatal for the daemon.
        raise ConfigError("%s = %r is neither yes nor no, which Postfix's daemons refuse; fix it first"
                          % (name, value), parameter=name)
    return value.lower() == "yes"


def role_level(role, layers, defaults):
    """The TLS security level Postfix applies for ``role`` with these values.

    Server roles give none, may or encrypt (verify, secure and fingerprint act as encrypt),
    or ``wrappermode`` when smtpd_tls_wrappermode makes TLS start before SMTP. The
    tlsproxy client only decides whether TLS is set up: may or none.
    """
    if role.wrappermode and _switch(role.wrappermode, layers, defaults):
        return "wrappermode"
    level = evaluate(role.level, layers, defaults).strip()
    if not level:
        if _switch(role.enforce, layers, defaults):
            level = "verify" if role.peername and _switch(role.peername, layers, defaults) else "encrypt"
        elif _switch(role.use, layers, defaults):
            level = "may"
        else:
            level = "none"
    if role.server:
        return _SERVER_LEVELS.get(level, level)
    if role.prefix == "tlsproxy_client":
        return "none" if level == "none" else "may"
    return level


class Service(object):
    """A master.cf service as the migration sees it."""

    __slots__ = ("key", "command", "overrides", "raw")

    def __init__(self, key, command, overrides, raw=None):
        self.key = key                  # service/type
        self.command = command          # the daemon's name, such as smtpd
        self.overrides = overrides      # -o name=value, expanded as postconf -xP shows them
        self.raw = overrides if raw is None else raw  # the same as written in master.cf

    @property
    def roles(self):
        return COMMAND_ROLES.get(self.command, ())


def active_roles(defaults):
    """The roles this Postfix knows (``defaults`` comes from its ``postconf -d``)."""
    return [role for role in TLS_ROLES if role.level in defaults]


def effective_levels(main, services, defaults):
    """``{(service key or None, role prefix): level}``: the level of every role, globally and per service."""
    roles = active_roles(defaults)
    levels = dict(((None, role.prefix), role_level(role, [main], defaults)) for role in roles)
    for service in services:
        for role in roles:
            if role.prefix in service.roles:
                levels[(service.key, role.prefix)] = role_level(role, [service.overrides, main], defaults)
    return levels


class TlsMigration(object):
    """What the migration changes: main.cf parameters, master.cf options, and notes for a human."""

    __slots__ = ("main_set", "main_remove", "services", "notes")

    def __init__(self):
        self.main_set = {}      # name: level
        self.main_remove = []   # names
        self.services = {}      # service/type: (option names to remove, {option: level})
        self.notes = []


def plan_tls_migration(main_raw, main, services, defaults):
    """Plan the move from the obsolete TLS switches to security levels, keeping every level.

    ``main_raw`` maps what main.cf sets to its text, ``main`` what Postfix knows of it to the
    expanded value (``postconf -x -n``), ``services`` are master.cf's Service entries and
    ``defaults`` Postfix's defaults (``postconf -d``) of ROLE_PARAMETERS. The obsolete switches
    go from main.cf and from the ``-o`` overrides of every service whose daemon we know; a
    level is set wherever a role's level would otherwise change - globally and per service,
    both once master.cf is written and once main.cf is too.
    """
    plan = TlsMigration()
    roles = active_roles(defaults)
    switches = set(name for role in roles for name in role.switches)
    before = effective_levels(main, services, defaults)

    plan.main_remove = sorted(name for name in main_raw if name in switches)
    after = dict((name, value) for name, value in main.items() if name not in plan.main_remove)
    plan.main_set = _keep_levels(roles, after, [[after]], before, None, defaults)
    for role in roles:
        obsolete = [name for name in role.switches if name in main_raw]
        level = main.get(role.level, "").strip()
        if obsolete and level:
            plan.notes.append("%s is already set to %s, which Postfix uses instead of %s"
                              % (role.level, level, ", ".join(obsolete)))

    for service in services:
        obsolete = [name for name in service.raw if name in switches]
        service_roles = [role for role in roles if role.prefix in service.roles]
        if not service_roles:
            if obsolete:
                plan.notes.append("%s runs %s, whose TLS settings this module does not know; its -o %s "
                                  "left alone" % (service.key, service.command or "nothing", ", -o ".join(obsolete)))
            continue
        overrides = dict((name, value) for name, value in service.overrides.items() if name not in obsolete)
        # master.cf is written first: the service must keep its level with main.cf old and new.
        pins = _keep_levels(service_roles, overrides, [[overrides, main], [overrides, after]], before,
                            service.key, defaults)
        if obsolete or pins:
            plan.services[service.key] = (obsolete, pins)
            plan.notes.append(_service_note(service, obsolete, pins, service_roles, before))

    _refuse_dangling_references(plan, main_raw, services)
    _obsolete_notes(plan, main_raw)
    return plan


def _keep_levels(roles, target, states, before, key, defaults):
    """Set levels in ``target`` (the first layer of every state) until each role has its old level.

    Setting one level can move another (tlsproxy's defaults to smtpd's), hence the rounds.
    Returns the levels set.
    """
    pins = {}
    for _round in range(len(roles) + 1):
        moved = False
        for role in roles:
            wanted = before[(key, role.prefix)]
            if all(role_level(role, state, defaults) == wanted for state in states):
                continue
            if wanted == "wrappermode" or role.level in pins:
                raise ConfigError("%s: cannot keep the %s TLS level %s by setting %s"
                                  % (key or "main.cf", role.prefix, wanted, role.level))
            target[role.level] = pins[role.level] = wanted
            moved = True
        if not moved:
            return pins
    raise ConfigError("%s: the TLS levels do not settle" % (key or "main.cf"))


def _service_note(service, obsolete, pins, roles, before):
    done = []
    if obsolete:
        done.append("removed " + ", ".join("-o %s=%s" % (name, service.raw[name]) for name in obsolete))
    if pins:
        done.append("added " + ", ".join("-o %s=%s" % item for item in sorted(pins.items())))
    levels = ", ".join("%s %s" % (role.prefix, before[(service.key, role.prefix)]) for role in roles)
    return "%s: %s; its TLS level stays %s" % (service.key, " and ".join(done), levels)


def _references(value):
    return set(_REFERENCE.findall(value or ""))


def _refuse_dangling_references(plan, main_raw, services):
    """Refuse to remove a parameter that a kept value still refers to: that value would change."""
    removed_main = set(plan.main_remove)
    problems = []
    for name in sorted(main_raw):
        if name not in removed_main:
            for gone in sorted(_references(main_raw[name]) & removed_main):
                problems.append("main.cf: %s refers to $%s" % (name, gone))
    for service in services:
        removed, pins = plan.services.get(service.key, ((), {}))
        kept = set(name for name in service.raw if name not in removed) | set(pins)
        gone_here = set(removed) | (removed_main - kept)
        for name in service.raw:
            if name not in removed:
                for gone in sorted(_references(service.raw[name]) & gone_here):
                    problems.append("%s: -o %s refers to $%s" % (service.key, name, gone))
    if problems:
        raise ConfigError("the migration would remove parameters that other values refer to (%s); "
                          "write the value in place of the reference first, nothing was changed"
                          % "; ".join(problems))


def _obsolete_notes(plan, main_raw):
    for prefix in ("smtp", "lmtp"):
        if main_raw.get(prefix + "_tls_per_site") is not None:
            plan.notes.append("%s_tls_per_site uses the old NONE/MAY/MUST/MUST_NOPEERMATCH table format; rewrite "
                              "it as %s_tls_policy_maps entries (mailtls.postfix.tls_policy) by hand"
                              % (prefix, prefix))
    for prefix in ("smtpd", "smtp", "lmtp"):
        name = prefix + "_tls_cipherlist"
        if main_raw.get(name) is not None:
            plan.main_remove.append(name)
            plan.notes.append("%s is ignored by Postfix 2.3 and later; removed. Choose %s_tls_ciphers / "
                              "%s_tls_mandatory_ciphers (a grade such as high) if you need them"
                              % (name, prefix, prefix))
    if main_raw.get("smtpd_tls_eecdh_grade") is not None:
        plan.notes.append("smtpd_tls_eecdh_grade is deprecated since Postfix 3.6; tls_eecdh_auto_curves replaces "
                          "it and its default is right for most servers")
