# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mailtls.postfix.tls_report and its renderers: the fleet TLS report on the controller
(documented in tls_report.yml, tls_report_json.yml, tls_report_html.yml, tls_report_metrics.yml)."""

from __future__ import annotations

from ansible_collections.mailtls.postfix.plugins.plugin_utils.tls_report import build_report, host_metrics, report_json
from ansible_collections.mailtls.postfix.plugins.plugin_utils.tls_report_html import render_html


def tls_report(postures, advisors=None, generated=""):
    return build_report(postures, advisors, generated)


def tls_report_metrics(report, host):
    return host_metrics(report, host)


class FilterModule(object):

    def filters(self):
        return {"tls_report": tls_report, "tls_report_json": report_json, "tls_report_html": render_html,
                "tls_report_metrics": tls_report_metrics}
