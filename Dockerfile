# wirecache container image. README "Deployment" says how to build, run and deploy it.
#
#   docker build -t wirecache .        # compiles from source in a Rust build stage
#
# Configuration comes from environment variables alone (WIRECACHE_CACHES_0_ID,
# WIRECACHE_CACHES_0_PROTOCOL, WIRECACHE_CACHES_0_ORIGIN, …; see README) or from a
# file mounted and named by WIRECACHE_CONFIG. Without a [listen] setting the standard
# ports are used: MySQL 9000, MariaDB 9001, PostgreSQL 9010, SQL Server 9020
# (plaintext TDS for now), admin HTTP 10000.
#
# Build arguments:
#   RUST_IMAGE     the toolchain image of the build stage
#   RUNTIME_BASE   the runtime image (Debian 12, slim)
#   BINARY_FROM    "source" (default): compile in the build stage; "prebuilt": take
#                  the Linux x86-64 binary at WIRECACHE_BINARY from the build context
#                  instead (what this project's CI does: it cannot download a
#                  toolchain image, see scripts/container/test.sh)
#   WIRECACHE_BINARY  path of that binary inside the build context
#
# podman 4.x (buildah) decides which stages to build before it applies ARG defaults
# to FROM, so with podman pass the choice explicitly:
#   podman build --build-arg BINARY_FROM=source -t wirecache .

ARG RUST_IMAGE=rust:1-slim-bookworm
ARG RUNTIME_BASE=debian:bookworm-slim
ARG BINARY_FROM=source

FROM ${RUST_IMAGE} AS source
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin wirecache \
    && strip --strip-debug -o /wirecache target/release/wirecache

FROM scratch AS prebuilt
ARG WIRECACHE_BINARY=target/container/wirecache
COPY ${WIRECACHE_BINARY} /wirecache

FROM ${BINARY_FROM} AS binary

FROM ${RUNTIME_BASE}
# CA certificates for TLS to managed databases and Redis; a fixed non-root user.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
    && groupadd --system --gid 10001 wirecache \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin wirecache
COPY --from=binary --chmod=0755 /wirecache /usr/local/bin/wirecache
USER 10001:10001
EXPOSE 9000 9001 9010 9020 10000
STOPSIGNAL SIGTERM
# `wirecache health` asks the admin port's /healthz; no shell tools needed.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/wirecache", "health"]
ENTRYPOINT ["/usr/local/bin/wirecache"]
CMD ["run"]
