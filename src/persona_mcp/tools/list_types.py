"""The types of Persona lists and of the items in them, shared by the lists and list-items families.

Every list type has items of the same type; two item types (device fingerprints, fields) have no list
type of their own that the API creates.
"""

from __future__ import annotations

from enum import StrEnum


class ListItemType(StrEnum):
    BROWSER_FINGERPRINT = "browser-fingerprint"
    COUNTRY = "country"
    DEVICE_FINGERPRINT = "device-fingerprint"
    EMAIL_ADDRESS = "email-address"
    FIELD = "field"
    GEOLOCATION = "geolocation"
    GOVERNMENT_ID_NUMBER = "government-id-number"
    IP_ADDRESS = "ip-address"
    NAME = "name"
    PHONE_NUMBER = "phone-number"
    STRING = "string"


class ListType(StrEnum):
    """List types that can be created through the API."""

    BROWSER_FINGERPRINT = "browser-fingerprint"
    COUNTRY = "country"
    EMAIL_ADDRESS = "email-address"
    GEOLOCATION = "geolocation"
    GOVERNMENT_ID_NUMBER = "government-id-number"
    IP_ADDRESS = "ip-address"
    NAME = "name"
    PHONE_NUMBER = "phone-number"
    STRING = "string"
