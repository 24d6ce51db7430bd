"""Persona environments, re-exported from `persona_mcp.config` (where settings can use them without
loading `auth`). A call's environment always comes from the caller's grant."""

from persona_mcp.config import Environment

__all__ = ["Environment"]
