"""State changes of the emulated objects, independent of HTTP (the seed data uses them too)."""
