"""What the API and the portal both do, once: each action takes the gateway's
``services`` (its RPC client), the principal it acts for and a validated request,
and asks the services. The API's routes (services/gateway/routes/) and the
portal's pages (services/gateway/portal/) only read their request (JSON, a form)
into the action's model and turn its result into their answer (JSON, a page).

Below the routes and the portal, above the HTTP plumbing (http, auth, principals,
problems): an action knows nothing of requests or responses.
"""
