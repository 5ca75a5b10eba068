"""The refusal taxonomy (16 categories) and the FalseReject safety taxonomy.

    >>> from refusalkit.taxonomy import load_taxonomy
    >>> tax = load_taxonomy()                 # bundled; or load_taxonomy("my_taxonomy.yaml")
    >>> tax.ids[:2], tax.group_of("privacy")
    (['chain_of_command', 'legal_compliance'], <Group.SHOULD_NOT: 'should_not'>)
    >>> tax["modalities"].definition          # fed verbatim to LLM judges
    >>> from refusalkit.taxonomy import load_falsereject_taxonomy
    >>> load_falsereject_taxonomy().by_id(10).name
    'Property Crimes'

Both are YAML data files next to this module; `refusalkit taxonomy` shows, exports and
validates them. This package imports only PyYAML.
"""

from refusalkit.taxonomy.loader import (
    BUNDLED,
    FALSEREJECT_TAXONOMY_PATH,
    REFUSAL_TAXONOMY_PATH,
    load_any,
    load_falsereject_taxonomy,
    load_taxonomy,
)
from refusalkit.taxonomy.schema import (
    GROUPS,
    NOT_REFUSAL,
    Category,
    Domain,
    Example,
    FalseRejectCategory,
    FalseRejectTaxonomy,
    Taxonomy,
)

__all__ = [
    "BUNDLED",
    "FALSEREJECT_TAXONOMY_PATH",
    "GROUPS",
    "NOT_REFUSAL",
    "REFUSAL_TAXONOMY_PATH",
    "Category",
    "Domain",
    "Example",
    "FalseRejectCategory",
    "FalseRejectTaxonomy",
    "Taxonomy",
    "load_any",
    "load_falsereject_taxonomy",
    "load_taxonomy",
]
