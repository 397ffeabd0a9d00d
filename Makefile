# Set-up and the two everyday commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the tests and the demo use: espeak-ng speaks test voices, chromium renders
# HTML reports and evidence packs in the browser tests.
SYSTEM_PACKAGES := espeak-ng chromium fonts-wqy-zenhei

.PHONY: install system-packages demo test bench clean

install: $(VENV)/.installed

system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml Makefile scripts/drop_torchaudio_native.py
	$(MAKE) system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# CPU torch first and on its own: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,bench]'
	# torchaudio (pulled by speechbrain) is CUDA-linked; drop its native libs, keep its Python.
	$(BIN)/python scripts/drop_torchaudio_native.py
	$(BIN)/python -W ignore -c "import speechbrain, resemblyzer, dlib, faiss, cv2; cv2.CascadeClassifier; print('install ok')"
	touch $@

demo: install
	$(BIN)/xiaobao demo --out demo_out

test: install
	$(BIN)/python -m pytest

bench: install
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) demo_out .pytest_cache
