"""The operator console in a real browser: Debian's Chromium, headless, driven through its ChromeDriver by
Selenium, against the local runtime (API key on, as deployed). Each page is screenshotted to .screenshots/ (not
committed) for a reviewer to look at."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from local.providers import twilio_error
from tests.conftest import Api, wait_for
from tests.e2e.test_pipeline import message

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".screenshots"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# The flags that keep Chromium off the network this machine does not have (its own background connections).
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1366,900")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("Debian's chromium and chromium-driver are not installed: `make test` installs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the page's console: CSP refusals show there
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    SHOTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def until(driver: Any, condition: Any, what: str, timeout: float = 30) -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A page re-rendered between finding an element and reading it is read again on the next poll.
    return WebDriverWait(driver, timeout, poll_frequency=0.3,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
                         ).until(condition, message=what)


def click(driver: Any, xpath: str, what: str) -> None:
    """Click what the XPath finds, finding it again if the page re-rendered it meanwhile."""
    from selenium.webdriver.common.by import By

    until(driver, lambda d: d.find_element(By.XPATH, xpath).click() or True, what)


def page(driver: Any, name: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f'nav button[data-page="{name}"]').click()


def fill(driver: Any, form: str, values: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    root = driver.find_element(By.CSS_SELECTOR, f'form[data-load="{form}"]')
    for name, value in values.items():
        field = root.find_element(By.NAME, name)
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        else:
            field.clear()
            field.send_keys(value)
    root.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def text(driver: Any, selector: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, selector).text)


def setup_sms(api: Api, name: str) -> tuple[str, str]:
    status, template = api.call("POST", "/templates", {"name": name, "channel_type": "sms",
                                                       "bodies": {"en-US": "Console {{ CustomerName }}"}})
    assert status == 201, template
    status, configuration = api.call("POST", "/outbound-configurations", {
        "name": name, "channel_type": "sms", "channel": "+15005550006", "template_id": template["id"]})
    assert status == 201, configuration
    return str(template["id"]), str(configuration["id"])


def send(api: Api, configuration_id: str, number: str) -> str:
    status, sent = api.call("POST", "/sends", {"configuration_id": configuration_id,
                                               "contacts": [{"tocontactid": number, "CustomerName": "Ana"}]})
    assert status == 202, sent
    return str(sent["message_ids"][0])


def failed_send(runtime: Any, api: Api, configuration_id: str, number: str) -> str:
    refused = twilio_error(400, 21614, "not a mobile number")
    runtime.twilio.fail_next(1, refused.status, refused.body, refused.headers)
    message_id = send(api, configuration_id, number)
    wait_for(lambda: message(api, message_id)["state"] == "failed", what=f"{message_id} failed")
    return message_id


def test_an_operator_filters_opens_retries_redrives_pauses_and_previews_in_a_real_browser(
        runtime: Any, api: Api, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    template_id, configuration_id = setup_sms(api, "console")
    delivered = send(api, configuration_id, "+12025550701")
    wait_for(lambda: message(api, delivered)["state"] == "sent", what="the first message sent")
    failed = failed_send(runtime, api, configuration_id, "+12025550702")
    runtime.twilio.status_callbacks = True  # retried messages go on to `delivered`
    try:
        browser.get(f"{runtime.api_url}/console")
        assert browser.title == "Outbound console"
        key = browser.find_element(By.ID, "api-key")
        assert browser.find_element(By.CSS_SELECTOR, "label:has(#api-key)").text.startswith("API key")
        key.send_keys(runtime.api_key)
        browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
        until(browser, lambda d: "key set" in text(d, "#status"), "the key accepted")

        # Overview: the configuration's health.
        fill(browser, "overview", {"configuration_id": configuration_id})
        until(browser, lambda d: "Failure rate" in text(d, "#overview-out"), "the health view")
        assert "failed" in text(browser, "#overview-out") and failed in text(browser, "#overview-out")
        browser.save_screenshot(str(SHOTS / "console-overview.png"))

        # Messages: filter by configuration and state, open the failed one, retry it, see it delivered.
        page(browser, "messages")
        fill(browser, "messages", {"configuration_id": configuration_id, "state": "failed"})
        until(browser, lambda d: failed in text(d, "#messages-out") and delivered not in text(d, "#messages-out"),
              "only the failed message listed")
        assert "1 message(s)" in text(browser, "#messages-out")
        click(browser, f'//button[text()="{failed}"]', "the failed message's button")
        until(browser, lambda d: "21614" in text(d, "#message-detail"), "the message's detail")
        assert "instant" in text(browser, "#message-detail")  # the cause
        browser.save_screenshot(str(SHOTS / "console-message-failed.png"))
        click(browser, '//button[text()="Retry this message"]', "the retry button")

        def shows_delivered(driver: Any) -> bool:
            """Open the message again (as an operator clicks it again) until its page says delivered."""
            if "state delivered" in text(driver, "#message-detail"):
                return True
            driver.find_element(By.XPATH, f'//button[text()="{failed}"]').click()
            return False

        until(browser, shows_delivered, "the retried message delivered", timeout=60)
        browser.save_screenshot(str(SHOTS / "console-message-delivered.png"))

        # DLQ: a message failed since is redriven from its page and delivered.
        parked = failed_send(runtime, api, configuration_id, "+12025550703")
        page(browser, "dlq")
        click(browser, '//button[text()="Redrive sms"]', "the redrive button")
        until(browser, lambda d: "redriven" in text(d, "#dlq-sms"), "the redrive report")
        wait_for(lambda: message(api, parked)["state"] == "delivered", what="the redriven message delivered")
        browser.save_screenshot(str(SHOTS / "console-dlq.png"))

        # Schedules: pause one.
        status, schedule = api.call("POST", "/schedules", {"configuration_id": configuration_id,
                                                           "rate": "rate(7 days)",
                                                           "contacts": [{"tocontactid": "+12025550704",
                                                                         "CustomerName": "Bo"}]})
        assert status == 201, schedule
        page(browser, "schedules")
        fill(browser, "schedules", {"configuration_id": configuration_id})
        until(browser, lambda d: schedule["id"] in text(d, "#schedules-out"), "the schedule listed")
        click(browser, '//button[text()="Pause"]', "the pause button")
        until(browser, lambda d: "Resume" in text(d, "#schedules-out"), "the schedule paused")
        assert api.call("GET", f"/schedules/{schedule['id']}")[1]["state"] == "paused"
        browser.save_screenshot(str(SHOTS / "console-schedules.png"))
        click(browser, '//button[text()="Cancel"]', "the cancel button")
        until(browser, lambda d: schedule["id"] not in text(d, "#schedules-out"), "the schedule cancelled")

        # Templates: preview for a contact.
        page(browser, "templates")
        fill(browser, "templates", {"channel_type": "sms"})
        until(browser, lambda d: template_id in text(d, "#templates-out"), "the template listed")
        click(browser, f'//td[text()="{template_id}"]/..//button[text()="Preview"]', "the template's preview button")
        browser.find_element(By.CSS_SELECTOR, "#preview-form button[type=submit]").click()
        until(browser, lambda d: "Console Ana" in text(d, "#preview-out"), "the preview")
        browser.save_screenshot(str(SHOTS / "console-templates.png"))

        # The SOAP delivery queue renders (its retry and delete are the API's, tested elsewhere).
        page(browser, "queue")
        until(browser, lambda d: "delivery(ies)" in text(d, "#queue-out"), "the queue")
        browser.save_screenshot(str(SHOTS / "console-queue.png"))
    finally:
        runtime.twilio.status_callbacks = False


def test_without_a_key_the_console_says_so_instead_of_showing_nothing(runtime: Any, browser: Any) -> None:
    browser.get(f"{runtime.api_url}/console#messages")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    until(browser, lambda d: "HTTP 401" in text(d, "#status"), "the 401 shown")


def test_an_operator_edits_and_deletes_configuration_items_and_a_stale_save_changes_nothing(
        runtime: Any, api: Api, browser: Any) -> None:
    import json

    from selenium.webdriver.common.by import By

    template_id, configuration_id = setup_sms(api, "console-edit")
    browser.get(f"{runtime.api_url}/console#resources")
    browser.find_element(By.ID, "api-key").send_keys(runtime.api_key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    fill(browser, "resources", {"kind": "templates"})
    until(browser, lambda d: template_id in text(d, "#resources-out"), "the template listed")
    click(browser, f'//button[@aria-label="Edit {template_id}"]', "the template's edit button")
    until(browser, lambda d: "version 1" in text(d, "#editor-title"), "the editor")
    editor = browser.find_element(By.CSS_SELECTOR, "#editor textarea")
    body = json.loads(editor.get_attribute("value"))
    assert body["version"] == 1 and "id" not in body
    body["bodies"] = {"en-US": "Edited {{ CustomerName }}"}
    browser.execute_script("arguments[0].value = arguments[1]", editor, json.dumps(body))
    browser.find_element(By.CSS_SELECTOR, "#editor button[type=submit]").click()
    until(browser, lambda d: "saved (version 2)" in text(d, "#status"), "the save")
    assert api.call("GET", f"/templates/{template_id}")[1]["bodies"] == {"en-US": "Edited {{ CustomerName }}"}

    # Someone else saves between this operator's read and save: refused, nothing changes.
    click(browser, f'//button[@aria-label="Edit {template_id}"]', "the edit button again")
    until(browser, lambda d: "version 2" in text(d, "#editor-title"), "the editor at version 2")
    other = {**body, "bodies": {"en-US": "Theirs {{ CustomerName }}"}}
    other.pop("version")
    assert api.call("PUT", f"/templates/{template_id}", other)[1]["version"] == 3
    editor = browser.find_element(By.CSS_SELECTOR, "#editor textarea")
    mine = {**json.loads(editor.get_attribute("value")), "bodies": {"en-US": "Mine {{ CustomerName }}"}}
    browser.execute_script("arguments[0].value = arguments[1]", editor, json.dumps(mine))
    browser.find_element(By.CSS_SELECTOR, "#editor button[type=submit]").click()
    until(browser, lambda d: "HTTP 412" in text(d, "#status"), "the stale save refused")
    assert api.call("GET", f"/templates/{template_id}")[1]["bodies"] == {"en-US": "Theirs {{ CustomerName }}"}
    browser.save_screenshot(str(SHOTS / "console-configuration-stale.png"))

    # A template a configuration uses is kept, and the refusal names the configuration.
    click(browser, f'//button[@aria-label="Delete {template_id}"]', "the delete button")
    until(browser, lambda d: "HTTP 409" in text(d, "#status") and configuration_id in text(d, "#status"), "the 409")
    fill(browser, "resources", {"kind": "configurations"})
    click(browser, f'//button[@aria-label="Delete {configuration_id}"]', "the configuration's delete button")
    until(browser, lambda d: f"{configuration_id} deleted" in text(d, "#status"), "the configuration deleted")
    assert api.call("GET", f"/outbound-configurations/{configuration_id}")[0] == 404


def test_an_operator_creates_edits_and_deletes_a_record_from_the_console(
        runtime: Any, api: Api, browser: Any) -> None:
    import json

    from selenium.webdriver.common.by import By

    from tests.conftest import unique_object

    obj = unique_object()
    assert api.call("PUT", f"/objects/{obj}", {"name": obj, "fields": {"Subject": "string"}})[0] == 200
    browser.get(f"{runtime.api_url}/console#resources")
    browser.find_element(By.ID, "api-key").send_keys(runtime.api_key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    fill(browser, "resources", {"kind": "records", "object": obj})
    until(browser, lambda d: "0 records" in text(d, "#resources-out"), "the object's (empty) records")
    browser.find_element(By.ID, "new-resource").click()
    editor = browser.find_element(By.CSS_SELECTOR, "#editor textarea")
    browser.execute_script("arguments[0].value = arguments[1]", editor,
                           json.dumps({"id": "rec-console", "fields": {"Subject": "from the console"}}))
    browser.find_element(By.CSS_SELECTOR, "#editor button[type=submit]").click()
    until(browser, lambda d: "rec-console" in text(d, "#resources-out"), "the record listed")
    assert api.call("GET", f"/records/{obj}/rec-console")[1]["fields"] == {"Subject": "from the console"}
    browser.save_screenshot(str(SHOTS / "console-records.png"))
    click(browser, '//button[@aria-label="Delete rec-console"]', "the record's delete button")
    until(browser, lambda d: "rec-console deleted" in text(d, "#status"), "the record deleted")
    assert api.call("GET", f"/records/{obj}/rec-console")[0] == 404


def test_an_operator_reads_and_erases_a_customers_conversation_from_the_console(
        runtime: Any, api: Api, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    _, configuration_id = setup_sms(api, "console-conversation")
    number = "+12025550721"
    sent = send(api, configuration_id, number)
    wait_for(lambda: message(api, sent)["state"] == "sent", what="the message sent")
    status, _ = runtime.twilio.send_inbound(f"{runtime.api_url}/webhooks/twilio/inbound", number, "+15005550006",
                                            "Please call me back", "SM" + "e" * 32)
    assert status == 200
    conversation_id = wait_for(lambda: message(api, sent)["conversation_id"], what="the conversation")
    browser.get(f"{runtime.api_url}/console#messages")
    browser.find_element(By.ID, "api-key").send_keys(runtime.api_key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    fill(browser, "messages", {"contact": number})
    until(browser, lambda d: sent in text(d, "#messages-out") and "1 message(s)" in text(d, "#messages-out"),
          "the contact's message")
    click(browser, f'//button[text()="{sent}"]', "the message")
    click(browser, '//button[text()="Show its conversation"]', "the conversation button")
    until(browser, lambda d: "Please call me back" in text(d, "#conversation-out"), "the reply shown")
    browser.save_screenshot(str(SHOTS / "console-conversation.png"))
    click(browser, '//button[text()="Erase its conversation"]', "the erase button")
    until(browser, lambda d: "erased" in text(d, "#status"), "the conversation erased")
    assert api.call("GET", f"/conversations/{conversation_id}")[0] == 404


def test_a_message_the_provider_accepted_is_sent_again_only_when_asked(runtime: Any, api: Api, browser: Any) -> None:
    """An undelivered SMS Twilio had accepted: the console says so instead of offering a plain retry, shows the
    history's audit, and sends it again only on the explicit "Send it again"."""
    from selenium.webdriver.common.by import By

    _, configuration_id = setup_sms(api, "resend")
    twilio = runtime.twilio
    twilio.status_callbacks, twilio.final_status, twilio.final_error_code = True, "undelivered", "30003"
    try:
        message_id = send(api, configuration_id, "+12025550790")
        wait_for(lambda: message(api, message_id)["state"] == "undelivered", what="undelivered")
        twilio.final_status, twilio.final_error_code = "delivered", None
        browser.get(f"{runtime.api_url}/console")
        browser.find_element(By.ID, "api-key").send_keys(runtime.api_key)
        browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
        page(browser, "messages")
        fill(browser, "messages", {"configuration_id": configuration_id, "state": "undelivered"})
        click(browser, f'//button[text()="{message_id}"]', "the undelivered message")
        until(browser, lambda d: "accepted this message" in text(d, "#message-detail"), "the resend warning")
        assert "chain verified" in text(browser, "#message-detail")
        assert not browser.find_elements(By.XPATH, '//button[text()="Retry this message"]')
        browser.save_screenshot(str(SHOTS / "console-message-resend.png"))
        sends = len([r for r in twilio.requests if r.form().get("To") == "+12025550790"])
        click(browser, '//button[text()="Send it again (resend)"]', "the resend button")
        wait_for(lambda: message(api, message_id)["state"] == "delivered", what="the resent message delivered")
        assert len([r for r in twilio.requests if r.form().get("To") == "+12025550790"]) == sends + 1
    finally:
        twilio.status_callbacks, twilio.final_status, twilio.final_error_code = False, "delivered", None


def test_an_operator_sees_a_disabled_endpoint_and_why_and_resumes_it(runtime: Any, api: Api, browser: Any,
                                                                   listener: Any) -> None:
    from selenium.webdriver.common.by import By

    from tests.e2e.test_json_webhooks import disabled_endpoint, endpoint_of

    url, _ = disabled_endpoint(api, listener, "/console-gone")
    browser.get(f"{runtime.api_url}/console")
    browser.find_element(By.ID, "api-key").send_keys(runtime.api_key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    page(browser, "endpoints")
    row = f'//tr[td[text()="{url}"]]'
    until(browser, lambda d: "410 Gone" in d.find_element(By.XPATH, row).text, "the endpoint's row and why")
    assert "disabled" in browser.find_element(By.XPATH, row).text
    browser.save_screenshot(str(SHOTS / "console-endpoints.png"))
    click(browser, row + '//button[text()="Resume"]', "the resume button")
    until(browser, lambda d: "closed" in d.find_element(By.XPATH, row).text, "the endpoint closed")
    assert endpoint_of(api, url)["state"] == "closed"


def test_an_operator_follows_a_message_across_channels(runtime: Any, api: Api, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    from tests.e2e.test_fallback import send_one, sms_to, with_fallback

    number = "+13035550690"
    first = send_one(api, with_fallback(api), number)  # outside the window, no content template: fails, falls back
    wait_for(lambda: sms_to(runtime, number), what="the fallback SMS")
    follower = wait_for(lambda: (c := message(api, first)["fallback_chain"]) and len(c) == 2 and c[1]["message_id"],
                        what="the chain")
    browser.get(f"{runtime.api_url}/console")
    browser.find_element(By.ID, "api-key").send_keys(runtime.api_key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    page(browser, "messages")
    fill(browser, "messages", {"contact": number})
    click(browser, f'//button[text()="{first}"]', "the WhatsApp message")
    until(browser, lambda d: "Across channels" in text(d, "#message-detail"), "the chain across channels")
    assert "whatsapp" in text(browser, "#message-detail") and "sms" in text(browser, "#message-detail")
    browser.save_screenshot(str(SHOTS / "console-fallback-chain.png"))
    click(browser, f'//div[@id="message-detail"]//button[text()="{follower}"]', "the SMS step")
    until(browser, lambda d: f"Message {follower}" in text(d, "#message-detail"), "the SMS step's own view")


def _settled(api: Api, message_id: str) -> bool:
    return message(api, message_id)["state"] in {"sent", "delivered"}


def test_the_overview_charts_equal_the_health_view_and_a_bar_opens_its_messages(
        runtime: Any, api: Api, browser: Any) -> None:
    """The charts in Chromium: the numbers drawn are the health view's for the same window, a bar leads to the
    filtered message list, and the page draws an empty window and one of 10,000 messages under its CSP."""
    from selenium.webdriver.common.by import By

    _, configuration_id = setup_sms(api, "charts")
    for number in ("+12025550711", "+12025550712"):
        sent = send(api, configuration_id, number)
        wait_for(partial(_settled, api, sent), what="a charted message")
    failed = failed_send(runtime, api, configuration_id, "+12025550713")
    browser.get(f"{runtime.api_url}/console")
    browser.find_element(By.ID, "api-key").send_keys(runtime.api_key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    until(browser, lambda d: "key set" in text(d, "#status"), "the key accepted")
    for hours, shot in (("1", "console-chart-hour.png"), ("24", "console-chart-day.png")):
        fill(browser, "overview", {"hours": hours, "configuration_id": configuration_id})
        until(browser, lambda d: d.find_element(By.ID, "chart-states").get_attribute("data-total") == "3",
              f"the {hours} h chart of three messages")
        health = api.call("GET", f"/message-health?hours={hours}&configuration_id={configuration_id}")[1]
        drawn = json.loads(browser.find_element(By.ID, "chart-states").get_attribute("data-series"))
        assert sum(drawn.values()) == health["total"] == 3
        assert drawn["failed"] == health["by_state"].get("failed", 0) == 1
        assert drawn["sent"] + drawn["delivered"] == health["by_state"].get("sent", 0) + health["by_state"].get(
            "delivered", 0)
        channels = json.loads(browser.find_element(By.ID, "chart-channels").get_attribute("data-series"))
        assert channels["sms"] == 3
        browser.find_element(By.ID, "chart-states").screenshot(str(SHOTS / shot))
    channels_chart = browser.find_element(By.ID, "chart-channels")
    browser.execute_script("arguments[0].scrollIntoView()", channels_chart)
    channels_chart.screenshot(str(SHOTS / "console-chart-channels.png"))
    browser.execute_script("window.scrollTo(0, 0)")
    # a click on the failed bar: the message list for that bucket, failed ones only
    browser.find_element(By.CSS_SELECTOR, '#chart-states rect[data-series="failed"]').click()
    until(browser, lambda d: failed in text(d, "#messages-out"), "the bucket's failed message listed")
    form = browser.find_element(By.CSS_SELECTOR, 'form[data-load="messages"]')
    assert form.find_element(By.NAME, "state").get_attribute("value") == "failed"
    assert form.find_element(By.NAME, "created_before").get_attribute("value")
    # an empty window, then 10,000 messages in a day, drawn by the page's own code
    page(browser, "overview")
    fill(browser, "overview", {"hours": "168", "configuration_id": "cfg_nothing_here"})
    until(browser, lambda d: d.find_element(By.ID, "chart-states").get_attribute("data-total") == "0", "an empty chart")
    assert not browser.find_elements(By.CSS_SELECTOR, "#chart-states rect.bar")
    browser.find_element(By.ID, "chart-states").screenshot(str(SHOTS / "console-chart-empty.png"))
    total = browser.execute_script("""
      const buckets = Array.from({length: 25}, (_, i) => ({start: new Date(Date.UTC(2026, 11, 5, i)).toISOString(),
        states: {delivered: 300, sent: 50, failed: 40, expired: 10, other: 0}, channels: {sms: 400}}));
      drawCharts({bucket_seconds: 3600, buckets, latency_seconds: {p50: 1, p90: 2, p99: 3}, latency_samples: 10000,
                  pending: 0, oldest_pending_seconds: null}, document.querySelector('form[data-load="overview"]'));
      return document.getElementById("chart-states").dataset.total;""")
    assert total == "10000"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart-states rect.bar")) == 25 * 4
    browser.find_element(By.ID, "chart-states").screenshot(str(SHOTS / "console-chart-10000.png"))
    refused = [e for e in browser.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert not refused, refused


def test_an_operator_sees_who_said_stop_adds_an_opt_out_and_removes_it(runtime: Any, api: Api, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    number = "+13035550820"
    status, _ = runtime.twilio.send_inbound(f"{runtime.api_url}/webhooks/twilio/inbound", number, "+15005550006",
                                            "STOP")
    assert status == 200
    browser.get(f"{runtime.api_url}/console")
    browser.find_element(By.ID, "api-key").send_keys(runtime.api_key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    page(browser, "consent")
    fill(browser, "consent", {"address": number})
    row = f'//div[@id="consent-out"]//tr[td[text()="{number}"]]'

    def stop_with_evidence(driver: Any) -> bool:
        """Keyword and evidence read from one look at the row: the page may re-render it between two looks."""
        text = driver.find_element(By.XPATH, row).text
        return "STOP" in text and "person via twilio (signed)" in text

    until(browser, stop_with_evidence, "the STOP entry and its evidence")
    browser.save_screenshot(str(SHOTS / "console-consent.png"))
    add = browser.find_element(By.ID, "consent-add")
    add.find_element(By.NAME, "address").send_keys("+13035550821")
    add.find_element(By.NAME, "scope").clear()
    add.find_element(By.NAME, "scope").send_keys("brand-console")
    add.find_element(By.CSS_SELECTOR, "button").click()
    until(browser, lambda d: api.call("GET", "/consent?address=%2B13035550821")[0] == 200, "the operator's entry")
    fill(browser, "consent", {"address": "+13035550821"})
    other = '//div[@id="consent-out"]//tr[td[text()="+13035550821"]]'
    until(browser, lambda d: "brand-console" in d.find_element(By.XPATH, other).text, "the added entry")
    click(browser, other + '//button[text()="Remove"]', "the remove button")
    until(browser, lambda d: api.call("GET", "/consent?address=%2B13035550821")[1]["items"][0]["entries"] == [],
          "the entry removed")


def test_an_operator_finds_a_message_by_id_provider_id_or_contact_and_pages_through(
        runtime: Any, api: Api, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _, configuration_id = setup_sms(api, "finding")
    number = "+12025550733"
    sent = [send(api, configuration_id, number) for _ in range(12)]
    for message_id in sent:
        wait_for(partial(_settled, api, message_id), what="sent")
    target = message(api, sent[3])
    browser.get(f"{runtime.api_url}/console")
    browser.find_element(By.ID, "api-key").send_keys(runtime.api_key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    page(browser, "messages")

    def find(needle: str) -> None:
        box = browser.find_element(By.CSS_SELECTOR, "#find-form input[name=needle]")
        box.clear()
        box.send_keys(needle)
        browser.find_element(By.CSS_SELECTOR, "#find-form button").click()

    find(target["message_id"])
    until(browser, lambda d: f"Message {target['message_id']}" in text(d, "#message-detail"), "the message by its id")
    find(target["provider_message_id"])  # Twilio's SM... id
    row = f'//div[@id="messages-out"]//tr[td/button[text()="{target["message_id"]}"]]'
    until(browser, lambda d: text(d, "#messages-out").startswith("1 message(s)"), "the message by the provider's id")
    cells = browser.find_element(By.XPATH, row).text
    assert number in cells and "+15005550006" in cells and "Console Ana" in cells  # to, from, the text's excerpt
    Select(browser.find_element(By.CSS_SELECTOR, 'form[data-load="messages"] select[name=limit]')).select_by_value("10")
    find(number)
    until(browser, lambda d: "(page 1)" in text(d, "#messages-out") and "10 message(s)" in text(d, "#messages-out"),
          "the contact's first page")
    click(browser, '//button[@id="messages-next"]', "the next page")
    until(browser, lambda d: "(page 2)" in text(d, "#messages-out"), "the contact's second page")
    shown = {b.text for b in browser.find_elements(By.XPATH, '//div[@id="messages-out"]//td/button')}
    assert shown and shown <= set(sent) and len(shown) == 2
    browser.save_screenshot(str(SHOTS / "console-find.png"))


def test_the_dlq_page_shows_each_queues_depth_and_definitions_their_health(
        runtime: Any, api: Api, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    _, configuration_id = setup_sms(api, "parked")
    failed_send(runtime, api, configuration_id, "+12025550734")  # refused for good: parked on the sms DLQ
    depths = api.call("GET", "/dlq")[1]["dead_letter_queues"]
    sms_depth = next(q["entries"] for q in depths if q["channel"] == "sms")
    assert sms_depth >= 1
    browser.get(f"{runtime.api_url}/console")
    browser.find_element(By.ID, "api-key").send_keys(runtime.api_key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button").click()
    page(browser, "dlq")
    until(browser, lambda d: text(d, "#dlq-depth-sms") == str(sms_depth), "the sms DLQ's depth")
    from tests.e2e.test_pipeline import soap_setup

    obj, definition_id = soap_setup(api, runtime.soap.url + "/listener")
    status, _ = api.call("PUT", f"/records/{obj}/500xx000000cHeAAAQ", {"fields": {"Subject": "health"}})
    assert status == 200
    wait_for(lambda: any(m["state"] == "delivered" for m in
                         api.call("GET", f"/messages?definition_id={definition_id}")[1]["messages"]),
             what="the definition's delivery")
    page(browser, "resources")
    fill(browser, "resources", {"kind": "definitions"})
    row = f'//div[@id="resources-out"]//tr[td[text()="{definition_id}"]]'
    until(browser, lambda d: "1 delivered, 0 failing" in d.find_element(By.XPATH, row).text,
          "the definition's health")
