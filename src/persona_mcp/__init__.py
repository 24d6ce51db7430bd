"""persona-mcp: an MCP server for the Persona API, least-privilege grants, a tamper-evident audit log."""

__version__ = "0.1.0"
