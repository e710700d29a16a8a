"""A hostile review of the MTA-STS sending side (profile/mta_sts_sending.py and what feeds it): each test
shows a defect it found, now fixed. The fakes stand for the host: a file of
ours at CONFIG_FILE, a daemon that answers or not, a service manager whose commands fail."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import PostfixError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.host_state import packages_needed
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan import declarations as declarations_mod
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.mta_sts_resolver import (
    CONFIG_FILE, config_text)
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.profile import mta_sts_sending
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.profile.ownership_side import OwnershipSide
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.profile.mta_sts_sending import ResolverSide
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.profile.policy_side import PolicyPlan, PolicySide

TABLE = "hash:/etc/postfix/tls_policy"
OLD_MAP = "socketmap:inet:127.0.0.1:8461:postfix"
NEW_MAP = "socketmap:inet:127.0.0.1:8470:postfix"


def spec(**given):
    base = dict(port=8461, cache_grace=60, proactive_fetching=True, timeout=4, kill_switch=False, state="present")
    base.update(given)
    return base


class FakeHost(object):
    """The service manager: ``fail`` names the command (enable, restart) that exits non-zero."""

    def __init__(self, fail=None, answers=True):
        self.package_versions = {"postfix-mta-sts-resolver": (1, 1, 2)}
        self.fail, self.answers, self.calls = fail, answers, []

    def enabled(self, _service):
        return True

    def active(self, _service):
        return self.answers

    def _run(self, name):
        self.calls.append(name)
        if self.fail == name:
            raise PostfixError("/etc/init.d/postfix-mta-sts-resolver %s failed (exit 1): Job failed" % name)

    def enable(self, _service):
        self._run("enable")

    def restart(self, _service):
        self._run("restart")


class FakeProfile(object):
    """What ResolverSide asks of the TlsProfile; ``files`` is the disk (path -> text)."""

    def __init__(self, host, files):
        self.host, self.files = host, files
        self.version = (3, 7, 11)
        self.module = SimpleNamespace(check_mode=False)
        self.postfix = SimpleNamespace(socketmap_problem=lambda _dir, table: None if host.answers
                                       else "the MTA-STS policy server at %s does not answer" % table)

    def write_own_file(self, path, text, _mode, *_odd):
        changed = self.files.get(path) != text
        self.files[path] = text
        return changed

    def remove_own_file(self, path):
        self.files.pop(path, None)


def planned_policy(main_maps, tmp_path):
    main = tmp_path / "main.cf"
    main.write_text("smtp_tls_policy_maps = %s\n" % main_maps)
    policy = PolicySide(None, str(tmp_path))
    policy.plan = PolicyPlan(path="/etc/postfix/tls_policy", type="hash", maps="first")
    return policy, str(main)


def resolver_on(files, monkeypatch, host, resolver):
    monkeypatch.setattr(mta_sts_sending, "current_text", lambda path, *_odd: files.get(path))
    declarations = [dict(where="", mta_sts_resolver=resolver)] if resolver else [dict(where="")]
    return ResolverSide(FakeProfile(host, files), "/etc/postfix", declarations)


def test_the_tasks_own_mta_sts_resolver_is_a_declaration():
    params = dict((name, None) for name in declarations_mod.DECLARATION_OPTIONS)
    params.update(declarations=[], mta_sts_resolver=spec())
    found = declarations_mod.declarations_of(params)
    assert any(item.get("mta_sts_resolver") for item in found)


def test_the_tasks_own_resolver_asks_for_its_package():
    params = dict(packages=[], relay=None, declarations=[], map_types=[], mta_sts_resolver=spec())
    assert "postfix-mta-sts-resolver" in packages_needed(params)


def test_an_absent_profile_manages_no_resolver(tmp_path):
    (tmp_path / "main.cf").write_text("")
    declarations = [dict(where="", name="tls_forced", state="absent", parameters={}, absent_parameters=[],
                         policy_table=None, master_services=[], certificate=None, receiving=None, relay=None,
                         hardening=None, mta_sts_resolver=spec(), preflight={})]
    OwnershipSide(None, str(tmp_path)).request(declarations, str(tmp_path / "main.cf"), (3, 7, 11))
    assert not declarations[0].get("mta_sts_resolver")


@pytest.mark.parametrize("failing", ["restart", "enable"])
def test_a_failed_service_command_puts_the_earlier_configuration_back(failing, monkeypatch, tmp_path):
    earlier = config_text(spec(), mx_patterns=False)
    files = {CONFIG_FILE: earlier}
    host = FakeHost(fail=failing)
    if failing == "enable":
        host.enabled = lambda _service: False
    resolver = resolver_on(files, monkeypatch, host, spec(port=8470))
    policy, _main = planned_policy("%s, %s" % (TABLE, OLD_MAP), tmp_path)
    resolver.request(policy)
    with pytest.raises(PostfixError):
        resolver.write()
    assert files[CONFIG_FILE] == earlier


def test_a_socketmap_of_ours_on_another_port_leaves_the_maps(monkeypatch, tmp_path):
    files = {CONFIG_FILE: config_text(spec(port=8470), mx_patterns=False)}  # the earlier run wrote it, then stopped
    resolver = resolver_on(files, monkeypatch, FakeHost(), spec(port=8470))
    policy, main = planned_policy("%s, %s" % (TABLE, OLD_MAP), tmp_path)
    resolver.request(policy)
    assert policy.policy_maps(main) == [TABLE, NEW_MAP]


def test_switching_the_managed_resolver_off_takes_its_socketmap_out(monkeypatch, tmp_path):
    files = {CONFIG_FILE: config_text(spec(), mx_patterns=False)}  # ours: the managed resolver was on
    resolver = resolver_on(files, monkeypatch, FakeHost(), spec(state="absent"))
    policy, main = planned_policy("%s, %s" % (TABLE, OLD_MAP), tmp_path)
    resolver.request(policy)
    assert policy.policy_maps(main) == [TABLE]
    assert not resolver and resolver.write() is None and resolver.file_uses() == []


def test_a_call_that_does_not_speak_of_the_resolver_leaves_its_socketmap(monkeypatch, tmp_path):
    # Another play's call (tls_opportunistic alone): the resolver is tls_forced's to keep or release.
    files = {CONFIG_FILE: config_text(spec(), mx_patterns=False)}
    resolver = resolver_on(files, monkeypatch, FakeHost(), None)
    policy, main = planned_policy("%s, %s" % (TABLE, OLD_MAP), tmp_path)
    resolver.request(policy)
    assert policy.policy_maps(main) == [TABLE, OLD_MAP]


def test_a_released_resolver_asks_for_no_package():
    params = dict(packages=[], relay=None, declarations=[dict(relay=None, mta_sts_resolver=spec(state="absent"))],
                  map_types=[], mta_sts_resolver=None)
    assert "postfix-mta-sts-resolver" not in packages_needed(params)


def test_a_released_resolver_keeps_a_socketmap_a_declaration_wires(monkeypatch, tmp_path):
    # tls_forced_mta_sts off, tls_forced_mta_sts_socketmap naming the daemon still running: it stays, last.
    files = {CONFIG_FILE: config_text(spec(), mx_patterns=False)}
    resolver = resolver_on(files, monkeypatch, FakeHost(), spec(state="absent"))
    policy, main = planned_policy("%s, %s" % (TABLE, OLD_MAP), tmp_path)
    policy.plan.extra_maps = [OLD_MAP]
    resolver.request(policy)
    assert policy.policy_maps(main) == [TABLE, OLD_MAP]


def test_a_refusal_with_no_earlier_file_leaves_none(monkeypatch, tmp_path):
    files = {}
    monkeypatch.setattr(mta_sts_sending, "ANSWER_WAIT_SECONDS", 0)
    monkeypatch.setattr(mta_sts_sending.time, "sleep", lambda _seconds: None)
    resolver = resolver_on(files, monkeypatch, FakeHost(answers=False), spec())
    policy, _main = planned_policy(TABLE, tmp_path)
    resolver.request(policy)
    with pytest.raises(PostfixError, match="smtp_tls_policy_maps was not changed"):
        resolver.write()
    assert files.get(CONFIG_FILE) is None


# --- what held --------------------------------------------------------------------------------------------

def test_the_kill_switch_with_the_daemon_down_is_not_refused(monkeypatch, tmp_path):
    files = {CONFIG_FILE: config_text(spec(), mx_patterns=False)}
    host = FakeHost(answers=False)
    resolver = resolver_on(files, monkeypatch, host, spec(kill_switch=True))
    policy, main = planned_policy("%s, %s" % (TABLE, OLD_MAP), tmp_path)
    resolver.request(policy)
    result = resolver.write()
    assert result["restarted"] is False and host.calls == [] and policy.policy_maps(main) == [TABLE]


def test_the_switch_back_with_the_daemon_down_is_refused_and_changes_nothing(monkeypatch, tmp_path):
    earlier = config_text(spec(), mx_patterns=False)
    files = {CONFIG_FILE: earlier}
    monkeypatch.setattr(mta_sts_sending, "ANSWER_WAIT_SECONDS", 0)
    monkeypatch.setattr(mta_sts_sending.time, "sleep", lambda _seconds: None)
    resolver = resolver_on(files, monkeypatch, FakeHost(answers=False), spec())
    policy, _main = planned_policy("%s" % TABLE, tmp_path)
    resolver.request(policy)
    with pytest.raises(PostfixError, match="smtp_tls_policy_maps was not changed"):
        resolver.write()
    assert files[CONFIG_FILE] == earlier


def test_an_admin_socketmap_and_tables_keep_their_place_before_ours(monkeypatch, tmp_path):
    files = {CONFIG_FILE: config_text(spec(), mx_patterns=False)}
    resolver = resolver_on(files, monkeypatch, FakeHost(), spec())
    admin = "hash:/etc/postfix/admin_policy"
    policy, main = planned_policy("%s, %s, %s" % (TABLE, OLD_MAP, admin), tmp_path)
    resolver.request(policy)
    assert policy.policy_maps(main) == [TABLE, admin, OLD_MAP]
