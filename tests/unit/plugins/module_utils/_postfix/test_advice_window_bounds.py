"""Hostile review of issue 21: a ``since``/``until`` at the edge of the calendar is an error naming the option.

``parse_when`` took ``999999w`` (19,000 years ago: before year 1) and an ISO time whose UTC form
falls outside years 1 to 9999 (``9999-12-31T23:59:59-23:59``), and the call then died with
Python's OverflowError, a traceback naming no option, when the window was computed or printed.
A relative count in other scripts' digits (Arabic-Indic ``١٢d``) was taken as a number too.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.core.errors import InputError
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.host.log_advice import LogAdvice
from ansible_collections.mailtls.postfix.plugins.module_utils._postfix.plan.delivery_log import LogReader

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("option, value", [
    ("since", "999999w"),
    ("since", "999999d"),
    ("since", "9999-12-31T23:59:59-23:59"),
    ("until", "0001-01-01T00:00:00+01:00"),
    ("until", "0001-01-01T00:30:00+23:59"),
    ("since", "\u0661\u0662d"),
])
def test_a_time_outside_the_calendar_names_the_option(option, value):
    with pytest.raises(InputError) as caught:
        LogAdvice(None, "/etc/postfix", {option: value}, [], "advisor.").check(NOW)
    assert str(caught.value).startswith("advisor.%s: %r " % (option, value))


@pytest.mark.parametrize("option, value", [("since", "99999d"), ("until", "9999-12-31T23:59:59+00:00"),
                                           ("since", "0001-01-01T00:00:00Z"), ("since", "0001-01-02T00:00:00+23:59")])
def test_the_calendar_edges_themselves_are_taken_and_printed(option, value):
    advice = LogAdvice(None, "/etc/postfix", {option: value}, [], "advisor.").check(NOW)
    window = LogReader(advice.since, advice.until).window()
    assert window[option] is not None
