# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tls_policy module's decisions: its requests, the entries they render, and the entries
``downgrade: false`` keeps (private to the collection).

Pure: no Ansible, no I/O. The table document is read by the module (work/table_edit.py).
"""

from __future__ import annotations

from ..core.errors import InputError
from ..model.tls import covering_keys, forces, normalize_destination, policy_keys, render_policy, weakens


def policy_requests(params, items=None):
    """destination, destinations and policies (or the policy ``items`` read from ``src``) as one list of
    complete requests.

    The top-level level, attributes and include_subdomains are the defaults of
    every item of ``policies`` that does not set them.
    """
    defaults = {"level": params["level"], "attributes": params["attributes"],
                "include_subdomains": params["include_subdomains"]}
    destinations = ([params["destination"]] if params["destination"] is not None else []) + \
        list(params["destinations"] or [])
    requests = [dict(defaults, destination=destination) for destination in destinations]
    for item in (params["policies"] if items is None else items) or []:
        request = defaults.copy()
        for name, value in item.items():
            if value is not None:
                request[name] = value
        requests.append(request)
    return requests


def wanted_policies(requests, state, version):
    """Requests -> (wanted: key -> rendered policy, remove: keys); raise InputError on bad input.

    A request read from ``src`` says ``where`` (its line, row or item): an error names src and it.
    """
    wanted, remove = {}, []
    rendered = {}  # a fleet's table repeats a few policies many times: validate each once
    for request in requests:
        try:
            _render_request(request, state, version, wanted, remove, rendered)
        except InputError as exc:
            where = request.get("where")
            if where is None:
                raise
            problem = str(exc)
            if exc.details.get("parameter") == "policies":  # given twice: src is the option
                problem = problem.split(": ", 1)[1]
            raise InputError("src", "%s: %s" % (where, problem))
    return wanted, remove


def _render_request(request, state, version, wanted, remove, rendered):
    destination = normalize_destination(request["destination"])
    keys = policy_keys(destination, request["include_subdomains"])
    if state == "absent":
        remove.extend(keys)
        return
    level, attributes = request["level"], request["attributes"]
    if level is None:
        raise InputError("level", "%s: a level is required with state=present" % destination)
    signature = (level, repr(sorted(attributes.items()))) if attributes else level
    value = rendered.get(signature)
    if value is None:
        value = rendered[signature] = render_policy(level, attributes or {}, version, destination)
    for key in keys:
        if wanted.setdefault(key, value) != value:
            raise InputError("policies", "%s is given twice with different policies" % key)


def keep_forced(document, wanted, remove, candidates, kept):
    """(wanted, remove) once the forced entries among ``candidates`` that removing would weaken stay;
    each one kept goes into ``kept`` (key -> the policy the table holds)."""
    keep = {}
    for key in sorted(candidates):
        current = document.value(key)
        if current is None or key in wanted or not forces(current):
            continue
        keep[key] = current
        kept[key] = current
    return dict(wanted, **keep), [key for key in remove if key not in keep]


def keep_stronger(document, wanted, protected, kept):
    """``wanted`` less what would weaken an entry of ``protected`` keys the table (``document``) holds
    stronger, itself or by a parent's .domain entry; each one kept goes into ``kept``."""
    adjusted = {}
    for key, value in wanted.items():
        if key not in protected:
            adjusted[key] = value
            continue
        covering = next((candidate for candidate in covering_keys(key)
                         if document.value(candidate) is not None), None)
        current = document.value(covering) if covering else None
        if current is None or not weakens(current, value):
            adjusted[key] = value
            continue
        kept[key] = current
        if covering == key:
            adjusted[key] = current  # kept as it is, so that exclusive does not remove it either
        # Covered by a parent's .domain entry: adding our own entry would override it.
    return adjusted
