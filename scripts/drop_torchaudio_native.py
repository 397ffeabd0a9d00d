"""Remove torchaudio's native libraries from the venv, keeping its pure-Python modules.

Why: speechbrain 1.1.2 requires torchaudio, and PyPI's torchaudio 2.11.1 wheel is linked against
CUDA torch (it needs libc10_cuda.so), so `import torchaudio` fails beside the CPU build of torch
2.13.0 that this project installs. xiaobao never uses torchaudio's native ops (it decodes audio
itself and computes features with torch), and torchaudio by design runs without its native
extension when the library files are absent (``torchaudio._extension._load_lib`` returns False).
Deleting them makes `import torchaudio` and `import speechbrain` work on CPU torch.
Run with the venv's python; safe to run again.
"""
import importlib.util
import pathlib
import sys

spec = importlib.util.find_spec("torchaudio")  # locates the package without importing it
if spec is None or not spec.submodule_search_locations:
    print("torchaudio not installed; nothing to do")
    sys.exit(0)
lib = pathlib.Path(list(spec.submodule_search_locations)[0]) / "lib"
removed = [p for p in lib.glob("*.so")]
for p in removed:
    p.unlink()
print(f"torchaudio: removed {len(removed)} native libraries from {lib}" if removed else "torchaudio: already pure-Python")
