"""The portal shows an estimated reading, says how it was made, and takes the
reading of its day to replace it (issue #20)."""
from tests.integration.test_portal import (log_in, point_page, portal,  # noqa: F401
                                           reading_form)
from tests.samples import GRANDMOTHER


def test_she_sees_the_estimate_and_replaces_it_with_the_reading_of_its_day(portal, rpc):
    home = portal["home"]
    point = home["consumption_point_id"]
    # her point and her grandchild's
    assert rpc.metering.estimate_readings("2026-01-19") == {"readings_estimated": 2}
    browser, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")
    page = point_page(browser, portal, home["customer_id"], point)
    readings = page.text.split('class="readings"')[1].split("</table>")[0]
    assert '<strong class="estimated">Estimated</strong>' in readings
    assert "from the typical use of your tariff plan" in readings
    assert "We had no reading for 15 January 2026" in readings

    form = reading_form(page, point, portal["base"])
    sent = browser.post(form["action"], timeout=10, data={
        **form["fields"], "reading_date": "15.01.2026", "register-T1": "1100",
        "register-T2": "1120"})
    assert sent.status_code == 201, sent.text
    assert "Reading accepted" in sent.text
    readings = sent.text.split('class="readings"')[1].split("</table>")[0]
    assert "settled by your actual reading" in readings
    assert "We had no reading for" not in readings

    browser.headers["Accept-Language"] = "et"
    page = point_page(browser, portal, home["customer_id"], point)
    assert "Hinnanguline" in page.text
