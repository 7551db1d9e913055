#!/usr/bin/env bash
# One command from a fresh Debian machine to a running syswarden:
# system packages, npm dependencies, the native build, then the built-in demo.
#   bash scripts/setup.sh            # as root: set up and run the demo
#   bash scripts/setup.sh --no-demo  # set up only (CI)
set -euo pipefail
cd "$(dirname "$0")/.."

run_demo=1
[ "${1:-}" = "--no-demo" ] && run_demo=0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (e.g. sudo bash scripts/setup.sh): it installs packages and loads a BPF program." >&2
  exit 1
fi

# Build: clang/bpftool/libbpf-dev for the BPF object and skeleton, cmake/g++
# for the addon. Tests and benchmarks: docker.io+runc (a real container),
# busybox-static (its image), strace (the baseline), util-linux (setpriv, unshare),
# nginx-light and wrk (the web benchmark), libsvm-tools (svm-train/svm-predict:
# the one-class SVM is checked against libsvm itself), debootstrap (scenario and
# demo images are built from Debian packages: no registry is reachable),
# nats-server and prometheus (alert delivery to a bus and the metrics endpoint
# are tested against the real servers), zip and unzip (trace archives as
# LID-DS ships them are made and checked by another implementation than the
# reader's).
packages=(clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config cmake make g++ linux-libc-dev
          strace docker.io containerd runc busybox-static util-linux nginx-light wrk coreutils libfuse3-dev fuse3
          libsvm-tools debootstrap nats-server prometheus zip unzip)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# bpffs is not needed (nothing is pinned); tracefs only for the classic-tracepoint fallback.
if [ ! -r /sys/kernel/btf/vmlinux ]; then
  echo "setup: warning: /sys/kernel/btf/vmlinux is missing; syswarden needs a kernel with BTF (CONFIG_DEBUG_INFO_BTF=y)." >&2
fi

# npm install, not npm ci: npm 11 leaves msgpackr's optional per-platform
# packages out of the lock file and then refuses it in `npm ci`. install
# still takes the locked versions.
npm install --no-audit --no-fund
npm run build

if [ "$run_demo" = 1 ]; then
  node dist/cli/main.js demo
fi
