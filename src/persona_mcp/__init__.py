"""persona-mcp: an MCP server for the Persona API with least-privilege grants and a tamper-evident audit log."""

__version__ = "0.1.0"
