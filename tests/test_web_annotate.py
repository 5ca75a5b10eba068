"""The annotation workbench over HTTP: labelling flow, conflicts, escaping, review pages."""

from __future__ import annotations

import re
from pathlib import Path

import markupsafe
import pytest

pytest.importorskip("fastapi")
from starlette.testclient import TestClient

from refusalkit.annotate.agreement import agreement_report
from refusalkit.web.annotate_app import Workbench, create_app
from refusalkit.web.common import fmt_num
from refusalkit.web.security import make_security
from workbench_util import EVIL, make_project

BASE = "http://127.0.0.1:8765"
RAW_MARKUP = re.compile(r"<(script|img|svg|iframe)\b|href=\"javascript:|<b>bold", re.I)


def assert_escaped(page: str) -> None:
    """No model-written markup reaches the page as markup (our own script tag aside)."""
    own = page.replace('<script src="/static/annotate.js"></script>', "")
    assert not RAW_MARKUP.search(own), RAW_MARKUP.search(own)


@pytest.fixture
def wb(tmp_path: Path) -> Workbench:
    project = make_project(tmp_path / "p", annotators=("alice", "bob"), overlap=2)
    return Workbench(project, make_security("127.0.0.1", 8765, expose=False), "alice")


@pytest.fixture
def client(wb: Workbench) -> TestClient:
    return TestClient(create_app(wb), base_url=BASE)


def _post_label(client: TestClient, wb: Workbench, pos: int, **form: str):  # type: ignore[no-untyped-def]
    data = {"csrf": wb.sec.csrf, "version": str(wb.project.label(pos, "alice").version), **form}
    return client.post(f"/a/alice/item/{pos}/label", data=data, follow_redirects=False)


def test_label_flow(client: TestClient, wb: Workbench) -> None:
    queue = wb.project.queue("alice")
    first = client.get("/", follow_redirects=True)
    assert first.url.path == f"/a/alice/item/{queue[0]}"
    assert "1 of 12" in first.text and "0 / 12 labelled" in first.text
    r = _post_label(client, wb, queue[0], behavior="full_refusal", category="privacy", comment="c1")
    assert r.status_code == 303 and r.headers["location"] == f"/a/alice/item/{queue[1]}"
    page = client.get(f"/a/alice/item/{queue[0]}").text
    assert re.search(r'value="full_refusal" data-key="3" checked', page)
    assert re.search(r'value="privacy" data-key="[a-p]" checked', page) and ">c1</textarea>" in page
    assert "Full refusal · Privacy" in page and 'name="version" value="1"' in page
    # skip, then undo the skip
    r = _post_label(client, wb, queue[1], action="skip")
    assert r.headers["location"] == f"/a/alice/item/{queue[2]}"
    assert wb.project.label(queue[1], "alice").skipped
    r = client.post("/a/alice/undo", data={"csrf": wb.sec.csrf}, follow_redirects=False)
    assert (
        r.headers["location"] == f"/a/alice/item/{queue[1]}"
        and not wb.project.label(queue[1], "alice").done
    )
    # back/next links follow the queue
    page = client.get(f"/a/alice/item/{queue[1]}").text
    assert f'id="prev" class="button secondary" href="/a/alice/item/{queue[0]}"' in page
    assert f'href="/a/alice/item/{queue[2]}"' in page


def test_invalid_and_stale_labels(client: TestClient, wb: Workbench) -> None:
    pos = wb.project.queue("alice")[0]
    bad = _post_label(client, wb, pos, behavior="full_refusal")  # refusal without a category
    assert bad.status_code == 400 and "refusal needs one of the refusal categories" in bad.text
    assert _post_label(client, wb, pos, behavior="full_compliance").status_code == 303
    stale = client.post(
        f"/a/alice/item/{pos}/label",
        data={
            "csrf": wb.sec.csrf,
            "version": "0",
            "behavior": "full_refusal",
            "category": "privacy",
        },
    )
    assert (
        stale.status_code == 409
        and "another window" in stale.text
        and "Reload this item" in stale.text
    )
    assert wb.project.label(pos, "alice").behavior == "full_compliance"
    garbage = client.post(
        f"/a/alice/item/{pos}/label",
        data={"csrf": wb.sec.csrf, "version": "x", "behavior": "full_compliance"},
    )
    assert garbage.status_code == 409


def test_done_page(client: TestClient, wb: Workbench) -> None:
    for pos in wb.project.queue("alice"):
        assert _post_label(client, wb, pos, behavior="full_compliance").status_code == 303
    assert client.get("/a/alice/", follow_redirects=False).headers["location"] == "/a/alice/done"
    assert "All items in your queue are done" in client.get("/a/alice/done").text


def test_everything_model_written_is_escaped(client: TestClient, wb: Workbench) -> None:
    pages = []
    for pos in range(12):
        wb.project.save_label(
            "alice", pos, "full_refusal", "privacy", EVIL[pos % len(EVIL)], expected_version=0
        )
        wb.project.save_label(
            "bob", pos, "full_compliance", None, EVIL[(pos + 1) % len(EVIL)], expected_version=0
        )
        pages.append(client.get(f"/a/alice/item/{pos}").text)
        pages.append(client.get(f"/adjudicate/{pos}").text)
    for path in ("/adjudicate", "/agreement", "/a/alice/done", "/definitions"):
        pages.append(client.get(path).text)
    wb.project.save_predictions(
        "detector:rules", [(p, "full_refusal", "privacy", None) for p in range(12)]
    )
    pages.append(client.get("/model?source=detector%3Arules").text)
    for page in pages:
        assert_escaped(page)
    joined = "\n".join(pages)
    for payload in EVIL:
        assert str(markupsafe.escape(payload)) in joined, payload  # shown, as text
    assert "&lt;/textarea&gt;&lt;/pre&gt;&lt;script&gt;" in joined  # inside the comment box
    assert "{{ 7*7 }} {% raw %} ${7*7}" in joined  # shown literally, never evaluated
    long_page = client.get("/a/alice/item/3").text
    assert "Show all" in long_page and '<pre class="preview">' in long_page


def test_agreement_adjudication_export_and_model(client: TestClient, wb: Workbench) -> None:
    p = wb.project
    for pos in range(12):
        p.save_label("alice", pos, "full_refusal", "privacy", expected_version=0)
        p.save_label(
            "bob",
            pos,
            "full_refusal" if pos % 3 else "full_compliance",
            "privacy" if pos % 3 else None,
            expected_version=0,
        )
    page = client.get("/agreement").text
    report = agreement_report(p)
    assert f'<td class="num kappa">{fmt_num(report.fields[0].pairs[0].kappa)}</td>' in page
    assert f'<td class="num alpha">{fmt_num(report.fields[0].alpha)}</td>' in page
    assert 'id="confusion-table"' in page and "12 items labelled by both" in page
    conf = client.get("/agreement?a=bob&b=alice&field=category").text
    assert "rows bob, columns alice" in conf
    listing = client.get("/adjudicate").text
    assert listing.count('href="/adjudicate/') == 4  # items 0, 3, 6, 9 disagree
    r = client.post(
        "/adjudicate/0",
        data={
            "csrf": wb.sec.csrf,
            "version": "0",
            "behavior": "full_compliance",
            "adjudicator": "bob",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/adjudicate/3"
    assert p.gold()[0]["adjudicator"] == "bob"
    stale = client.post(
        "/adjudicate/0",
        data={
            "csrf": wb.sec.csrf,
            "version": "0",
            "behavior": "full_refusal",
            "category": "privacy",
        },
    )
    assert stale.status_code == 409
    assert client.get("/adjudicate").text.count('href="/adjudicate/') == 3
    export = client.get("/export?kind=gold&format=jsonl")
    assert export.status_code == 200 and export.text.count("\n") == 9  # 8 unanimous + 1 adjudicated
    assert client.get("/export?kind=nope").status_code == 400
    r = client.post(
        "/model", data={"csrf": wb.sec.csrf, "detector": "rules"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/model?source=detector%3Arules"
    model = client.get(r.headers["location"]).text
    assert "κ (behavior)" in model and 'id="model-disagreements"' in model
    assert client.get("/model?source=nothing").status_code == 404


def test_chooser_without_default_annotator(wb: Workbench) -> None:
    wb.annotator = None
    client = TestClient(create_app(wb), base_url=BASE)
    page = client.get("/").text
    assert 'href="/a/alice/"' in page and 'href="/a/bob/"' in page


def test_conversations_show_system_and_earlier_turns(tmp_path: Path) -> None:
    import json

    from refusalkit.annotate import Project

    data = tmp_path / "chat.jsonl"
    messages = [
        {"role": "system", "content": "You are <b>terse</b>."},
        {"role": "user", "content": "first question <script>window.__pwned=1</script>"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
        {"role": "assistant", "content": "I can't help with that."},
    ]
    data.write_text(json.dumps({"id": "c1", "messages": messages}) + "\n")
    project = Project.create(tmp_path / "p", data, scheme="behavior")
    project.add_annotator("alice")
    client = TestClient(
        create_app(Workbench(project, make_security("127.0.0.1", 8765, expose=False), "alice")),
        base_url=BASE,
    )
    pos = {v: k for k, v in project.item_ids().items()}["c1:t1"]
    page = client.get(f"/a/alice/item/{pos}").text
    assert "System prompt" in page and "You are &lt;b&gt;terse&lt;/b&gt;." in page
    assert "Earlier turns (2)" in page and "first question &lt;script&gt;" in page
    assert (
        "<legend>Behaviour</legend>" in page
        and "Category" not in page.split("<form", 1)[1].split("</form>")[0]
    )
    assert_escaped(page)
