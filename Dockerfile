# xpucert in a container: the harness, its bundled backends and suites.
#
#   docker build -t xpucert .
#   docker run --rm -v "$PWD/build:/backend:ro" -v "$PWD/results:/results" \
#       xpucert run --backend /backend/libxpucert_acme.so --suite core --out /results
#
# The image is what scripts/install.sh lays out, in /usr/local: xpucert on
# PATH, the reference and mutants backends in /usr/local/lib/xpucert, the
# suites, profiles and CI templates in /usr/local/share/xpucert. A vendor's
# library needs the C runtime of Debian bookworm (glibc 2.36) or older.
# Model checkpoints are not in the image: mount them, or run
# `bash /usr/local/share/xpucert/fixtures/fetch-models.sh` in a derived image.

FROM rust:1.95-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN scripts/install.sh --prefix /opt/xpucert

FROM debian:bookworm-slim
# python3 + pip: fixtures/fetch-models.sh; numpy: the check.py of `repro --dump`.
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-numpy ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/xpucert/ /usr/local/
WORKDIR /work
ENTRYPOINT ["xpucert"]
CMD ["run", "--backend", "reference", "--suite", "core", "--out", "/work/results"]
