# Every target creates .venv when it is missing, so a fresh clone needs only `make demo` or `make test`.
VENV := .venv
PY := $(VENV)/bin/python
# nbgrader shells out to alembic: the venv's bin/ must be on PATH.
export PATH := $(abspath $(VENV))/bin:$(PATH)
# Keep Jupyter's configuration and data out of the user's home.
export JUPYTER_CONFIG_DIR ?= $(abspath .jupyter)/config
export JUPYTER_DATA_DIR ?= $(abspath .jupyter)/data
export IPYTHONDIR ?= $(abspath .jupyter)/ipython
export MPLBACKEND ?= Agg

.PHONY: demo test release lint venv clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m ipykernel install --user --name python3 >/dev/null
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) -m solutions --figure build/learning_curves.png
	$(MAKE) release

test: venv
	$(PY) -m ruff check .
	$(PY) -m pytest

release: venv
	$(VENV)/bin/nbgrader generate_assignment mnist_mlp --force --no-db
	rm -rf release/mnist_mlp/.ipynb_checkpoints

clean:
	rm -rf $(VENV) .jupyter build
