# Portico container image: a multi-stage build on Debian bookworm.
#   docker build -t portico:0.1.0 .
# The builder installs the build dependencies with the same script as a developer
# machine (scripts/install-deps.sh --build-only) and builds only the portico binary;
# the runtime image has the binary, the shared libraries it links and CA certificates,
# and runs as the non-root user 65532 (the uid the Helm chart expects).

FROM debian:bookworm AS builder
WORKDIR /src
# The dependency script first, so that the package layer is cached across source edits.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build --target portico \
 && install -D -m 0755 -s build/portico /out/portico

FROM debian:bookworm-slim AS runtime
# Runtime counterparts of the -dev packages in scripts/install-deps.sh (Boost is used
# header-only): cpprestsdk, yaml-cpp, spdlog (+ fmt), RE2, hiredis (Redis rate limits),
# libcrypt (htpasswd hashes), OpenSSL; CA certificates for https:// backends, JWKS URLs
# and external auth. scripts/check-image-libs.py (run by the integration tests) fails
# when the binary links a library whose package is not in this list.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcpprest2.10 libyaml-cpp0.7 libspdlog1.10 libfmt9 libre2-9 \
      libhiredis0.14 libcrypt1 libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 portico \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin portico
COPY --from=builder /out/portico /usr/local/bin/portico
USER 65532:65532
# http, https, admin (/healthz, /readyz, /metrics, /routes)
EXPOSE 8080 8443 9901
ENTRYPOINT ["/usr/local/bin/portico"]
