#!/usr/bin/env bash
# runtime_rootfs_smoke.sh BUILD_DIR [ROOTFS]: the image's runtime stage without
# a Docker engine. Bootstraps a Debian bookworm minbase root file system
# (debootstrap, network), installs `scripts/install-deps.sh runtime` into it,
# stages the stripped binaries, configs and migrations as the Dockerfile does,
# and runs every binary there as UID 10001: --version, --help-config, and one
# service answering grpc.health.v1 (NOT_SERVING: no Kafka) to
# kubemend-healthcheck. Needs root; not part of ctest. Prints the sizes.
set -euo pipefail
build=$(cd "$1" && pwd)
rootfs=${2:-/tmp/kubemend-runtime-rootfs}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "needs root (debootstrap, chroot)"; exit 2; }
command -v debootstrap >/dev/null || { echo "needs debootstrap (apt-get install debootstrap)"; exit 2; }
if [ ! -x "$rootfs/usr/bin/apt-get" ]; then
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >"$rootfs.log" 2>&1 \
    || { echo "debootstrap failed: $rootfs.log"; exit 1; }
fi
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
cp "$root/scripts/install-deps.sh" "$rootfs/tmp/install-deps.sh"
chroot "$rootfs" /tmp/install-deps.sh runtime
chroot "$rootfs" sh -c 'rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /tmp/install-deps.sh'
chroot "$rootfs" sh -c 'getent passwd 10001 >/dev/null || { groupadd --gid 10001 kubemend &&
  useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin kubemend; }'
mkdir -p "$rootfs/etc/kubemend" "$rootfs/usr/share/kubemend"
services=(collector analyzer safety-gate executor audit)
for s in "${services[@]}"; do
  install -s -m 0755 "$build/services/$s/kubemend-$s" "$rootfs/usr/bin/"
  install -m 0644 "$root/services/$s/config.yaml" "$rootfs/etc/kubemend/$s.yaml"
done
install -s -m 0755 "$build/deploy/healthcheck/kubemend-healthcheck" "$rootfs/usr/bin/"
rm -rf "$rootfs/usr/share/kubemend/migrations"
cp -r "$root/migrations" "$rootfs/usr/share/kubemend/migrations"
run() { env -i PATH=/usr/bin:/bin "$@"; }
as_kubemend() { run /usr/sbin/chroot --userspec=10001:10001 "$rootfs" "$@"; }
for s in "${services[@]}"; do
  as_kubemend "kubemend-$s" --version
  as_kubemend "kubemend-$s" --help-config >/dev/null
done
port=$((20000 + RANDOM % 20000))
run KUBEMEND_KAFKA_BROKERS=127.0.0.1:1 KUBEMEND_GRPC_LISTEN=127.0.0.1:$port KUBEMEND_HTTP_LISTEN=127.0.0.1:0 \
  /usr/sbin/chroot --userspec=10001:10001 "$rootfs" kubemend-safety-gate --config /etc/kubemend/safety-gate.yaml \
  >"$rootfs.gate.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
answer=""
for _ in $(seq 1 50); do
  answer=$(as_kubemend kubemend-healthcheck --grpc "127.0.0.1:$port" --timeout 500ms || true)
  [ "$answer" = NOT_SERVING ] && break
  sleep 0.2
done
[ "$answer" = NOT_SERVING ] || { echo "health probe answered '$answer' (want NOT_SERVING without Kafka)"; exit 1; }
echo "grpc.health.v1 from the runtime rootfs: $answer (as expected without Kafka)"
echo "binaries: $(du -shc "$rootfs"/usr/bin/kubemend-* | tail -1 | cut -f1)"
# shellcheck disable=SC2016 # a dpkg-query format, not shell
chroot "$rootfs" dpkg-query -W -f='${Installed-Size} ${Package}\n' \
  | awk '{s += $1} END {printf "all packages in the rootfs: %.0f MB installed\n", s / 1024}'
echo "runtime rootfs ok: $rootfs"
