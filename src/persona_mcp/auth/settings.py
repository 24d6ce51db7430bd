"""Settings for external bearer tokens (`PERSONA_MCP_OAUTH_*`), re-exported from `persona_mcp.config`.

They are defined there so that `config` imports nothing from the package; this module keeps the old
import path working.
"""

from persona_mcp.config import SUPPORTED_ALGORITHMS, OAuthSettings, jwks_url_problem

__all__ = ["SUPPORTED_ALGORITHMS", "OAuthSettings", "jwks_url_problem"]
