// What training needs to know about, and set on, the CPU and its libraries.
#pragma once

namespace hymask {

// Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX); without, oneDNN emulates it.
bool cpu_has_bf16();

// Whether LibTorch's matrix products (the embedding layer, the margin head) run on the reference
// BLAS, about 2x slower than an optimised one.
bool uses_reference_blas();

// Keeps freed memory in the process's heap, as a caching allocator does: LibTorch frees and
// allocates the same multi-megabyte blocks every step (bench/dp_throughput.sh, mean of three
// runs: 319 -> 342 images/s on 1 rank, 422 -> 436 on 2; docs/BENCHMARKS.md).
void keep_freed_memory();

}  // namespace hymask
