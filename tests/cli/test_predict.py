"""`forwardpass predict`: batch scoring from the shell gives what the client gives."""

from __future__ import annotations

import csv
import json

import numpy as np

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
    assert "row 1, feature 'Type': unknown category 'plant'" in " ".join(done.stderr.split())
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
