"""Faces in photos: decoding, detection, descriptors, quality gates, enrol/search, evaluation, CLI."""
from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from face_video_helpers import astronaut, canvas, grace, paste, save_rgb, scene, write_video
from xiaobao import Workspace
from xiaobao.errors import InputError
from xiaobao.video import (SPACE, DlibFaceEmbedder, FaceDetector, enroll_faces, evaluate_faces, load_image,
                           search_faces)
from xiaobao.video.detect import iou
from xiaobao.video.media import Frame


@pytest.fixture(scope="module")
def emb():
    return DlibFaceEmbedder()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    a, g = astronaut(), grace()
    two = canvas(640, 300)
    paste(two, a, 20, 20, 240)
    paste(two, g, 360, 30, 240)
    return {
        "astro": save_rgb(d / "astro.jpg", a),
        "astro_gray_pgm": save_rgb(d / "astro_gray.pgm", cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)),
        "astro_flip": save_rgb(d / "astro_flip.png", a[:, ::-1].copy()),
        "astro_webp": save_rgb(d / "astro.webp", a, [cv2.IMWRITE_WEBP_QUALITY, 90]),
        "grace": save_rgb(d / "grace.jpg", g),
        "grace_small": save_rgb(d / "grace_small.png", cv2.resize(g, (190, 200), interpolation=cv2.INTER_AREA)),
        "two": save_rgb(d / "two.jpg", two),
        "empty": save_rgb(d / "empty.png", canvas(320, 240)),
        "corrupt": _write(d / "corrupt.jpg", b"\xff\xd8\xff\xe0 not really a jpeg" * 20),
        "dir": d,
    }


def _write(p, data: bytes):
    p.write_bytes(data)
    return p


def _cos(a, b) -> float:
    return float(np.dot(a, b))


# ------------------------------------------------------------------ decoding
def test_grayscale_pgm_is_decoded_as_three_channel_gray(photos):
    frame = load_image(photos["astro_gray_pgm"])
    assert frame.image.ndim == 3 and frame.image.shape[2] == 3 and frame.image.dtype == np.uint8
    assert frame.grayscale
    assert not load_image(photos["astro"]).grayscale


def test_exif_orientation_is_applied(tmp_path):
    # 200 wide x 100 high, white on the left; EXIF 6 = "rotate 90 clockwise to display"
    pixels = np.zeros((100, 200, 3), np.uint8)
    pixels[:, :50] = 255
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(tmp_path / "rotated.jpg", exif=exif.tobytes())
    frame = load_image(tmp_path / "rotated.jpg")
    assert frame.image.shape[:2] == (200, 100)
    assert frame.image[:50].mean() > 200 and frame.image[-50:].mean() < 50  # white stripe now on top


def test_corrupt_and_unsupported_files_name_the_file(photos, tmp_path):
    with pytest.raises(InputError, match="corrupt.jpg: cannot decode image"):
        load_image(photos["corrupt"])
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="notes.txt: unsupported file type"):
        search_faces(None, tmp_path / "notes.txt")


# ------------------------------------------------------------------ detection and descriptors
def test_detects_one_face_and_not_the_badge_in_the_full_astronaut_photo(emb):
    from skimage import data
    faces = emb.faces(Frame(0, 0.0, np.ascontiguousarray(data.astronaut())))
    assert len(faces) == 1
    assert 150 < faces[0].box.center[0] < 300 and faces[0].box.center[1] < 200  # the head, not the mission patch


def test_small_face_is_found_with_upsampling(emb, photos):
    frame = canvas(640, 480)
    paste(frame, astronaut(), 300, 200, 105)  # ~45 px face: below HOG's 80 px window without upsampling
    faces = emb.faces(Frame(0, 0.0, frame))
    assert len(faces) == 1 and faces[0].box.width < 60
    ref = emb.embed([photos["astro"]])[0]
    assert _cos(faces[0].vector, ref) > 0.9


def test_tight_portrait_needs_the_padded_pass():
    a = astronaut()
    tight = np.ascontiguousarray(a[75:170, 80:160])  # the face fills the picture, like an ID-photo crop
    plain = FaceDetector(methods=("hog",)).detect(tight)
    padded = FaceDetector(methods=("hog", "hog-padded")).detect(tight)
    assert plain == []
    assert len(padded) == 1 and padded[0].method == "hog-padded"


def test_haar_fallback_box_lands_where_hog_would(photos):
    a = astronaut()
    hog = FaceDetector(methods=("hog",)).detect(a)
    haar = FaceDetector(methods=("haar",)).detect(a)
    assert len(hog) == 1 and len(haar) >= 1 and haar[0].method == "haar"
    assert iou(hog[0], haar[0]) > 0.5  # the Haar box is mapped onto HOG's framing for the landmark model


def test_descriptors_same_person_across_gray_flip_webp_and_not_across_people(emb, photos):
    v = emb.embed([photos[k] for k in ("astro", "astro_gray_pgm", "astro_flip", "astro_webp", "grace", "grace_small")])
    assert v.shape == (6, 128) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    for i in (1, 2, 3):
        assert _cos(v[0], v[i]) > 0.93, i
    assert _cos(v[4], v[5]) > 0.93
    assert _cos(v[0], v[4]) < 0.91  # below the "possible" default


def test_dark_photo_is_found_relit_and_not_called_blurred(emb, photos):
    rng = np.random.default_rng(0)
    dark = np.clip(astronaut().astype(np.float32) * 0.06 + rng.normal(0, 2, astronaut().shape), 0, 255).astype(np.uint8)
    faces = emb.faces(Frame(0, 0.0, dark))
    assert len(faces) == 1 and faces[0].quality.ok, faces and faces[0].quality.reasons
    assert faces[0].chip.mean() > 3 * dark.mean()  # the chip the network saw was brightened
    assert _cos(faces[0].vector, emb.embed([photos["astro"]])[0]) > 0.93


@pytest.mark.parametrize("angle", [70, -100, 180])
def test_tilted_and_sideways_photos_are_found_and_aligned(emb, photos, angle):
    a = astronaut()
    h, w = a.shape[:2]
    turned = cv2.warpAffine(a, cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0), (w, h),
                            borderMode=cv2.BORDER_REPLICATE)
    assert FaceDetector(methods=("hog", "hog-padded")).detect(turned) == []  # beyond HOG's own tolerance
    faces = emb.faces(Frame(0, 0.0, turned))
    assert len(faces) == 1 and faces[0].box.method == "hog-rotated"
    assert _cos(faces[0].vector, emb.embed([photos["astro"]])[0]) > 0.97


def test_no_face_is_an_input_error_for_embed(emb, photos):
    with pytest.raises(InputError, match="empty.png: no face found"):
        emb.embed([photos["empty"]])


def test_quality_gates_flag_blur_and_small_faces(emb):
    a = astronaut()
    sharp = emb.faces(Frame(0, 0.0, a))[0].quality
    blurred = emb.faces(Frame(0, 0.0, cv2.GaussianBlur(a, (0, 0), 3.0)))
    assert sharp.ok
    assert blurred and not blurred[0].quality.ok and "blurred" in blurred[0].quality.reasons[0]
    frame = canvas(640, 480)
    paste(frame, a, 300, 200, 80)  # ~36 px face: detected, but under the 40 px gate
    small = emb.faces(Frame(0, 0.0, frame))
    assert small and any("too small" in r for r in small[0].quality.reasons)


# ------------------------------------------------------------------ watchlist
@pytest.fixture()
def ws(tmp_path):
    w = Workspace(tmp_path / "ws")
    yield w
    w.close()


def test_enrol_and_search_photos_with_several_faces_per_frame(ws, emb, photos, tmp_path):
    astro_id = ws.add_subject("Collins", kind="agent")
    grace_id = ws.add_subject("Hopper", kind="agent")
    rows = enroll_faces(ws, astro_id, [photos["astro"], photos["corrupt"], photos["empty"]], embedder=emb)
    assert [r["status"] for r in rows] == ["enrolled", "error", "skipped"]
    assert "cannot decode image" in rows[1]["reason"] and rows[2]["reason"] == "no face found"
    assert enroll_faces(ws, grace_id, [photos["grace"]], embedder=emb)[0]["status"] == "enrolled"
    again = enroll_faces(ws, grace_id, [photos["grace"]], embedder=emb)[0]
    assert again["status"] == "skipped" and "already enrolled" in again["reason"]

    res = search_faces(ws, photos["two"], top=2, embedder=emb, evidence_dir=tmp_path / "evidence")
    assert res["kind"] == "image" and len(res["faces"]) == 2
    by_x = sorted(res["faces"], key=lambda f: f["frames"][0]["box"][0])
    assert [f["subject_id"] for f in by_x] == [astro_id, grace_id]
    assert all(f["decision"] == "match" for f in by_x)
    assert all(len(f["matches"]) == 2 and f["matches"][1]["decision"] == "none" for f in by_x)
    manifest = json.loads((tmp_path / "evidence" / "two_evidence.json").read_text())
    assert len(manifest["crops"]) == 2 and all((tmp_path / "evidence" / c["crop"]).is_file() for c in manifest["crops"])

    gray = search_faces(ws, photos["astro_gray_pgm"], embedder=emb)
    assert gray["grayscale"] and gray["faces"][0]["subject_id"] == astro_id and gray["decision"] == "match"

    none = search_faces(ws, photos["empty"], embedder=emb)
    assert none["faces"] == [] and none["decision"] == "insufficient" and none["reason"] == "no face found"


def test_enrolment_refuses_low_quality_unless_asked(ws, emb, tmp_path):
    sid = ws.add_subject("blurry", kind="agent")
    p = save_rgb(tmp_path / "blurred.png", cv2.GaussianBlur(astronaut(), (0, 0), 3.0))
    row = enroll_faces(ws, sid, [p], embedder=emb)[0]
    assert row["status"] == "skipped" and "quality gates" in row["reason"]
    assert enroll_faces(ws, sid, [p], embedder=emb, allow_low_quality=True)[0]["status"] == "enrolled"
    assert ws.subject_samples(sid)[0]["space"] == SPACE


# ------------------------------------------------------------------ evaluation
def _labelled_set(root, photos):
    # two people x 3 pictures, plus one picture of the astronaut with no face in it (an error)
    rows = [("a/1.jpg", "astro", astronaut()), ("a/2.png", "astro", astronaut()[:, ::-1]),
            ("a/10.png", "astro", cv2.cvtColor(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)),
            ("a/11.png", "astro", canvas(200, 200)),
            ("g/1.jpg", "grace", grace()), ("g/2.png", "grace", grace()[:, ::-1]),
            ("g/3.png", "grace", cv2.resize(grace(), (190, 200)))]
    for rel, _, img in rows:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        save_rgb(root / rel, np.ascontiguousarray(img))
    frames, _ = scene(1.0, 10.0)
    clip_frames = [np.ascontiguousarray(f) for f in frames]
    for f in clip_frames:  # Grace alone in a short clip: a video stands for its dominant track
        f[:] = 96
        paste(f, grace(), 90, 20, 200)
    write_video(root / "g/4.mp4", clip_frames, 10.0)
    with open(root / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "person"])
        w.writerows([(rel, who) for rel, who, _ in rows] + [("g/4.mp4", "grace")])
    return root / "labels.csv"


def test_evaluation_counts_no_face_as_an_error(emb, tmp_path, photos):
    labels = _labelled_set(tmp_path, photos)
    r = evaluate_faces(tmp_path, labels, "person", enroll=1, embedder=emb)
    # natural order: a/1, a/2, a/10, a/11 -> a/1 enrols; probes a/2, a/10, a/11 (no face), g/2, g/3, g/4.mp4
    assert r["n_identities"] == 2 and r["n_tests"] == 6 and r["no_face"] == 1
    assert r["n_trials"] == 6 * 2          # every probe against every identity, as in `eval voice`
    assert r["top1"] == pytest.approx(5 / 6, abs=1e-4)
    assert 0.0 <= r["eer"] <= 0.5


def test_cli_eval_face_and_bad_input_exit_codes(tmp_path, photos, monkeypatch):
    from xiaobao.cli import app

    labels = _labelled_set(tmp_path, photos)
    runner = CliRunner()
    out = runner.invoke(app, ["eval", "face", "--data", str(tmp_path), "--labels", str(labels),
                              "--label-column", "person", "--enroll", "2", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert {"eer", "top1", "n_identities", "n_trials", "no_face"} <= set(data)
    assert data["n_tests"] == 4 and data["n_trials"] == 8 and data["no_face"] == 1 and data["top1"] == pytest.approx(3 / 4)

    bad = runner.invoke(app, ["eval", "face", "--data", str(tmp_path), "--labels", str(labels),
                              "--label-column", "nope"])
    assert bad.exit_code != 0 and "no column 'nope'" in str(bad.exception)


def test_cli_face_enroll_and_search_end_to_end(tmp_path, photos):
    import subprocess
    import sys

    from xiaobao.cli import app

    run = CliRunner().invoke
    home = ["--home", str(tmp_path / "home")]
    sid = run(app, home + ["subject", "add", "Collins", "--kind", "agent"]).stdout.strip()
    enrol = run(app, home + ["face", "enroll", "--subject", sid, str(photos["astro"]), "--json"])
    assert enrol.exit_code == 0, enrol.output
    assert json.loads(enrol.stdout)[0]["status"] == "enrolled"
    found = run(app, home + ["face", "search", str(photos["astro_webp"]), "--json"])
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["faces"][0]["subject_id"] == int(sid)
    table = run(app, home + ["face", "search", str(photos["two"])])
    assert table.exit_code == 0 and "Collins" in table.stdout and "match" in table.stdout
    # the real entry point: a bad file is one line on stderr and exit code 2
    broken = subprocess.run([sys.executable, "-m", "xiaobao.cli"] + home + ["face", "search", str(photos["corrupt"])],
                            capture_output=True, text=True)
    assert broken.returncode == 2
    assert broken.stderr.strip().count("\n") == 0 and "corrupt.jpg: cannot decode image" in broken.stderr
    assert "Traceback" not in broken.stderr
