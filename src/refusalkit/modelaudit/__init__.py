"""Model audits: probe black-box LLMs and compare their refusal profiles by category.

    from refusalkit.modelaudit import ModelAuditConfig, audit_model, rescore

    res = audit_model(ModelAuditConfig(endpoints=["gpt", "claude"], limit_per_category=10),
                      "audits/models")
    rescore("audits/models", "llm:gpt")        # re-judge the saved answers, no model calls

See docs/model-audit.md. Heavy imports happen inside the functions.
"""

from refusalkit.modelaudit.probes import (
    DEFAULT_SUITE,
    Probe,
    ProbeSuite,
    default_suite_path,
    load_suite,
    select,
    to_exchanges,
)
from refusalkit.modelaudit.run import (
    KIND,
    ModelAuditConfig,
    ModelAuditResult,
    audit_model,
    read_probes,
    rerender,
    rescore,
)

__all__ = [
    "DEFAULT_SUITE",
    "KIND",
    "ModelAuditConfig",
    "ModelAuditResult",
    "Probe",
    "ProbeSuite",
    "audit_model",
    "default_suite_path",
    "load_suite",
    "read_probes",
    "rerender",
    "rescore",
    "select",
    "to_exchanges",
]
