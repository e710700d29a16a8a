"""The sending side's MTA-STS policy server (plan/mta_sts_resolver.py): its configuration, its socketmap,
when it passes the policies' MX patterns, and what it refuses."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.mta_sts_resolver import (
    CACHE_FILE, check_spec, config_text, configured_port, passes_mx_patterns, socketmap)


def spec(**given):
    base = dict(port=8461, cache_grace=60, proactive_fetching=True, timeout=4, kill_switch=False)
    base.update(given)
    return base


def test_the_configuration_is_the_yaml_the_daemon_reads():
    config = yaml.safe_load(config_text(spec(), mx_patterns=False))
    assert config["host"] == "127.0.0.1" and config["port"] == 8461
    assert config["cache"] == {"type": "sqlite", "options": {"filename": CACHE_FILE}}
    assert config["cache_grace"] == 60
    assert config["proactive_policy_fetching"]["enabled"] is True
    # RFC 8461 section 5: testing policies are reported, not enforced.
    assert config["default_zone"] == {"strict_testing": False, "timeout": 4, "require_sni": True}


def test_mx_patterns_only_where_postfix_and_the_resolver_take_them():
    # Debian 13: Postfix 3.10.13, resolver 1.5.0; Debian 12: 3.7.11 and 1.1.2; 3.10.4 predates the check.
    assert passes_mx_patterns((3, 10, 13), (1, 5, 0))
    assert not passes_mx_patterns((3, 10, 4), (1, 5, 0))
    assert not passes_mx_patterns((3, 7, 11), (1, 5, 0))
    assert not passes_mx_patterns((3, 11, 0), (1, 1, 2))  # 1.1.2 knows no tlsrpt option
    assert not passes_mx_patterns((3, 10, 13), None)  # not installed yet (check mode)
    config = yaml.safe_load(config_text(spec(), mx_patterns=True))
    assert config["default_zone"]["tlsrpt"] is True
    assert "tlsrpt" not in config_text(spec(), mx_patterns=False)


def test_the_socketmap_takes_the_default_zone():
    assert socketmap(8461) == "inet:127.0.0.1:8461:postfix"


@given(st.integers(min_value=1024, max_value=65535), st.integers(min_value=1, max_value=10 ** 6))
def test_the_port_read_back_is_the_port_written(port, grace):
    assert configured_port(config_text(spec(port=port, cache_grace=grace), mx_patterns=False)) == port


def test_a_file_not_ours_names_no_port():
    # The package's own file (commented defaults), or an admin's: its port is not taken as ours.
    assert configured_port("# host: 127.0.0.1\n# port: 8461\ncache:\n  type: sqlite\n") is None
    assert configured_port("port: 9999\n") is None
    assert configured_port(None) is None


@pytest.mark.parametrize("given, option", [
    (dict(port=25), "mta_sts_resolver.port"),       # Postfix's, and shared by the resolver's reuse_port
    (dict(port=80), "mta_sts_resolver.port"),       # privileged: the systemd unit runs it as _mta-sts
    (dict(port=65536), "mta_sts_resolver.port"),
    (dict(cache_grace=0), "mta_sts_resolver.cache_grace"),
    (dict(timeout=-1), "mta_sts_resolver.timeout"),
])
def test_bad_values_are_refused_naming_the_option(given, option):
    with pytest.raises(InputError) as raised:
        check_spec(spec(**given))
    assert raised.value.details["parameter"] == option
