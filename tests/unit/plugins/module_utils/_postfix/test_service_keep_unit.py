"""Hostile review of the service start folded into tls_profile (service_started, service_enabled) and of the
server role around it: the defects it found, each a test that failed before its fix (pure logic, fake hosts).

The fakes model the host as Debian 12 ships it (read off this machine's postfix package):
- systemd: postfix.service is ``Type=oneshot RemainAfterExit=yes ExecStart=/bin/true``; the real daemon is the
  instance postfix@-.service (``PartOf=postfix.service``, pulled in by postfix-instance-generator). A Postfix
  stopped by hand (``postfix stop``) or whose instance failed at boot leaves postfix.service "active (exited)",
  and ``systemctl start postfix`` is then a no-op.
- SysV: /etc/init.d/postfix start starts every instance ``postmulti -l -a`` lists as enabled - the default one
  (/etc/postfix) among them - and nothing else.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import PostfixError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.host_state import HostState
from ansible_collections.mailtls.postfix.plugins.plugin_utils import role_declarations
from ansible_collections.mailtls.postfix.plugins.plugin_utils.profile_summary import summary

try:  # ansible-core 2.19 templates only trusted text
    from ansible.template import trust_as_template
except ImportError:  # pragma: no cover
    def trust_as_template(value):
        return value

ROOT = Path(__file__).resolve().parents[5]
ROLES = ROOT / "roles"
DEFAULT_DIR = "/etc/postfix"


# --- a fake host --------------------------------------------------------------------------------

class FakeHost(object):
    """A host whose Postfix instances run or not (``masters``: config_dir -> bool), its init system
    (``systemd``), and the commands run on it (``ran``)."""

    def __init__(self, systemd, masters, unit_active=False, check_mode=False):
        self.systemd, self.masters, self.unit_active, self.check_mode = systemd, dict(masters), unit_active, check_mode
        self.ran = []

    # AnsibleModule's part
    def get_bin_path(self, name, required=False):
        return "/usr/bin/" + name

    def run_command(self, argv, environ_update=None, **_kw):
        argv = list(argv)
        self.ran.append(argv)
        name = argv[0].rsplit("/", 1)[-1]
        if name == "systemctl":
            verb, unit = argv[1], argv[-1]
            if verb == "start" and unit in ("postfix", "postfix.service"):
                if not self.unit_active:  # the oneshot runs, its Wants= start the default instance
                    self.unit_active = True
                    self.masters[DEFAULT_DIR] = True
                return 0, "", ""
            if verb == "restart" and unit in ("postfix", "postfix.service"):
                self.unit_active = True
                self.masters[DEFAULT_DIR] = True
                return 0, "", ""
            if verb == "start" and unit in ("postfix@-", "postfix@-.service"):
                self.masters[DEFAULT_DIR] = True
                return 0, "", ""
            if verb == "is-enabled":
                return 0, "enabled\n", ""
            return 0, "", ""
        if argv[0] == "/etc/init.d/postfix" and argv[1] == "start":
            self.masters[DEFAULT_DIR] = True  # the enabled instances: the default one here
            return 0, "", ""
        if name == "postfix" and argv[-1] == "start":  # postfix -c DIR start
            self.masters[argv[argv.index("-c") + 1] if "-c" in argv else DEFAULT_DIR] = True
            return 0, "", ""
        return 0, "", ""

    # host.commands.Postfix's part
    def run(self, name, args, data=None, check=True):
        if name == "postfix" and args[-1] == "status":
            config_dir = args[args.index("-c") + 1] if "-c" in args else DEFAULT_DIR
            return (0 if self.masters.get(config_dir) else 1), "", ""
        if name == "postfix" and args[-1] == "start":
            self.masters[args[args.index("-c") + 1] if "-c" in args else DEFAULT_DIR] = True
            return 0, "", ""
        if name == "postmulti":
            return 0, "-               -               y         /etc/postfix\n", ""
        return 0, "", ""


def host_state(fake, monkeypatch):
    state = HostState(fake, fake)
    monkeypatch.setattr(HostState, "_systemd", lambda self: "/usr/bin/systemctl" if fake.systemd else None)
    return state


def params(**given):
    return dict({"service_started": True, "service_enabled": None}, **given)


def found(config_dir=DEFAULT_DIR, running=False, enabled=True):
    return {"config_dir": config_dir, "running": running, "enabled": enabled, "restart_required": False,
            "reload_required": False}


def outcome(fake, monkeypatch, config_dir, check_mode):
    """(raised, updates) of keep_postfix on ``fake`` for a stopped Postfix of ``config_dir``."""
    try:
        return False, host_state(fake, monkeypatch).keep_postfix(params(), found(config_dir), check_mode)
    except PostfixError as error:
        return True, str(error)


# --- D1: systemd, postfix.service active (exited), the instance stopped ------------------------

# Fixed, was D1: under systemd the start is `systemctl start postfix`, a no-op while postfix.service (oneshot,
# RemainAfterExit) is active though its instance postfix@- is stopped (postfix stop by hand, an instance failed at
# boot): the default Postfix is never started and the call fails asking whether /etc/postfix is 'an instance the
# init system starts'
def test_a_stopped_default_instance_is_started_under_systemd_whatever_postfix_service_says(monkeypatch):
    fake = FakeHost(systemd=True, masters={DEFAULT_DIR: False}, unit_active=True)
    updates = host_state(fake, monkeypatch).keep_postfix(params(), found(), check_mode=False)
    assert fake.masters[DEFAULT_DIR] and updates["started"] and updates["running"]


# --- D2/D3: a config_dir the init system does not start -----------------------------------------

@pytest.mark.parametrize("systemd", [False, True], ids=["sysv", "systemd"])
# Fixed, was D2: check mode predicts started/running/changed for a config_dir the init system does not start (not
# /etc/postfix, not an enabled postmulti instance), while the run fails on it: check mode does not predict the run
def test_check_mode_predicts_the_run_for_a_config_dir_the_init_system_does_not_start(monkeypatch, systemd):
    config_dir = "/srv/mx2/postfix"
    real = outcome(FakeHost(systemd, {DEFAULT_DIR: True, config_dir: False}), monkeypatch, config_dir, False)
    predicted = outcome(FakeHost(systemd, {DEFAULT_DIR: True, config_dir: False}, check_mode=True), monkeypatch,
                        config_dir, True)
    assert real[0] is True  # the run refuses (D3: after it started another Postfix)
    assert predicted[0] == real[0], (predicted, real)


@pytest.mark.parametrize("systemd", [False, True], ids=["sysv", "systemd"])
# Fixed, was D3: for a config_dir the init system does not start, the call starts the init system's own Postfix
# (/etc/postfix, through systemctl start postfix or /etc/init.d/postfix start) before it finds that config_dir still
# does not run and fails: a Postfix nobody asked for is left running
def test_no_other_postfix_is_started_for_a_config_dir_the_init_system_does_not_start(monkeypatch, systemd):
    config_dir = "/srv/mx2/postfix"
    fake = FakeHost(systemd, {DEFAULT_DIR: False, config_dir: False})
    try:
        host_state(fake, monkeypatch).keep_postfix(params(), found(config_dir), check_mode=False)
    except PostfixError:
        pass
    assert not fake.masters[DEFAULT_DIR], fake.ran


# --- D4: the role's summary of a call that started Postfix or changed its boot setting ----------

@pytest.mark.parametrize("done", [{"started": True, "running": True}, {"enabled_changed": True, "enabled": False}],
                         ids=["started", "enabled_changed"])
# Fixed, was D4: profile_summary (the role's 'Say what happened') knows neither started nor enabled_changed: a call
# whose one change is starting a stopped Postfix (or setting it at boot) says 'no change: Postfix already runs the
# wanted TLS state'
def test_the_summary_says_postfix_was_started_or_set_at_boot(done):
    state = dict({"changed": True, "postfix_installed": True, "applied": True, "missing_packages": [],
                  "restart_required": False, "reload_required": False, "reloaded": False, "started": False,
                  "enabled_changed": False, "running": False, "enabled": True, "main_cf": {"changes": {}}}, **done)
    for check_mode in (False, True):
        lines = summary(state, check_mode)
        assert not any(line.startswith("no change") for line in lines), lines
        assert any("start" in line or "boot" in line for line in lines), lines


# --- D5: text booleans the role's argument spec accepts as true, read as false -----------------

def server_variables(**given):
    variables = yaml.safe_load((ROLES / "server" / "defaults" / "main.yml").read_text())
    variables.update(("server_" + name, value) for name, value in given.items())
    return variables


def server_arguments(variables):
    distribution = yaml.safe_load((ROLES / "server" / "vars" / "main.yml").read_text())["__server_distributions"]
    return role_declarations.server_arguments(dict((name[len("server_"):], value) for name, value in variables.items()),
                                              [], distribution["Debian"])


def spec_accepts_as(variables, name):
    """What the declare action's argument-spec check (ArgumentSpecValidator, the role's main options) makes of
    ``name``: it must accept the value, and this is the boolean it reads."""
    spec = yaml.safe_load((ROLES / "server" / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
    result = ArgumentSpecValidator(spec["options"]).validate(variables)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters[name]


@pytest.mark.parametrize("text", ["y", "t", "Y"])
# Fixed, was D5: server_service_enabled given as y or t (-e server_service_enabled=y) passes the role's argument
# spec as true (type bool), but ansible_bool reads it as false: tls_profile gets service_enabled=false and disables
# Postfix at boot (before, the service task's bool option read it as true)
def test_server_service_enabled_that_the_spec_accepts_as_true_is_true(text):
    variables = server_variables(service_enabled=text)
    assert spec_accepts_as(variables, "server_service_enabled") is True
    assert server_arguments(variables)["service_enabled"] is True


@pytest.mark.parametrize("text", ["y", "t"])
# Fixed, was D5: server_manage_service given as y or t passes the argument spec as true, but the role reads it as
# false: no reload, no start, no boot setting
def test_server_manage_service_that_the_spec_accepts_as_true_is_true(text):
    variables = server_variables(manage_service=text)
    assert spec_accepts_as(variables, "server_manage_service") is True
    arguments = server_arguments(variables)
    assert (arguments["reload"], arguments["service_started"], arguments.get("service_enabled")) == (True, True, True)


@pytest.mark.parametrize("name, check", [
    ("manage_packages", lambda arguments: arguments["packages"] == [] and arguments["map_types"] == []),
    ("apply_host_settings", lambda arguments: "hardening" not in arguments and not arguments["migrate_obsolete"]),
])
# Fixed, was D6: server_manage_packages / server_apply_host_settings given as text (-e server_manage_packages=false)
# are read as Python truth in role_declarations.server(): the packages are still checked and installed
# (follow_up.yml's 'not server_manage_packages' is false for the text 'false' too), the host-wide settings still
# applied - the changelog's text-boolean fix stops at server_manage_service and server_service_enabled
def test_other_server_booleans_given_as_false_text_are_false(name, check):
    variables = server_variables(**{name: "false"})
    assert spec_accepts_as(variables, "server_" + name) is False
    assert check(server_arguments(variables))


# --- D7: the handlers still read server_manage_service raw ---------------------------------------

def conditional(when, variables):
    templar = Templar(loader=DataLoader(), variables=variables)
    return templar.evaluate_conditional(trust_as_template(when))


# Fixed, was D7: the changelog says server_manage_service given as text no longer fails the role's conditionals, but
# the role's handlers still test it raw: with -e server_manage_service=false 'Restart Postfix' fails (a str
# conditional, ansible-core 2.19) and 'Reload Postfix' reloads Postfix
def test_the_handlers_read_server_manage_service_false_text_as_false():
    handlers = yaml.safe_load((ROLES / "server" / "handlers" / "main.yml").read_text())
    service_handlers = [handler for handler in handlers if "ansible.builtin.service" in handler]
    assert service_handlers
    for handler in service_handlers:
        assert conditional(handler["when"], {"server_manage_service": "false"}) is False, handler["name"]


# --- D8: server_service_state: stopped and a parameter that needs a restart ----------------------

def follow_up_tasks():
    tasks = yaml.safe_load((ROLES / "server" / "tasks" / "follow_up.yml").read_text())
    return dict((task["name"], task) for task in tasks)


def runs(task, variables):
    whens = task.get("when", [])
    return all(conditional(when, variables) for when in (whens if isinstance(whens, list) else [whens]))


# Fixed, was D8: with server_service_state: stopped, a running Postfix and a changed restart parameter
# (inet_interfaces), follow_up.yml's service task stops Postfix and then 'Restart Postfix for a parameter that needs
# it' starts it again (its condition reads server_state.running from before the stop): the run ends with Postfix
# running, the next run stops it
def test_a_postfix_kept_stopped_is_not_restarted_for_a_restart_parameter():
    tasks = follow_up_tasks()
    variables = {
        "__server_profile": {"arguments": {"reload": True, "service_started": False, "service_enabled": True}},
        "server_service_state": "stopped", "server_manage_packages": True, "ansible_check_mode": False,
        "server_state": {"applied": True, "missing_packages": [], "running": True, "enabled": True,
                         "restart_required": True, "reload_required": False},
    }
    stops = runs(tasks["Keep Postfix in the service state asked for"], variables)
    restarts = runs(tasks["Restart Postfix for a parameter that needs it"], variables)
    assert stops  # the premise: Postfix is stopped as asked
    assert not restarts


# --- every boolean text the role's argument spec reads, the role reads the same -----------------

@pytest.mark.parametrize("text", ["y", "Y", "t", "yes", "on", "1", "true", "True", "n", "no", "off", "0", "false", "f"])
def test_the_roles_read_a_boolean_text_as_their_argument_spec_does(text):
    spec = {"switch": {"type": "bool"}}
    assert role_declarations.ansible_bool(text) is ArgumentSpecValidator(spec).validate(
        {"switch": text}).validated_parameters["switch"]
