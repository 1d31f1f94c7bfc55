# syntax=docker/dockerfile:1
#
# churn: one image for the API pod and every CronJob stage.
#
# DuckDB: the builder links DuckDB 1.5.6's official prebuilt libduckdb.so
# (scripts/fetch-duckdb.sh) instead of the `bundled` feature, because
# compiling DuckDB from source takes about 40 minutes on two cores and would
# be redone whenever the dependency layer is invalidated. The runtime stage
# carries the same libduckdb.so next to the binary, where build.rs's
# `$ORIGIN` rpath finds it (no LD_LIBRARY_PATH).
#
# Runtime base: debian bookworm-slim rather than distroless, because the
# drift CronJob runs a two-line /bin/sh script (retrain only when drift
# exits 2) and operators can `kubectl exec` into a pod to open the file.

# Base images pinned by digest (tag kept for readers): a rebuild gets the
# same bytes. Bump both together (the builder's glibc must not be newer
# than the runtime's): `docker buildx imagetools inspect rust:1.95-slim-bookworm`.
FROM rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# 1. The prebuilt DuckDB library: changes only with the pinned version.
COPY scripts/fetch-duckdb.sh scripts/fetch-duckdb.sh
RUN bash scripts/fetch-duckdb.sh
ENV DUCKDB_LIB_DIR=/src/.duckdb-lib

# 2. Dependencies: built against placeholder sources, so this layer is reused
#    until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock build.rs ./
COPY .cargo .cargo
RUN mkdir -p src tests/integration \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs tests/integration/main.rs \
    && cargo build --release --locked \
    && rm -rf src tests

# 3. Our sources: only this layer rebuilds on a source change.
COPY src src
COPY sql sql
COPY templates templates
COPY churn.example.toml churn.example.toml
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && mkdir -p /out \
    && cp target/release/churn /out/churn \
    && cp .duckdb-lib/libduckdb.so /out/libduckdb.so \
    && /out/churn --version

# 4. DuckDB's httpfs and aws extensions, for the lake on S3 (the train Job of
#    k8s/spark reads Spark's training set with --training-set s3://...). The
#    binary loads them only for s3:// paths, from CHURN_DUCKDB_EXTENSIONS, and
#    never installs anything at run time. DuckDB checks their signatures.
RUN mkdir -p /out/duckdb-extensions/v1.5.6/linux_amd64 \
    && for ext in httpfs aws; do \
         curl -fsSL "https://extensions.duckdb.org/v1.5.6/linux_amd64/${ext}.duckdb_extension.gz" \
           | gunzip > "/out/duckdb-extensions/v1.5.6/linux_amd64/${ext}.duckdb_extension"; \
       done

FROM debian:bookworm-slim@sha256:96e378d7e6531ac9a15ad505478fcc2e69f371b10f5cdf87857c4b8188404716 AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="churn" \
      org.opencontainers.image.description="Customer-churn MLOps pipeline in one binary, on an embedded DuckDB file" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# A numeric non-root user; /data is the volume that holds the DuckDB file.
RUN groupadd --gid 10001 churn \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin churn \
    && mkdir -p /data /etc/churn \
    && chown 10001:10001 /data
COPY --from=builder --chown=0:0 /out/ /opt/churn/
ENV CHURN_DB=/data/churn.duckdb \
    CHURN_DUCKDB_EXTENSIONS=/opt/churn/duckdb-extensions \
    PATH=/opt/churn:$PATH
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8000
# Kubernetes probes /live and /ready (k8s/api.yaml); the image has no HTTP
# client, so the health check is the binary's own.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/opt/churn/churn", "probe", "http://127.0.0.1:8000/live"]
ENTRYPOINT ["/opt/churn/churn"]
CMD ["serve", "--addr", "0.0.0.0:8000"]
