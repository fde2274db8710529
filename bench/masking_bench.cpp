// Masking throughput: the fused separable block DCT against (a) the naive float64 reference
// (upsample, unfold, DCT by definition: the test oracle) and (b) a straightforward float
// implementation (materialised upsampled image, then a separable 8x8 DCT per block), on one core;
// and against the memory-write bound (output bytes per image / measured write bandwidth) on one
// core and on --threads cores (each thread transforms its own images, as the loader's threads do).
//
// Usage: build/bin/bench_masking [--size 112] [--planes 3] [--threads 2]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <immintrin.h>

#include "core/block_dct.h"
#include "core/random.h"
#include "core/spectrum.h"

namespace {

using Clock = std::chrono::steady_clock;

// Best of 3 rounds of at least `min_seconds` each: calls per second.
double rate(const std::function<void()>& work, double min_seconds = 0.5) {
  work();  // warm up
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    int calls = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    do {
      work();
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < min_seconds);
    best = std::max(best, calls / elapsed);
  }
  return best;
}

// Unfused float baseline: bilinear upsampling into a buffer, then the 8x8 DCT of each block by
// rows and columns (16 multiply-adds per coefficient).
void unfused(const float* in, float* out, int size, int upsample, int planes,
             std::vector<float>& up) {
  const int big = size * upsample, n = big / 8;
  up.resize(size_t(big) * big);
  float basis[8][8];
  for (int f = 0; f < 8; ++f)
    for (int i = 0; i < 8; ++i)
      basis[f][i] = float((f == 0 ? std::sqrt(1.0 / 8) : std::sqrt(2.0 / 8)) *
                          std::cos(M_PI * (2 * i + 1) * f / 16.0));
  for (int p = 0; p < planes; ++p) {
    const float* x = in + size_t(p) * size * size;
    for (int yy = 0; yy < big; ++yy) {
      const float sy = std::max(0.0f, (yy + 0.5f) / upsample - 0.5f);
      const int y0 = std::min(int(sy), size - 1), y1 = std::min(y0 + 1, size - 1);
      const float wy = sy - y0;
      for (int xx = 0; xx < big; ++xx) {
        const float sx = std::max(0.0f, (xx + 0.5f) / upsample - 0.5f);
        const int x0 = std::min(int(sx), size - 1), x1 = std::min(x0 + 1, size - 1);
        const float wx = sx - x0;
        up[size_t(yy) * big + xx] =
            (1 - wy) * ((1 - wx) * x[y0 * size + x0] + wx * x[y0 * size + x1]) +
            wy * ((1 - wx) * x[y1 * size + x0] + wx * x[y1 * size + x1]);
      }
    }
    float* o = out + size_t(p) * 64 * n * n;
    for (int by = 0; by < n; ++by)
      for (int bx = 0; bx < n; ++bx) {
        float rows[8][8];
        for (int i = 0; i < 8; ++i)
          for (int h = 0; h < 8; ++h) {
            float acc = 0;
            for (int j = 0; j < 8; ++j)
              acc += basis[h][j] * up[size_t(by * 8 + i) * big + bx * 8 + j];
            rows[i][h] = acc;
          }
        for (int v = 0; v < 8; ++v)
          for (int h = 0; h < 8; ++h) {
            float acc = 0;
            for (int i = 0; i < 8; ++i) acc += basis[v][i] * rows[i][h];
            o[(size_t(v * 8 + h) * n + by) * n + bx] = acc;
          }
      }
  }
}

// Fills `size` bytes (a multiple of 16, 16-byte aligned) with non-temporal stores: the fastest
// way to write memory that will not be read soon, and what the kernel does for large outputs.
void stream_fill(char* p, size_t size) {
  const __m128i v = _mm_set1_epi8(7);
  for (size_t i = 0; i < size; i += 16) _mm_stream_si128(reinterpret_cast<__m128i*>(p + i), v);
  _mm_sfence();
}

// Total calls per second of `work(thread)` on `threads` threads at once, best of 3 rounds.
double parallel_rate(int threads, const std::function<void(int)>& work, double seconds = 0.5) {
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    std::vector<long> calls(threads, 0);
    std::vector<std::thread> pool;
    const auto start = Clock::now();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        do {
          work(t);
          ++calls[t];
        } while (std::chrono::duration<double>(Clock::now() - start).count() < seconds);
      });
    for (auto& th : pool) th.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    long total = 0;
    for (long c : calls) total += c;
    best = std::max(best, total / elapsed);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int size = 112, planes = 3, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--size")) size = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--planes")) planes = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
  }
  // Bandwidths on buffers far larger than the caches: copy (read + write) for reference, and
  // write-only, the bound of a kernel that reads little and writes its output once: the faster of
  // memset and a non-temporal fill.
  const size_t big = size_t(256) << 20;
  std::vector<char> src(big, 1), dst(big + 16, 0);
  char* out = dst.data() + (16 - reinterpret_cast<uintptr_t>(dst.data()) % 16) % 16;
  const double copy_bw = rate([&] { std::memcpy(out, src.data(), big); }, 1.0) * big;
  const double write_bw = std::max(rate([&] { std::memset(out, 7, big); }, 1.0),
                                   rate([&] { stream_fill(out, big); }, 1.0)) *
                          big;
  const size_t share = big / threads / 16 * 16;
  const double write_bw_n =
      std::max(parallel_rate(
                   threads, [&](int t) { std::memset(out + t * share, 7, share); }, 1.0),
               parallel_rate(
                   threads, [&](int t) { stream_fill(out + t * share, share); }, 1.0)) *
      share;
  std::printf("memcpy %.2f GB/s, write %.2f GB/s on one core; write %.2f GB/s on %d cores\n",
              copy_bw / 1e9, write_bw / 1e9, write_bw_n / 1e9, threads);
  std::printf("image: %dx%d, %d planes (%d channels)\n\n", size, size, planes, planes * 64);
  std::printf("%-3s %12s %12s %12s %9s %9s %11s %8s | %9s %11s %8s\n", "u", "naive img/s",
              "unfused img/s", "fused img/s", "x naive", "x unfused", "bound img/s", "of bound",
              "fused xN", "bound xN", "of bound");
  std::printf("%-3s %12s %12s %12s %9s %9s %11s %8s | %9s %11s %8s\n", "", "(1 core)", "(1 core)",
              "(1 core)", "", "", "(1 core)", "", "img/s", "img/s", "");

  hymask::Rng rng(1);
  std::vector<float> image(size_t(planes) * size * size);
  for (float& v : image) v = float(rng.uniform(-128, 128));
  const std::vector<double> image_d(image.begin(), image.end());
  std::vector<int> all(64);
  for (int c = 0; c < 64; ++c) all[c] = c;
  std::vector<float> scratch;
  for (int u : {8, 2, 1}) {  // u = 1: the training default
    const hymask::BlockDct dct(size, u, all);
    const size_t per_image = dct.plane_out_size() * planes;
    // Outputs rotate through 256 MB so that they go to memory, as a stream of images does.
    const size_t slots = std::max<size_t>(1, (size_t(256) << 20) / (per_image * sizeof(float)));
    std::vector<float> ring(per_image * slots), out(per_image);
    std::vector<double> out_d(per_image);
    size_t slot = 0;
    const double fused = rate([&] {
      dct.forward(image.data(), ring.data() + per_image * slot, planes);
      slot = (slot + 1) % slots;
    });
    const double naive = rate(
        [&] { hymask::block_dct_reference(image_d.data(), out_d.data(), size, u, planes); }, 1.0);
    const double plain = rate([&] { unfused(image.data(), out.data(), size, u, planes, scratch); });
    const double bound = write_bw / (per_image * sizeof(float));
    // N threads, each with its own ring (a quarter of 256 MB: still far beyond the caches).
    const size_t slots_n = std::max<size_t>(1, slots / 4);
    std::vector<std::vector<float>> rings(threads, std::vector<float>(per_image * slots_n));
    std::vector<size_t> next(threads, 0);
    const double fused_n = parallel_rate(threads, [&](int t) {
      dct.forward(image.data(), rings[t].data() + per_image * next[t], planes);
      next[t] = (next[t] + 1) % slots_n;
    });
    const double bound_n = write_bw_n / (per_image * sizeof(float));
    std::printf("%-3d %12.1f %12.1f %12.1f %8.0fx %8.1fx %11.1f %7.0f%% | %9.1f %11.1f %7.0f%%\n",
                u, naive, plain, fused, fused / naive, fused / plain, bound, 100 * fused / bound,
                fused_n, bound_n, 100 * fused_n / bound_n);
  }
  // mask.domain spectrum (core/spectrum.h) at drop level 0, against the block DCT at u = 1 with
  // the channels training keeps at that level, on one core.
  const hymask::SpectrumHighPass spectrum(size,
                                          hymask::SpectrumHighPass::cutoff_for_drop_level(size, 0));
  const hymask::BlockDct kept(size, 1, hymask::kept_channels_for_drop_level(0));
  std::vector<float> spectrum_out(size_t(size) * size * planes),
      kept_out(kept.plane_out_size() * planes);
  const double spectrum_rate =
      rate([&] { spectrum.forward(image.data(), spectrum_out.data(), planes); });
  const double kept_rate = rate([&] { kept.forward(image.data(), kept_out.data(), planes); });
  std::printf("\nspectrum, radius %.0f: %.1f img/s on 1 core; block DCT u=1, t=0: %.1f (%.1fx)\n",
              spectrum.cutoff(), spectrum_rate, kept_rate, kept_rate / spectrum_rate);
  return 0;
}
