"""Running the collection's modules the way users do: ad-hoc and in playbooks."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


def ansible_env():
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / ".cache" / "collections")
    env["PATH"] = "%s:%s" % (VENV_BIN, env.get("PATH", ""))
    env["ANSIBLE_LOCALHOST_WARNING"] = "false"
    env["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "false"
    env["ANSIBLE_NOCOLOR"] = "1"
    env.setdefault("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
    return env


def run_module(localhost, module, **args):
    """Run a module through pytest-ansible on localhost; return its result dict."""
    result = getattr(localhost, module)(**args)
    return result["localhost"]


def run_module_on(host, localhost, module, **args):
    """Run a module on a PostfixHost (conftest): through pytest-ansible here, else in its container."""
    if host.container is None:
        return run_module(localhost, module, **args)
    return host.run_module(module, args)


def run_playbook(tmp_path, tasks, check=False, diff=False, extra_args=()):
    """Run tasks in a one-play playbook with ansible-playbook; return (rc, results, output).

    Each task's registered result lands in ``results`` by task name, read from a
    file the play writes at the end, so no stdout callback plug-in is needed.
    """
    out_file = tmp_path / "results.json"
    registered = []
    body = []
    for index, task in enumerate(tasks):
        name = task.get("name", "task%d" % index)
        var = "r%d" % index
        registered.append((name, var))
        body.append(dict(task, name=name, register=var))
    collect = "{%s}" % ", ".join("%s: (%s | default({}))" % (json.dumps(n), v) for n, v in registered)
    collect_task = {
        "name": "collect results",
        "check_mode": False,
        "diff": False,
        "changed_when": False,
        "ansible.builtin.copy": {"dest": str(out_file), "content": "{{ %s | to_json }}" % collect},
    }
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "connection": "local",
                                     "tasks": [{"block": body, "always": [collect_task]}]}]))
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(playbook)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    cmd.extend(extra_args)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=ansible_env())
    results = json.loads(out_file.read_text()) if out_file.exists() else {}
    out_file.unlink(missing_ok=True)
    return proc.returncode, results, textwrap.dedent(proc.stdout + proc.stderr)


def snapshot(directory):
    """Every file under a directory with its bytes and mtime, to prove nothing changed."""
    files = {}
    for path in sorted(Path(directory).rglob("*")):
        if path.is_file():
            stat = path.stat()
            files[str(path.relative_to(directory))] = (path.read_bytes(), stat.st_mtime_ns, stat.st_mode)
    return files
