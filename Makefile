# Every target bootstraps .venv when it is missing, so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench bench-quality clean-venv system-packages spark-cluster spark-cluster-stop

$(STAMP): pyproject.toml setup.py dedup/_core.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench,parquet,service,report,spark]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dedup scan data/seeds --db dedup.db --force

# Debian's chromium and fonts-wqy-zenhei, installed when missing (see system-packages.sh)
system-packages:
	@bash system-packages.sh

test: $(STAMP) system-packages
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench speed

bench-quality: $(STAMP)
	$(BIN)/python -m bench quality

# a Spark standalone master and worker on 127.0.0.1 (tools/spark_cluster.py); it prints the scan command
spark-cluster: $(STAMP)
	$(BIN)/python tools/spark_cluster.py start

spark-cluster-stop: $(STAMP)
	$(BIN)/python tools/spark_cluster.py stop

clean-venv:
	rm -rf $(VENV)
