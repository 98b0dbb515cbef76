"""09 LLM observability: a traced OpenAI-compatible gateway with cost attribution, SLOs and a dashboard."""
