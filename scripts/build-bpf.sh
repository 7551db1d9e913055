#!/usr/bin/env bash
# Builds the BPF side into OUT_DIR: vmlinux.h (from the running kernel's BTF),
# syscalls.bpf.o (clang -target bpf) and syscalls.skel.h (bpftool gen skeleton),
# or copies the prebuilt pair from SYSWARDEN_BPF_PREBUILT.
# Both the cmake-js build and the node-gyp fallback call this one script.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:?usage: build-bpf.sh OUT_DIR}"
mkdir -p "$out"

# The package's fallback build (scripts/install.mjs) reuses the object and
# skeleton compiled once at pack time: CO-RE makes them fit any kernel with
# BTF, and the host then needs neither clang, bpftool nor its BTF headers.
if [ -n "${SYSWARDEN_BPF_PREBUILT:-}" ]; then
  for f in syscalls.bpf.o syscalls.skel.h; do
    [ -r "$SYSWARDEN_BPF_PREBUILT/$f" ] || { echo "build-bpf: SYSWARDEN_BPF_PREBUILT=$SYSWARDEN_BPF_PREBUILT has no $f. Unset it to compile the BPF program here." >&2; exit 1; }
    cp "$SYSWARDEN_BPF_PREBUILT/$f" "$out/$f"
  done
  exit 0
fi
btf="${SYSWARDEN_VMLINUX_BTF:-/sys/kernel/btf/vmlinux}"
clang_bin="${CLANG:-clang}"
bpftool_bin="${BPFTOOL:-bpftool}"
strip_bin="${LLVM_STRIP:-llvm-strip}"

need() { command -v "$1" >/dev/null 2>&1 || { echo "build-bpf: '$1' not found. $2" >&2; exit 1; }; }
need "$clang_bin" "Install clang (Debian: apt-get install clang) or set CLANG."
need "$bpftool_bin" "Install bpftool (Debian: apt-get install bpftool) or set BPFTOOL."
need "$strip_bin" "Install llvm (Debian: apt-get install llvm) or set LLVM_STRIP."
[ -r "$btf" ] || { echo "build-bpf: no kernel BTF at $btf. Use a kernel built with CONFIG_DEBUG_INFO_BTF=y or set SYSWARDEN_VMLINUX_BTF." >&2; exit 1; }
[ -r /usr/include/bpf/bpf_helpers.h ] || { echo "build-bpf: libbpf headers missing. Install libbpf-dev." >&2; exit 1; }

# vmlinux.h only changes with the kernel: regenerate when the BTF is newer.
if [ ! -s "$out/vmlinux.h" ] || [ "$btf" -nt "$out/vmlinux.h" ]; then
  "$bpftool_bin" btf dump file "$btf" format c > "$out/vmlinux.h.tmp"
  mv "$out/vmlinux.h.tmp" "$out/vmlinux.h"
fi

arch="$(uname -m)"
case "$arch" in
  x86_64) target_arch=x86 ;;
  aarch64) target_arch=arm64 ;;
  *) echo "build-bpf: unsupported architecture $arch" >&2; exit 1 ;;
esac

"$clang_bin" -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_${target_arch} \
  -I"$out" -I"$root/bpf" -I/usr/include/"$arch"-linux-gnu \
  -c "$root/bpf/syscalls.bpf.c" -o "$out/syscalls.bpf.o"
# -g is for BTF, which CO-RE needs; the DWARF it also brings is five sixths of
# the object and of the skeleton the addon embeds, and nothing reads it.
"$strip_bin" -g "$out/syscalls.bpf.o"
"$bpftool_bin" gen skeleton "$out/syscalls.bpf.o" name syscalls_bpf > "$out/syscalls.skel.h.tmp"
mv "$out/syscalls.skel.h.tmp" "$out/syscalls.skel.h"
