"""`forwardpass predict`: batch scoring from the shell gives what the client gives."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from forwardpass.client import Deployment
from forwardpass.demos.tabular import KINDS
from tests.support import run_cli


def demo_rows(count: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(3)
    sounds = rng.choice(sorted(KINDS), size=count)
    sizes = rng.lognormal(0.0, 1.0, size=count).round(4)
    return [
        {"Type": KINDS[s][0], "Sound": str(s), "Size": float(z)}
        for s, z in zip(sounds, sizes, strict=True)
    ]


def test_csv_of_10000_rows_gives_the_clients_numbers(served, tmp_path):
    d = served["demo"]
    rows = demo_rows(10_000)
    source = tmp_path / "rows.csv"
    with source.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "Type", "Sound", "Size"])
        writer.writeheader()
        writer.writerows({"id": i, **row} for i, row in enumerate(rows))
    target = tmp_path / "answers.csv"
    run_cli(
        served["data_dir"],
        "predict",
        d["url"],
        "--token",
        d["token"],
        str(source),
        "-o",
        str(target),
        "--max-workers",
        "3",
    )
    with target.open() as f:
        answered = [float(r["Weight"]) for r in csv.DictReader(f)]
    expected = [a["Weight"] for a in Deployment(d["url"], d["token"]).predict_many(rows)]
    # Equal to float32 precision: ONNX Runtime's tree ensemble sums in another order for
    # large batches, and the server's batcher merges concurrent requests as they come.
    np.testing.assert_allclose(answered, expected, rtol=1e-6)
    assert len(answered) == len(rows)


def test_json_lines_in_json_out_and_categorical_columns(served, tmp_path):
    d = served["iris"]
    source = tmp_path / "rows.jsonl"
    source.write_text('{"X": [5.1, 3.5, 1.4, 0.2]}\n{"X": [6.7, 3.0, 5.2, 2.3]}\n')
    out = run_cli(
        served["data_dir"],
        "predict",
        d["url"],
        "--token",
        d["token"],
        str(source),
        "--format",
        "json",
    ).stdout
    answers = json.loads(out)["rows"]
    assert [max(a["output_probability"], key=a["output_probability"].get) for a in answers] == [
        "setosa",
        "virginica",
    ]
    out = run_cli(
        served["data_dir"],
        "predict",
        d["url"],
        "--token",
        d["token"],
        str(source),
        "--format",
        "csv",
    ).stdout
    assert out.splitlines()[0] == (
        "output_probability.setosa,output_probability.versicolor,output_probability.virginica"
    )


def test_an_error_stops_with_a_message_and_exit_1(served, tmp_path):
    d = served["demo"]
    source = tmp_path / "rows.csv"
    source.write_text("Type,Sound,Size\nanimal,woof,0.9\nplant,woof,0.9\n")
    done = run_cli(
        served["data_dir"], "predict", d["url"], "--token", d["token"], str(source), check=False
    )
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "rows.csv: line 3, feature 'Type': unknown category 'plant'" in message
    assert "(line 1 is the header)" in message
    done = run_cli(
        served["data_dir"], "predict", d["url"], "--token", "wrong", str(source), check=False
    )
    assert done.returncode == 1 and "wrong token" in done.stderr
    done = run_cli(
        served["data_dir"],
        "predict",
        d["url"],
        "--token",
        d["token"],
        str(tmp_path / "none.csv"),
        check=False,
    )
    assert done.returncode == 1 and "cannot read" in done.stderr


MIXED = (
    "id,name,Type,Sound,Size\n"
    "a,Rex,animal,woof,0.9\n"
    "b,Fern,plant,woof,0.9\n"  # line 3: no such category
    '"c","Two\nlines",animal,miaow,heavy\n'  # lines 4-5: a quoted cell spans two lines
    "d,Puff,vehicle,tchoo,48\n"  # line 6
    "e,Tom,animal,miaow,0.4\n"
)
GOOD = {
    "a": {"Type": "animal", "Sound": "woof", "Size": 0.9},
    "d": {"Type": "vehicle", "Sound": "tchoo", "Size": 48.0},
    "e": {"Type": "animal", "Sound": "miaow", "Size": 0.4},
}


@pytest.mark.slow
def test_skip_answers_the_good_rows_keeps_columns_and_names_bad_lines(served, tmp_path):
    d = served["demo"]
    source = tmp_path / "rows.csv"
    source.write_text(MIXED)
    target = tmp_path / "answers.csv"
    args = ("predict", d["url"], "--token", d["token"], str(source), "-o", str(target))
    done = run_cli(
        served["data_dir"], *args, "--keep", "id,name", "--on-error", "skip", "--batch-size", "2"
    )
    assert "2 of 5 rows failed" in done.stderr
    with target.open(newline="") as f:
        answers = list(csv.DictReader(f))
    assert list(answers[0]) == ["id", "name", "Weight", "errorCode", "errorMessage"]
    assert [(a["id"], a["name"]) for a in answers] == [
        ("a", "Rex"),
        ("b", "Fern"),
        ("c", "Two\nlines"),
        ("d", "Puff"),
        ("e", "Tom"),
    ]
    expected = Deployment(d["url"], d["token"]).predict_many(list(GOOD.values()))
    by_id = {a["id"]: a for a in answers}
    for key, want in zip(GOOD, expected, strict=True):
        assert float(by_id[key]["Weight"]) == pytest.approx(want["Weight"], rel=1e-6)
        assert by_id[key]["errorCode"] == by_id[key]["errorMessage"] == ""
    assert by_id["b"]["Weight"] == "" and by_id["b"]["errorCode"] == "BadData"
    assert by_id["b"]["errorMessage"].startswith("line 3, feature 'Type': unknown category")
    assert by_id["c"]["errorCode"] == "JsonPropertyTypeMismatch"
    assert by_id["c"]["errorMessage"].startswith("line 4, feature 'Size': expected a number")

    # The default stops at line 3 and leaves the answer before it.
    done = run_cli(served["data_dir"], *args, "--keep", "id", check=False)
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "rows.csv: line 3, feature 'Type'" in message and "--on-error skip" in message
    assert target.read_text().splitlines()[0] == "id,Weight"
    assert [line.split(",")[0] for line in target.read_text().splitlines()[1:]] == ["a"]


@pytest.mark.slow
def test_json_items_are_counted_from_one_and_kept_values_stay_json(served, tmp_path):
    d = served["demo"]
    source = tmp_path / "rows.json"
    rows = [{"id": 7, **GOOD["a"]}, {"id": [8], **GOOD["a"], "Size": "big"}, "not a row"]
    source.write_text(json.dumps({"rows": rows}))
    out = run_cli(
        served["data_dir"],
        "predict",
        d["url"],
        "--token",
        d["token"],
        str(source),
        "--keep",
        "id",
        "--on-error",
        "skip",
        "--format",
        "jsonl",
    ).stdout
    answers = [json.loads(line) for line in out.splitlines()]
    assert answers[0]["id"] == 7 and isinstance(answers[0]["Weight"], float)
    assert answers[1]["id"] == [8] and answers[1]["errorMessage"].startswith(
        "item 2, feature 'Size'"
    )
    assert answers[2]["id"] is None and answers[2]["errorCode"] == "JsonPropertyTypeMismatch"
    assert answers[2]["errorMessage"].startswith("item 3: a row must be a mapping")
