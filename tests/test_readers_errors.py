"""Bad input: every error names file, line/row, field, the fields found and the fixing flag;
`skip_bad` sets rows aside verbatim in a side file and counts them."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from refusalkit.core.errors import DataError
from refusalkit.readers import iter_records, read_exchanges
from test_readers_formats import FIX, real_rows, write_hf_dict, write_jsonl, write_parquet


def coconot_lines() -> list[bytes]:
    return (FIX / "coconot_responses_sample.jsonl").read_bytes().splitlines()


def raises(path: Path, **kw: object) -> DataError:
    with pytest.raises(DataError) as info:
        list(read_exchanges(path, **kw))  # type: ignore[arg-type]
    return info.value


def test_malformed_json_line(tmp_path: Path) -> None:
    lines = coconot_lines()
    p = tmp_path / "broken.jsonl"
    p.write_bytes(b"\n".join([lines[0], lines[1], lines[2][:-40], lines[3]]) + b"\n")
    err = raises(p)
    assert err.file == str(p) and err.line == 3
    assert "malformed JSON" in str(err) and f"{p}, line 3" in str(err)
    assert "--skip-bad" in err.hint


def test_non_utf8_byte_in_jsonl_and_csv(tmp_path: Path) -> None:
    lines = coconot_lines()
    p = tmp_path / "latin.jsonl"
    p.write_bytes(
        lines[0] + b"\n" + lines[1].replace(b'"prompt": "', b'"prompt": "Caf\xe9 ') + b"\n"
    )
    err = raises(p)
    assert err.line == 2 and "byte 0xe9" in err.message and "not valid utf-8" in err.message
    assert "--encoding" in err.hint
    c = tmp_path / "latin.csv"
    src = (FIX / "xstest_completions_sample.csv").read_bytes()
    c.write_bytes(src.replace(b"Angela Merkel", b"Ang\xe9la Merkel"))
    err = raises(c)
    assert err.line == 13 and "byte 0xe9" in err.message and "--encoding" in err.hint
    assert err.found_fields == [
        "id",
        "type",
        "prompt",
        "completion",
        "annotation_1",
        "annotation_2",
        "agreement",
        "final_label",
    ]
    # ... and the flag really fixes it
    assert len(list(read_exchanges(c, encoding="latin-1"))) == 5


def test_missing_field_in_a_later_json_array_record(tmp_path: Path) -> None:
    rows = real_rows("lima_sample.json.gz")
    del rows[2]["output"]
    p = tmp_path / "lima.json"
    p.write_text(json.dumps(rows, indent=2))
    err = raises(p)
    assert err.field == "output" and err.line is not None and err.line > 2
    assert "missing the response field" in err.message
    assert err.found_fields == ["instruction", "input", "history"]
    assert "--response-field" in err.hint
    assert "fields found: 'instruction', 'input', 'history'" in str(err)


def test_missing_column_row_position_for_parquet(tmp_path: Path) -> None:
    rows = real_rows("coconot_responses_sample.jsonl")
    rows[3]["prompt"] = None
    p = write_parquet(tmp_path / "c.parquet", rows)
    err = raises(p)
    assert err.row == 3 and err.line is None and err.field == "prompt"
    assert "row 3" in str(err) and "is null" in err.message


def test_unknown_shape(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "odd.jsonl", [{"foo": 1, "bar": "x"}])
    err = raises(p)
    assert "cannot recognise the dataset shape" in err.message
    assert err.found_fields == ["foo", "bar"] and err.line == 1
    assert "--shape" in err.hint and "--prompt-field" in err.hint


def test_forced_shape_without_its_columns(tmp_path: Path) -> None:
    err = raises(FIX / "alpaca_sample.json", shape="sharegpt")
    assert err.field == "conversations" and "--shape" in err.hint
    err = raises(FIX / "alpaca_sample.json", fields={"prompt": "question"})
    assert err.field == "question" and "--prompt-field" in err.hint


def test_wrong_types(tmp_path: Path) -> None:
    rows = real_rows("sharegpt_sample.jsonl.gz")
    rows[1]["conversations"] = "human: hi"
    p = write_jsonl(tmp_path / "sg.jsonl", rows)
    err = raises(p)
    assert (err.line, err.field) == (2, "conversations")
    assert "expected a list of turns, got a string" in err.message and "--shape" in err.hint
    rows = real_rows("sharegpt_sample.jsonl.gz")
    rows[0]["conversations"][0]["from"] = "tool"
    err = raises(write_jsonl(tmp_path / "sg2.jsonl", rows))
    assert err.field == "conversations[0]" and "unknown speaker 'tool'" in err.message
    rows = real_rows("alpaca_sample.json")
    rows[0]["output"] = {"text": "No"}
    err = raises(write_jsonl(tmp_path / "a.jsonl", rows))
    assert err.field == "output" and "got a object" in err.message


def test_csv_row_with_wrong_number_of_fields(tmp_path: Path) -> None:
    p = tmp_path / "short.csv"
    src = (FIX / "dolly_sample.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    p.write_text(src[0] + src[1] + "just one field\n", encoding="utf-8")
    err = raises(p)
    assert err.line == 3 and "row has 1 fields but the header has 4" in err.message
    assert err.found_fields == ["instruction", "context", "response", "category"]


def test_truncated_json_array(tmp_path: Path) -> None:
    text = json.dumps(real_rows("alpaca_sample.json"), indent=2)
    p = tmp_path / "cut.json"
    p.write_text(text[: len(text) * 2 // 3])
    err = raises(p)
    assert "ends inside this record" in err.message and err.line is not None
    stream = read_exchanges(p, skip_bad=True, rejects_path=tmp_path / "rej.jsonl")
    good = list(stream)
    assert len(good) >= 4 and stream.stats.rejected == 1
    entry = json.loads((tmp_path / "rej.jsonl").read_text())
    assert text[: len(text) * 2 // 3].endswith(entry["raw"])


def test_json_top_level_scalar_and_no_records(tmp_path: Path) -> None:
    p = tmp_path / "n.json"
    p.write_text("42")
    assert "neither an array" in raises(p).message
    q = tmp_path / "o.json"
    q.write_text(json.dumps({"version": 1, "names": ["a", "b"]}, indent=1))
    err = raises(q)
    assert "holds no array of records" in err.message and err.found_fields == ["version", "names"]


def test_paths_formats_encodings_and_splits(tmp_path: Path) -> None:
    err = raises(tmp_path / "nope.jsonl")
    assert "no such file" in err.message
    t = tmp_path / "data.txt"
    t.write_text("x")
    assert "--format" in raises(t).hint
    assert "--format" in raises(FIX / "alpaca_sample.json", format="yaml").hint
    assert "--encoding" in raises(FIX / "alpaca_sample.json", encoding="klingon").hint
    d = tmp_path / "folder"
    d.mkdir()
    assert "not a Hugging Face" in raises(d).message
    hf = write_hf_dict(tmp_path / "hf", {"train": real_rows("alpaca_sample.json")[:2]})
    err = raises(hf, split="test")
    assert err.found_fields == ["train"] and "--split" in err.hint


# ------------------------------------------------------------------------- --skip-bad


def test_skip_bad_writes_verbatim_rows_with_reasons(tmp_path: Path) -> None:
    lines = coconot_lines()
    bad_json = lines[1][:-30]
    bad_bytes = lines[2].replace(b'"prompt": "', b'"prompt": "Caf\xe9 ')
    wrong = json.dumps({"id": "x1", "prompt": ["not", "text"], "response": "r"}).encode()
    missing = json.dumps({"id": "x2", "prompt": "p"}).encode()
    p = tmp_path / "mixed.jsonl"
    p.write_bytes(
        b"\n".join([lines[0], bad_json, b"", bad_bytes, wrong, lines[3], missing, lines[4]]) + b"\n"
    )
    rej = tmp_path / "out" / "rejects.jsonl"
    stream = read_exchanges(p, skip_bad=True, rejects_path=rej)
    good = list(stream)
    assert [e.source.line for e in good] == [1, 6, 8]
    st = stream.stats
    assert (st.rows, st.exchanges, st.rejected) == (7, 3, 4)
    assert st.rejects_path == str(rej)
    entries = [json.loads(x) for x in rej.read_text().splitlines()]
    assert [e["line"] for e in entries] == [2, 4, 5, 7]
    assert [e["row"] for e in entries] == [1, 2, 3, 5]
    assert entries[0]["raw"] == bad_json.decode() and "malformed JSON" in entries[0]["reason"]
    assert (
        base64.b64decode(entries[1]["raw_base64"]) == bad_bytes and "0xe9" in entries[1]["reason"]
    )
    assert entries[2]["raw"] == wrong.decode() and entries[2]["field"] == "prompt"
    assert (
        entries[3]["raw"] == missing.decode()
        and "missing the response field" in entries[3]["reason"]
    )
    assert all(e["file"] == str(p) for e in entries)


def test_skip_bad_csv_keeps_multiline_row_verbatim(tmp_path: Path) -> None:
    src = (FIX / "xstest_completions_sample.csv").read_bytes()
    p = tmp_path / "x.csv"
    p.write_bytes(src.replace(b"v2-28,contrast_homonyms,", b"v2-28,contrast_homonyms,extra,"))
    rej = tmp_path / "rej.jsonl"
    stream = read_exchanges(p, skip_bad=True, rejects_path=rej)
    assert len(list(stream)) == 4 and stream.stats.rejected == 1
    entry = json.loads(rej.read_text())
    assert entry["line"] == 4 and "9 fields" in entry["reason"]
    assert entry["raw"].startswith("v2-28,contrast_homonyms,extra,") and entry["raw"].endswith(
        "3_partial_refusal"
    )
    assert entry["raw"].encode() in src.replace(
        b"v2-28,contrast_homonyms,", b"v2-28,contrast_homonyms,extra,"
    )


def test_skip_bad_columnar_rows_keep_the_record(tmp_path: Path) -> None:
    rows = real_rows("coconot_responses_sample.jsonl")
    rows[1]["prompt"] = None
    p = write_parquet(tmp_path / "c.parquet", rows)
    rej = tmp_path / "r.jsonl"
    stream = read_exchanges(p, skip_bad=True, rejects_path=rej)
    assert len(list(stream)) == 4
    entry = json.loads(rej.read_text())
    assert entry["row"] == 1 and entry["line"] is None and entry["record"] == rows[1]


def test_default_rejects_path_is_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "data" / "mine.jsonl.gz"
    p.parent.mkdir()
    shutil.copy(FIX / "sharegpt_sample.jsonl.gz", p)
    stream = read_exchanges(p, skip_bad=True)
    stream.drain()
    assert stream.stats.rejected == 0 and stream.stats.rejects_path is None
    assert not (tmp_path / "mine.rejects.jsonl").exists()  # only created when needed
    bad = tmp_path / "data" / "bad.jsonl"
    bad.write_bytes(coconot_lines()[0] + b"\n{oops\n")
    stream = read_exchanges(bad, skip_bad=True)
    stream.drain()
    assert stream.stats.rejects_path == str(tmp_path / "bad.rejects.jsonl")
    assert json.loads((tmp_path / "bad.rejects.jsonl").read_text())["raw"] == "{oops"


def test_skip_bad_does_not_hide_an_unknown_shape(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "odd.jsonl", [{"foo": 1}])
    with pytest.raises(DataError, match="cannot recognise"):
        list(read_exchanges(p, skip_bad=True, rejects_path=tmp_path / "r.jsonl"))


def test_iter_records_can_yield_errors(tmp_path: Path) -> None:
    p = tmp_path / "e.jsonl"
    p.write_bytes(coconot_lines()[0] + b"\n[1, 2]\n")
    recs = list(iter_records(p, errors="yield"))
    assert (
        recs[1].data is None
        and recs[1].error is not None
        and "not an object" in recs[1].error.message
    )
    with pytest.raises(DataError):
        list(iter_records(p))
