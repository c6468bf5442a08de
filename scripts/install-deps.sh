#!/usr/bin/env bash
# install-deps.sh: the one list of Debian (bookworm) packages kubemend needs,
# installed with apt. CI (./kubemend deps), developers and the container image
# all run this script, so the image is built exactly like CI builds.
#
#   scripts/install-deps.sh [--print] GROUP...
#
# Groups:
#   build    compilers, CMake and the -dev packages the C++ build needs
#   test     what the tests, ./kubemend up/demo and the deploy checks run:
#            PostgreSQL, Prometheus, Alertmanager, kcat, yamllint, PyYAML, ...
#   runtime  only the shared libraries the shipped binaries load (the image's
#            runtime stage); no compilers, no headers
# --print lists the packages of the groups and installs nothing.
# Only missing packages are installed; apt-get update runs only when needed.
set -euo pipefail

BUILD_PACKAGES=(build-essential cmake pkg-config ccache librdkafka-dev libgrpc++-dev libgrpc-dev
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev grpc-proto libpqxx-dev libpq-dev
  libgtest-dev libgmock-dev googletest nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev
  libfmt-dev libcpp-httplib-dev libboost-dev libcurl4-openssl-dev libssl-dev ca-certificates)

TEST_PACKAGES=(kcat prometheus prometheus-alertmanager docker-compose yamllint python3 chromium nodejs
  python3-yaml postgresql postgresql-client curl iproute2 procps wrk nginx-light openssl git)

# Runtime: the packages of the libraries the shipped binaries link directly
# (readelf NEEDED + dpkg -S; their own dependencies come with them), plus CA
# certificates for TLS to Kafka, PostgreSQL and the API server. The deploy
# test (e2e/deploy, check "dockerfile") fails when a linked library is missing.
# git: the executor runs it in GitOps mode (docs/gitops.md) to commit and push fixes.
RUNTIME_PACKAGES=(ca-certificates libabsl20220623 libcpp-httplib0.11 libcurl4 libfmt9 libgrpc++1.51 librdkafka1
  libgrpc29 libpq5 libpqxx-6.4 libprotobuf32 librdkafka++1 libspdlog1.10 libssl3 libstdc++6
  libyaml-cpp0.7 git)

die() { echo "install-deps.sh: $*" >&2; exit 2; }

print=0
packages=()
(($#)) || die "usage: install-deps.sh [--print] build|test|runtime..."
for arg in "$@"; do
  case $arg in
    --print) print=1 ;;
    build) packages+=("${BUILD_PACKAGES[@]}") ;;
    test) packages+=("${TEST_PACKAGES[@]}") ;;
    runtime) packages+=("${RUNTIME_PACKAGES[@]}") ;;
    *) die "unknown group '$arg' (build, test or runtime)" ;;
  esac
done

if ((print)); then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0

echo "install-deps.sh: installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
