"""Chapter 05: LLM application patterns."""
