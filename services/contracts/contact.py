"""A customer's contact details and their validation.

Phone numbers are stored in E.164; Estonian numbers may be typed in local form
("5551 2345" becomes "+37255512345"). E-mail addresses are checked for syntax,
not for deliverability (that needs the network).
"""
# published in the contracts' api.py, where other services and systems take them from
from services.contracts.api import ContactChange, e164_phone, normalised_email  # noqa: F401
from services.contracts.api import ContractContact as Contact  # noqa: F401

CONTACT_FIELDS = ("postal_address", "phone", "email", "language")
