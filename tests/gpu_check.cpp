// GPU checks and timings of the masking transforms (core/cuda/gpu_masking.h), one program with no
// dependency beyond the CUDA toolkit, so that cluster/device/check.sh can build it on a bare GPU
// machine with nvcc alone. Exit 0: every check passed (or no GPU: 77, "skipped"); 1: a failure.
//   1. GpuBlockDct against the float64 naive reference (block_dct_reference) for u = 1, 2, 8 and
//      drop levels 0 and 3, 3 planes of 112 x 112: max error / max |coefficient| < 1e-5.
//   2. GpuSpectrumMask against a float64 naive 2-D DFT (32 x 32, 2 planes), kept frequencies
//      equal to 1e-4 of the largest, dropped ones exactly 0; its high-pass image (the training
//      sample of mask.domain spectrum) against the CPU's SpectrumHighPass to 1e-4 (float FFTs of
//      12,544 points).
//   3. GpuMasker (the whole masking step on the GPU) against the CPU Masker: equal draws, samples
//      to 1e-4 of the largest, block-DCT and spectrum domains.
//   4. Timings: masking images/s and achieved bandwidth against the card's device-to-device copy
//      bandwidth, block DCT (u = 1 and u = 8) and the cuFFT spectrum mask, 256 RGB faces a batch.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "core/block_dct.h"
#include "core/cuda/gpu_masking.h"
#include "core/spectrum.h"

using namespace hymask;

namespace {

int failures = 0;
void expect(bool ok, const char* what, double value) {
  std::printf("%-58s %s (%.3g)\n", what, ok ? "ok" : "FAILED", value);
  failures += !ok;
}

std::vector<float> random_faces(size_t floats, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> pixel(-128.0f, 127.0f);
  std::vector<float> x(floats);
  for (float& v : x) v = pixel(rng);
  return x;
}

void check_block_dct(int upsample, int drop) {
  const int size = 112, planes = 3;
  const BlockDct transform(size, upsample, kept_channels_for_drop_level(drop));
  const std::vector<float> x = random_faces(size_t(planes) * size * size, 7);
  gpu::GpuBlockDct gpu_transform(transform);
  float* in = gpu::device_alloc(x.size());
  float* out = gpu::device_alloc(transform.plane_out_size() * planes);
  gpu::copy_to_device(in, x.data(), x.size());
  gpu_transform.forward(in, out, planes);
  std::vector<float> got(transform.plane_out_size() * planes);
  gpu::copy_to_host(got.data(), out, got.size());
  gpu::device_free(in);
  gpu::device_free(out);

  const std::vector<double> xd(x.begin(), x.end());
  const int n = transform.out_size();
  std::vector<double> full(size_t(planes) * 64 * n * n);
  block_dct_reference(xd.data(), full.data(), size, upsample, planes);
  double worst = 0, largest = 0;
  const std::vector<int>& kept = transform.channels();
  for (int p = 0; p < planes; ++p)
    for (size_t c = 0; c < kept.size(); ++c)
      for (int e = 0; e < n * n; ++e) {
        const double want = full[(size_t(p) * 64 + kept[c]) * n * n + e];
        const double have = got[(size_t(p) * kept.size() + c) * n * n + e];
        worst = std::max(worst, std::abs(want - have));
        largest = std::max(largest, std::abs(want));
      }
  char what[96];
  std::snprintf(what, sizeof what, "block DCT u=%d t=%d vs float64 reference", upsample, drop);
  expect(worst / largest < 1e-5, what, worst / largest);
}

void check_spectrum() {
  const int size = 32, planes = 2, width = size / 2 + 1;
  const double cutoff = 3.0;
  const std::vector<float> x = random_faces(size_t(planes) * size * size, 9);
  gpu::GpuSpectrumMask mask(size, cutoff, planes);
  float* in = gpu::device_alloc(x.size());
  float* out = gpu::device_alloc(size_t(planes) * 2 * size * width);
  gpu::copy_to_device(in, x.data(), x.size());
  mask.forward(in, out, planes);
  std::vector<float> got(size_t(planes) * 2 * size * width);
  gpu::copy_to_host(got.data(), out, got.size());
  gpu::device_free(in);
  gpu::device_free(out);
  double worst = 0, largest = 0, dropped = 0;
  for (int p = 0; p < planes; ++p)
    for (int fy = 0; fy < size; ++fy)
      for (int fx = 0; fx < width; ++fx) {
        double re = 0, im = 0;  // X[fy][fx] = sum x[y][c] exp(-2 pi i (fy y + fx c) / S)
        for (int y = 0; y < size; ++y)
          for (int c = 0; c < size; ++c) {
            const double angle = -2 * M_PI * (double(fy) * y + double(fx) * c) / size;
            re += x[(size_t(p) * size + y) * size + c] * std::cos(angle);
            im += x[(size_t(p) * size + y) * size + c] * std::sin(angle);
          }
        const double sy = fy <= size / 2 ? fy : fy - size;
        const size_t at = size_t(p) * 2 * size * width + size_t(fy) * width + fx;
        const double have_re = got[at], have_im = got[at + size_t(size) * width];
        if (sy * sy + double(fx) * fx <= cutoff * cutoff) {
          dropped = std::max<double>({dropped, std::abs(have_re), std::abs(have_im)});
        } else {
          worst = std::max<double>({worst, std::abs(re - have_re), std::abs(im - have_im)});
          largest = std::max<double>({largest, std::abs(re), std::abs(im)});
        }
      }
  expect(worst / largest < 1e-4, "cuFFT spectrum mask vs float64 DFT (kept)", worst / largest);
  expect(dropped == 0.0, "cuFFT spectrum mask: dropped frequencies are 0", dropped);
}

// mask.domain spectrum's sample on the GPU (R2C, band removed, C2R) against the CPU's float64
// SpectrumHighPass (itself tested against the DFT's definition): 112 x 112, drop level 0 (radius
// 7), 3 planes.
void check_high_pass() {
  const int size = 112, planes = 3;
  const double cutoff = SpectrumHighPass::cutoff_for_drop_level(size, 0);
  const std::vector<float> x = random_faces(size_t(planes) * size * size, 10);
  std::vector<double> want(x.size());
  const std::vector<double> xd(x.begin(), x.end());
  SpectrumHighPass(size, cutoff).forward(xd.data(), want.data(), planes);
  gpu::GpuSpectrumMask mask(size, cutoff, planes);
  float* in = gpu::device_alloc(x.size());
  float* out = gpu::device_alloc(x.size());
  gpu::copy_to_device(in, x.data(), x.size());
  mask.high_pass(in, out, planes);
  std::vector<float> got(x.size());
  gpu::copy_to_host(got.data(), out, got.size());
  gpu::device_free(in);
  gpu::device_free(out);
  double worst = 0, largest = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    worst = std::max(worst, std::abs(got[i] - want[i]));
    largest = std::max(largest, std::abs(want[i]));
  }
  expect(worst / largest < 1e-4, "cuFFT high-pass image vs CPU SpectrumHighPass", worst / largest);
}

// GpuMasker against the CPU Masker: the same draws, so the same samples to float rounding.
// Grey 112 x 112 faces, batch 64, MixUp k = 3 with dp's noise at epsilon 16 and mask.normalize;
// both domains, and an adaptive action's higher drop level.
void check_masker(MaskDomain domain, int action_drop) {
  const int batch = 64, size = 112;
  MaskOptions o;
  o.method = Method::kMixup;
  o.domain = domain;
  o.k = 3;
  o.normalize_mixture = true;
  o.seed = 5;
  const Masker masker(o, size, ColorMode::kGrey);
  const std::vector<float> x = random_faces(size_t(batch) * size * size, 11);
  std::vector<uint64_t> keys(batch);
  for (int i = 0; i < batch; ++i) keys[i] = 1000 + 7 * i;
  MixAction action = masker.default_action();
  action.noise_epsilon = 16;
  action.drop_level = action_drop;
  MaskedBatch want, draws;
  masker.apply(x.data(), keys, 9, action, want);
  gpu::GpuMasker gpu_masker(masker);
  float* in = gpu::device_alloc(x.size());
  float* out = gpu::device_alloc(want.data.size());
  gpu::copy_to_device(in, x.data(), x.size());
  gpu_masker.apply(in, keys, 9, action, out, draws);
  std::vector<float> got(want.data.size());
  gpu::copy_to_host(got.data(), out, got.size());
  gpu::device_free(in);
  gpu::device_free(out);
  double worst = 0, largest = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    worst = std::max<double>(worst, std::abs(got[i] - want.data[i]));
    largest = std::max<double>(largest, std::abs(want.data[i]));
  }
  const bool same_draws = draws.members == want.members && draws.weights == want.weights;
  char what[96];
  std::snprintf(what, sizeof(what), "GpuMasker vs Masker, %s, action drop %d: draws %s",
                domain == MaskDomain::kSpectrum ? "spectrum" : "block-dct", action_drop,
                same_draws ? "equal" : "DIFFER");
  expect(same_draws && worst / largest < 1e-4, what, worst / largest);
}

template <typename F>
double seconds_per_call(F&& call, int repeats) {
  call();
  gpu::synchronize();
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < repeats; ++r) call();
  gpu::synchronize();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeats;
}

}  // namespace

int main() {
  if (!gpu::available()) {
    std::printf("no CUDA device: GPU checks skipped\n");
    return 77;
  }
  std::printf("device: %s\n", gpu::device_name().c_str());
  for (int u : {1, 2, 8})
    for (int t : {0, 3}) check_block_dct(u, t);
  check_spectrum();
  check_high_pass();
  check_masker(MaskDomain::kBlockDct, 0);
  check_masker(MaskDomain::kBlockDct, 2);
  check_masker(MaskDomain::kSpectrum, 0);

  // Timings: a batch of 256 RGB faces of 112 x 112.
  const int batch = 256, size = 112, planes = 3 * batch;
  const size_t in_floats = size_t(planes) * size * size;
  const std::vector<float> x = random_faces(in_floats, 3);
  float* in = gpu::device_alloc(in_floats);
  gpu::copy_to_device(in, x.data(), in_floats);
  const size_t copy_floats = size_t(256) << 20;  // 1 GiB
  float* a = gpu::device_alloc(copy_floats);
  float* b = gpu::device_alloc(copy_floats);
  const double copy_s = seconds_per_call([&] { gpu::copy_on_device(b, a, copy_floats); }, 10);
  const double copy_bw = 2.0 * copy_floats * sizeof(float) / copy_s / 1e9;  // read + write
  gpu::device_free(a);
  gpu::device_free(b);
  std::printf("\n| transform | images/s | GB/s moved | of copy bandwidth (%.0f GB/s) |\n", copy_bw);
  std::printf("| --- | --- | --- | --- |\n");
  for (int u : {1, 8}) {
    const BlockDct transform(size, u, kept_channels_for_drop_level(0));
    gpu::GpuBlockDct gpu_transform(transform);
    float* out = gpu::device_alloc(transform.plane_out_size() * planes);
    const double s = seconds_per_call([&] { gpu_transform.forward(in, out, planes); }, 20);
    const double bytes = (in_floats + transform.plane_out_size() * planes) * sizeof(float);
    std::printf("| block DCT u=%d, t=0 | %.0f | %.0f | %.0f %% |\n", u, batch / s, bytes / s / 1e9,
                100 * bytes / s / 1e9 / copy_bw);
    gpu::device_free(out);
  }
  {
    gpu::GpuSpectrumMask mask(size, 4.0, planes);
    float* out = gpu::device_alloc(size_t(planes) * 2 * size * (size / 2 + 1));
    const double s = seconds_per_call([&] { mask.forward(in, out, planes); }, 20);
    const double bytes = (in_floats + size_t(planes) * 2 * size * (size / 2 + 1)) * sizeof(float);
    std::printf("| cuFFT spectrum mask, r<=4 | %.0f | %.0f | %.0f %% |\n", batch / s,
                bytes / s / 1e9, 100 * bytes / s / 1e9 / copy_bw);
    gpu::device_free(out);
  }
  gpu::device_free(in);

  // The whole masking step, GPU against one CPU thread (the loader runs data.threads of them):
  // 256 grey faces, MixUp k = 3 with noise, as check_masker.
  std::printf(
      "\n| masking step, 256 grey 112 x 112 faces, k = 3 + noise | images/s |\n| --- | --- |\n");
  for (MaskDomain domain : {MaskDomain::kBlockDct, MaskDomain::kSpectrum}) {
    MaskOptions o;
    o.method = Method::kMixup;
    o.domain = domain;
    o.k = 3;
    const Masker masker(o, size, ColorMode::kGrey);
    const std::vector<float> faces = random_faces(size_t(batch) * size * size, 12);
    std::vector<uint64_t> keys(batch);
    for (int i = 0; i < batch; ++i) keys[i] = uint64_t(i);
    MixAction action = masker.default_action();
    action.noise_epsilon = 16;
    MaskedBatch cpu_out, draws;
    const auto start = std::chrono::steady_clock::now();
    masker.apply(faces.data(), keys, 0, action, cpu_out);
    const double cpu_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    gpu::GpuMasker gpu_masker(masker);
    float* d_in = gpu::device_alloc(faces.size());
    float* d_out = gpu::device_alloc(cpu_out.data.size());
    gpu::copy_to_device(d_in, faces.data(), faces.size());
    const double gpu_s =
        seconds_per_call([&] { gpu_masker.apply(d_in, keys, 0, action, d_out, draws); }, 10);
    const char* name = domain == MaskDomain::kSpectrum ? "spectrum" : "block-dct";
    std::printf("| %s, GPU (draws and noise on the host) | %.0f |\n", name, batch / gpu_s);
    std::printf("| %s, one CPU thread | %.0f |\n", name, batch / cpu_s);
    gpu::device_free(d_in);
    gpu::device_free(d_out);
  }
  std::printf("\n%s\n", failures == 0 ? "GPU checks: all passed" : "GPU checks: FAILED");
  return failures == 0 ? 0 : 1;
}
