"""A hostile review of tls_forced_mta_sts on a real Debian 12 host (a podman container of the test-host image,
driven as tests/integration/test_mta_sts_resolver_managed.py drives it): each test shows a defect it found,
now fixed. One container for the module (about 60 s to install, then 10-25 s a step);
each test starts from the managed resolver wired and answering."""

from __future__ import annotations

import pytest
from test_mta_sts_resolver_managed import MAPS_WITH, Host, running_host

SOCKETMAP = "socketmap:inet:127.0.0.1:%d:postfix"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    found = Host(tmp_path_factory.mktemp("sts-adversarial"))
    found.name = "mailtls-sts-adversarial-%d" % id(found)
    (found.dir / "inventory").write_text(
        "%s ansible_connection=containers.podman.podman ansible_python_interpreter=/usr/bin/python3\n" % found.name)
    with running_host(found) as running:
        yield running


@pytest.fixture()
def wired(host):
    """The managed resolver on port 8461, answering, its socketmap after the static table."""
    host.sh("chmod +x /usr/bin/mta-sts-daemon", check=False)  # not there before the first run
    host.play()
    assert host.maps() == MAPS_WITH % 8461
    return host


def test_taking_tls_forced_away_while_the_daemon_is_down(wired):
    wired.sh("/etc/init.d/postfix-mta-sts-resolver stop; chmod -x /usr/bin/mta-sts-daemon")
    _state, message = wired.play("-e", "tls_forced_state=absent", fail=False)
    assert "socketmap" not in wired.maps(), message


def test_switching_tls_forced_mta_sts_off(wired):
    wired.play("-e", '{"tls_forced_mta_sts": false}')
    assert wired.maps() == "hash:/etc/postfix/tls_policy"


def test_a_port_change_finished_after_an_interrupted_run(wired):
    # What a run stopped between the resolver's configuration and main.cf leaves (the file: the next port).
    wired.sh("sed -i 's/^port: 8461$/port: 8470/' /etc/mta-sts-daemon.yml")
    wired.play("-e", "tls_forced_mta_sts_port=8470")
    assert wired.maps() == MAPS_WITH % 8470, wired.maps()
