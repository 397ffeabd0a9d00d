"""The sentence-transformers space: the packaged all-MiniLM-L6-v2 and any local model folder."""
import numpy as np
import pytest

from xiaobao.errors import ModelUnavailableError
from xiaobao.text_fingerprint import MINILM_SPACE, SentenceEmbedder, embedder_for
from xiaobao.text_fingerprint.authors import evaluate_authors

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def minilm():
    return SentenceEmbedder()


def test_packaged_model_embeds_offline(minilm):
    assert minilm.space == MINILM_SPACE and minilm.dim == 384
    v = minilm.embed(["Stop calling my parents about my loan.", "Do not phone my family about the debt.",
                      "The weather is sunny in the park today."])
    assert v.shape == (3, 384) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_any_local_folder_loads_through_the_same_code(minilm, tmp_path, monkeypatch):
    folder = tmp_path / "my-Chinese-model"
    minilm.model.save(str(folder))  # what a user does with their own production model
    texts = ["请停止骚扰我的家人", "Please stop calling me."]
    mine = SentenceEmbedder(folder)
    assert mine.space == "text/st-my-chinese-model@1" and mine.dim == 384
    assert np.allclose(mine.embed(texts), minilm.embed(texts), atol=1e-5)
    monkeypatch.setenv("XIAOBAO_TEXT_MODEL_DIR", str(folder))
    via_env = embedder_for("text/st-my-chinese-model@1")
    assert via_env.model_dir == folder
    with pytest.raises(ModelUnavailableError, match="no sentence-transformers model in .*empty"):
        SentenceEmbedder(tmp_path / "empty")


def test_fusion_and_minilm_in_the_evaluation():
    same = ["I was charged a fee I never agreed to on my loan.", "They charged me an undisclosed fee on the loan.",
            "An extra loan fee was taken without my consent."]
    other = ["My flight was cancelled and the airline kept the money.", "The hotel room was dirty and noisy.",
             "The phone I bought arrived broken.", "The gym keeps billing me after I cancelled."]
    res = evaluate_authors(same + other, ["a"] * 3 + ["b", "c", "d", "e"], space="fusion")
    assert res["n_queries"] == 3 and res["top1"] == 1.0


def test_a_model_folder_implies_its_space_in_the_evaluation(minilm, tmp_path):
    """--model-dir / XIAOBAO_TEXT_MODEL_DIR on `eval text-authors` evaluates that model, not char n-grams."""
    folder = tmp_path / "zh-model"
    minilm.model.save(str(folder))
    texts = ["I was charged a fee I never agreed to.", "They took a fee I did not agree to.",
             "The hotel room was dirty.", "The flight was cancelled.", "My phone arrived broken."]
    res = evaluate_authors(texts, ["a", "a", "b", "c", "d"], min_per_label=2, model_dir=folder)
    assert res["space"] == "text/st-zh-model@1" and res["n_queries"] == 2
    assert evaluate_authors(texts, ["a", "a", "b", "c", "d"], min_per_label=2)["space"] == "text/char-ngram@1"
    with pytest.raises(ModelUnavailableError, match="no sentence-transformers model"):
        evaluate_authors(texts, ["a", "a", "b", "c", "d"], min_per_label=2, model_dir=tmp_path / "missing")
