"""A person's own fields, as Persona names them on accounts, inquiries and simulated input.

Declared once so every tool that takes them marks them personal data (`PII`, digested in audit records,
masked in results without `pii:read`) and validates them the same way.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field

from persona_mcp.pii import PII
from persona_mcp.tools.inputs import Email, Phone, ToolInput


class PersonFields(ToolInput):
    """Name, birth date, contact and address; each is sent only when given."""

    name_first: Annotated[str | None, PII] = Field(None, description="First name.")
    name_middle: Annotated[str | None, PII] = Field(None, description="Middle name.")
    name_last: Annotated[str | None, PII] = Field(None, description="Last name.")
    birthdate: Annotated[date | None, PII] = Field(None, description="Date of birth.")
    email_address: Annotated[Email | None, PII] = Field(None, description="E-mail address.")
    phone_number: Annotated[Phone | None, PII] = Field(None, description="Phone number.")
    address_street_1: Annotated[str | None, PII] = Field(None, description="Street line 1.")
    address_street_2: Annotated[str | None, PII] = Field(None, description="Street line 2.")
    address_city: Annotated[str | None, PII] = Field(None, description="City.")
    address_subdivision: Annotated[str | None, PII] = Field(None, description="State or province.")
    address_postal_code: Annotated[str | None, PII] = Field(None, max_length=32, description="Postal code.")
