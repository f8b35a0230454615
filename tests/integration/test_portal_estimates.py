"""The portal shows an estimated reading, says how it was made, and takes the
reading of its day to replace it (issue #20)."""
from decimal import Decimal

from services.common.formats import money
from tests.conftest import wait_for
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
    # the chart counts the estimate, drawn apart, and its table says so
    chart = page.text.split('class="consumption"')[1].split("</table>")[0]
    january = chart.split("January 2026</th>")[1].split("</tr>")[0]
    assert "(estimated)" in january
    assert 'class="bar-estimated"' in page.text

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


def test_an_estimate_that_overshot_comes_back_as_a_credit_note_paying_her_open_invoice(
        portal, rpc):
    """January's invoice charges an estimate; she then reads far less for its day,
    so February's invoice takes back more than it charges: a credit note, which
    pays what is open of January's. The portal says so; the API names both sides."""
    home, cid = portal["home"], portal["home"]["customer_id"]
    point = home["consumption_point_id"]
    assert rpc.metering.estimate_readings("2026-01-19") == {"readings_estimated": 2}
    [estimate] = [r for r in rpc.metering.list_readings(point) if r["status"] == "estimated"]
    wait_for(lambda: rpc.billing.get_charge(estimate["reading_id"]),
             message="billing to charge the estimate")
    rpc.billing.billing_run("2026-01")
    [january] = rpc.billing.invoices_of(cid)
    actual = rpc.metering.submit_reading({
        "consumption_point_id": point, "reading_date": "2026-01-15",
        "registers": {"T1": 1001, "T2": 1001}, "source": "customer"})
    wait_for(lambda: rpc.billing.get_charge(actual["reading_id"]),
             message="billing to take the estimate back")
    rpc.billing.billing_run("2026-02")
    [february] = [i for i in rpc.billing.invoices_of(cid) if i["period"] == "2026-02"]
    assert Decimal(february["total"]) < 0 and february["status"] == "paid"
    credit = -Decimal(february["total"])
    assert credit < Decimal(january["total"])   # the fee and 2 kWh are still due

    browser, _ = log_in(portal, GRANDMOTHER, "Õie Mäger")
    api = f"{portal['base']}/api/v1/customers/{cid}/invoices"
    note = browser.get(f"{api}/{february['invoice_no']}", timeout=10).json()
    assert note["credit"] == {"amount": f"{credit:.2f}", "left": "0.00", "spent_on": [
        {"invoice_no": january["invoice_no"], "amount": f"{credit:.2f}"}]}
    paid_by = browser.get(f"{api}/{january['invoice_no']}", timeout=10).json()
    assert paid_by["paid"] == f"{credit:.2f}" and paid_by["status"] == "unpaid"
    assert paid_by["paid_from_credit"] == [
        {"invoice_no": february["invoice_no"], "amount": f"{credit:.2f}"}]
    assert browser.get(f"{portal['base']}/api/v1/customers/{cid}/payments",
                       timeout=10).json() == []      # a credit note is no payment

    page = browser.get(f"{portal['base']}/customers/{cid}/invoices", timeout=10)
    rows = {i["invoice_no"]: page.text.split(f"{i['invoice_no']}.pdf")[1].split("</tr>")[0]
            for i in (january, february)}
    assert "<td>credit note</td>" in rows[february["invoice_no"]]
    left = Decimal(january["total"]) - credit
    assert f"unpaid, {money(left, 'en')} left to pay" in rows[january["invoice_no"]]
    assert f'value="{february["invoice_no"]}"' not in page.text    # nothing to tick
    browser.headers["Accept-Language"] = "et"
    page = browser.get(f"{portal['base']}/customers/{cid}/invoices", timeout=10)
    assert "<td>kreeditarve</td>" in page.text
    assert f"tasuda veel {money(left, 'et')}" in page.text
