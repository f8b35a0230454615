"""The web portal under ``/``: a customer logs in through their bank and sees, for
themselves and for everyone they act for, the consumption points with the last
reading and the next one due, enters readings, and follows invoices.

- ``pages``: the portal's addresses (nameko entrypoints mixed into the gateway),
  each reading its form and calling the same actions as the API
  (services/gateway/actions/) under the same access checks (``authorize``:
  scopes, mandates, the access log);
- ``account_pages``: the account pages (contract and contact details with
  claims, messages and the desk, mandates with their confirmation step and the
  access log), gathered by ``account_view``;
- ``forms``: what each form posts, read into the action's model, and the forms'
  token;
- ``view``: what a person sees of each customer, asked of each service in one
  call per page;
- ``rendering``: the pages themselves (Jinja2, autoescaped, in the visitor's
  language), apart from the HTTP plumbing; ``texts``: their Estonian words.

The session is the API's, kept in an HttpOnly SameSite=Lax cookie; every form that
changes something also carries a token derived from the session, so a page on
another site cannot post one for the customer.
"""
