# Common midiforge tasks. Variables can be overridden: make train DATA=data/folk RUN=runs/folk
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
IMAGE ?= midiforge:latest
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
CORPUS ?= bach-chorales
DATA ?= data/$(CORPUS)
RUN ?= runs/midiforge
MODEL ?= music-transformer
STYLE ?= melody
OUT ?= midiforge-output
ARGS ?=
TTY := $(shell [ -t 0 ] && echo -it)

.PHONY: help install test test-all lint download-data train generate doctor build docker-build docker-build-cuda docker-run shell

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python  ## create .venv and install midiforge with dev extras (editable)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev,live]'

test:  ## fast test suite (skips tests marked slow)
	$(BIN)/pytest -q -n auto

test-all:  ## every test, slow ones included (what CI runs)
	$(BIN)/pytest -q -n auto -m ""

lint:  ## ruff checks
	$(BIN)/ruff check .

download-data:  ## prepare the corpus CORPUS into DATA (bach-chorales, folk, band: offline; see `midiforge download --list`)
	$(BIN)/midiforge prepare --corpus $(CORPUS) -o $(DATA)

train:  ## train MODEL on DATA into RUN (extra options in ARGS)
	$(BIN)/midiforge train --model $(MODEL) --data $(DATA) --out $(RUN) $(ARGS)

generate:  ## generate STYLE into OUT (extra options in ARGS, e.g. ARGS="--model $(RUN)/best.safetensors")
	$(BIN)/midiforge generate $(STYLE) --out $(OUT) $(ARGS)

doctor:  ## check devices and library versions
	$(BIN)/midiforge doctor

build: docker-build  ## the Docker image (alias of docker-build)

docker-build:  ## build the CPU image IMAGE
	docker build --build-arg TORCH_INDEX=$(TORCH_INDEX) -t $(IMAGE) .

docker-build-cuda:  ## build the CUDA image midiforge:cuda (torch from PyPI)
	docker build --build-arg TORCH_INDEX=https://pypi.org/simple -t midiforge:cuda .

docker-run:  ## run midiforge ARGS in IMAGE, with this folder at /work and a cache volume
	docker run --rm $(TTY) -v "$(CURDIR)":/work -v midiforge-cache:/cache $(IMAGE) $(ARGS)

shell:  ## an interactive shell in IMAGE (midiforge, python, tensorboard), this folder at /work
	docker run --rm -it -v "$(CURDIR)":/work -v midiforge-cache:/cache --entrypoint bash $(IMAGE)
