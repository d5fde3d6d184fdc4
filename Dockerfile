# auth-service container image.
#
# Two stages on debian:bookworm-slim: `build` has the compiler, meson and the
# -dev packages and compiles the release binary (migrations and the OpenAPI
# document are compiled into it); `runtime` has only the shared libraries
# the binary links, runs as the unprivileged uid 1000 and checks its own
# health with `auth-service healthcheck` (no curl in the image).
#
# No Docker engine runs in CI: scripts/check-image replays both stages in
# Debian chroots (debootstrap) from the ARG, COPY, WORKDIR, USER and RUN
# lines below, so keep every step expressible with those.
#
#   docker build -t auth-service .
#   docker run -p 8000:8000 auth-service          # SQLite + generated dev key
#   docker compose up                             # with PostgreSQL and Redis
# See docs/deployment.md.

FROM debian:bookworm-slim AS build
# scripts/deps BUILD_PKGS, plus the C library headers (gcc only recommends
# them), python3 (meson's custom_target embeds docs/openapi.json) and cmocka
# (tests/unit/meson.build needs it at configure time; the tests are not built).
ARG BUILD_PACKAGES="gcc libc6-dev make pkg-config meson ninja-build python3 libcmocka-dev libmicrohttpd-dev libjansson-dev libssl-dev libcrypt-dev libpq-dev libsqlite3-dev libhiredis-dev libcurl4-openssl-dev"
RUN apt-get update \
 && apt-get install -y --no-install-recommends $BUILD_PACKAGES \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY meson.build meson_options.txt ./
COPY scripts/embed.py scripts/
COPY docs/openapi.json docs/
COPY tests/unit/ tests/unit/
COPY src/ src/
RUN meson setup build --buildtype=release \
 && meson compile -C build auth-service \
 && strip build/auth-service \
 && ./build/auth-service --version

FROM debian:bookworm-slim AS runtime
# Exactly the libraries `ldd auth-service` needs (and CA certificates for
# SMTP over TLS and PostgreSQL with sslmode=verify-full).
ARG RUNTIME_PACKAGES="libmicrohttpd12 libjansson4 libssl3 libcrypt1 libpq5 libsqlite3-0 libhiredis0.14 libcurl4 ca-certificates"
RUN apt-get update \
 && apt-get install -y --no-install-recommends $RUNTIME_PACKAGES \
 && rm -rf /var/lib/apt/lists/*
# uid/gid 1000, numeric in USER so Kubernetes' runAsNonRoot can verify it.
# The working directory is the data directory: the SQLite default
# (sqlite:///./auth.db) and a development key (./keys) land there; mount a
# volume on it to keep them.
RUN groupadd --gid 1000 auth \
 && useradd --uid 1000 --gid 1000 --home-dir /var/lib/auth-service --no-create-home \
        --shell /usr/sbin/nologin auth \
 && install -d -o 1000 -g 1000 -m 0750 /var/lib/auth-service
COPY --from=build /src/build/auth-service /usr/local/bin/auth-service
WORKDIR /var/lib/auth-service
USER 1000:1000
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["auth-service", "healthcheck"]
CMD ["auth-service", "serve"]
