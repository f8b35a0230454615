"""The web portal under ``/``: a customer logs in through their bank and sees, for
herself or for whomever she acts for under a mandate (the switcher, remembered
for the browser session), an overview (each consumption point's last reading and
the next one due or overdue, what is open to pay, the latest message), a page per
consumption point (the reading form, the readings, the consumption chart) and
her invoices and payments.

- ``pages``: the portal's addresses (nameko entrypoints mixed into the gateway),
  each reading its form and calling the same actions as the API
  (services/gateway/actions/) under the same access checks (``authorize``:
  scopes, mandates, the access log); ``_page`` draws a customer's page in the
  frame (templates/base.html), ``_act`` answers a form with the page it is on;
- ``account_pages``: the account pages (contract and contact details with
  claims, messages and the desk, mandates with their confirmation step and the
  access log), gathered by ``account_view``;
- ``forms``: what each form posts, read into the action's model (dates as the
  page's language writes them), the services' field errors placed at the
  form's fields, and the forms' token;
- ``view``: what a page shows, asked of each service in a fixed number of calls
  however many points and invoices there are;
- ``rendering``: the pages themselves (Jinja2, autoescaped, in the visitor's
  language: texts from locale/et/LC_MESSAGES/messages.po, dates and money by
  services/common/formats.py, refusals by services.gateway.refusals).

The session is the API's, kept in an HttpOnly SameSite=Lax cookie; every form that
changes something also carries a token derived from the session, so a page on
another site cannot post one for the customer.
"""
