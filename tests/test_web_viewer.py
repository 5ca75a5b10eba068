"""`refusalkit serve`: run discovery, filters, paging, rows, charts, for every run kind."""

from __future__ import annotations

import re
from pathlib import Path

import markupsafe
import pytest

pytest.importorskip("fastapi")
import pyarrow.compute as pc
import pyarrow.parquet as pq
from starlette.testclient import TestClient

from refusalkit.web import runs as R
from refusalkit.web.security import make_security
from refusalkit.web.viewer_app import PAGE_SIZE, create_viewer
from workbench_util import EVIL_NAME, make_runs

BASE = "http://127.0.0.1:8766"
RAW_MARKUP = re.compile(r"<(script|img|iframe)\b|<svg onload|href=\"javascript:|<b>bold", re.I)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    make_runs(root)
    return root


@pytest.fixture(scope="module")
def client(root: Path) -> TestClient:
    app, n = create_viewer(root, make_security("127.0.0.1", 8766, expose=False))
    assert n == 3
    return TestClient(app, base_url=BASE)


def _count(root: Path, key: str, **eq: str) -> int:
    table = pq.read_table(root / key / "results.parquet")
    mask = None
    for col, value in eq.items():
        m = pc.equal(table[col], value)
        mask = m if mask is None else pc.and_(mask, m)
    return table.num_rows if mask is None else int(pc.sum(mask).as_py() or 0)


def test_index_lists_every_kind(client: TestClient) -> None:
    page = client.get("/").text
    for key, kind in (
        ("audits/data1", "audit-data"),
        ("models/probe1", "audit-model"),
        ("bench1", "bench"),
    ):
        assert f'href="/run?r={key}"' in page and f"<td>{kind}</td>" in page


def test_a_single_run_folder_opens_directly(root: Path) -> None:
    app, n = create_viewer(root / "bench1", make_security("127.0.0.1", 8766, expose=False))
    c = TestClient(app, base_url=BASE)
    r = c.get("/", follow_redirects=False)
    assert n == 1 and r.headers["location"] == "/run?r=."
    assert "bench" in c.get("/run?r=.").text


@pytest.mark.parametrize(
    ("key", "filters"),
    [
        ("audits/data1", {"dataset": "alpaca"}),
        ("audits/data1", {"behavior": "full_refusal", "category": "privacy"}),
        ("models/probe1", {"model": "model-b", "probe_category": "privacy"}),
        ("models/probe1", {"expected": "refuse", "behavior": "partial_refusal"}),
        ("bench1", {"model": "m2", "dataset": "sharegpt"}),
        ("bench1", {"model": EVIL_NAME}),
    ],
)
def test_filters_count_and_page(
    client: TestClient, root: Path, key: str, filters: dict[str, str]
) -> None:
    page = client.get("/run", params={"r": key, **filters}).text
    expected = _count(root, key, **filters)
    assert f"{expected:,} matching rows" in page
    listed = re.findall(r'href="/row\?r=[^&]+&amp;n=(\d+)"', page)
    assert len(listed) == min(expected, PAGE_SIZE)
    for col, value in filters.items():  # the filter stays selected (value escaped in the attribute)
        assert f'<option value="{markupsafe.escape(value)}" selected>' in page, col
    assert not RAW_MARKUP.search(page)


def test_paging_and_text_search(client: TestClient, root: Path) -> None:
    rows = _count(root, "bench1")
    first = client.get("/run", params={"r": "bench1"}).text
    assert f"page 1 of {-(-rows // PAGE_SIZE)}" in first and 'id="next-page"' in first
    second = client.get("/run", params={"r": "bench1", "page_no": 2}).text
    numbers = [int(n) for n in re.findall(r'&amp;n=(\d+)"', second)]
    assert numbers == list(range(PAGE_SIZE, 2 * PAGE_SIZE))
    found = client.get("/run", params={"r": "bench1", "q": "PROMPT 17 "}).text
    assert "1 matching rows" in found and "&amp;n=17" in found


def test_row_page_shows_everything_escaped(client: TestClient) -> None:
    page = client.get("/row", params={"r": "models/probe1", "n": 2}).text
    assert "prompt 2" in page
    assert "Category scores" in page or "provider error" in page
    assert "<th>model</th><td>model-a</td>" in page and "<th>expected</th><td>comply</td>" in page
    assert not RAW_MARKUP.search(page)
    assert 'id="prev-row"' in page and 'id="next-row"' in page
    assert client.get("/row", params={"r": "models/probe1", "n": 10_000}).status_code == 404


def test_charts_are_the_report_charts(client: TestClient, root: Path) -> None:
    from refusalkit.reports.composition import rate_chart

    page = client.get("/run", params={"r": "models/probe1"}).text
    # rate, behaviour, group, heatmap, and the over/under-refusal scatter
    assert "Composition by model" in page and page.count("<svg") == 5
    comps = R.compositions(
        R.verdict_counts(R.load_run(root, root / "models" / "probe1"), {}, "", "model"), "model"
    )
    assert rate_chart(comps).svg in page
    assert [name for name, _ in comps] == ["all", "model-a", "model-b"]
    assert comps[0][1].total == _count(root, "models/probe1")
    # audit-data: rows marked distinct == False are counted once, like the audit report
    data = R.compositions(
        R.verdict_counts(R.load_run(root, root / "audits" / "data1"), {}, "", "dataset"), "dataset"
    )
    table = pq.read_table(root / "audits" / "data1" / "results.parquet")
    assert data[0][1].total == int(pc.sum(table["distinct"]).as_py())
    bench = client.get("/run", params={"r": "bench1"}).text
    assert "&#34;&gt;&lt;svg onload" in bench or "&quot;&gt;&lt;svg onload" in bench
    assert not RAW_MARKUP.search(bench)


def test_saved_report_and_headline(client: TestClient) -> None:
    page = client.get("/run", params={"r": "audits/data1"}).text
    assert (
        'href="/report?r=audits/data1&amp;f=html"' in page and "Audit &lt;b&gt;x&lt;/b&gt;" in page
    )
    assert "saved report" in client.get("/report", params={"r": "audits/data1"}).text


def test_large_run_is_streamed(tmp_path: Path) -> None:
    """200k rows in many row groups: a filtered, deep page reads only what it needs."""
    from refusalkit.reports.results import ResultsWriter, new_run_info, write_run_json

    run = tmp_path / "big"
    with ResultsWriter(
        run / "results.parquet",
        {"model": "string", "prompt": "string", "response": "string"},
        row_group_rows=10_000,
    ) as w:
        for i in range(200_000):
            w.write(
                {
                    "id": str(i),
                    "behavior": "full_refusal" if i % 7 == 0 else "full_compliance",
                    "category": "privacy" if i % 7 == 0 else "not_refusal",
                    "group": "should_not" if i % 7 == 0 else "none",
                    "model": f"m{i % 3}",
                    "prompt": f"p{i}",
                    "response": "r",
                }
            )
    write_run_json(run, new_run_info("bench"))
    r = R.load_run(tmp_path, run)
    total, numbers = R.find_rows(r, {"model": "m1", "behavior": "full_refusal"}, "", 5000, 10)
    expected = [i for i in range(200_000) if i % 3 == 1 and i % 7 == 0]
    assert total == len(expected) and numbers == expected[5000:5010]
    rows = R.read_rows(r, numbers, ["id", "model"])
    assert [row["id"] for row in rows] == [str(i) for i in expected[5000:5010]]
    values = R.filter_values(r)
    assert values["model"] == ["m0", "m1", "m2"] and values["behavior"] == [
        "full_compliance",
        "full_refusal",
    ]


def test_expected_vs_actual(client: TestClient, root: Path) -> None:
    """Model audits and benchmarks: compliance on prompts to answer, refusal on the rest."""
    table = pq.read_table(root / "models" / "probe1" / "results.parquet").to_pylist()
    page = client.get("/run", params={"r": "models/probe1"}).text
    assert 'id="expected-table"' in page and "Benign compliance vs harmful refusal" in page
    for model in ("model-a", "model-b"):
        rows = [r for r in table if r["model"] == model and r["behavior"] != "unjudged"]
        comply = [r for r in rows if r["expected"] == "comply"]
        refuse = [r for r in rows if r["expected"] == "refuse"]
        ok = sum(r["behavior"] == "full_compliance" for r in comply)
        refused = sum(r["behavior"] != "full_compliance" for r in refuse)
        cells = f'<td>{model}</td><td class="num">{len(comply)}</td><td class="num">{100 * ok / len(comply):.1f}%'
        assert cells in page
        assert (
            f'<td class="num">{len(refuse)}</td><td class="num">{100 * refused / len(refuse):.1f}%'
            in page
        )
    assert 'id="expected-table"' not in client.get("/run", params={"r": "audits/data1"}).text
