"""Hostile tests of the receiving side's late writes (the DANE file, the renewal hook): a link or
FIFO at their names, or at their temporaries, is refused before the first write, not after main.cf."""

from __future__ import annotations

import os

import pytest
from helpers import snapshot
from test_receiving_adversarial import PORT
from test_receiving import NAME, apply, chain, new_pair, scratch_postfix


@pytest.fixture
def instance():
    with scratch_postfix("mailtls-break-receiving-", PORT) as info:
        yield info


def plant(kind, path, victim):
    if kind == "link":
        os.symlink(str(victim), str(path))
    else:
        os.mkfifo(str(path))


@pytest.mark.parametrize("where", ["hook", "hook.tmp", "zone", "zone.tmp"])
@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_a_link_or_fifo_at_a_late_write_is_refused_before_any_file_is_written(localhost, instance, where, kind):
    conf, tls, root = instance["conf"], instance["tls"], instance["root"]
    victim = root / "victim"
    victim.write_text("not the hook\n")
    plant(kind, root / where, victim)
    before = snapshot(conf), snapshot(tls)
    key, cert = new_pair("rsa")
    receiving = {"renewal_hook": str(root / "hook"), "dane": {"names": [NAME], "file": str(root / "zone")}}
    result = apply(localhost, conf, certificate={"chains": [chain(tls, "rsa", key, cert)]}, receiving=receiving)
    assert result.get("failed") and where in result["msg"], result
    assert (snapshot(conf), snapshot(tls)) == before, "main.cf or a key was written before the refusal"
    assert victim.read_text() == "not the hook\n"
