"""Persona environments. A call's environment always comes from the caller's grant."""

from enum import StrEnum


class Environment(StrEnum):
    SANDBOX = "sandbox"
    PRODUCTION = "production"
