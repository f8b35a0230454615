"""Invoices for customers; tariffs, VAT and the billing run for the desk."""
import base64

from werkzeug.wrappers import Response

from services.billing.tariffs import TariffPlan, VatRate
from services.common.validation import Shape
from services.gateway.http import json_body, route


class BillingRunRequest(Shape):
    period: str


class BillingRoutes:

    @route("GET", "/api/v1/customers/<cid>/invoices", access="customer", scope="invoices:read",
           tag="invoices", summary="Invoices (?status=unpaid|paid|overdue|all)")
    def invoices(self, request, cid):
        return self.services.call("billing", "invoices_of", cid,
                                  request.args.get("status", "all"))

    @route("GET", "/api/v1/customers/<cid>/invoices/<invoice_no>", access="customer",
           scope="invoices:read", tag="invoices", summary="An invoice with its lines")
    def invoice(self, request, cid, invoice_no):
        return self.services.call("billing", "get_invoice", invoice_no, cid)

    @route("GET", "/api/v1/customers/<cid>/invoices/<invoice_no>.pdf", access="customer",
           scope="invoices:read", tag="invoices",
           summary="The invoice as PDF, in the customer's language (?lang=et|en)")
    def invoice_pdf(self, request, cid, invoice_no):
        invoice = self.services.call("billing", "get_invoice", invoice_no, cid)
        customer = self.services.call("contracts", "get_customer", cid)
        contract = self.services.call("contracts", "get_contract", invoice["contract_no"])
        point = contract["consumption_point"]
        language = request.args.get("lang") or customer["contact"]["language"] or "et"
        document = self.services.call(
            "billing", "invoice_pdf", invoice_no, cid,
            {"name": customer["name"], "postal_address": customer["contact"]["postal_address"]},
            {"eic": point["eic"], "address": point["address"]}, language)
        return Response(base64.b64decode(document), content_type="application/pdf", headers={
            "Content-Disposition": f'inline; filename="invoice-{invoice_no}.pdf"'})

    @route("GET", "/api/v1/operator/tariffs", access="operator", tag="operator",
           summary="Tariff plans and their priced components")
    def desk_tariffs(self, request):
        return self.services.call("billing", "list_tariffs")

    @route("POST", "/api/v1/operator/tariffs", access="operator", tag="operator", status=201,
           request_model=TariffPlan,
           summary="Add a tariff plan, or components to an existing one")
    def desk_add_tariff(self, request):
        plan = json_body(request, TariffPlan)
        return self.services.call("billing", "add_tariff", plan.model_dump(mode="json"))

    @route("GET", "/api/v1/operator/vat-rates", access="operator", tag="operator",
           summary="VAT rates by date")
    def desk_vat_rates(self, request):
        return self.services.call("billing", "list_vat_rates")

    @route("POST", "/api/v1/operator/vat-rates", access="operator", tag="operator", status=201,
           request_model=VatRate, summary="Add a VAT rate from a date")
    def desk_add_vat_rate(self, request):
        vat = json_body(request, VatRate)
        return self.services.call("billing", "add_vat_rate", vat.model_dump(mode="json"))

    @route("POST", "/api/v1/operator/jobs/billing-run", access="operator", tag="operator",
           request_model=BillingRunRequest, summary="Invoice every contract for a month")
    def desk_billing_run(self, request):
        run = json_body(request, BillingRunRequest)
        return self.services.call("billing", "billing_run", run.period, timeout=600)
