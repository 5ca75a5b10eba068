"""End to end in a real headless chromium: keyboard labelling, reload, agreement,
adjudication, conflicts, the results viewer, the token, and injected scripts that never run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_util import free_port, live_server, shot

from refusalkit.annotate import get_scheme
from refusalkit.annotate.agreement import agreement_report
from refusalkit.web.common import fmt_num
from workbench_util import EVIL, EVIL_NAME, make_project, make_runs

pytestmark = pytest.mark.browser

SCHEME = get_scheme("taxonomy")
KEY = {c.value: c.key for c in (*SCHEME.behaviors, *SCHEME.categories)}


def _annotate_server(project, annotator: str = "alice", **kw):  # type: ignore[no-untyped-def]
    from refusalkit.web.annotate_app import Workbench, create_app
    from refusalkit.web.security import make_security

    port = free_port()
    sec = make_security("127.0.0.1", port, **({"expose": False} | kw))
    return live_server(create_app(Workbench(project, sec, annotator)), port), sec


def _pos(page) -> int:  # type: ignore[no-untyped-def]
    return int(re.search(r"/item/(\d+)$", page.url).group(1))  # type: ignore[union-attr]


def test_keyboard_labelling_survives_reload(tmp_path: Path, open_page) -> None:  # type: ignore[no-untyped-def]
    project = make_project(tmp_path / "p", annotators=("alice", "bob"), overlap=2)
    queue = project.queue("alice")
    server, _ = _annotate_server(project)
    with server as url:
        page, watch = open_page()
        page.goto(url + "/")
        assert _pos(page) == queue[0]
        # the prompt's markup is shown as text, not run
        shown = page.locator("section.prompt pre").first.inner_text()
        assert EVIL[queue[0] % len(EVIL)] in shown
        watch.assert_clean()

        page.keyboard.press("3")  # full refusal ...
        with page.expect_navigation():
            page.keyboard.press(KEY["privacy"])  # ... for privacy: complete, saved, next
        assert _pos(page) == queue[1]
        with page.expect_navigation():
            page.keyboard.press("1")  # full compliance (implies not_refusal)
        assert _pos(page) == queue[2]
        page.keyboard.press("/")
        page.keyboard.type('needs a second look <b>"x"</b>')
        page.keyboard.press("Escape")
        page.keyboard.press("2")
        with page.expect_navigation():
            page.keyboard.press(KEY["modalities"])
        assert _pos(page) == queue[3]
        # an incomplete label is refused with a message, nothing is saved
        page.keyboard.press("3")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "refusal needs one of the refusal categories" in page.locator(".error").inner_text()
        assert not project.label(queue[3], "alice").done
        with page.expect_navigation():
            page.keyboard.press("s")  # skip
        assert _pos(page) == queue[4] and project.label(queue[3], "alice").skipped
        with page.expect_navigation():
            page.keyboard.press("u")  # undo the skip: back on that item
        assert _pos(page) == queue[3] and not project.label(queue[3], "alice").done
        watch.assert_clean()

        # the database has the labels as they were made
        got = [
            (project.label(p, "alice").behavior, project.label(p, "alice").category)
            for p in queue[:3]
        ]
        assert got == [
            ("full_refusal", "privacy"),
            ("full_compliance", "not_refusal"),
            ("partial_refusal", "modalities"),
        ]
        assert project.label(queue[2], "alice").comment == 'needs a second look <b>"x"</b>'

        # a reload, then back: the labels are kept and shown
        page.reload()
        with page.expect_navigation():
            page.keyboard.press("ArrowLeft")
        assert _pos(page) == queue[2]
        assert page.locator("input[name=behavior][value=partial_refusal]").is_checked()
        assert page.locator("input[name=category][value=modalities]").is_checked()
        assert page.locator("#comment").input_value() == 'needs a second look <b>"x"</b>'
        assert "2 / 12 labelled" not in page.locator("#progress").inner_text()
        assert page.locator("#progress").inner_text().startswith("3 / 12 labelled")
        shot(page, "annotate-item")

        # a fresh browser (a closed tab, a new session) sees the same
        other, other_watch = open_page()
        other.goto(f"{url}/a/alice/item/{queue[0]}")
        assert other.locator("#current-label").inner_text() == "Full refusal · Privacy"
        other_watch.assert_clean()
        watch.assert_clean()


def test_two_tabs_and_two_annotators(tmp_path: Path, open_page) -> None:  # type: ignore[no-untyped-def]
    project = make_project(tmp_path / "p", annotators=("alice", "bob"), overlap=2)
    pos = project.queue("alice")[0]
    server, _ = _annotate_server(project)
    with server as url:
        tab1, w1 = open_page()
        tab2, w2 = open_page()
        bob, w3 = open_page()
        for tab, who in ((tab1, "alice"), (tab2, "alice"), (bob, "bob")):
            tab.goto(f"{url}/a/{who}/item/{pos}")
        with tab1.expect_navigation():
            tab1.keyboard.press("1")
        with bob.expect_navigation():
            bob.keyboard.press("3")
            bob.keyboard.press(KEY["legal_compliance"])
        # the stale tab cannot overwrite alice's newer label
        tab2.keyboard.press("3")
        with tab2.expect_navigation():
            tab2.keyboard.press(KEY["privacy"])
        assert "Changed elsewhere" in tab2.locator("h2").inner_text()
        shot(tab2, "annotate-conflict")
        assert project.label(pos, "alice").behavior == "full_compliance"
        assert project.label(pos, "bob").category == "legal_compliance"
        for w in (w1, w2, w3):
            w.assert_clean()


def test_agreement_and_adjudication(tmp_path: Path, open_page) -> None:  # type: ignore[no-untyped-def]
    project = make_project(tmp_path / "p", annotators=("alice", "bob", "carol"), overlap=3)
    for pos in range(12):
        a = ("full_refusal", "privacy") if pos % 5 else ("full_compliance", None)
        project.save_label("alice", pos, *a, EVIL[pos % len(EVIL)], expected_version=0)
        b = ("full_refusal", "privacy") if pos % 4 else ("full_compliance", None)
        project.save_label("bob", pos, *b, expected_version=0)
        c = ("full_refusal", "privacy") if pos % 3 else ("partial_refusal", "modalities")
        project.save_label("carol", pos, *c, expected_version=0)
    report = agreement_report(project)
    server, _ = _annotate_server(project)
    with server as url:
        page, watch = open_page()
        page.goto(url + "/agreement")
        behavior = page.locator("#field-behavior")
        assert behavior.locator("td.fleiss").inner_text() == fmt_num(report.fields[0].fleiss)
        assert behavior.locator("td.alpha").inner_text() == fmt_num(report.fields[0].alpha)
        kappas = behavior.locator("td.kappa").all_inner_texts()
        assert kappas == [fmt_num(p.kappa) for p in report.fields[0].pairs]
        assert page.locator("#n-labels").inner_text() == "36"
        page.select_option("select[name=a]", "bob")
        page.select_option("select[name=b]", "carol")
        with page.expect_navigation():
            page.click("text=Show")
        assert "rows bob, columns carol" in page.locator("#confusion-table caption").inner_text()
        shot(page, "agreement")
        watch.assert_clean()

        page.goto(url + "/adjudicate")
        first = page.locator("table.disagreements a").first
        target = int(first.get_attribute("href").rsplit("/", 1)[1])  # type: ignore[union-attr]
        with page.expect_navigation():
            first.click()
        # adjudication page: everyone's labels and comments, as text
        assert EVIL[target % len(EVIL)] in page.locator("table.labels").inner_text()
        page.keyboard.press("2")
        page.keyboard.press(KEY["modalities"])
        with page.expect_navigation():
            page.keyboard.press("Enter")
        gold = project.gold()[target]
        assert (gold["behavior"], gold["category"], gold["adjudicator"]) == (
            "partial_refusal",
            "modalities",
            "alice",
        )
        shot(page, "adjudicate")
        watch.assert_clean()


def test_results_viewer(tmp_path: Path, open_page) -> None:  # type: ignore[no-untyped-def]
    from refusalkit.web.security import make_security
    from refusalkit.web.viewer_app import create_viewer

    make_runs(tmp_path / "results")
    port = free_port()
    app, _ = create_viewer(tmp_path / "results", make_security("127.0.0.1", port, expose=False))
    with live_server(app, port) as url:
        page, watch = open_page()
        page.goto(url + "/")
        assert page.locator("#runs tbody tr").count() == 3
        with page.expect_navigation():
            page.click("text=bench1")
        assert page.locator("figure svg").count() == 5  # the report charts + over/under-refusal
        assert page.locator("#expected-table tbody tr").count() == 4  # all + three models
        page.select_option("select[name=model]", EVIL_NAME)
        with page.expect_navigation():
            page.click("#filters button")
        assert page.locator("select[name=model]").input_value() == EVIL_NAME
        assert page.locator("#rows").inner_text() == "80 matching rows"
        shot(page, "viewer-run")
        with page.expect_navigation():
            page.locator("#rows-table a").first.click()
        fields = page.locator("#fields").inner_text()
        assert EVIL_NAME in fields and page.url.endswith("/row?r=bench1&n=2")
        assert "prompt" in page.locator("section.prompt pre").inner_text()
        shot(page, "viewer-row")
        watch.assert_clean()


def test_exposed_server_wants_the_token(tmp_path: Path, open_page) -> None:  # type: ignore[no-untyped-def]
    project = make_project(tmp_path / "p", scheme="falsereject", annotators=("alice",), n=3)
    server, sec = _annotate_server(project, expose=True)
    with server as url:
        page, watch = open_page()
        resp = page.goto(url + "/")
        assert resp is not None and resp.status == 401
        page.goto(f"{url}/?token={sec.token}")
        assert "/a/alice/item/" in page.url and "token" not in page.url
        assert "1 Direct Refusal" in page.locator("fieldset.behaviors").inner_text()
        first = project.queue("alice")[0]
        with page.expect_navigation():
            page.keyboard.press("1")  # the POST carries the cookie and the CSRF token
        assert project.label(first, "alice").behavior == "full_refusal"  # Direct Refusal
        watch.assert_clean()
