// The masking transforms on an NVIDIA GPU (built when the CUDA toolkit is found; see
// cluster/device/check.sh for the checks and timings on a GPU machine).
//   GpuBlockDct: the fused block-DCT transform of core/block_dct.h as one CUDA kernel: one thread
//                per output coefficient, the separable taps of both axes applied directly to the
//                input pixels (no upsampled image, no intermediate buffer).
//   GpuSpectrumMask: the global-spectrum option: a 2-D real FFT of each face plane (cuFFT), the
//                low frequencies (radius <= cutoff, in cycles per image) zeroed, the kept
//                half-spectrum returned as real and imaginary planes, or (high_pass) transformed
//                back: mask.domain spectrum's sample, as core/spectrum.h computes it on the CPU.
// Pointers are device pointers; every call is asynchronous on `stream` (0: the default stream).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <cstdint>
#include <memory>

#include "core/block_dct.h"
#include "core/masking.h"

typedef struct CUstream_st* cudaStream_t;

namespace hymask::gpu {

// Whether a CUDA device is usable here (false on a machine without a GPU or driver).
bool available();
// The device's name, for benchmark reports.
std::string device_name();

class GpuBlockDct {
 public:
  explicit GpuBlockDct(const BlockDct& transform);
  ~GpuBlockDct();
  GpuBlockDct(const GpuBlockDct&) = delete;
  GpuBlockDct& operator=(const GpuBlockDct&) = delete;

  // in: planes x S x S; out: planes x channels x n x n (BlockDct::forward's layout).
  void forward(const float* in, float* out, int planes, cudaStream_t stream = nullptr) const;
  size_t plane_in_size() const { return size_t(size_) * size_; }
  size_t plane_out_size() const { return size_t(channels_) * blocks_ * blocks_; }

 private:
  int size_, blocks_, taps_, channels_;
  int* start_ = nullptr;      // device: blocks
  float* weight_ = nullptr;   // device: blocks * 8 * taps
  int* frequency_ = nullptr;  // device: channels x {v, h}
};

class GpuSpectrumMask {
 public:
  // `cutoff`: frequencies with sqrt(fy^2 + fx^2) <= cutoff (in cycles per image) are dropped.
  GpuSpectrumMask(int size, double cutoff, int max_planes);
  ~GpuSpectrumMask();
  GpuSpectrumMask(const GpuSpectrumMask&) = delete;
  GpuSpectrumMask& operator=(const GpuSpectrumMask&) = delete;

  int spectrum_width() const { return size_ / 2 + 1; }
  // in: planes x S x S; out: planes x 2 x S x (S/2 + 1) (real, imaginary), unnormalised DFT.
  void forward(const float* in, float* out, int planes, cudaStream_t stream = nullptr);
  // in, out: planes x S x S; out = in without the band (core/spectrum.h's SpectrumHighPass).
  void high_pass(const float* in, float* out, int planes, cudaStream_t stream = nullptr);

 private:
  int size_;
  double cutoff_;
  int max_planes_;
  int plan_ = 0;          // R2C
  int inverse_plan_ = 0;  // C2R
  void* spectrum_ = nullptr;  // device cufftComplex buffer
};

// Masker::apply on the GPU, for the frequency methods: the same draws (partners, weights and
// noise come from the host Masker's streams, so the bytes match the CPU path to float rounding),
// the transform (GpuBlockDct or the spectrum's high-pass image) and the mixing on the device.
// mask.sign_flip, permute_channels and channel_subset stay on the CPU path: refused here.
class GpuMasker {
 public:
  explicit GpuMasker(const Masker& masker);
  ~GpuMasker();
  GpuMasker(const GpuMasker&) = delete;
  GpuMasker& operator=(const GpuMasker&) = delete;

  // pixels: device, batch x planes x S x S; out: device, batch x channels x n x n. draws gets the
  // members and weights (host), as Masker::apply reports them; draws.data stays empty.
  void apply(const float* pixels, const std::vector<uint64_t>& keys, uint64_t step,
             const MixAction& action, float* out, MaskedBatch& draws,
             cudaStream_t stream = nullptr);

 private:
  void release_batch_buffers();  // the buffers sized by capacity_

  const Masker& masker_;
  std::unique_ptr<GpuBlockDct> dct_;
  std::unique_ptr<GpuSpectrumMask> spectrum_;  // planned for one batch size, replanned on change
  int spectrum_planes_ = 0;
  size_t capacity_ = 0;                        // samples the device buffers below hold
  float* unmixed_ = nullptr;                   // capacity x sample
  float* noise_ = nullptr;                     // capacity x sample
  int* members_ = nullptr;                     // capacity x 16 (mask.k <= 16)
  float* weights_ = nullptr;                   // capacity x 16
  float* gains_ = nullptr;                     // capacity
  char* zeroed_ = nullptr;                     // channels
};

// Small helpers for tests and benchmarks: device buffers and copies, errors as exceptions.
float* device_alloc(size_t floats);
void device_free(float* pointer);
void copy_to_device(float* device, const float* host, size_t floats);
void copy_to_host(float* host, const float* device, size_t floats);
void copy_on_device(float* to, const float* from, size_t floats);
void synchronize();

}  // namespace hymask::gpu
