# syntax=docker/dockerfile:1
# cad's container image: cad, cad-collector and cad-watcher.
#   docker build -t cad:0.1.0 .
# Multi-stage: a Rust builder, then a minimal runtime (glibc + libgcc, CA
# certificates, no shell, no package manager) running as the non-root user
# 65532. Built without the `demo` feature (`cad demo` needs tokio's test-util,
# which has no place in production). TLS is rustls with aws-lc-rs: no OpenSSL in the image.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
# aws-lc-rs builds its C code with cmake (and clang where available).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cmake clang \
 && rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build -p cad-bins --release --locked --no-default-features \
 && mkdir -p /out \
 && cp target/release/cad target/release/cad-collector target/release/cad-watcher /out/

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="cad" \
      org.opencontainers.image.description="Recognise what Kubernetes containers run from how they behave" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/cad /out/cad-collector /out/cad-watcher /usr/local/bin/
# distroless "nonroot" is uid/gid 65532; the manifests in deploy/ also set it.
USER 65532:65532
WORKDIR /tmp
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/cad-watcher"]
