"""ECAPA backend: a randomly initialised ECAPA-TDNN saved the way SpeechBrain ships one
(hyperparams.yaml + embedding_model.ckpt) is loaded and run through the code users run."""
import numpy as np
import pytest
import torch

from xiaobao import Workspace
from xiaobao.errors import ModelUnavailableError
from xiaobao.voiceprint import ECAPA_SPACE, enroll_files, get_embedder, read_speech, search_speech

HYPERPARAMS = """\
n_mels: 40
compute_features: !new:speechbrain.lobes.features.Fbank
    n_mels: !ref <n_mels>
mean_var_norm: !new:speechbrain.processing.features.InputNormalization
    norm_type: sentence
    std_norm: False
embedding_model: !new:speechbrain.lobes.models.ECAPA_TDNN.ECAPA_TDNN
    input_size: !ref <n_mels>
    channels: [64, 64, 64, 64, 192]
    kernel_sizes: [5, 3, 3, 3, 1]
    dilations: [1, 2, 3, 4, 1]
    attention_channels: 16
    lin_neurons: 32
modules:
    compute_features: !ref <compute_features>
    mean_var_norm: !ref <mean_var_norm>
    embedding_model: !ref <embedding_model>
pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        embedding_model: !ref <embedding_model>
"""


@pytest.fixture
def ecapa_dir(tmp_path):
    from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
    torch.manual_seed(0)
    model = ECAPA_TDNN(40, channels=[64, 64, 64, 64, 192], kernel_sizes=[5, 3, 3, 3, 1], dilations=[1, 2, 3, 4, 1],
                       attention_channels=16, lin_neurons=32)
    d = tmp_path / "ecapa"
    d.mkdir()
    torch.save(model.state_dict(), d / "embedding_model.ckpt")
    (d / "hyperparams.yaml").write_text(HYPERPARAMS)
    return d, model


def test_ecapa_folder_round_trip(ecapa_dir, tmp_path, monkeypatch):
    d, model = ecapa_dir
    monkeypatch.setenv("XIAOBAO_ECAPA_DIR", str(d))
    emb = get_embedder("ecapa")
    assert emb.space == ECAPA_SPACE and emb.dim == 32
    rng = np.random.default_rng(1)
    t = np.arange(32000) / 16000
    a = (0.3 * np.sin(2 * np.pi * 180 * t * (1 + 0.1 * np.sin(3 * t))) + 0.02 * rng.standard_normal(32000)).astype(np.float32)
    b = (0.2 * rng.standard_normal(32000)).astype(np.float32)
    v = emb.embed([a, b])
    assert v.shape == (2, 32) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    # The weights in the folder are the ones running: same output as the saved module by hand.
    from speechbrain.lobes.features import Fbank
    from speechbrain.processing.features import InputNormalization
    with torch.inference_mode():
        feats = Fbank(n_mels=40)(torch.from_numpy(a)[None])
        feats = InputNormalization(norm_type="sentence", std_norm=False)(feats, torch.ones(1))
        model.eval()
        ref = model(feats, torch.ones(1)).reshape(-1).numpy()
    assert float(v[0] @ (ref / np.linalg.norm(ref))) > 0.999
    # And it serves the workspace as its own space.
    import soundfile as sf
    sf.write(str(tmp_path / "a.wav"), a, 16000)
    with Workspace(tmp_path / "ws") as ws:
        sid = ws.add_subject("x", kind="agent")
        enroll_files(ws, sid, [tmp_path / "a.wav"], backend="ecapa", min_speech=0)
        r = search_speech(ws, read_speech(tmp_path / "a.wav"), backend="ecapa", min_speech=0)
        assert r["space"] == ECAPA_SPACE


def test_ecapa_without_a_folder_says_where_weights_go(tmp_path, monkeypatch):
    monkeypatch.delenv("XIAOBAO_ECAPA_DIR", raising=False)
    with pytest.raises(ModelUnavailableError, match="XIAOBAO_ECAPA_DIR"):
        get_embedder("ecapa")
    with pytest.raises(ModelUnavailableError, match="hyperparams.yaml"):
        get_embedder("ecapa", tmp_path)


def test_ecapa_folder_through_the_cli(ecapa_dir, tmp_path, monkeypatch):
    # What a user types: --backend ecapa --model-dir DIR on enrol, search and verify (spoken audio).
    import json
    import shutil
    import subprocess

    from typer.testing import CliRunner

    from xiaobao.cli import app

    assert shutil.which("espeak-ng"), "espeak-ng is missing: run `make system-packages`"
    monkeypatch.delenv("XIAOBAO_ECAPA_DIR", raising=False)
    d, _ = ecapa_dir
    wavs = []
    for i, text in enumerate(["I am calling about the loan on my account and the interest charged.",
                              "Please stop the collection calls to my mother, she is not the borrower."]):
        wavs.append(tmp_path / f"call{i}.wav")
        subprocess.run(["espeak-ng", "-v", "en+f2", "-s", "150", "-w", str(wavs[-1]), text], check=True)
    home = ["--home", str(tmp_path / "ws")]
    ecapa = ["--backend", "ecapa", "--model-dir", str(d)]
    run = CliRunner().invoke
    sid = run(app, home + ["subject", "add", "caller", "--kind", "agent"]).stdout.strip()
    r = run(app, home + ["voice", "enroll", "--subject", sid, str(wavs[0]), "--json"] + ecapa)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)[0]["status"] == "enrolled"
    r = run(app, home + ["voice", "search", str(wavs[1]), "--json"] + ecapa)
    assert r.exit_code == 0, r.output
    found = json.loads(r.stdout)
    assert found["space"] == ECAPA_SPACE and found["matches"][0]["subject_id"] == int(sid)
    r = run(app, home + ["voice", "verify", str(wavs[0]), str(wavs[1]), "--json"] + ecapa)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["space"] == ECAPA_SPACE
    # the resemblyzer space was never touched: each embedder is its own space
    with Workspace(tmp_path / "ws") as ws:
        assert [s["name"] for s in ws.spaces()] == [ECAPA_SPACE]
