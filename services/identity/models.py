import sqlalchemy as sa

from services.common.tables import handled_events_table, outbox_table

metadata = sa.MetaData()

# The people identity knows, and the customer records they hold contracts under
# (from contracts' events): the ground of eligibility to log in.
persons = sa.Table(
    "persons", metadata,
    sa.Column("person_code", sa.String(11), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

customer_contracts = sa.Table(
    "customer_contracts", metadata,
    sa.Column("contract_no", sa.String(20), primary_key=True),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("person_code", sa.String(11), sa.ForeignKey("persons.person_code"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("end_date", sa.Date),   # in force until then
    sa.Column("consumption_point_id", sa.String(36)),
)

# Banklink requests we issued: each reply must answer one of them, once.
banklink_requests = sa.Table(
    "banklink_requests", metadata,
    sa.Column("request_id", sa.String(36), primary_key=True),
    sa.Column("bank_id", sa.String(32), nullable=False),
    sa.Column("service", sa.String(4), nullable=False),
    sa.Column("nonce", sa.String(50), unique=True),   # 4012 only
    sa.Column("rid", sa.String(30), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    # the SHA-256 of a secret the starting browser keeps (the portal's), when given:
    # the bank's reply logs in only that browser (no login forced on someone else)
    sa.Column("browser_hash", sa.String(64)),
    # who started it, as the gateway saw them: starts are rate-limited per address
    sa.Column("client_address", sa.String(64)),
    sa.Index("ix_banklink_requests_address", "client_address", "created_at"),
)

# Sessions are kept by the SHA-256 of their token: a stolen table opens nothing.
sessions = sa.Table(
    "sessions", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),        # customer | operator
    sa.Column("subject", sa.String(64), nullable=False),     # person code | operator name
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Index("ix_sessions_subject", "kind", "subject"),
)

operators = sa.Table(
    "operators", metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(10), nullable=False),        # desk | admin
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Failed operator logins, by account and by client address, for rate limiting.
login_failures = sa.Table(
    "login_failures", metadata,
    sa.Column("failure_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("client_address", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_login_failures_username", "username", "at"),
    sa.Index("ix_login_failures_address", "client_address", "at"),
)

# Every banklink login attempt, accepted or not: who, which bank, the outcome.
login_log = sa.Table(
    "login_log", metadata,
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("bank_id", sa.String(32), nullable=False),
    sa.Column("person_code", sa.String(11)),
    sa.Column("outcome", sa.String(40), nullable=False),     # ok | the rule that failed
    sa.Column("detail", sa.String(300)),
    # how: oidc:<provider> for an OpenID Connect login (none: banklink, bank_id says
    # which bank), and the methods the provider reported (amr: idcard, mID, smartid)
    sa.Column("method", sa.String(48)),
    sa.Column("amr", sa.String(64)),
    # where the attempt came from: refused logins are rate-limited per address
    sa.Column("client_address", sa.String(64)),
    sa.Index("ix_login_log_address", "client_address", "at"),
)

# OpenID Connect logins we started (services/identity/oidc.py): each callback must
# answer one of them, once, within minutes. The code verifier is PKCE's secret half.
oidc_flows = sa.Table(
    "oidc_flows", metadata,
    sa.Column("flow_id", sa.String(36), primary_key=True),
    sa.Column("provider_id", sa.String(32), nullable=False),
    sa.Column("state", sa.String(64), nullable=False, unique=True),
    sa.Column("nonce", sa.String(64), nullable=False, unique=True),
    sa.Column("code_verifier", sa.String(128), nullable=False),
    sa.Column("redirect_uri", sa.String(255), nullable=False),
    sa.Column("via", sa.String(8), nullable=False),            # api | portal
    sa.Column("browser_hash", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Column("client_address", sa.String(64)),
    sa.Index("ix_oidc_flows_address", "client_address", "created_at"),
    sa.Index("ix_oidc_flows_created", "created_at"),
)

outbox = outbox_table(metadata)
handled_events = handled_events_table(metadata)


# A customer's authorisation for a person to act for them (API.md "mandate").
# consumption_point_ids empty: every point of the grantor's. ends_on: the grantor's
# last contract ended then, and the mandate with it.
mandates = sa.Table(
    "mandates", metadata,
    sa.Column("mandate_id", sa.String(36), primary_key=True),
    sa.Column("grantor_customer_id", sa.String(36), nullable=False),
    sa.Column("grantor_person_code", sa.String(11), nullable=False),
    sa.Column("grantee_person_code", sa.String(11), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("consumption_point_ids", sa.JSON, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_until", sa.Date),
    sa.Column("ends_on", sa.Date),
    sa.Column("created_via", sa.String(10), nullable=False),    # office | online
    sa.Column("created_by", sa.String(80), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_by", sa.String(80)),
    sa.Column("expired_at", sa.DateTime(timezone=True)),       # mandate_expired sent
)

# Every read or change of a customer's data by someone acting under a mandate.
access_log = sa.Table(
    "access_log", metadata,
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("actor_person_code", sa.String(11), nullable=False),
    sa.Column("action", sa.String(10), nullable=False),         # read | change
    sa.Column("resource", sa.String(300), nullable=False),      # the path
    sa.Column("what", sa.String(200)),                          # the route's summary
    sa.Column("mandate_id", sa.String(36)),
    # the use, as a code the gateway puts in words (services/gateway/uses), and what
    # it was about: {"consumption_point_id": ..., "invoice_no": ..., "parts": [...]}
    sa.Column("use", sa.String(64)),
    sa.Column("details", sa.JSON),
    # done | refused; none yet: a change still under way, or whose outcome never came
    sa.Column("outcome", sa.String(10)),
    # an application's use under a sharing grant (its client_id; the actor is the
    # person who granted it)
    sa.Column("client_id", sa.String(64)),
)


# -- sharing consumption data with third parties (OAuth 2 authorization code) --------

# A third party's application, registered by an operator. Its secret is kept as an
# argon2 hash, as operators' passwords are: shown once, when it is made.
sharing_applications = sa.Table(
    "sharing_applications", metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("purpose", sa.String(500), nullable=False),
    sa.Column("redirect_uris", sa.JSON, nullable=False),
    sa.Column("secret_hash", sa.String(200), nullable=False),
    sa.Column("created_by", sa.String(80), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("disabled_at", sa.DateTime(timezone=True)),
)

# What a customer (or a delegate under a mandate allowing sharing:grant) let an
# application read: these scopes of these consumption points, until valid_until.
sharing_grants = sa.Table(
    "sharing_grants", metadata,
    sa.Column("grant_id", sa.String(36), primary_key=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(36), nullable=False),
    sa.Column("granted_by", sa.String(11), nullable=False),      # the person's code
    sa.Column("mandate_id", sa.String(36)),                      # a delegate's
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("consumption_point_ids", sa.JSON, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=False),
    sa.Column("valid_until", sa.Date, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    # who: a person code, operator:<name>, or "refresh-token-reuse"
    sa.Column("revoked_by", sa.String(80)),
    sa.Index("ix_sharing_grants_customer", "customer_id"),
)

# Authorization codes, access and refresh tokens: opaque random strings kept as
# their SHA-256, as sessions are. A code and a refresh token are used once
# (used_at); a refresh token used again revokes its grant.
sharing_tokens = sa.Table(
    "sharing_tokens", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),            # code | access | refresh
    sa.Column("grant_id", sa.String(36), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Column("redirect_uri", sa.String(500)),                   # code only
    sa.Column("code_challenge", sa.String(128)),                 # code only (PKCE S256)
    sa.Index("ix_sharing_tokens_grant", "grant_id"),
)
