"""Chapter 07: Agent reliability engineering."""
