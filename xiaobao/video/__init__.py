"""Faces in photos and videos, and a video's audio track for the voiceprint search.

Public API::

    from xiaobao.video import DlibFaceEmbedder, enroll_faces, search_faces, search_video, evaluate_faces
    emb = DlibFaceEmbedder()                      # space "face/dlib-resnet@1", 128-d
    emb.embed(["id_photo.jpg"])                   # -> float32 [1, 128], L2-normalised
    enroll_faces(ws, subject_id, ["a.jpg", "call.mp4"])
    search_faces(ws, "call.mp4", top=5, evidence_dir="evidence/")
    search_video(ws, "call.mp4")                  # faces + the voice of its audio track

Pipeline: :mod:`.media` (decode, EXIF, frame sampling) -> :mod:`.detect` (dlib HOG, Haar
fallback) -> :mod:`.embedder` (5-point alignment, ResNet descriptor) with :mod:`.quality`
gates -> :mod:`.tracks` (faces across frames) -> :mod:`.search` (watchlist, evidence).
:mod:`.audio` extracts the sound track with the packaged ffmpeg.
"""
from .analyse import FileFaces, analyse_file
from .audio import extract_audio, has_audio
from .detect import FaceBox, FaceDetector
from .embedder import DIM, SPACE, DlibFaceEmbedder, FaceSample
from .evaluate import evaluate_faces
from .media import DEFAULT_FPS, DEFAULT_MAX_FRAMES, Frame, load_image, sample_frames
from .quality import FaceQuality, QualityGate
from .search import enroll_faces, search_faces
from .tracks import Track, build_tracks
from .video_search import search_video

__all__ = [
    "SPACE", "DIM", "DEFAULT_FPS", "DEFAULT_MAX_FRAMES",
    "DlibFaceEmbedder", "FaceDetector", "FaceBox", "FaceSample", "FaceQuality", "QualityGate",
    "Frame", "load_image", "sample_frames", "FileFaces", "analyse_file", "Track", "build_tracks",
    "enroll_faces", "search_faces", "search_video", "evaluate_faces", "extract_audio", "has_audio",
]
