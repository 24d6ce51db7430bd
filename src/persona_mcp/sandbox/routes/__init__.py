"""HTTP routes of the emulated Persona API, one module per catalogue family."""
