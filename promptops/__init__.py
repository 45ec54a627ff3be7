"""promptops: GitOps for LLM prompts served from Langfuse."""

__version__ = "0.1.0"
