# Fallback build of the same addon with node-gyp (`npm run build:gyp`).
# The primary build is cmake-js (native/CMakeLists.txt); both call
# scripts/build-bpf.sh for the BPF object and skeleton.
{
  "targets": [
    {
      "target_name": "bpf_skeleton",
      "type": "none",
      "actions": [
        {
          "action_name": "build_bpf",
          "inputs": ["bpf/syscalls.bpf.c", "bpf/event.h", "scripts/build-bpf.sh"],
          "outputs": ["<(module_root_dir)/build/bpf/syscalls.skel.h"],
          "action": ["bash", "scripts/build-bpf.sh", "<(module_root_dir)/build/bpf"]
        }
      ]
    },
    {
      "target_name": "syswarden",
      "dependencies": ["bpf_skeleton"],
      "sources": ["native/addon.cc", "native/collector.cc", "native/pidfd.cc", "native/wake.cc"],
      "include_dirs": [
        "<!(node -p \"require('path').resolve(require('node-addon-api').include_dir)\")",
        "bpf",
        "<(module_root_dir)/build/bpf"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2"],
      "libraries": ["<!@(pkg-config --libs libbpf)"]
    },
    {
      "target_name": "sw-workload",
      "type": "executable",
      "sources": ["bench/workloads/sw-workload.c"],
      "cflags": ["-O2"],
      "libraries": ["-lpthread"]
    }
  ]
}
