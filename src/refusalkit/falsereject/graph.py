"""The merged entity graph: building it from extractions, saving it, sampling sub-graphs.

Nodes are entities keyed by their normalised name (case, spacing and surrounding
punctuation ignored), so "Mercury" from one seed and "mercury" from another become one
node; that merging is what lets a sampled sub-graph combine entities of different seeds.
Every node and edge records the seeds it came from and their safety categories
(FalseReject ids chosen by the extractor, and the seed file's own label when it had one).

Sampling is deterministic for a given graph and seed: nodes are visited in sorted order,
and the RNG is `random.Random(seed)`. Each sub-graph starts at a node of the requested
category (any node when the category has none) and grows through neighbours; both the
start and every next node are drawn with weight 1 / (1 + times used), so rarely used
entities come up first and the generated prompts spread over the whole graph.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from refusalkit.core.errors import DataError
from refusalkit.core.io import atomic_write, dumps_pretty, loads
from refusalkit.falsereject.config import fingerprint

FORMAT = "refusalkit.falsereject.graph"
_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_SPACE = re.compile(r"\s+")


def node_key(name: str) -> str:
    return _PUNCT.sub("", _SPACE.sub(" ", name.casefold())).strip()


@dataclass
class EntityGraph:
    """A networkx DiGraph of entities plus the seeds it was built from."""

    graph: nx.DiGraph
    seeds: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        nodes = sorted((n, d["type"], d["seeds"]) for n, d in self.graph.nodes(data=True))
        edges = sorted((u, v, d["relations"]) for u, v, d in self.graph.edges(data=True))
        return fingerprint(nodes, edges)

    def stats(self) -> dict[str, Any]:
        g = self.graph
        und = g.to_undirected(as_view=True)
        types = Counter(d["type"] for _, d in g.nodes(data=True))
        cats = Counter(c for _, d in g.nodes(data=True) for c in d["categories"])
        return {
            "seeds": len(self.seeds),
            "failed_seeds": len(self.failures),
            "nodes": g.number_of_nodes(),
            "edges": g.number_of_edges(),
            "components": nx.number_connected_components(und) if len(g) else 0,
            "node_types": dict(sorted(types.items())),
            "nodes_per_category": {str(k): v for k, v in sorted(cats.items())},
        }

    # ------------------------------------------------------------------------ files
    def to_dict(self) -> dict[str, Any]:
        g = self.graph
        return {
            "format": FORMAT,
            "version": 1,
            "fingerprint": self.fingerprint,
            "stats": self.stats(),
            "seeds": self.seeds,
            "failures": self.failures,
            "nodes": [{"id": n, **d} for n, d in sorted(g.nodes(data=True))],
            "edges": [{"source": u, "target": v, **d} for u, v, d in sorted(g.edges(data=True))],
        }

    def save(self, path: str | Path) -> None:
        atomic_write(path, dumps_pretty(self.to_dict()) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> EntityGraph:
        path = Path(path)
        try:
            data = loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise DataError(
                f"cannot read the graph: {exc}", file=str(path), hint="--graph FILE"
            ) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise DataError(
                "not an entity graph written by `refusalkit falsereject graph`",
                file=str(path),
                hint="build one with: refusalkit falsereject graph SEEDS... -o graph.json",
            )
        g = nx.DiGraph()
        for node in data["nodes"]:
            node = dict(node)
            g.add_node(node.pop("id"), **node)
        for edge in data["edges"]:
            edge = dict(edge)
            g.add_edge(edge.pop("source"), edge.pop("target"), **edge)
        return cls(g, data.get("seeds", []), data.get("failures", []))


def _add_sorted(values: list[Any], new: Iterable[Any]) -> list[Any]:
    return sorted(set(values) | set(new))


def build_graph(extractions: Sequence[dict[str, Any]]) -> EntityGraph:
    """Merge successful extraction records (stage `graph`) into one graph."""
    g = nx.DiGraph()
    seeds, failures = [], []
    for rec in extractions:
        info, seed = rec["extract"], rec["seed"]
        if info["status"] != "ok":
            failures.append({"id": rec["id"], "status": info["status"], "error": info.get("error")})
            continue
        sid, cats = rec["id"], [info["category_id"]]
        labels = [seed["label"]] if seed.get("label") else []
        seeds.append(
            {
                "id": sid,
                "prompt": seed["prompt"],
                "category_id": info["category_id"],
                "label": seed.get("label"),
            }
        )
        for ent in info["entities"]:
            key = node_key(ent["name"])
            if key not in g:
                g.add_node(
                    key, name=ent["name"], type=ent["type"], seeds=[], categories=[], labels=[]
                )
            d = g.nodes[key]
            d["seeds"] = _add_sorted(d["seeds"], [sid])
            d["categories"] = _add_sorted(d["categories"], cats)
            d["labels"] = _add_sorted(d["labels"], labels)
        for rel in info["relations"]:
            u, v = node_key(rel["source"]), node_key(rel["target"])
            if not g.has_edge(u, v):
                g.add_edge(u, v, relations=[], seeds=[], categories=[], labels=[])
            d = g.edges[u, v]
            d["relations"] = _add_sorted(d["relations"], [rel["relation"]])
            d["seeds"] = _add_sorted(d["seeds"], [sid])
            d["categories"] = _add_sorted(d["categories"], cats)
            d["labels"] = _add_sorted(d["labels"], labels)
    return EntityGraph(g, seeds, failures)


class SubgraphSampler:
    """Connected sub-graphs weighted toward rarely used nodes (see the module docstring)."""

    def __init__(
        self, graph: EntityGraph, *, seed: int = 0, min_nodes: int = 2, max_nodes: int = 4
    ) -> None:
        if graph.graph.number_of_nodes() == 0:
            raise DataError(
                "the entity graph has no nodes: every seed's extraction failed",
                hint="check the graph's `failures`, or use a stronger --extractor-endpoint",
            )
        self.g = graph.graph
        self.und = self.g.to_undirected(as_view=True)
        self.rng = random.Random(seed)
        self.min_nodes, self.max_nodes = min_nodes, max_nodes
        self.nodes = sorted(self.g.nodes)
        self.usage: Counter[str] = Counter()
        self.by_category: dict[int, list[str]] = {}
        for n in self.nodes:
            for c in self.g.nodes[n]["categories"]:
                self.by_category.setdefault(int(c), []).append(n)

    def _pick(self, candidates: Sequence[str]) -> str:
        weights = [1.0 / (1.0 + self.usage[c]) for c in candidates]
        return self.rng.choices(candidates, weights=weights, k=1)[0]

    def sample(self, category_id: int | None = None) -> dict[str, Any]:
        pool = self.by_category.get(int(category_id), []) if category_id is not None else []
        start = self._pick(pool or self.nodes)
        size = self.rng.randint(self.min_nodes, self.max_nodes)
        chosen = [start]
        while len(chosen) < size:
            frontier = sorted({m for n in chosen for m in self.und.neighbors(n)} - set(chosen))
            if not frontier:
                break
            chosen.append(self._pick(frontier))
        self.usage.update(chosen)
        sub = self.g.subgraph(chosen)
        nodes = [
            {"id": n, "name": self.g.nodes[n]["name"], "type": self.g.nodes[n]["type"]}
            for n in chosen
        ]
        edges = [
            {"source": u, "target": v, "relation": d["relations"][0]}
            for u, v, d in sorted(sub.edges(data=True))
        ]
        seeds = sorted({s for n in chosen for s in self.g.nodes[n]["seeds"]})
        return {
            "nodes": nodes,
            "edges": edges,
            "seeds": seeds,
            "category_match": bool(pool),
        }


def render_subgraph(sub: dict[str, Any]) -> str:
    """The text the Generator sees: entities with types, then relations."""
    names = {n["id"]: n["name"] for n in sub["nodes"]}
    lines = [f"- {n['name']} ({n['type']})" for n in sub["nodes"]]
    for e in sub["edges"]:
        lines.append(f"- {names[e['source']]} --{e['relation']}--> {names[e['target']]}")
    return "\n".join(lines)
