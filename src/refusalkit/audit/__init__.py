"""Dataset audits: the refusal composition of SFT and preference datasets, at any scale.

    from refusalkit.audit import AuditConfig, audit_data
    res = audit_data(AuditConfig(["data.jsonl"], detector="rules"), "my-audit")

Modules: `plan` (settings, units of work), `worker` (classify one unit), `engine`
(process pool, streaming, resume), `ray_engine` (`--engine ray`), `aggregate`
(mergeable counters), `report` (report building / re-rendering), `curate` +
`formats` (filtered copies in the original format), `diff` (compare two audits),
`run` (the whole command). See docs/audit.md.
"""

from refusalkit.audit.aggregate import AUDIT_COLUMNS, Aggregate
from refusalkit.audit.curate import CurationOptions, Filter, curate_run, parse_filter
from refusalkit.audit.plan import AuditConfig
from refusalkit.audit.run import AuditResult, audit_data, bundled_samples, default_run_dir

__all__ = [
    "AUDIT_COLUMNS",
    "Aggregate",
    "AuditConfig",
    "AuditResult",
    "CurationOptions",
    "Filter",
    "audit_data",
    "bundled_samples",
    "curate_run",
    "default_run_dir",
    "parse_filter",
]
