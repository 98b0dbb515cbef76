"""Chapter 06: Retrieval and RAG."""
