"""Invoices, payments and payment books for customers; tariffs, VAT, statements
and the billing jobs for the desk."""
import base64
from datetime import date
from typing import Optional

from pydantic import Field
from werkzeug.wrappers import Response

from services.billing import api as billing
from services.billing.api import Period, TariffPlan, VatRate
from services.common.errors import NotFound, ValidationFailed
from services.common.validation import Shape
from services.contracts import api as contracts
from services.gateway import schemas
from services.gateway.actions.payments import finish_bank_payment, start_bank_payment
from services.gateway.auth import actor, visible_points
from services.gateway.http import (FORM, JOB_HEADERS, PREFER_ASYNC, form_body, job_accepted,
                                   json_body, prefers_async, public_url, route)
from services.identity import api as identity
from services.gateway.problems import UnsupportedMediaType

CUSTOMER = "/api/v1/customers/<cid>"
STATEMENT_TYPES = ("application/xml", "text/xml")


class BillingRunRequest(Shape):
    period: Period


class OverdueSweepRequest(Shape):
    as_of: Optional[date] = None


class PaymentRequest(Shape):
    bank: str = Field(min_length=1, max_length=40)
    invoice_nos: list[str] = Field(min_length=1, max_length=50)


class BillingRoutes:

    @route("GET", "/api/v1/customers/<cid>/invoices", access="customer", scope="invoices:read",
           tag="invoices", query=schemas.InvoicesQuery, response_model=billing.invoices_of,
           summary="Invoices (?status=unpaid|paid|overdue|all)")
    def invoices(self, request, cid):
        return self.services.call("billing", "invoices_of", cid,
                                  request.args.get("status", "all"), visible_points(request))

    @route("GET", "/api/v1/customers/<cid>/invoices/<invoice_no>", access="customer",
           scope="invoices:read", tag="invoices", response_model=billing.get_invoice,
           summary="An invoice with its lines")
    def invoice(self, request, cid, invoice_no):
        return self.services.call("billing", "get_invoice", invoice_no, cid,
                                  visible_points(request))

    @route("GET", "/api/v1/customers/<cid>/invoices/<invoice_no>.pdf", access="customer",
           scope="invoices:read", tag="invoices", query=schemas.InvoicePdfQuery,
           response_media="application/pdf",
           calls=(billing.get_invoice, contracts.get_customer, contracts.get_contract,
                  billing.invoice_pdf),
           summary="The invoice as PDF, in the customer's language (?lang=et|en)")
    def invoice_pdf(self, request, cid, invoice_no):
        invoice = self.services.call("billing", "get_invoice", invoice_no, cid,
                                     visible_points(request))
        customer = self.services.call("contracts", "get_customer", cid)
        contract = self.services.call("contracts", "get_contract", invoice["contract_no"])
        point = contract["consumption_point"]
        language = request.query.lang or customer["contact"]["language"] or "et"
        document = self.services.call(
            "billing", "invoice_pdf", invoice_no, cid,
            {"name": customer["name"], "postal_address": customer["contact"]["postal_address"]},
            {"eic": point["eic"], "address": point["address"]}, language)
        return Response(base64.b64decode(document), content_type="application/pdf", headers={
            "Content-Disposition": f'inline; filename="invoice-{invoice_no}.pdf"',
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    @route("GET", f"{CUSTOMER}/payments", access="customer", scope="invoices:read",
           tag="invoices", response_model=billing.payments_of,
           summary="Payments received, newest first, with what each paid")
    def payments(self, request, cid):
        return self.services.call("billing", "payments_of", cid, visible_points(request))

    @route("POST", f"{CUSTOMER}/payments", access="customer", scope="payments:write",
           tag="invoices", request_model=PaymentRequest, response_model=schemas.BanklinkPayment,
           calls=(identity.list_banks, billing.start_bank_payment, identity.payment_request),
           summary="Pay invoices through a bank: the signed banklink form to post to it")
    def pay(self, request, cid):
        payment = json_body(request, PaymentRequest)
        order, form = start_bank_payment(
            self.services, request.principal, cid, payment.bank, payment.invoice_nos,
            visible_points(request),
            f"{public_url(self.config)}/api/v1/payments/banklink/{payment.bank}/return",
            unknown_bank=f"no bank {payment.bank!r}; see GET /api/v1/auth/banks")
        return {**form, "stamp": order["stamp"], "amount": order["amount"],
                "reference_no": order["reference_no"], "invoice_nos": order["invoice_nos"]}

    @route("POST", "/api/v1/payments/banklink/<bank>/return", access="public",
           tag="invoices", request_model=schemas.BanklinkReply, request_media=FORM,
           response_model=billing.finish_bank_payment, calls=(identity.verify_payment_reply,),
           description="401 when the reply's signature or ids do not check out; 404 for a "
                       "payment Vool did not start; 409 when the reply does not match it.",
           summary="The bank's signed payment reply (1111 paid, 1911 cancelled)")
    def bank_payment_return(self, request, bank):
        return finish_bank_payment(self.services, bank, form_body(request))

    @route("GET", "/api/v1/payment-books/<reference_no>", access="customer", tag="invoices",
           scope="invoices:read", response_model=schemas.CustomerPaymentBook,
           calls=(billing.payment_book, identity.record_access, contracts.get_contract),
           summary="Up to which meter reading the payments under a reference number reach")
    def payment_book(self, request, reference_no):
        # the customers whose invoices the caller may see: themselves, and mandates
        # covering invoices:read; anyone else's reference number does not exist here
        readable = {c["customer_id"]: c for c in request.principal["customers"]
                    if "invoices:read" in c["scopes"]}
        book = self.services.call("billing", "payment_book", reference_no, list(readable))
        acting = readable[book["customer_id"]]
        if acting["relation"] == "mandate":
            limit = acting.get("consumption_point_ids")
            if limit and book["consumption_point_id"] not in limit:
                raise NotFound(f"no payment book {reference_no}")
            self.services.call("identity", "record_access", book["customer_id"],
                               request.principal["person"]["person_code"], "read",
                               request.path, "Payment book", acting["mandate_id"],
                               "payment_book", {"reference_no": reference_no})
        contract = self.services.call("contracts", "get_contract", book["contract_no"])
        point = contract["consumption_point"]
        book["consumption_point"] = {"id": point["id"], "eic": point["eic"],
                                     "address": point["address"]}
        return book

    @route("POST", "/api/v1/operator/bank-statements", access="operator", tag="operator",
           request_media="application/xml", response_model=billing.import_statement,
           header_parameters=PREFER_ASYNC, responses={202: billing.BillingJob},
           response_headers={202: JOB_HEADERS}, calls=(billing.start_statement_import,),
           description="Answers the import's report when done; with `Prefer: "
                       "respond-async` 202 at once with the import as a job (progress by "
                       "entries; `Location` names it). The same statement while its import "
                       "is queued or running is that one job.",
           summary="Import an ISO 20022 camt.053 bank statement (XML): payments by reference")
    def desk_import_statement(self, request):
        if request.mimetype not in STATEMENT_TYPES:
            raise UnsupportedMediaType(f"send application/xml, not {request.mimetype or 'nothing'}")
        statement = base64.b64encode(request.get_data()).decode("ascii")
        if prefers_async(request):
            return job_accepted(self.services.call(
                "billing", "start_statement_import", statement, actor(request.principal)),
                applied=True)
        return self.services.call("billing", "import_statement", statement, timeout=120)

    @route("GET", "/api/v1/operator/payments", access="operator", tag="operator",
           query=schemas.UnmatchedPaymentsQuery, response_model=billing.unmatched_payments,
           summary="Payments that matched no contract (?status=unmatched)")
    def desk_unmatched_payments(self, request):
        status = request.args.get("status", "unmatched")
        if status != "unmatched":
            raise ValidationFailed.field("status", "only unmatched payments are listed here")
        return self.services.call("billing", "unmatched_payments")

    @route("POST", "/api/v1/operator/jobs/overdue-sweep", access="operator", tag="operator",
           request_model=OverdueSweepRequest, response_model=billing.overdue_sweep,
           summary="Mark unpaid invoices past their due date overdue")
    def desk_overdue_sweep(self, request):
        sweep = json_body(request, OverdueSweepRequest)
        return self.services.call("billing", "overdue_sweep",
                                  sweep.as_of.isoformat() if sweep.as_of else None, timeout=600)

    @route("GET", "/api/v1/operator/tariffs", access="operator", tag="operator",
           response_model=billing.list_tariffs, summary="Tariff plans and their priced components")
    def desk_tariffs(self, request):
        return self.services.call("billing", "list_tariffs")

    @route("POST", "/api/v1/operator/tariffs", access="operator", tag="operator", status=201,
           request_model=TariffPlan, response_model=billing.add_tariff,
           summary="Add a tariff plan, or components to an existing one")
    def desk_add_tariff(self, request):
        plan = json_body(request, TariffPlan)
        return self.services.call("billing", "add_tariff",
                                  plan.model_dump(mode="json", by_alias=True))

    @route("GET", "/api/v1/operator/vat-rates", access="operator", tag="operator",
           response_model=billing.list_vat_rates, summary="VAT rates by date")
    def desk_vat_rates(self, request):
        return self.services.call("billing", "list_vat_rates")

    @route("POST", "/api/v1/operator/vat-rates", access="operator", tag="operator", status=201,
           request_model=VatRate, response_model=billing.add_vat_rate,
           summary="Add a VAT rate from a date")
    def desk_add_vat_rate(self, request):
        vat = json_body(request, VatRate)
        return self.services.call("billing", "add_vat_rate", vat.model_dump(mode="json"))

    @route("GET", "/api/v1/operator/unpriceable", access="operator", tag="operator",
           response_model=billing.unpriceable,
           summary="What billing cannot price and so leaves unbilled: readings and contracts")
    def desk_unpriceable(self, request):
        return self.services.call("billing", "unpriceable")

    @route("POST", "/api/v1/operator/jobs/billing-run", access="operator", tag="operator",
           status=202, request_model=BillingRunRequest, response_model=billing.start_billing_run,
           headers={"Location": JOB_HEADERS["Location"]},
           description="Billing runs it in the background: follow it at `Location` "
                       "(GET /api/v1/operator/jobs/{job_id}); its result is "
                       "`{invoices_issued, total, unpriceable}`. While a run of the month "
                       "is queued or running, asking again answers that same job; running "
                       "a month again issues nothing twice.",
           summary="Invoice every contract for a month (a job)")
    def desk_billing_run(self, request):
        run = json_body(request, BillingRunRequest)
        return job_accepted(self.services.call("billing", "start_billing_run", run.period,
                                               actor(request.principal)))
