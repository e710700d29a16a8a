# Copyright: mailtls.postfix contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet TLS report as one self-contained HTML page (controller side, pure).

No external URL: the style and the script are inline, and a Content-Security-Policy allows
exactly those two (by their SHA-256) and nothing else, so the page loads nothing and an
injected script would not run even if escaping failed. Every text is HTML-escaped. The worst
findings come first, then one row per host (a ``<details>``: its state at a glance, the detail
when opened). The filter by host and severity is a small script; without it the page reads
the same, everything shown. Readable printed (``@media print`` opens every detail) and on a
phone (the rows stack under 42em).
"""

from __future__ import annotations

import base64
import hashlib
from html import escape

_STYLE = """
:root{--fail:#b00020;--warn:#8a5a00;--ok:#1b6e20;--line:#d0d4da;--muted:#555}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:72em;padding:1em;color:#111}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.4em 0 .4em}h3{font-size:1em;margin:1em 0 .3em}
.meta{color:var(--muted)}
.badge{display:inline-block;min-width:3.2em;text-align:center;border-radius:.3em;padding:0 .4em;color:#fff;font-weight:600}
.fail{background:var(--fail)}.warn{background:var(--warn)}.ok{background:var(--ok)}
table{border-collapse:collapse;width:100%;margin:.3em 0}
th,td{border-bottom:1px solid var(--line);padding:.3em .4em;text-align:left;vertical-align:top}
td.wrap,th.wrap{overflow-wrap:anywhere}
details.host{border:1px solid var(--line);border-radius:.4em;margin:.4em 0}
details.host>summary{display:grid;grid-template-columns:minmax(10em,2fr) 5em 1fr 1fr 1fr;gap:.5em;padding:.5em;
 cursor:pointer;list-style:none}
details.host>summary::-webkit-details-marker{display:none}
details.host[open]>summary{border-bottom:1px solid var(--line)}
.detail{padding:.5em}
#controls{display:flex;gap:1em;flex-wrap:wrap;margin:.5em 0}
#controls label{display:flex;gap:.4em;align-items:center}
input,select{font:inherit;padding:.2em .4em}
code{overflow-wrap:anywhere}
@media (max-width:42em){
 details.host>summary{grid-template-columns:1fr auto}
 details.host>summary .more{grid-column:1/-1}
 table,thead,tbody,tr,th,td{display:block}
 thead{display:none}
 td{border:0;padding:.1em .2em}
 tr{border-bottom:1px solid var(--line);padding:.3em 0}
 td[data-label]::before{content:attr(data-label) ": ";color:var(--muted)}
}
@media print{
 #controls{display:none}
 body{max-width:none;font-size:10pt}
 .badge{color:#000;border:1px solid #000;background:none}
 details.host{break-inside:avoid}
 details.host>summary{grid-template-columns:2fr 5em 1fr 1fr 1fr}
}
"""

_SCRIPT = """
(function(){
var controls=document.getElementById('controls');controls.hidden=false;
var host=document.getElementById('host-filter'),severity=document.getElementById('severity-filter');
function apply(){
 var text=host.value.trim().toLowerCase(),wanted=severity.value;
 document.querySelectorAll('[data-host]').forEach(function(item){
  var show=item.getAttribute('data-host').toLowerCase().indexOf(text)>=0&&
   (wanted==='all'||item.getAttribute('data-severity')===wanted);
  item.hidden=!show;
 });
}
host.addEventListener('input',apply);severity.addEventListener('change',apply);
window.addEventListener('beforeprint',function(){document.querySelectorAll('details').forEach(function(d){d.open=true;});});
apply();
})();
"""


def _hash(text):
    return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def e(value):
    """Any value as HTML text: escaped, quotes included (safe in attributes too)."""
    return escape("" if value is None else str(value), quote=True)


def _badge(severity):
    return '<span class="badge %s">%s</span>' % (e(severity), e(severity))


def _yes(value):
    return {True: "yes", False: "no"}.get(value, "-")


def render_html(report, title="Postfix TLS posture"):
    """The whole page (text)."""
    csp = "default-src 'none'; style-src %s; script-src %s; img-src 'none'; base-uri 'none'; form-action 'none'" % (
        _hash(_STYLE), _hash(_SCRIPT))
    summary = report["summary"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="%s">' % e(csp),
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>%s</title><style>%s</style></head><body>" % (e(title), _STYLE),
        "<header><h1>%s</h1>" % e(title),
        '<p class="meta">%d hosts: %d fail, %d warn, %d ok. Generated %s.</p></header>' % (
            summary["hosts"], summary["fail"], summary["warn"], summary["ok"], e(report["generated"])),
        '<div id="controls" hidden><label>Host <input id="host-filter" type="search" placeholder="name"></label>'
        '<label>Severity <select id="severity-filter"><option value="all">all</option><option value="fail">fail'
        '</option><option value="warn">warn</option><option value="ok">ok</option></select></label></div>',
        _findings_section(report["findings"]),
        '<h2>Hosts</h2><section id="hosts">',
    ]
    parts += [_host(host) for host in report["hosts"]]
    parts += ["</section>", "<script>%s</script>" % _SCRIPT, "</body></html>", ""]
    return "\n".join(parts)


def _findings_section(findings):
    rows = [f for f in findings if f["severity"] != "ok"] or []
    lines = ['<h2>Worst findings first</h2><table id="findings"><thead><tr><th>Severity</th><th>Host</th>'
             '<th>About</th><th>Finding</th><th>Fix</th></tr></thead><tbody>']
    for item in rows:
        lines.append('<tr data-host="%s" data-severity="%s"><td data-label="Severity">%s</td><td data-label="Host">%s'
                     '</td><td class="wrap" data-label="About">%s</td><td class="wrap" data-label="Finding">%s</td>'
                     '<td class="wrap" data-label="Fix">%s</td></tr>' % (
                         e(item["host"]), e(item["severity"]), _badge(item["severity"]), e(item["host"]),
                         e(item["subject"]), e(item["message"]), e(item["fix"])))
    if not rows:
        lines.append('<tr><td colspan="5">No failure and no warning.</td></tr>')
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _host(host):
    posture = host["posture"] or {}
    listeners = posture.get("listeners") or []
    days = [cert.get("days_left") for item in listeners for cert in item["certificates"]
            if cert.get("days_left") is not None]
    counts = dict((severity, sum(1 for f in host["findings"] if f["severity"] == severity))
                  for severity in ("fail", "warn", "ok"))
    glance = ('<summary><strong class="wrap">%s</strong>%s<span class="more">%s</span><span class="more">%s</span>'
              '<span class="more">%s</span></summary>' % (
                  e(host["host"]), _badge(host["state"]),
                  e("%d fail, %d warn" % (counts["fail"], counts["warn"])),
                  e("expiry: %s days" % min(days) if days else "expiry: -"),
                  e("profile: %s" % (posture.get("hardening") or {}).get("profile", "-"))))
    detail = ['<div class="detail">', _host_findings(host["findings"])]
    if posture:
        detail += [_listeners(listeners), _dane(posture["dane"]), _sending(posture["sending"])]
    if host["advisor"]:
        detail.append(_advisor(host["advisor"]))
    detail.append("</div>")
    return '<details class="host" data-host="%s" data-severity="%s">%s%s</details>' % (
        e(host["host"]), e(host["state"]), glance, "\n".join(detail))


def _table(caption, headers, rows):
    head = "".join("<th>%s</th>" % e(name) for name in headers)
    body = "".join("<tr>%s</tr>" % "".join('<td class="wrap" data-label="%s">%s</td>' % (e(name), cell)
                                           for name, cell in zip(headers, row)) for row in rows)
    return "<h3>%s</h3><table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (
        e(caption), head, body or '<tr><td colspan="%d">none</td></tr>' % len(headers))


def _host_findings(findings):
    return _table("Findings", ("Severity", "About", "Finding", "Fix"), [
        (_badge(f["severity"]), e(f["subject"]), e(f["message"]), e(f["fix"])) for f in findings])


def _listeners(listeners):
    rows = []
    for item in listeners:
        accepted = ", ".join(name for name, ok in sorted(item["protocols"].items()) if ok) or "none"
        certificates = "<br>".join(e("%s %s bits, %s, issuer %s, chain %s, %s days left" % (
            (cert.get("key_algorithm") or "?").upper(), cert.get("key_bits"), ", ".join(cert.get("names") or []),
            cert.get("issuer"), cert.get("chain_length"), cert.get("days_left"))) for cert in item["certificates"])
        rows.append((e("%s:%s" % (item["address"], item["port"])), e(item["role"]),
                     e("wrapper mode" if item["wrappermode"] else _yes(item["starttls"])),
                     e("%s %s" % (item["protocol"] or "", item["cipher"] or "") if item["established"] else
                       item["error"]), e(accepted), certificates or "-"))
    return _table("Listeners", ("Listener", "Role", "STARTTLS", "Negotiated", "Accepts", "Certificates"), rows)


def _dane(dane):
    return _table("DANE 3 1 1 records", ("Record", "Matches a served key", "File"), [
        (e("_%s._tcp.%s %s" % (record["port"], record["name"], record["digest"])), e(_yes(record.get("matches"))),
         e(record.get("file"))) for record in dane["records"]])


def _sending(sending):
    relay = sending.get("relay")
    rows = [(e(entry["destination"]), e(entry["level"]), e(entry["table"]), e("shadowed" if entry["shadowed"] else ""))
            for entry in sending["policy"]]
    text = _table("Sending: policy entries", ("Destination", "Level", "Table", "Note"), rows)
    relay_text = "no relayhost"
    if relay:
        relay_text = "relayhost %(nexthop)s: level %(level)s (%(source)s), %(state)s" % relay
    return "%s<p>Default level: %s. %s.</p>" % (text, e(sending["security_level"]), e(relay_text))


def _advisor(advisor):
    rows = []
    for item in advisor["destinations"]:
        if not isinstance(item, dict):
            continue
        outcomes = item.get("outcomes") if isinstance(item.get("outcomes"), dict) else {}
        rows.append((e(item.get("destination")), e(item.get("deliveries")),
                     e(", ".join("%s %s" % (key, outcomes[key]) for key in sorted(outcomes))),
                     e(item.get("tls_deferrals")), e((item.get("policy") or {}).get("level")),
                     e((item.get("proposal") or {}).get("level"))))
    return _table("Deliveries (tls_advisor)", ("Destination", "Deliveries", "Outcomes", "TLS deferrals", "Policy",
                                               "Proposal"), rows)
