{
  "targets": [
    {
      "target_name": "millrace_ring",
      "sources": ["src/native/ring-addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O3"],
      "cflags": ["-O3"]
    },
    {
      "target_name": "millrace_ring_python",
      "type": "loadable_module",
      "product_prefix": "",
      "product_extension": "so",
      "sources": ["src/native/ring-python.c"],
      "cflags": ["-O3", "-std=gnu11", "-fvisibility=hidden"]
    }
  ]
}
