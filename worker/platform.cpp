#include "worker/platform.h"

#include <dlfcn.h>
#include <malloc.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace hymask {

bool cpu_has_bf16() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line))
    if (line.rfind("flags", 0) == 0)
      return line.find(" avx512_bf16") != std::string::npos ||
             line.find(" amx_bf16") != std::string::npos;
  return false;
}

// Debian's reference BLAS is the unoptimised netlib code libtorch-dev links by default; an
// optimised one (libopenblas0-openmp) takes over the same libblas.so.3 through update-alternatives.
bool uses_reference_blas() {
  Dl_info info{};
  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  if (sgemm == nullptr || dladdr(sgemm, &info) == 0 || info.dli_fname == nullptr) return false;
  std::error_code error;
  const std::filesystem::path library = std::filesystem::canonical(info.dli_fname, error);
  return !error && library.parent_path().filename() == "blas" &&
         library.filename().string().rfind("libblas.so", 0) == 0;
}

// glibc serves blocks of LibTorch's multi-megabyte activations with mmap, or returns the top of
// its heap to the kernel on free, so each step would page-fault its memory in again.
void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum: larger blocks are still mapped
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace hymask
