# msklabel on Debian 12 with Python 3.11, built by the same install script as the README and CI.
#   docker build -t msklabel .
#   docker run --rm -v "$PWD/out:/out" msklabel                 # the main job on embedded defaults
#   docker run --rm msklabel bash -c '.venv/bin/python -m pytest'   # the test suite
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHON=/usr/local/bin/python3.11 \
    MSKLABEL_CACHE=/var/cache/msklabel
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends build-essential git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/msklabel
COPY . .
RUN bash scripts/install.sh && .venv/bin/msklabel data sample --out /tmp/sample && rm -rf /tmp/sample

ENV PATH=/opt/msklabel/.venv/bin:$PATH
# MONAI Label server (REST, OHIF), the DICOM listener and its HTTP status.
EXPOSE 8000 11112 11180
CMD ["msklabel", "demo", "--out", "/out"]
