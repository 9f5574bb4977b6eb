"""Sentences per second through a small BERT-shaped classifier: forwardpass with 64
clients sending one sentence each, against raw ONNX Runtime with the same tokenizer at the
batch size that gives it its best throughput.

Both run on the same core: the server pinned to core 0 (wrk, one thread, on core 1), the
raw loop pinned to core 0 with one ONNX Runtime thread. The model (hidden 128, 2 layers,
4 heads, 128 positions) and its WordPiece tokenizer are made here from random sentences
and imported with forwardpass's transformers importer; the raw loop runs the same ONNX file
and the tokenizer it carries.

    python -m bench.text [--duration 10] [--sentences 2000]

Run from the repository root with the dev extra installed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import onnx
import onnxruntime as ort
import torch
import transformers
from bench.run import (
    PYTHON,
    SERVER_CORE,
    Processes,
    System,
    free_port,
    pinned,
    wait_http,
    wrk,
)
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from forwardpass.importers import transformers as importer
from forwardpass.model import signature as sig
from forwardpass.runtime import BUCKET_ROWS

BATCHES = (1, 4, 16, 32, 64, 128)
CLIENTS = 64
#: Each raw figure is the best of this many rounds: the machine may be shared.
ROUNDS = 3


def sentences(count: int, seed: int) -> list[str]:
    """Sentences of 4 to 40 words over a vocabulary of made-up words."""
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "da", "fe"]
    words = ["".join(rng.choices(syllables, k=rng.randint(1, 3))) for _ in range(400)]
    return [" ".join(rng.choices(words, k=rng.randint(4, 40))) for _ in range(count)]


def build(folder: Path) -> Path:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        sentences(2000, 0), trainers.WordPieceTrainer(vocab_size=1000, special_tokens=specials)
    )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=128,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=512,
        max_position_embeddings=128,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    path = folder / "bert"
    transformers.BertForSequenceClassification(config).eval().save_pretrained(path)
    fast.save_pretrained(path)
    model = folder / "bert.onnx"
    model.write_bytes(importer.import_folder(path))
    return model


class Raw:
    """Tokenizer + session.run on one thread, as a program without a server would run."""

    def __init__(self, model: Path, texts: list[str]) -> None:
        proto = onnx.load(str(model))
        signature = sig.read(proto)
        assert signature is not None
        settings = signature.inputs[0].tokenizer
        assert settings is not None
        self.tokenizer = Tokenizer.from_str(sig.tokenizers(proto, signature)[settings.metadata])
        self.tokenizer.enable_truncation(settings.max_length)
        self.tokenizer.enable_padding(pad_id=settings.pad_id)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.texts = texts

    def scores(self, chunk: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(chunk)
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        result: np.ndarray = self.session.run(None, feeds)[0]
        return result

    def by_length(self, chunk: list[str]) -> None:
        """The chunk sorted by length and run 16 sentences a call, as forwardpass's runtime
        runs a batch of token rows (what sorting by length gains over one padded call)."""
        ordered = sorted(chunk, key=lambda t: len(self.tokenizer.encode(t).ids))
        for start in range(0, len(ordered), BUCKET_ROWS):
            self.scores(ordered[start : start + BUCKET_ROWS])

    def rate(self, batch: int, seconds: float, by_length: bool = False) -> float:
        """Sentences/s on batches of `batch` for about `seconds`, pinned to the server's core."""
        chunks = [self.texts[i : i + batch] for i in range(0, len(self.texts), batch)]
        os.sched_setaffinity(0, {int(SERVER_CORE)})
        try:
            run = self.by_length if by_length else self.scores
            run(chunks[0])
            done, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds:
                for chunk in chunks:
                    run(chunk)
                    done += len(chunk)
                    if time.perf_counter() - started >= seconds:
                        break
            return done / (time.perf_counter() - started)
        finally:
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def serve(procs: Processes, model: Path, work: Path) -> System:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORWARDPASS_")}
    env["FORWARDPASS_DATA_DIR"] = str(work / "data")
    cli = [PYTHON, "-m", "forwardpass"]
    subprocess.run([*cli, "model", "import", str(model), "--name", "bert"], env=env, check=True)
    created = subprocess.run(
        [*cli, "deployment", "create", "bert", "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(created.stdout)
    port = free_port()
    process = procs.start("forwardpass", pinned([*cli, "serve", "--port", str(port)]), env=env)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/readyz", process, procs.logs / "forwardpass.log")
    return System(
        "forwardpass",
        "forwardpass serve, one core",
        f"{base}/deployment/{info['id']}/forward",
        f"Bearer {info['token']}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--sentences", type=int, default=2000)
    args = parser.parse_args()
    texts = sentences(args.sentences, 1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = build(work)
        raw = Raw(model, texts)
        print(f"cores: {os.cpu_count()}, load: {os.getloadavg()}, sentences: {len(texts)}")
        # Rounds interleave the batch sizes, and then the two systems: the machine is shared,
        # and what else runs moves every figure; each is the median of its rounds.
        found: dict[int, list[float]] = {batch: [] for batch in BATCHES}
        for _ in range(ROUNDS):
            for batch in BATCHES:
                found[batch].append(raw.rate(batch, args.duration / 5))
        sorted_rates = [raw.rate(64, args.duration / 5, by_length=True) for _ in range(ROUNDS)]
        rates = {batch: statistics.median(r) for batch, r in found.items()}
        for batch, rate in rates.items():
            print(f"raw ONNX Runtime + tokenizer, batches of {batch:3}: {rate:8.1f}/s")
        print(
            f"raw, batches of 64 sorted by length, {BUCKET_ROWS} a call: "
            f"{statistics.median(sorted_rates):8.1f}/s (not a raw baseline: what sorting gains)"
        )
        best = max(rates, key=lambda b: rates[b])
        bodies = work / "bodies.jsonl"
        bodies.write_text("".join(json.dumps({"rows": [{"text": t}]}) + "\n" for t in texts))
        procs = Processes(work)
        served, side = [], []
        try:
            system = serve(procs, model, work)
            check(system, raw, texts[:8])
            wrk(system, bodies, CLIENTS, 2, script="text.lua")  # warm-up
            for _ in range(ROUNDS):
                served.append(wrk(system, bodies, CLIENTS, args.duration, script="text.lua"))
                side.append(raw.rate(best, args.duration))
        finally:
            procs.stop_all()
        median = statistics.median(m.rps for m in served)
        beside = statistics.median(side)
        print(f"raw at batches of {best}, beside the server's rounds: {beside:8.1f}/s")
        print(
            f"forwardpass, {CLIENTS} clients, one sentence each: {median:8.1f}/s "
            f"(p50 {statistics.median(m.p50 for m in served):.1f} ms, "
            f"p99 {statistics.median(m.p99 for m in served):.1f} ms, "
            f"errors {sum(m.errors for m in served)})"
        )
        print(f"ratio to raw at its best batch ({best}): {median / beside:.2f} (goal >= 0.80)")


def check(system: System, raw: Raw, texts: list[str]) -> None:
    """forwardpass answers as the raw loop does."""
    answer = httpx.post(
        system.url,
        json={"rows": [{"text": t} for t in texts]},
        headers={"Authorization": system.auth},
        timeout=60,
    )
    answer.raise_for_status()
    got = [[row["label"][k] for k in ("negative", "positive")] for row in answer.json()["rows"]]
    np.testing.assert_allclose(got, raw.scores(texts), atol=1e-5)


if __name__ == "__main__":
    main()
