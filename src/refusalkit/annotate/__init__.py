"""Human annotation projects: storage, assignment, agreement, adjudication and export.

Independent of the web layer (`refusalkit.web`), so everything here is testable and
scriptable without HTTP:

    from refusalkit.annotate import Project
    p = Project.create("proj", "data.jsonl", scheme="behavior", overlap=2)
    p.add_annotator("ann1")
    pos = p.next_pos("ann1")
    p.save_label("ann1", pos, "full_refusal", None, expected_version=0)
"""

from refusalkit.annotate._db import Conflict, Label, Progress
from refusalkit.annotate.schemes import SCHEMES, Scheme, get_scheme
from refusalkit.annotate.store import Project

__all__ = ["SCHEMES", "Conflict", "Label", "Progress", "Project", "Scheme", "get_scheme"]
