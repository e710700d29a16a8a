"""playbooks/tls_report.yml on two real Postfix instances, then its page in a real browser (Debian's chromium).

"mx-faulty" serves an RSA certificate that expires in 5 days (and an ECDSA one), and its DANE file
holds a record of a key it does not serve; its issuer name carries markup. "mx-healthy" serves one
ECDSA certificate with its matching record, and has a tls_advisor result with a warning. Both are
this machine (connection local), each with its own instance on loopback.

The page is opened from file:// with chromium headless: no console error, no request but the page
itself, the planted failures at the top, the host filter, the markup shown as text. Screenshots land
in the test's tmp dir (and in $MAILTLS_SCREENSHOT_DIR when set: docs/images/tls-report.png).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography import x509
from cryptography.x509.oid import NameOID
from drivers import scratch_postfix, start_postfix
from helpers import ROOT, VENV_BIN, ansible_env
from tls_material import NAME, make_cert, write_pair

PORT = 25490 + 4 * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
HOSTILE = "<script>alert(1)</script>"
CHAINS = "smtpd_tls_chain_files = {root}/tls/%s"


def tlsa(key):
    return hashlib.sha256(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()


def instance(stack, prefix, port, files):
    listeners = ["127.0.0.1:%d inet n - n - - smtpd" % port,
                 "127.0.0.1:%d inet n - n - - smtpd -o smtpd_tls_wrappermode=yes" % (port + 1)]
    return stack.enter_context(scratch_postfix(prefix, port, server_tls=[CHAINS % files], listeners=listeners))


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    from contextlib import ExitStack
    tmp = tmp_path_factory.mktemp("tls-report")
    with ExitStack() as stack:
        faulty = instance(stack, "mailtls-report-faulty-", PORT, "rsa.key, {root}/tls/rsa.pem, {root}/tls/ec.key, "
                                                                 "{root}/tls/ec.pem")
        rsa_key, ec_key = rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP256R1())
        issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME),
                            x509.NameAttribute(NameOID.ORGANIZATION_NAME, HOSTILE)])
        write_pair(faulty["tls"], "rsa", make_cert(NAME, rsa_key, issuer, rsa_key, -1, 5), rsa_key)
        write_pair(faulty["tls"], "ec", make_cert(NAME, None, None, ec_key, -1, 60), ec_key)
        other = ec.generate_private_key(ec.SECP256R1())
        (faulty["root"] / "tlsa.zone").write_text("_%d._tcp.%s. IN TLSA 3 1 1 %s\n_%d._tcp.%s. IN TLSA 3 1 1 %s\n" % (
            PORT, NAME, tlsa(ec_key), PORT, NAME, tlsa(other)))
        healthy = instance(stack, "mailtls-report-healthy-", PORT + 2, "ok.key, {root}/tls/ok.pem")
        ok_key = ec.generate_private_key(ec.SECP256R1())
        write_pair(healthy["tls"], "ok", make_cert("mx.healthy.test", None, None, ok_key, -1, 90), ok_key)
        (healthy["root"] / "tlsa.zone").write_text("_%d._tcp.mx.healthy.test. IN TLSA 3 1 1 %s\n" % (
            PORT + 2, tlsa(ok_key)))
        start_postfix(faulty["conf"], PORT, "127.0.0.1")
        start_postfix(healthy["conf"], PORT + 2, "127.0.0.1")
        advisor = {"destinations": [{
            "destination": "partner.test", "deliveries": 3, "tls_deferrals": 0, "tls_deferral_samples": [],
            "outcomes": {"verified": 0, "trusted": 3, "untrusted": 0, "anonymous": 0, "plaintext": 0, "unknown": 0},
            "dane": False, "first_seen": "2026-12-01T00:00:00Z", "last_seen": "2026-12-02T00:00:00Z",
            "policy": {"entry": None, "level": "may", "source": "smtp_tls_security_level"},
            "proposal": {"level": "encrypt", "evidence": "3 of 3 trusted"},
            "problems": [{"kind": "could_force", "severity": "warn", "message": "every delivery used TLS"}]}]}
        common = {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3"}
        inventory = {"all": {"hosts": {
            "mx-faulty": dict(common, tls_report_config_dir=str(faulty["conf"]),
                              tls_report_dane_files=[str(faulty["root"] / "tlsa.zone")]),
            "mx-healthy": dict(common, tls_report_config_dir=str(healthy["conf"]), tls_report_advisor=advisor,
                               tls_report_dane_files=[str(healthy["root"] / "tlsa.zone")])}}}
        (tmp / "inventory.json").write_text(json.dumps(inventory))
        runs = []
        for name in ("first", "second"):
            argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(tmp / "inventory.json"),
                    str(ROOT / "playbooks" / "tls_report.yml"), "-e", "tls_report_dir=%s" % (tmp / name)]
            done = subprocess.run(argv, capture_output=True, text=True, env=ansible_env(), check=False)
            assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
            runs.append(tmp / name)
        yield {"first": runs[0], "second": runs[1], "tmp": tmp, "inventory": inventory}


def test_an_unreachable_host_is_a_failure_in_the_report_not_its_end(reports):
    inventory = copy.deepcopy(reports["inventory"])
    del inventory["all"]["hosts"]["mx-faulty"]
    # Nothing listens on port 1: ssh is refused at once.
    inventory["all"]["hosts"]["mx-down"] = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1",
                                            "ansible_port": 1, "ansible_ssh_common_args": "-o ConnectTimeout=5"}
    path = reports["tmp"] / "inventory-down.json"
    path.write_text(json.dumps(inventory))
    out = reports["tmp"] / "down"
    done = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(path), str(ROOT / "playbooks" / "tls_report.yml"),
                           "-e", "tls_report_dir=%s" % out], capture_output=True, text=True, env=ansible_env(), check=False)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    report = json.loads((out / "tls-report.json").read_text())
    assert [(host["host"], host["state"]) for host in report["hosts"]] == [("mx-down", "fail"), ("mx-healthy", "warn")]
    assert report["findings"][0]["code"] == "host_not_read" and report["findings"][0]["host"] == "mx-down"
    assert "postfix_tls_report_host_read 0" in (out / "mx-down.prom").read_text()


def without_generation_time(text):
    text = re.sub(r"Generated [0-9T:Z-]+\.", "Generated X.", text)
    text = re.sub(r'"generated": "[^"]*"', '"generated": "X"', text)
    return re.sub(r"(postfix_tls_report_generated_timestamp_seconds) \d+", r"\1 X", text)


def test_playbook_writes_page_json_and_metrics_the_same_bytes_when_nothing_changed(reports):
    names = sorted(path.name for path in reports["first"].iterdir())
    assert names == ["mx-faulty.prom", "mx-healthy.prom", "tls-report.html", "tls-report.json"]
    for name in names:
        first = (reports["first"] / name).read_text()
        second = (reports["second"] / name).read_text()
        assert without_generation_time(first) == without_generation_time(second), name
    report = json.loads((reports["first"] / "tls-report.json").read_text())
    assert [(host["host"], host["state"]) for host in report["hosts"]] == [("mx-faulty", "fail"), ("mx-healthy", "warn")]


def test_json_validates_and_metrics_pass_the_parser(reports):
    import jsonschema
    from prometheus_client.parser import text_string_to_metric_families
    schema = json.loads((ROOT / "docs" / "tls-report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads((reports["first"] / "tls-report.json").read_text()))
    for name in ("mx-faulty.prom", "mx-healthy.prom"):
        families = list(text_string_to_metric_families((reports["first"] / name).read_text()))
        assert "postfix_smtpd_tls_protocol_accepted" in [family.name for family in families]
        if shutil.which("promtool"):
            done = subprocess.run(["promtool", "check", "metrics"], input=(reports["first"] / name).read_bytes(),
                                  capture_output=True, check=False)
            assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("Debian's chromium and chromium-driver are not installed (tests/setup.sh installs them)")
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    yield driver
    driver.quit()


def requests_made(driver):
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_page_in_a_real_browser(reports, browser, tmp_path):
    from selenium.webdriver.common.by import By
    page = reports["first"] / "tls-report.html"
    browser.set_window_size(1280, 1000)
    browser.get(page.as_uri())
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    assert set(requests_made(browser)) <= {page.as_uri()}
    # The script ran under the page's Content-Security-Policy: the filter shows.
    assert browser.find_element(By.ID, "controls").is_displayed()
    rows = browser.find_elements(By.CSS_SELECTOR, "#findings tbody tr")
    table = [(row.get_attribute("data-severity"), row.get_attribute("data-host"), row.text) for row in rows]
    # The planted failures, and only they, open the page: two listeners serve the expiring certificate.
    top = table[:3]
    assert all(severity == "fail" and host == "mx-faulty" for severity, host, _text in top), top
    assert all(severity != "fail" for severity, _host, _text in table[3:]), table
    assert sum("matches no key" in text for _s, _h, text in top) == 1
    assert sum(re.search(r"RSA certificate .* in [45] days", text) is not None for _s, _h, text in top) == 2
    body = browser.find_element(By.TAG_NAME, "body")
    browser.find_element(By.CSS_SELECTOR, 'details[data-host="mx-faulty"] summary').click()
    assert HOSTILE in body.text  # the issuer's markup, shown as text
    browser.save_screenshot(str(tmp_path / "tls-report.png"))
    shots = os.environ.get("MAILTLS_SCREENSHOT_DIR")
    if shots:
        browser.save_screenshot(os.path.join(shots, "tls-report.png"))
    host_filter = browser.find_element(By.ID, "host-filter")
    host_filter.send_keys("healthy")
    assert not browser.find_element(By.CSS_SELECTOR, 'details[data-host="mx-faulty"]').is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, 'details[data-host="mx-healthy"]').is_displayed()
    shown = [row for row in browser.find_elements(By.CSS_SELECTOR, "#findings tbody tr") if row.is_displayed()]
    assert shown and all(row.get_attribute("data-host") == "mx-healthy" for row in shown)
    host_filter.clear()
    browser.execute_script("document.getElementById('host-filter').dispatchEvent(new Event('input'))")
    browser.find_element(By.CSS_SELECTOR, '#severity-filter option[value="fail"]').click()
    shown = [row.get_attribute("data-severity") for row in browser.find_elements(By.CSS_SELECTOR, "#findings tbody tr")
             if row.is_displayed()]
    assert shown and set(shown) == {"fail"}
    browser.set_window_size(390, 844)  # a phone
    browser.save_screenshot(str(tmp_path / "tls-report-phone.png"))
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []


def test_page_printed_and_without_script(reports, browser, tmp_path):
    from selenium.webdriver.common.by import By
    page = reports["first"] / "tls-report.html"
    browser.set_window_size(1000, 1400)
    browser.get(page.as_uri())
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not browser.find_element(By.ID, "controls").is_displayed()  # no filter on paper
    pdf = browser.execute_cdp_cmd("Page.printToPDF", {"printBackground": False})["data"]
    (tmp_path / "tls-report.pdf").write_bytes(__import__("base64").b64decode(pdf))
    assert (tmp_path / "tls-report.pdf").read_bytes().startswith(b"%PDF")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    # Without script: no filter, and everything shown.
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        browser.get(page.as_uri())
        assert not browser.find_element(By.ID, "controls").is_displayed()
        rows = browser.find_elements(By.CSS_SELECTOR, "#findings tbody tr")
        assert rows and all(row.is_displayed() for row in rows)
        hosts = browser.find_elements(By.CSS_SELECTOR, "details.host")
        assert [item.get_attribute("data-host") for item in hosts if item.is_displayed()] == ["mx-faulty", "mx-healthy"]
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
