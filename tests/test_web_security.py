"""Server safety: bind rules, token, Host check, CSRF, headers, paths that cannot escape."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from starlette.testclient import TestClient

from refusalkit.core.errors import ConfigError
from refusalkit.web.annotate_app import Workbench, create_app
from refusalkit.web.security import TOKEN_COOKIE, TOKEN_ENV, make_security, safe_path
from refusalkit.web.server import url_for
from refusalkit.web.viewer_app import create_viewer
from workbench_util import make_project, make_runs

LOCAL = "http://127.0.0.1:8765"


def test_binding_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    sec = make_security("127.0.0.1", 8765, expose=False)
    assert sec.token is None and sec.host_ok("127.0.0.1:8765") and sec.host_ok("localhost:8765")
    assert not sec.host_ok("evil.example:8765") and not sec.host_ok(None)
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.org"):
        with pytest.raises(ConfigError, match="--expose"):
            make_security(host, 8765, expose=False)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    a, b = make_security("0.0.0.0", 1, expose=True), make_security("0.0.0.0", 1, expose=True)
    assert a.token and b.token and a.token != b.token and len(a.token) >= 24
    assert url_for("0.0.0.0", 1, a) == f"http://127.0.0.1:1/?token={a.token}"  # generated: shown
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment-123")
    env = make_security("0.0.0.0", 1, expose=True)
    assert env.token == "from-the-environment-123"
    # the user's own secret is never printed
    assert "from-the-environment" not in url_for("0.0.0.0", 1, env)
    monkeypatch.setenv(TOKEN_ENV, "short")
    with pytest.raises(ConfigError):
        make_security("0.0.0.0", 1, expose=True)


@pytest.fixture
def project(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_project(tmp_path / "p", annotators=("alice", "bob"))


def test_host_header_and_headers(project) -> None:  # type: ignore[no-untyped-def]
    sec = make_security("127.0.0.1", 8765, expose=False)
    client = TestClient(create_app(Workbench(project, sec, "alice")), base_url=LOCAL)
    ok = client.get("/healthz")
    assert ok.status_code == 200
    csp = ok.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
    )
    assert (
        ok.headers["x-content-type-options"] == "nosniff"
        and ok.headers["x-frame-options"] == "DENY"
    )
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host
    assert client.get("/healthz", headers={"host": "evil.example"}).status_code == 421
    assert client.get("/static/annotate.js").headers["content-type"].startswith("text/javascript")
    for bad in ("/static/..%2Fsecurity.py", "/static/secret.txt", "/static/%2e%2e/common.py"):
        assert client.get(bad).status_code == 404


def test_token_is_required_everywhere_when_exposed(project) -> None:  # type: ignore[no-untyped-def]
    sec = make_security("0.0.0.0", 8765, expose=True, token="a-long-enough-secret-token")
    app = create_app(Workbench(project, sec, "alice"))
    client = TestClient(app, base_url="http://10.0.0.5:8765")
    for path in ("/", "/a/alice/item/0", "/agreement", "/export", "/static/app.css", "/healthz"):
        assert client.get(path).status_code == 401, path
    assert (
        client.post(
            "/a/alice/item/0/label",
            data={
                "csrf": sec.csrf,
                "behavior": "full_refusal",
                "category": "privacy",
                "version": "0",
            },
        ).status_code
        == 401
    )
    assert client.get("/?token=wrong-token-of-same-size").status_code == 401
    assert client.get(
        "/", headers={"authorization": "Bearer a-long-enough-secret-token"}
    ).status_code in (200, 303)
    first = client.get("/agreement?token=a-long-enough-secret-token&a=x", follow_redirects=False)
    assert (
        first.status_code == 303 and first.headers["location"] == "/agreement?a=x"
    )  # token leaves the URL
    assert (
        "httponly" in first.headers["set-cookie"].lower()
        and "samesite=strict" in first.headers["set-cookie"].lower()
    )
    assert client.cookies.get(TOKEN_COOKIE)
    assert client.get("/agreement").status_code == 200  # the cookie now carries it
    assert project.label(0, "alice").behavior is None


def test_posts_need_csrf_token_and_same_origin(project) -> None:  # type: ignore[no-untyped-def]
    sec = make_security("127.0.0.1", 8765, expose=False)
    client = TestClient(create_app(Workbench(project, sec, "alice")), base_url=LOCAL)
    form = {"behavior": "full_refusal", "category": "privacy", "version": "0"}
    assert client.post("/a/alice/item/0/label", data=form).status_code == 403
    assert client.post("/a/alice/item/0/label", data={**form, "csrf": "x" * 43}).status_code == 403
    evil = {"origin": "http://evil.example"}
    assert (
        client.post(
            "/a/alice/item/0/label", data={**form, "csrf": sec.csrf}, headers=evil
        ).status_code
        == 403
    )
    cross = {"sec-fetch-site": "cross-site"}
    assert (
        client.post(
            "/a/alice/item/0/label", data={**form, "csrf": sec.csrf}, headers=cross
        ).status_code
        == 403
    )
    assert client.post("/a/alice/undo", data={}).status_code == 403
    assert client.post("/adjudicate/0", data={**form, "adjudicator": "alice"}).status_code == 403
    assert client.post("/model", data={"detector": "rules"}).status_code == 403
    assert project.label(0, "alice").behavior is None and project.gold() == {}
    same = {"origin": LOCAL, "sec-fetch-site": "same-origin"}
    ok = client.post(
        "/a/alice/item/0/label",
        data={**form, "csrf": sec.csrf},
        headers=same,
        follow_redirects=False,
    )
    assert ok.status_code == 303 and project.label(0, "alice").behavior == "full_refusal"


def test_annotator_cannot_write_as_someone_else_or_outside(project) -> None:  # type: ignore[no-untyped-def]
    sec = make_security("127.0.0.1", 8765, expose=False)
    client = TestClient(create_app(Workbench(project, sec, "alice")), base_url=LOCAL)
    form = {"behavior": "full_refusal", "category": "privacy", "version": "0", "csrf": sec.csrf}
    for path in (
        "/a/mallory/item/0/label",
        "/a/..%2Falice/item/0/label",
        "/a/alice/item/999/label",
    ):
        assert client.post(path, data=form).status_code == 404, path
    assert client.get("/a/alice/item/-1").status_code == 404


def test_safe_path(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", root / "link")
    assert safe_path(root, "sub") == (root / "sub").resolve()
    for bad in (
        "../outside",
        "sub/../../outside",
        "/etc/passwd",
        str(tmp_path / "outside"),
        "link",
        "link/x",
        "",
        "a\x00b",
    ):
        with pytest.raises(ConfigError):
            safe_path(root, bad)


def test_model_page_detector_paths_stay_in_the_project(project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sec = make_security("127.0.0.1", 8765, expose=False)
    client = TestClient(create_app(Workbench(project, sec, "alice")), base_url=LOCAL)
    for spec in ("../x", "/etc", str(tmp_path), "runs/../../x"):
        r = client.post("/model", data={"csrf": sec.csrf, "detector": spec})
        assert r.status_code == 400, spec
    assert client.post("/model", data={"csrf": sec.csrf, "run": "/etc"}).status_code == 400


def test_viewer_paths_cannot_escape(tmp_path: Path) -> None:
    root = tmp_path / "results"
    make_runs(root, rows_per_run=20)
    outside = make_runs(tmp_path / "elsewhere", rows_per_run=20)
    os.symlink(outside["bench1"], root / "linked-run")  # a symlinked run folder is not served
    leak = root / "audits" / "leaky"
    leak.mkdir()
    (leak / "run.json").write_text('{"kind": "bench"}')
    os.symlink(outside["bench1"] / "results.parquet", leak / "results.parquet")
    os.symlink(
        tmp_path / "elsewhere" / "audits" / "data1" / "report.html", root / "bench1" / "report.html"
    )
    sec = make_security("127.0.0.1", 8766, expose=False)
    app, n = create_viewer(root, sec)
    client = TestClient(app, base_url="http://127.0.0.1:8766")
    assert n == 4  # data1, leaky (listed with its error), probe1, bench1; not linked-run
    index = client.get("/runs").text
    assert "linked-run" not in index
    assert "no results.parquet inside the results folder" in index  # the leaky run's error
    for key in (
        "../elsewhere/bench1",
        "/etc",
        str(outside["bench1"]),
        "linked-run",
        "audits/leaky",
        "%2e%2e",
    ):
        assert client.get("/run", params={"r": key}).status_code in (404, 422), key
        assert client.get("/row", params={"r": key, "n": 0}).status_code in (404, 422), key
    assert (
        client.get("/report", params={"r": "bench1", "f": "html"}).status_code == 404
    )  # symlinked out
    assert client.get("/report", params={"r": "audits/data1", "f": "../run"}).status_code == 404
    saved = client.get("/report", params={"r": "audits/data1", "f": "html"})
    assert saved.status_code == 200 and "sandbox" in saved.headers["content-security-policy"]
