"""The LLM layer: endpoints, one async client, the response log, a local model, judges.

Public names are imported lazily so `import refusalkit.llm` stays cheap (the openai SDK
alone takes over a second to import).

    from refusalkit.llm import LLMClient, ChatRequest

    async with LLMClient() as client:
        results = await client.chat_all([ChatRequest.from_prompt(p) for p in prompts])
"""

from __future__ import annotations

from refusalkit.core.lazy import lazy_exports

_EXPORTS = {
    "LLMClient": "refusalkit.llm.client",
    "ClientStats": "refusalkit.llm.client",
    "run_sync": "refusalkit.llm.runtime",
    "ChatRequest": "refusalkit.llm.types",
    "ChatResult": "refusalkit.llm.types",
    "split_thinking": "refusalkit.llm.types",
    "extract_json": "refusalkit.llm.types",
    "Endpoint": "refusalkit.llm.config",
    "resolve_endpoint": "refusalkit.llm.config",
    "all_endpoints": "refusalkit.llm.config",
    "load_config": "refusalkit.llm.config",
    "local_endpoint": "refusalkit.llm.config",
    "ResponseLog": "refusalkit.llm.log",
    "LocalServer": "refusalkit.llm.local",
    "local_available": "refusalkit.llm.local",
    "LLMError": "refusalkit.llm.types",
    "generate": "refusalkit.llm.generate",
    "agenerate": "refusalkit.llm.generate",
    "read_prompts": "refusalkit.llm.generate",
    "GenerateSummary": "refusalkit.llm.generate",
    "TaxonomyJudge": "refusalkit.llm.judges",
    "FalseRejectJudge": "refusalkit.llm.judges",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
