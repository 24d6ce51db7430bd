"""MCP wiring: transports, the call pipeline, tool listing per caller, health."""
