"""A customer's contact details and their validation.

Phone numbers are stored in E.164; Estonian numbers may be typed in local form
("5551 2345" becomes "+37255512345"). E-mail addresses are checked for syntax,
not for deliverability (that needs the network).
"""
from typing import Literal, Optional

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import Field, field_validator

from services.common.validation import Shape

CONTACT_FIELDS = ("postal_address", "phone", "email", "language")


def e164_phone(value):
    try:
        number = phonenumbers.parse(value, "EE")
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number (international form +372..., or an "
                         "Estonian number)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalised_email(value):
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


class ContactChange(Shape):
    """Any subset of the contact details; null clears an optional one."""
    postal_address: Optional[str] = Field(default=None, max_length=500)
    phone: Optional[str] = Field(default=None, max_length=32)
    email: Optional[str] = Field(default=None, max_length=320)
    language: Optional[Literal["et", "en"]] = None

    @field_validator("phone")
    @classmethod
    def phone_is_valid(cls, value):
        return None if value in (None, "") else e164_phone(value)

    @field_validator("email")
    @classmethod
    def email_is_valid(cls, value):
        return None if value in (None, "") else normalised_email(value)


class Contact(ContactChange):
    language: Literal["et", "en"] = "et"
