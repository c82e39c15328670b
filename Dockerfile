# midiforge, CPU image:   docker build -t midiforge .
# CUDA image (same file): docker build -t midiforge:cuda --build-arg TORCH_INDEX=https://pypi.org/simple .
#   PyPI's Linux torch wheels are CUDA builds that bring their own CUDA runtime, so the CUDA image
#   only needs the host's NVIDIA driver: docker run --gpus all midiforge:cuda doctor
# See docs/docker.md.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

# torch first, from the CPU wheel index by default (PyPI's default Linux wheel is the large CUDA build)
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MIDIFORGE_CACHE=/cache \
    MPLCONFIGDIR=/tmp/matplotlib

RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX}"

WORKDIR /opt/midiforge
COPY . .
RUN pip install ".[all]" \
    && useradd --create-home --uid 1000 midiforge \
    && mkdir -p /cache /work \
    && chown midiforge:midiforge /cache /work

USER midiforge
WORKDIR /work
VOLUME ["/cache"]
ENTRYPOINT ["midiforge"]
CMD ["--help"]
