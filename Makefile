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

.PHONY: demo test test-slurm mnist release lint venv clean

# One line for the whole install; whatever goes wrong still shows (pip's errors and warnings,
# make's own "Error"). Two notes that are no problem do not: setuptools' note on every editable
# install ("Editable installation. Please be careful with folders..."), filtered out; and
# IPython's warning that the folder above IPYTHONDIR is not writable, which it gives while that
# folder does not exist: it is made first.
$(VENV)/.installed: pyproject.toml
	@echo "make: installing the kit into $(VENV) (about a minute)..."
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@PYTHONWARNINGS='ignore:Editable installation' $(PY) -m pip install --quiet -e '.[test]'
	@mkdir -p "$(IPYTHONDIR)"
	@$(PY) -m ipykernel install --user --name python3 >/dev/null
	@touch $@

venv: $(VENV)/.installed

DEMO_COURSE := build/demo-course

# For every assignment of source/: its reference trained, its release regenerated, the solved
# source and the blank release graded, and a small class of typical submissions graded as a batch.
demo: venv
	@echo "== 1. train each assignment's reference with its defaults"
	$(PY) -m solutions mnist_mlp --figure build/learning_curves.png
	@for assignment in $(filter-out mnist_mlp,$(ASSIGNMENTS)); do \
		echo "$(PY) -m solutions $$assignment"; $(PY) -m solutions $$assignment || exit 1; done
	@echo "== 2. regenerate the student releases with nbgrader"
	$(MAKE) --no-print-directory release
	@echo "== 3. grade single notebooks: each solved source (all points), each blank release (none)"
	@for assignment in $(ASSIGNMENTS); do \
		echo "$(PY) -m autograder source/$$assignment/$$assignment.ipynb"; \
		$(PY) -m autograder source/$$assignment/$$assignment.ipynb \
			--results build/$$assignment-reference-results.json || exit 1; \
		echo "$(PY) -m autograder release/$$assignment/$$assignment.ipynb -q"; \
		$(PY) -m autograder release/$$assignment/$$assignment.ipynb -q; test $$? -eq 1 || exit 1; done
	@echo "== 4. a small class per assignment: typical submissions, graded as a batch"
	rm -rf $(DEMO_COURSE)
	$(PY) scripts/make_demo_class.py $(DEMO_COURSE)
	@for assignment in $(ASSIGNMENTS); do \
		echo "cd $(DEMO_COURSE) && python -m autograder batch $$assignment --jobs 2"; \
		(cd $(DEMO_COURSE) && $(abspath $(PY)) -m autograder batch $$assignment --jobs 2); \
		test $$? -le 1 || exit 1; done
	@echo "== done: figure build/learning_curves.png, releases in release/, feedback in" \
		"$(DEMO_COURSE)/feedback/, class reports in $(DEMO_COURSE)/reports/<assignment>/index.html"

# MNIST as the loader finds it ($$MNIST_DATA_DIR, else the cache), downloaded into the cache
# and verified when it is in neither place; stops with the loader's message when that fails.
mnist: venv
	@echo "make: checking MNIST (downloaded once when missing)..."
	@$(PY) -c 'from solutions.data import load_mnist; load_mnist(train_count=0, test_count=0)' \
		|| { echo "make: MNIST is needed by the tests and could not be fetched (see above)" >&2; exit 1; }

# Two workers (one per core of the kit's test machine); each test module stays on one worker,
# so module fixtures are built once; the corpus is shared by all workers (tests/corpus/grading.py).
# PYTEST_ARGS=--exhaustive: nbgrader parity on the whole corpus, every attack on every host.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?=
test: venv mnist
	$(PY) -m ruff check .
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

# Opt-in, not part of `test`: the demo class graded on a real SLURM cluster of this one machine
# (Debian's slurm-wlm and munge, started and stopped by the script; needs root and a few
# minutes), through `batch --cluster slurm`, and compared with the local batch's gradebook.
test-slurm: venv mnist
	@command -v slurmctld >/dev/null && command -v munged >/dev/null || { \
		echo "make: installing Debian's slurm-wlm and munge (root)..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge; }
	bench/slurm_demo.sh

# nbgrader's INFO lines (each file it copies) and its warning that --force removes the old
# release are left out: the old release is removed first, as --force would. Its warnings and
# errors still show.
# Every assignment: each folder of source/ that holds a notebook.
ASSIGNMENTS := $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard source/*/*.ipynb)))))

release: venv
	@for assignment in $(ASSIGNMENTS); do \
		echo "make: regenerating release/$$assignment from source/ with nbgrader..."; \
		rm -rf release/$$assignment; \
		$(VENV)/bin/nbgrader generate_assignment $$assignment --force --no-db --log-level=WARN || exit 1; \
		rm -rf release/$$assignment/.ipynb_checkpoints; \
	done

clean:
	rm -rf $(VENV) .jupyter build
