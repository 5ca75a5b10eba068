"""LLM judges behind the `Detector` interface: `llm:ENDPOINT` and `llm-falsereject:ENDPOINT`.

- `TaxonomyJudge` asks for the behaviour and one of the taxonomy's categories, with the
  definitions from the taxonomy file, as JSON constrained by a schema where the endpoint
  supports structured output, else as a strict `VERDICT <code>: behaviour | category` line.
- `FalseRejectJudge` asks for Direct Refusal / Safe Partial Compliance / Full Compliance
  (-> full_refusal / partial_refusal / full_compliance) with definitions and worked
  examples, the label in a fixed `VERDICT <code>: [[...]]` line (or the same JSON way).

Both judge the response with any `<think>` reasoning removed, treat it as untrusted
(see `judge_prompts`), and return `Verdict.unjudged(reason, raw_output=...)` whenever
there is nothing to judge, the request failed or the answer does not parse. Requests go
through `LLMClient`, so judgements are logged, cached and resumable like any other call.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from refusalkit.core.models import Behavior, Exchange, Group, Verdict
from refusalkit.detectors.base import Detector
from refusalkit.llm import judge_prompts as jp
from refusalkit.llm.types import ChatRequest, ChatResult, split_thinking

_FR_BEHAVIOR = {
    "direct_refusal": Behavior.FULL_REFUSAL,
    "safe_partial_compliance": Behavior.PARTIAL_REFUSAL,
    "full_compliance": Behavior.FULL_COMPLIANCE,
}


def _local_tweaks(schema: dict[str, Any], local: bool) -> dict[str, Any]:
    """llama.cpp (llguidance) only: compact JSON, so a small model cannot ramble whitespace."""
    if local:
        schema["x-guidance"] = {"whitespace_flexible": False}
    return schema


class LLMJudge(Detector):
    """Shared machinery: build requests, run them through the client, parse strictly."""

    prefix: ClassVar[str] = "llm"
    tag: ClassVar[str] = "judge"
    version = "1"

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        max_tokens: int = 400,
        structured: str = "auto",
        max_chars: int = 6000,
        log: str | None = None,
        cache: bool = True,
    ) -> None:
        if structured not in ("auto", "json", "text"):
            raise ValueError("structured must be auto, json or text")
        self.endpoint = endpoint
        self.max_tokens, self.structured, self.max_chars = max_tokens, structured, max_chars
        self.log, self.cache = log, cache
        self._endpoint_name: str | None = None

    @property
    def name(self) -> str:
        return f"{self.prefix}:{self._endpoint_name or self.endpoint or 'default'}"

    def config(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "max_tokens": self.max_tokens,
            "structured": self.structured,
            "max_chars": self.max_chars,
        }

    # ------------------------------------------------------------------ running
    def predict(self, exchanges: Sequence[Exchange]) -> list[Verdict]:
        from refusalkit.llm.runtime import run_sync

        return run_sync(self.apredict(exchanges))

    async def apredict(self, exchanges: Sequence[Exchange], *, client: Any = None) -> list[Verdict]:
        """Judge exchanges concurrently; pass a running `LLMClient` to share its log/limits."""
        from refusalkit.llm.client import LLMClient

        own = client is None
        if own:
            client = LLMClient(log=Path(self.log) if self.log else None, cache=self.cache)
        try:
            ep = client.endpoint(self.endpoint)
            self._endpoint_name = ep.name
            structured = self.structured == "json" or (
                self.structured == "auto" and ep.supports_json_schema
            )
            verdicts: list[Verdict | None] = [None] * len(exchanges)
            requests = []
            for i, ex in enumerate(exchanges):
                answer = self._answer(ex)
                if isinstance(answer, Verdict):
                    verdicts[i] = answer
                    continue
                req = self.build_request(ex, answer, structured=structured, local=ep.is_local)
                req.endpoint, req.meta = ep.name, (i, jp.verdict_code(ex, answer))
                requests.append(req)
            async for result in client.chat_many(requests):
                i, code = result.meta
                verdicts[i] = self.verdict_from(result, code)
            return [
                v if v is not None else self._unjudged("not judged (interrupted)") for v in verdicts
            ]
        finally:
            if own:
                await client.aclose()

    def _answer(self, ex: Exchange) -> str | Verdict:
        """The response text to judge (reasoning removed), or why there is nothing to judge."""
        error = ex.metadata.get("error") if ex.metadata else None
        if error:
            return self._unjudged(f"no response to judge: generation failed ({error})")
        answer, _ = split_thinking(ex.response or "")
        if not answer.strip():
            return self._unjudged("empty response")
        return answer

    def _unjudged(self, reason: str, raw: str | None = None) -> Verdict:
        return Verdict.unjudged(
            reason, detector=self.name, detector_version=self.version, raw_output=raw
        )

    def verdict_from(self, result: ChatResult, code: str) -> Verdict:
        """Turn one judge response into a verdict; anything doubtful is unjudged."""
        if not result.ok:
            return self._unjudged(f"judge request failed ({result.error_type}): {result.error}")
        raw = result.text
        try:
            fields = jp.parse_answer(raw, code, self.fields)
            verdict = self._verdict(fields)
        except jp.JudgeParseError as exc:
            reason = str(exc)
            if result.finish_reason == "length":
                reason += " (the answer was cut off at max_tokens)"
            return self._unjudged(reason, raw)
        verdict.raw_output = raw
        return verdict.validate()

    # ------------------------------------------------------------------ per judge
    fields: ClassVar[tuple[str, ...]] = ()

    def build_request(
        self, ex: Exchange, answer: str, *, structured: bool, local: bool
    ) -> ChatRequest:
        raise NotImplementedError

    def _verdict(self, fields: dict[str, str]) -> Verdict:
        raise NotImplementedError


class TaxonomyJudge(LLMJudge):
    """Behaviour + one of the taxonomy's categories, judged by an LLM (`llm:ENDPOINT`).

    `detail`: how much of each category the prompt carries: "full" (definition and what
    distinguishes it from its neighbours), "definitions", or "short" (first sentence);
    default "full", and "short" for local llama.cpp endpoints, whose small models and
    context cannot use a 5,000-token prompt. `taxonomy`: a path, or a loaded Taxonomy.
    """

    kind = "llm-taxonomy"
    prefix = "llm"
    tag = "judge:taxonomy"
    fields = ("behavior", "category")

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        taxonomy: Any = None,
        detail: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(endpoint, **kw)
        if detail not in (None, "full", "definitions", "short"):
            raise ValueError("detail must be full, definitions or short")
        self.detail = detail
        self._taxonomy_arg = taxonomy
        self._tax: Any = None
        self._systems: dict[str, str] = {}

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg["detail"] = self.detail
        if isinstance(self._taxonomy_arg, str | Path):
            cfg["taxonomy"] = str(self._taxonomy_arg)
        return cfg

    @property
    def taxonomy(self) -> Any:
        if self._tax is None:
            from refusalkit.taxonomy import load_taxonomy

            arg = self._taxonomy_arg
            self._tax = (
                arg if arg is not None and not isinstance(arg, str | Path) else load_taxonomy(arg)
            )
        return self._tax

    def build_request(
        self, ex: Exchange, answer: str, *, structured: bool, local: bool
    ) -> ChatRequest:
        code = jp.verdict_code(ex, answer)
        detail = self.detail or ("short" if local else "full")
        system = self._systems.get(detail)
        if system is None:
            system = self._systems[detail] = jp.taxonomy_system(self.taxonomy.categories, detail)
        block = jp.conversation_block(ex, answer, code, max_chars=self.max_chars)
        return ChatRequest(
            messages=[{"role": "user", "content": jp.taxonomy_user(block, code, structured)}],
            system=system,
            params={"max_tokens": self.max_tokens, "temperature": 0.0},
            json_schema=_local_tweaks(
                jp.taxonomy_schema(code, self.taxonomy.ids, max_rationale=160 if local else None),
                local,
            )
            if structured
            else None,
            schema_name="refusal_verdict",
            tag=self.tag,
            cache=self.cache,
        )

    def _verdict(self, fields: dict[str, str]) -> Verdict:
        tax = self.taxonomy
        try:
            behavior = Behavior(fields["behavior"])
        except ValueError:
            raise jp.JudgeParseError(f"unknown behaviour {fields['behavior']!r}") from None
        if behavior is Behavior.UNJUDGED:
            raise jp.JudgeParseError("the judge may not answer 'unjudged'")
        category = fields["category"]
        if category not in tax:
            raise jp.JudgeParseError(f"unknown category {category!r}")
        if (behavior is Behavior.FULL_COMPLIANCE) != (category == "not_refusal"):
            raise jp.JudgeParseError(
                f"inconsistent answer: behaviour {behavior.value} with category {category}"
            )
        refusal = behavior is not Behavior.FULL_COMPLIANCE
        return Verdict(
            behavior=behavior,
            refusal_score=1.0 if refusal else 0.0,
            category=category,
            category_scores={category: 1.0},
            group=tax.group_of(category) if refusal else Group.NONE,
            detector=self.name,
            detector_version=self.version,
            rationale=fields.get("rationale"),
        )


class FalseRejectJudge(LLMJudge):
    """Direct Refusal / Safe Partial Compliance / Full Compliance (`llm-falsereject:ENDPOINT`)."""

    kind = "llm-falsereject"
    prefix = "llm-falsereject"
    tag = "judge:falsereject"
    fields = ("label",)

    def build_request(
        self, ex: Exchange, answer: str, *, structured: bool, local: bool
    ) -> ChatRequest:
        code = jp.verdict_code(ex, answer)
        block = jp.conversation_block(ex, answer, code, max_chars=self.max_chars)
        return ChatRequest(
            messages=[{"role": "user", "content": jp.falsereject_user(block, code, structured)}],
            system=jp.FALSEREJECT_SYSTEM,
            params={"max_tokens": self.max_tokens, "temperature": 0.0},
            json_schema=_local_tweaks(
                jp.falsereject_schema(code, max_rationale=160 if local else None), local
            )
            if structured
            else None,
            schema_name="falsereject_verdict",
            tag=self.tag,
            cache=self.cache,
        )

    def _verdict(self, fields: dict[str, str]) -> Verdict:
        behavior = _FR_BEHAVIOR.get(fields["label"])
        if behavior is None:
            raise jp.JudgeParseError(f"unknown label {fields['label']!r}")
        refusal = behavior is not Behavior.FULL_COMPLIANCE
        return Verdict(
            behavior=behavior,
            refusal_score=1.0 if refusal else 0.0,
            category=None if refusal else "not_refusal",
            detector=self.name,
            detector_version=self.version,
            rationale=fields.get("rationale"),
        )
