# syntax=docker/dockerfile:1
# kubemend: ONE image holding the five services, kubemendctl, the cluster
# simulator kube-sim and the health probe; each container picks its binary by
# command (docs/deploy.md explains why one image and not five).
#
#   docker build -t kubemend:dev .
#   docker run --rm kubemend:dev kubemend-audit --help-config
#
# The build stage installs and builds exactly as CI does: the same package
# script (scripts/install-deps.sh, which ./kubemend deps runs) and the same
# ./kubemend build. The runtime stage carries only the shared libraries the
# binaries load (scripts/install-deps.sh runtime), runs as UID 10001 and needs
# no shell: health checks use /usr/bin/kubemend-healthcheck.
ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- build
FROM ${DEBIAN_IMAGE} AS build
WORKDIR /src
# The package list first, so the apt layer is cached across source edits.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . .
# KUBEMEND_DEPS=build: ./kubemend build runs ./kubemend deps first; the image
# needs the build group only (the test tools are for CI's ctest run).
ARG KUBEMEND_JOBS=2
ENV KUBEMEND_DEPS=build KUBEMEND_JOBS=${KUBEMEND_JOBS}
RUN --mount=type=cache,target=/src/build/.ccache ./kubemend build
# Stage what ships under /out, stripped (RelWithDebInfo binaries are ~20x
# larger). kubemendctl and kube-sim are built by their own subprojects; an
# image built from a tree without them says so and goes on.
RUN set -eu; \
    mkdir -p /out/usr/bin /out/etc/kubemend /out/usr/share/kubemend; \
    for s in collector analyzer safety-gate executor audit; do \
      install -s -m 0755 "build/services/$s/kubemend-$s" /out/usr/bin/; \
      install -m 0644 "services/$s/config.yaml" "/out/etc/kubemend/$s.yaml"; \
    done; \
    install -s -m 0755 build/deploy/healthcheck/kubemend-healthcheck /out/usr/bin/; \
    for b in tools/kubemendctl/kubemendctl e2e/kube-sim/kube-sim; do \
      if [ -x "build/$b" ]; then install -s -m 0755 "build/$b" /out/usr/bin/; \
      else echo "note: build/$b not built; the image leaves it out" >&2; fi; \
    done; \
    if [ -x /out/usr/bin/kubemendctl ]; then ln -s kubemendctl /out/usr/bin/kubectl-kubemend; \
      ln -s kubemendctl /out/usr/bin/kubectl_complete-kubemend; fi; \
    cp -r migrations /out/usr/share/kubemend/migrations; \
    install -D -m 0644 policies/default.yaml /out/usr/share/kubemend/policies/default.yaml; \
    chmod -R a+rX,go-w /out

# ---------------------------------------------------------------- runtime
FROM ${DEBIAN_IMAGE} AS runtime
# Runtime libraries only (no compilers, no -dev packages); the script comes in
# through a bind mount so it leaves no layer behind.
RUN --mount=type=bind,source=scripts/install-deps.sh,target=/tmp/install-deps.sh \
    /tmp/install-deps.sh runtime \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log
RUN groupadd --gid 10001 kubemend \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin kubemend \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/kubemend
COPY --from=build /out/ /
LABEL org.opencontainers.image.title="kubemend" \
      org.opencontainers.image.description="Self-healing for Kubernetes: collector, analyzer, safety-gate, executor, audit"
# gRPC (health + admin), HTTP (/metrics, /healthz), the collector's webhook.
EXPOSE 9000 9100 8080
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
WORKDIR /
CMD ["kubemend-collector", "--help"]
