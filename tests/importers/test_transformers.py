"""A transformers classifier and an embedding model, imported from their folders with the
CLI and served: they answer raw text as transformers' own pipelines do."""

from __future__ import annotations

import html
import json
import os
import random
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import torch
import transformers
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from typer.testing import CliRunner

from forwardpass.cli import app
from forwardpass.client import Deployment
from forwardpass.importers import transformers as importer
from forwardpass.model import signature as sig
from forwardpass.runtime import BUCKET_ROWS
from tests.support import Server, bearer, cli_env

pytestmark = pytest.mark.slow

LABELS = ["negative", "positive"]
ADMIN = "an-admin-token-for-these-tests"
MAX_LENGTH = 64
VOCABULARY = (
    "the a film movie good bad great awful plot actor loved hated boring brilliant story "
    "ending music scene was is very not really quite slow fun dull moving"
)
WORDS = VOCABULARY.split()
SENTENCES = [
    "I loved this film",
    "bad",
    "the plot was slow but the music was great and the ending was really moving",
    "awful awful awful",
    "a brilliant story",
    " ".join(WORDS * 4),  # beyond the model's 64 tokens: cut to them
]


def sentences(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(2, 20))) for _ in range(count)]


def build(folder: Path) -> tuple[Path, Path]:
    """A tiny BERT classifier and its encoder as an embedding model, with a WordPiece
    tokenizer trained here, saved as transformers saves them."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        sentences(400, 0), trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials)
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tok.decoder = decoders.WordPiece()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=MAX_LENGTH,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_LENGTH,
        # Wide random weights, so that different sentences get clearly different answers.
        initializer_range=0.2,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    classifier = transformers.BertForSequenceClassification(config).eval()
    paths = folder / "reviews", folder / "encoder"
    classifier.save_pretrained(paths[0])
    classifier.bert.save_pretrained(paths[1])
    for path in paths:
        fast.save_pretrained(path)
    return paths


def cli(data_dir: Path, *args: str) -> Any:
    """The CLI in process: a subprocess would import transformers and torch again."""
    cleared: dict[str, str | None] = {k: None for k in os.environ if k.startswith("FORWARDPASS_")}
    env = {**cleared, "FORWARDPASS_DATA_DIR": str(data_dir)}
    done = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("transformers")
    folders = dict(zip(("reviews", "encoder"), build(root), strict=True))
    data_dir = root / "data"
    found = {}
    for name, folder in folders.items():
        cli(data_dir, "model", "import", str(folder), "--name", name)
        found[name] = cli(data_dir, "deployment", "create", name)
    # A second deployment of the same version: its requests share the batches of the first.
    found["reviews2"] = cli(data_dir, "deployment", "create", "reviews")
    server = Server(data_dir, env=cli_env(data_dir, FORWARDPASS_ADMIN_TOKEN=ADMIN))
    for d in found.values():
        d["url"] = server.url(d["id"])
    yield {"folders": folders, "base": server.base, **found}
    server.stop()


def post(deployment: dict[str, Any], texts: list[Any]) -> httpx.Response:
    # Built by hand: json= would refuse a lone surrogate, which a client may still send.
    body = json.dumps({"rows": [{"text": t} for t in texts]})
    return httpx.post(
        deployment["url"],
        content=body,
        headers={**bearer(deployment["token"]), "Content-Type": "application/json"},
        timeout=60,
    )


def scores(answer: httpx.Response) -> np.ndarray:
    assert answer.status_code == 200, answer.text
    return np.array([[row["label"][k] for k in LABELS] for row in answer.json()["rows"]])


def embeddings(answer: httpx.Response) -> np.ndarray:
    assert answer.status_code == 200, answer.text
    # A vector comes as tensor JSON: its shape and its values.
    return np.array([row["embedding"]["data"] for row in answer.json()["rows"]])


def test_answers_equal_the_pipelines(setup: Any) -> None:
    classify = transformers.pipeline("text-classification", model=str(setup["folders"]["reviews"]))
    found = classify(SENTENCES, top_k=None, truncation=True)
    want = np.array([[{s["label"]: s["score"] for s in one}[k] for k in LABELS] for one in found])
    got = scores(post(setup["reviews"], SENTENCES))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert np.ptp(want[:, 0]) > 100 * 1e-5  # the sentences are told apart: the check can fail

    extract = transformers.pipeline("feature-extraction", model=str(setup["folders"]["encoder"]))
    states = extract(SENTENCES, truncation=True)
    pooled = np.array([np.mean(one[0], axis=0) for one in states])
    np.testing.assert_allclose(embeddings(post(setup["encoder"], SENTENCES)), pooled, atol=1e-4)


def test_rows_of_very_different_lengths_answer_as_alone(setup: Any) -> None:
    # More rows than the runtime puts in one model call: they are run by length, in parts.
    texts = ["fun", " ".join(WORDS * 3), *sentences(BUCKET_ROWS + 4, 1)]
    alone = np.vstack([scores(post(setup["reviews"], [t])) for t in texts])
    together = scores(post(setup["reviews"], texts))
    np.testing.assert_allclose(together, alone, atol=1e-5, rtol=0)
    # Concurrent requests are batched together by the server, padded to their longest, also
    # when they come through two deployments of one model version.
    twins = [setup["reviews"], setup["reviews2"]]
    with ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(lambda i: scores(post(twins[i % 2], [texts[i]])), range(len(texts)))
        )
    np.testing.assert_allclose(np.vstack(answers), alone, atol=1e-5, rtol=0)
    with ThreadPoolExecutor(16) as pool:
        vectors = list(pool.map(lambda t: embeddings(post(setup["encoder"], [t])), texts))
    together = embeddings(post(setup["encoder"], texts))
    np.testing.assert_allclose(np.vstack(vectors), together, atol=1e-4)


AWKWARD = [
    "",
    "   \t\n ",
    "x" * 100_000,
    "wow 😀🎬 e\u0301te\u0301 \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 \u202eevil",
    "nul\x00byte\x00",
]


@pytest.mark.parametrize("text", AWKWARD, ids=["empty", "blank", "100k", "unicode", "nul"])
def test_awkward_text_gets_an_answer(setup: Any, text: str) -> None:
    got = scores(post(setup["reviews"], ["good film", text]))
    assert got.shape == (2, 2)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_too_long_or_unreadable_text_is_a_400_naming_the_row(setup: Any) -> None:
    answer = post(setup["reviews"], ["good", "y" * 100_001])
    assert answer.status_code == 400, answer.text
    assert answer.json()["errorMessage"].startswith("row 1, feature 'text': is 100001 characters")
    answer = post(setup["reviews"], ["good", "fine", "lone \ud800 surrogate"])
    assert answer.status_code == 400, answer.text  # not text: the JSON reader refuses it
    answer = post(setup["reviews"], [12])
    assert answer.status_code == 400, answer.text


def test_the_clients_call_a_text_deployment(setup: Any) -> None:
    reviews = setup["reviews"]
    want = scores(post(reviews, SENTENCES[:2]))
    client = Deployment(reviews["url"], reviews["token"])
    assert [(f.name, f.dtype, f.shape) for f in client.feature_specs_in] == [("text", "text", (1,))]
    answers = client.predict_many([{"text": t} for t in SENTENCES[:2]])
    np.testing.assert_allclose([[a["label"][k] for k in LABELS] for a in answers], want, atol=1e-6)

    # Where the sidekick client reads a deployment's features, and the rows it sends.
    spec = httpx.get(urljoin(reviews["url"], "openapi.json"), headers=bearer(reviews["token"]))
    assert spec.status_code == 200, spec.text
    props = spec.json()["components"]["schemas"]["input-row"]["properties"]
    assert props["text"]["x-peltarion"] == {"type": "text", "shape": [1]}
    assert f"first {MAX_LENGTH} tokens" in props["text"]["description"]
    sent = httpx.post(
        reviews["url"],
        json={"rows": [{"text": SENTENCES[0]}]},
        headers=bearer(reviews["token"]),
    )
    np.testing.assert_allclose(scores(sent), want[:1], atol=1e-6)


def test_the_page_tries_a_text_in_a_text_area(setup: Any) -> None:
    reviews = setup["reviews"]
    with httpx.Client(base_url=setup["base"], timeout=60) as http:
        csrf = re.search(r'name="csrf" value="([^"]+)"', http.get("/login").text)
        assert csrf is not None
        http.post("/login", data={"csrf": csrf.group(1), "token": ADMIN})
        page = http.get(f"/deployments/{reviews['id']}")
        assert page.status_code == 200, page.text
        assert re.search(r'<textarea id="try-1" name="in:text" rows="5">', page.text)
        assert f"cut to {MAX_LENGTH} tokens" in page.text
        form = re.search(r'id="try">\s*<input type="hidden" name="csrf" value="([^"]+)"', page.text)
        assert form is not None
        tried = http.post(
            f"/deployments/{reviews['id']}/try",
            data={"csrf": form.group(1), "in:text": SENTENCES[0]},
        )
    shown = re.search(r'<pre id="try-answer" role="status">(.*?)</pre>', tried.text, re.S)
    assert shown is not None, tried.text
    answer = json.loads(html.unescape(shown.group(1)))
    want = scores(post(reviews, SENTENCES[:1]))[0]
    np.testing.assert_allclose([answer["label"][k] for k in LABELS], want, atol=1e-6)


def test_normalised_embeddings_from_python(setup: Any) -> None:
    """A classifier's folder imported as an embedding model, scaled to length 1."""
    model = importer.to_onnx(setup["folders"]["reviews"], task="embedding", normalize=True)
    signature = sig.read(model)
    assert signature is not None and signature.outputs[0].shape == (32,)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(setup["folders"]["reviews"]))
    feeds = tokenizer(SENTENCES[:3], padding=True, return_tensors="np")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {name: feeds[name].astype(np.int64) for name in sig.TOKEN_ROLES})[0]
    pooled = embeddings(post(setup["encoder"], SENTENCES[:3]))  # the same encoder, unscaled
    want = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_folder_that_is_no_transformers_model_is_a_clear_error(tmp_path: Path) -> None:
    cleared: dict[str, str | None] = {k: None for k in os.environ if k.startswith("FORWARDPASS_")}
    env = {**cleared, "FORWARDPASS_DATA_DIR": str(tmp_path / "data")}
    done = CliRunner().invoke(app, ["model", "import", str(tmp_path), "--json"], env=env)
    assert done.exit_code != 0
    assert "without config.json, not a transformers model" in done.output
