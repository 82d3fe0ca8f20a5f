# Two entry points for a fresh machine with only Python 3.11+ and make:
#   make demo   - install into .venv and run the demo
#   make test   - install into .venv (with test extras) and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
STAMP_BENCH := $(VENV)/.installed-bench

.PHONY: demo test bench clean venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes, so the venv follows the project.
$(STAMP_RUN): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

$(STAMP_BENCH): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@ $(STAMP_TEST) $(STAMP_RUN)

venv: $(STAMP_RUN)

demo: $(STAMP_RUN)
	$(VENV)/bin/pelvis-monitor demo

test: $(STAMP_TEST)
	scripts/ensure-system-packages
	$(PY) -m pytest

bench: $(STAMP_BENCH)
	$(PY) -m bench.fusion_accuracy
	$(PY) -m bench.throughput
	$(PY) -m bench.dashboard_latency
	$(PY) -m bench.events_accuracy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
