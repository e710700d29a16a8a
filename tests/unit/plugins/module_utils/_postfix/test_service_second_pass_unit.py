"""Second hostile pass on the service start in tls_profile (the fixes of break-s13, a7502c1..f5cf26b): defects the
fixes left or brought, each a test that failed before its fix (pure logic, fake hosts; the facts the fakes model
were measured on the Debian 12 images, see tests/integration/test_service_second_pass.py).

Measured on localhost/mailtls-postfix-debian12(-systemd):
- ``postmulti -l -a`` lists a postmulti instance without ``multi_instance_name`` with the name ``-``, the default
  instance's name:  ``-  -  y  /etc/postfix-un``. Both init systems then start the default instance for it
  (SysV: ``postmulti -i - -x postfix start``; systemd: ``postfix@-``).
- systemd: ``systemctl start postfix@-`` while postfix.service is inactive leaves postfix.service inactive;
  ``systemctl start postfix`` then starts the oneshot and restarts nothing (the master pid stays).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError, PostfixError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.host_state import HostState
from ansible_collections.mailtls.postfix.plugins.plugin_utils import role_declarations
from test_service_keep_unit import conditional  # the same Templar reading of a role's `when`

ROOT = Path(__file__).resolve().parents[5]
ROLES = ROOT / "roles"
DEFAULT_DIR = "/etc/postfix"
UNNAMED_DIR = "/etc/postfix-un"
CA_FILE = "/etc/ssl/certs/ca-certificates.crt"

# As postmulti -l -a printed it on the Debian 12 image (postmulti -e init; an enabled instance whose main.cf has no
# multi_instance_name).
POSTMULTI_WITH_AN_UNNAMED_INSTANCE = (
    "-               -               y         /etc/postfix\n"
    "postfix-out     -               n         /etc/postfix-out\n"
    "-               -               y         /etc/postfix-un\n")


class FakeHost(object):
    """Debian 12's Postfix as measured: ``masters`` (config_dir -> runs), postfix.service's state (``unit_active``),
    postmulti's listing; the commands run (``ran``)."""

    def __init__(self, systemd, masters, postmulti, unit_active=False):
        self.systemd, self.masters, self.postmulti, self.unit_active = systemd, dict(masters), postmulti, unit_active
        self.ran = []

    def get_bin_path(self, name, required=False):
        return "/usr/bin/" + name

    def _enabled_instances(self):
        return [line.split()[0] for line in self.postmulti.splitlines() if line.split()[2] == "y"]

    def run_command(self, argv, environ_update=None, **_kw):
        argv = list(argv)
        self.ran.append(argv)
        name = argv[0].rsplit("/", 1)[-1]
        if name == "systemctl":
            verb, unit = argv[1], argv[-1].replace(".service", "")
            if verb == "start" and unit == "postfix":  # the oneshot; its Wants= start postfix@- if it is stopped
                if not self.unit_active:
                    self.unit_active = True
                    self.masters[DEFAULT_DIR] = True
            elif verb == "start" and unit.startswith("postfix@"):  # ExecStart=postmulti -i %i -p start
                self._start_instance(unit[len("postfix@"):])  # postfix.service is not started by it
            return 0, "", ""
        if argv[0] == "/etc/init.d/postfix" and argv[1] == "start":
            for instance in self._enabled_instances():  # postmulti -- -i $INSTANCE -x postfix start
                self._start_instance(instance)
            return 0, "", ""
        return 0, "", ""

    def _start_instance(self, name):
        """postmulti -i NAME: the first instance of that name (``-``: the default one)."""
        for line in self.postmulti.splitlines():
            words = line.split()
            if words[0] == name:
                self.masters[words[3]] = True
                return

    def run(self, name, args, data=None, check=True):
        if name == "postfix" and args[-1] == "status":
            config_dir = args[args.index("-c") + 1] if "-c" in args else DEFAULT_DIR
            return (0 if self.masters.get(config_dir) else 1), "", ""
        if name == "postmulti":
            return 0, self.postmulti, ""
        return 0, "", ""


def host_state(fake, monkeypatch):
    state = HostState(fake, fake)
    monkeypatch.setattr(HostState, "_systemd", lambda self: "/usr/bin/systemctl" if fake.systemd else None)
    return state


def found(config_dir, running=False, enabled=True):
    return {"config_dir": config_dir, "running": running, "enabled": enabled, "restart_required": False,
            "reload_required": False}


def params(**given):
    return dict({"service_started": True, "service_enabled": None}, **given)


# --- S1: an unnamed postmulti instance is taken for the default one ------------------------------

# init_instance matches the config_dir's line of `postmulti -l -a` and takes its first column as the instance's name;
# for an instance without multi_instance_name that column is "-", the default instance's name. instance_to_start
# then lets service_started through (check mode predicts started/running), the run starts the *default* Postfix
# (postfix@- under systemd; under SysV the init script's `postmulti -i -` does the same) and fails after the writes
# because config_dir's Postfix does not run: the D2/D3 defects again, for an instance listed as enabled.
# Fixed, was S1: an unnamed postmulti instance (name '-') is started as the default one
@pytest.mark.parametrize("systemd", [False, True], ids=["sysv", "systemd"])
def test_an_unnamed_postmulti_instance_is_refused_before_any_write(monkeypatch, systemd):
    fake = FakeHost(systemd, {DEFAULT_DIR: False, UNNAMED_DIR: False}, POSTMULTI_WITH_AN_UNNAMED_INSTANCE)
    with pytest.raises(InputError):  # before the writes, in check mode as in the run
        host_state(fake, monkeypatch).instance_to_start(params(), found(UNNAMED_DIR))


# Fixed, was S1: starting an unnamed postmulti instance starts the default Postfix
@pytest.mark.parametrize("systemd", [False, True], ids=["sysv", "systemd"])
def test_no_other_postfix_is_started_for_an_unnamed_postmulti_instance(monkeypatch, systemd):
    fake = FakeHost(systemd, {DEFAULT_DIR: False, UNNAMED_DIR: False}, POSTMULTI_WITH_AN_UNNAMED_INSTANCE)
    try:
        host_state(fake, monkeypatch).keep_postfix(params(), found(UNNAMED_DIR), False)
    except (InputError, PostfixError):
        pass
    assert not fake.masters[DEFAULT_DIR], "the default Postfix was started: %s" % fake.ran


# --- S2: under systemd the start leaves postfix.service inactive ---------------------------------

# start_postfix starts postfix@<instance> alone. Where postfix.service was inactive too (`systemctl stop postfix`,
# or a host booted with Postfix disabled), it stays inactive while Postfix runs. Ansible's systemd module (the
# role's service tasks with gathered facts, service_mgr=systemd) then turns `state: restarted` and `state: reloaded`
# of postfix into `systemctl start postfix` ("not running: start"), which starts the oneshot and neither restarts nor
# reloads the daemon: the role's 'Restart Postfix for a parameter that needs it' and its handlers do nothing (the
# integration test measures the master pid unchanged after a restart parameter changed).
# Fixed, was S2: systemd start through postfix@- leaves postfix.service inactive
def test_the_start_under_systemd_leaves_postfix_service_active(monkeypatch):
    fake = FakeHost(True, {DEFAULT_DIR: False}, "-               -               y         /etc/postfix\n",
                    unit_active=False)
    updates = host_state(fake, monkeypatch).keep_postfix(params(), found(DEFAULT_DIR), False)
    assert updates["started"] and fake.masters[DEFAULT_DIR]  # the premise: Postfix runs
    assert fake.unit_active, "postfix.service left inactive: %s" % fake.ran


# --- S3: the handlers' fallback reads y / t as false ---------------------------------------------

# The handlers read __server_profile.switches.manage_service, else (no declare ran before them: a play of the
# user's own tasks notifying mailtls_postfix_reload/restart, which the argument spec says "stay for your own
# tasks") `server_manage_service | bool`. ansible-core 2.19's bool filter reads "y", "t" as false (with a deprecation
# warning), where the argument spec, and since this fix the role's own call, read them as true: the D5 defect kept
# in the handlers' fallback - Postfix is neither reloaded nor restarted.
# Fixed, was S3: the handlers' fallback `server_manage_service | bool` reads y/t as false
@pytest.mark.parametrize("text", ["y", "t", "Y"])
def test_the_handlers_without_the_roles_call_read_y_as_true(text):
    handlers = yaml.safe_load((ROLES / "server" / "handlers" / "main.yml").read_text())
    service_handlers = [handler for handler in handlers if "ansible.builtin.service" in handler]
    assert service_handlers
    for handler in service_handlers:
        assert conditional(handler["when"], {"server_manage_service": text}) is True, handler["name"]


# --- S4: tls_relay_wrappermode (type raw) read non-strictly --------------------------------------

def relay_as_the_action_passes_them(**given):
    variables = yaml.safe_load((ROLES / "tls_relay" / "defaults" / "main.yml").read_text())
    variables.update(tls_relay_host="relay.example", tls_relay_port=465)
    variables.update(("tls_relay_" + name, value) for name, value in given.items())
    return role_declarations.tls_relay(dict((name[len("tls_relay_"):], value) for name, value in variables.items()
                                            if name.startswith("tls_relay_")), CA_FILE)


# ansible_bool is now boolean(strict=False): any text it does not know is false, silently. The argument specs'
# type bool refuse such text before it gets there, but tls_relay_wrappermode is type raw (auto, or a bool), so
# nothing refuses it: `tls_relay_wrappermode: ture` (or "enabled", "yes please") turns SMTPS off on port 465 - a
# relay that then hangs on the TLS handshake - where the spec's own bool check, or strict=True, would refuse it.
# Fixed, was S4: tls_relay_wrappermode (type raw) typo is silently read as false
@pytest.mark.parametrize("text", ["ture", "enabled", "2"])
def test_a_wrappermode_that_is_no_boolean_is_refused_not_read_as_false(text):
    try:
        found = relay_as_the_action_passes_them(wrappermode=text)
    except (TypeError, ValueError):
        return  # refused: held
    assert found["relay"].get("wrappermode") is not False, found["relay"]
