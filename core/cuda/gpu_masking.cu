#include <cuda_runtime.h>
#include <cufft.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/cuda/gpu_masking.h"
#include "core/error.h"

namespace hymask::gpu {
namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw Error(std::string("CUDA: ") + what + ": " + cudaGetErrorString(status));
}

void check(cufftResult status, const char* what) {
  if (status != CUFFT_SUCCESS) throw Error(std::string("cuFFT: ") + what + " failed (" + std::to_string(int(status)) + ")");
}

// One thread per output coefficient (plane, channel, by, bx).
template <int TAPS>
__global__ void block_dct_kernel(const float* __restrict__ in, float* __restrict__ out, int size,
                                 int blocks, int channels, int planes, const int* __restrict__ start,
                                 const float* __restrict__ weight, const int* __restrict__ freq) {
  const long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  const long long per_plane = (long long)channels * blocks * blocks;
  if (index >= per_plane * planes) return;
  const int plane = int(index / per_plane);
  int rest = int(index % per_plane);
  const int c = rest / (blocks * blocks);
  rest %= blocks * blocks;
  const int by = rest / blocks, bx = rest % blocks;
  const int v = freq[2 * c], h = freq[2 * c + 1];
  const float* wy = weight + (by * 8 + v) * TAPS;
  const float* wx = weight + (bx * 8 + h) * TAPS;
  const float* x = in + (long long)plane * size * size + (long long)start[by] * size + start[bx];
  float sum = 0.0f;
#pragma unroll
  for (int ty = 0; ty < TAPS; ++ty) {
    float row = 0.0f;
#pragma unroll
    for (int tx = 0; tx < TAPS; ++tx) row += wx[tx] * x[ty * size + tx];
    sum += wy[ty] * row;
  }
  out[index] = sum;
}

// Zeroes the frequencies within the cutoff and splits the half-spectrum into real and imaginary
// planes: out[plane][0 | 1][fy][fx].
__global__ void spectrum_mask_kernel(const cufftComplex* __restrict__ spectrum,
                                     float* __restrict__ out, int size, int width, int planes,
                                     float cutoff) {
  const long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  const long long per_plane = (long long)size * width;
  if (index >= per_plane * planes) return;
  const int plane = int(index / per_plane);
  const int rest = int(index % per_plane);
  const int fy = rest / width, fx = rest % width;
  const float y = float(fy <= size / 2 ? fy : fy - size);  // signed vertical frequency
  const bool dropped = y * y + float(fx) * float(fx) <= cutoff * cutoff;
  const cufftComplex value = spectrum[index];
  out[(long long)plane * 2 * per_plane + rest] = dropped ? 0.0f : value.x;
  out[(long long)plane * 2 * per_plane + per_plane + rest] = dropped ? 0.0f : value.y;
}

// In place: the band zeroed, the rest scaled by 1 / S^2 so that the inverse transform returns
// pixels. The band is symmetric, so the half-spectrum stays Hermitian for C2R.
__global__ void band_remove_kernel(cufftComplex* __restrict__ spectrum, int size, int width,
                                   int planes, float cutoff, float scale) {
  const long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  const long long per_plane = (long long)size * width;
  if (index >= per_plane * planes) return;
  const int rest = int(index % per_plane);
  const int fy = rest / width, fx = rest % width;
  const float y = float(fy <= size / 2 ? fy : fy - size);
  const bool dropped = cutoff >= 0 && y * y + float(fx) * float(fx) <= cutoff * cutoff;
  cufftComplex value = spectrum[index];
  value.x = dropped ? 0.0f : value.x * scale;
  value.y = dropped ? 0.0f : value.y * scale;
  spectrum[index] = value;
}

// One thread per output value: the weighted sum of the sample's constituents, an action's extra
// channels zeroed, the mixture rescaled, then (noise != nullptr) clipped and noised.
__global__ void mix_kernel(const float* __restrict__ unmixed, float* __restrict__ out,
                           const int* __restrict__ members, const float* __restrict__ weights,
                           const float* __restrict__ gains, const char* __restrict__ zeroed,
                           const float* __restrict__ noise, long long batch, long long sample,
                           long long plane, int k, float clip) {
  const long long index = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (index >= batch * sample) return;
  const long long i = index / sample, e = index % sample;
  float value = 0.0f;
  if (!zeroed[e / plane]) {
    for (int j = 0; j < k; ++j)
      value += weights[i * k + j] * unmixed[members[i * k + j] * sample + e];
    value *= gains[i];
  }
  if (noise) value = fminf(fmaxf(value, -clip), clip) + noise[index];
  out[index] = value;
}

}  // namespace

bool available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

std::string device_name() {
  cudaDeviceProp properties{};
  check(cudaGetDeviceProperties(&properties, 0), "device properties");
  return properties.name;
}

GpuBlockDct::GpuBlockDct(const BlockDct& transform)
    : size_(transform.size()),
      blocks_(transform.out_size()),
      taps_(transform.axis().taps),
      channels_(transform.num_channels()) {
  const AxisOperator& axis = transform.axis();
  std::vector<float> weight(axis.weight.begin(), axis.weight.end());
  std::vector<int> frequency;
  for (int c : transform.channels()) {
    frequency.push_back(c / 8);
    frequency.push_back(c % 8);
  }
  check(cudaMalloc(&start_, axis.start.size() * sizeof(int)), "allocation");
  check(cudaMalloc(&weight_, weight.size() * sizeof(float)), "allocation");
  check(cudaMalloc(&frequency_, frequency.size() * sizeof(int)), "allocation");
  check(cudaMemcpy(start_, axis.start.data(), axis.start.size() * sizeof(int), cudaMemcpyHostToDevice), "copy");
  check(cudaMemcpy(weight_, weight.data(), weight.size() * sizeof(float), cudaMemcpyHostToDevice), "copy");
  check(cudaMemcpy(frequency_, frequency.data(), frequency.size() * sizeof(int), cudaMemcpyHostToDevice), "copy");
}

GpuBlockDct::~GpuBlockDct() {
  cudaFree(start_);
  cudaFree(weight_);
  cudaFree(frequency_);
}

void GpuBlockDct::forward(const float* in, float* out, int planes, cudaStream_t stream) const {
  const long long total = (long long)plane_out_size() * planes;
  const int threads = 256;
  const unsigned grid = unsigned((total + threads - 1) / threads);
  switch (taps_) {
    case 3: block_dct_kernel<3><<<grid, threads, 0, stream>>>(in, out, size_, blocks_, channels_, planes, start_, weight_, frequency_); break;
    case 4: block_dct_kernel<4><<<grid, threads, 0, stream>>>(in, out, size_, blocks_, channels_, planes, start_, weight_, frequency_); break;
    case 6: block_dct_kernel<6><<<grid, threads, 0, stream>>>(in, out, size_, blocks_, channels_, planes, start_, weight_, frequency_); break;
    default: block_dct_kernel<8><<<grid, threads, 0, stream>>>(in, out, size_, blocks_, channels_, planes, start_, weight_, frequency_); break;
  }
  check(cudaGetLastError(), "block DCT kernel launch");
}

GpuSpectrumMask::GpuSpectrumMask(int size, double cutoff, int max_planes)
    : size_(size), cutoff_(cutoff), max_planes_(max_planes) {
  int n[2] = {size, size};
  cufftHandle plan;
  check(cufftPlanMany(&plan, 2, n, nullptr, 1, size * size, nullptr, 1, size * (size / 2 + 1), CUFFT_R2C, max_planes), "plan");
  plan_ = int(plan);
  check(cufftPlanMany(&plan, 2, n, nullptr, 1, size * (size / 2 + 1), nullptr, 1, size * size, CUFFT_C2R, max_planes), "inverse plan");
  inverse_plan_ = int(plan);
  check(cudaMalloc(&spectrum_, sizeof(cufftComplex) * size_t(max_planes) * size * (size / 2 + 1)), "allocation");
}

GpuSpectrumMask::~GpuSpectrumMask() {
  cufftDestroy(cufftHandle(plan_));
  cufftDestroy(cufftHandle(inverse_plan_));
  cudaFree(spectrum_);
}

void GpuSpectrumMask::forward(const float* in, float* out, int planes, cudaStream_t stream) {
  if (planes != max_planes_) throw Error("GpuSpectrumMask: the plan is for " + std::to_string(max_planes_) + " planes");
  check(cufftSetStream(cufftHandle(plan_), stream), "set stream");
  check(cufftExecR2C(cufftHandle(plan_), const_cast<float*>(in), static_cast<cufftComplex*>(spectrum_)), "R2C");
  const int width = size_ / 2 + 1;
  const long long total = (long long)size_ * width * planes;
  spectrum_mask_kernel<<<unsigned((total + 255) / 256), 256, 0, stream>>>(
      static_cast<const cufftComplex*>(spectrum_), out, size_, width, planes, float(cutoff_));
  check(cudaGetLastError(), "spectrum mask kernel launch");
}

float* device_alloc(size_t floats) {
  float* pointer = nullptr;
  check(cudaMalloc(&pointer, floats * sizeof(float)), "allocation");
  return pointer;
}
void device_free(float* pointer) { cudaFree(pointer); }
void copy_to_device(float* device, const float* host, size_t floats) {
  check(cudaMemcpy(device, host, floats * sizeof(float), cudaMemcpyHostToDevice), "copy to device");
}
void copy_to_host(float* host, const float* device, size_t floats) {
  check(cudaMemcpy(host, device, floats * sizeof(float), cudaMemcpyDeviceToHost), "copy to host");
}
void copy_on_device(float* to, const float* from, size_t floats) {
  check(cudaMemcpy(to, from, floats * sizeof(float), cudaMemcpyDeviceToDevice), "copy on device");
}
void synchronize() { check(cudaDeviceSynchronize(), "synchronize"); }

void GpuSpectrumMask::high_pass(const float* in, float* out, int planes, cudaStream_t stream) {
  if (planes != max_planes_) throw Error("GpuSpectrumMask: the plan is for " + std::to_string(max_planes_) + " planes");
  check(cufftSetStream(cufftHandle(plan_), stream), "set stream");
  check(cufftSetStream(cufftHandle(inverse_plan_), stream), "set stream");
  check(cufftExecR2C(cufftHandle(plan_), const_cast<float*>(in), static_cast<cufftComplex*>(spectrum_)), "R2C");
  const int width = size_ / 2 + 1;
  const long long total = (long long)size_ * width * planes;
  band_remove_kernel<<<unsigned((total + 255) / 256), 256, 0, stream>>>(
      static_cast<cufftComplex*>(spectrum_), size_, width, planes, float(cutoff_), 1.0f / (float(size_) * size_));
  check(cudaGetLastError(), "band removal kernel launch");
  check(cufftExecC2R(cufftHandle(inverse_plan_), static_cast<cufftComplex*>(spectrum_), out), "C2R");
}

GpuMasker::GpuMasker(const Masker& masker) : masker_(masker) {
  const MaskOptions& o = masker.options();
  if (masker.domain() == SampleDomain::kPixels)
    throw ConfigError("GpuMasker: the pixel methods (none, instahide) have no transform to run");
  if (o.sign_flip || o.permute_channels || o.channel_subset > 0)
    throw ConfigError(
        "GpuMasker: mask.sign_flip, permute_channels and channel_subset are masked on the CPU");
  if (masker.domain() == SampleDomain::kBlockDct)
    dct_ = std::make_unique<GpuBlockDct>(
        BlockDct(masker.image_size(), o.upsample, kept_channels_for_drop_level(o.drop_level)));
  check(cudaMalloc(&zeroed_, size_t(masker.channels())), "allocation");
}

GpuMasker::~GpuMasker() {
  release_batch_buffers();
  cudaFree(zeroed_);
}

void GpuMasker::release_batch_buffers() {
  for (void* p : {static_cast<void*>(unmixed_), static_cast<void*>(noise_),
                  static_cast<void*>(members_), static_cast<void*>(weights_),
                  static_cast<void*>(gains_)})
    cudaFree(p);
}

void GpuMasker::apply(const float* pixels, const std::vector<uint64_t>& keys, uint64_t step,
                      const MixAction& action, float* out, MaskedBatch& draws,
                      cudaStream_t stream) {
  const int batch = int(keys.size()), k = action.k, planes = masker_.planes();
  const size_t sample = size_t(masker_.channels()) * masker_.out_size() * masker_.out_size();
  if (k < 1 || k > 16) throw ConfigError("a mixture needs k in 1..16");
  if (action.drop_level < masker_.options().drop_level)
    throw ConfigError("an action cannot keep channels the masking already removed");
  if (size_t(batch) > capacity_) {
    release_batch_buffers();
    capacity_ = size_t(batch);
    check(cudaMalloc(&unmixed_, capacity_ * sample * sizeof(float)), "allocation");
    check(cudaMalloc(&noise_, capacity_ * sample * sizeof(float)), "allocation");
    check(cudaMalloc(&members_, capacity_ * 16 * sizeof(int)), "allocation");
    check(cudaMalloc(&weights_, capacity_ * 16 * sizeof(float)), "allocation");
    check(cudaMalloc(&gains_, capacity_ * sizeof(float)), "allocation");
  }
  // Transform every sample once; mixing is linear, so it happens afterwards.
  if (dct_) {
    dct_->forward(pixels, unmixed_, batch * planes, stream);
  } else {
    if (!spectrum_ || spectrum_planes_ != batch * planes) {
      spectrum_ = std::make_unique<GpuSpectrumMask>(
          masker_.image_size(), masker_.spectrum()->cutoff(), batch * planes);
      spectrum_planes_ = batch * planes;
    }
    spectrum_->high_pass(pixels, unmixed_, batch * planes, stream);
  }
  // The draws, on the host from the Masker's own streams.
  draws.batch = batch;
  draws.k = k;
  draws.channels = masker_.channels();
  draws.size = masker_.out_size();
  draws.data.clear();
  draws.members.assign(size_t(batch) * k, 0);
  draws.weights.assign(size_t(batch) * k, 0.0f);
  std::vector<float> gains(batch);
  std::vector<float> noise(action.noise_epsilon > 0 ? size_t(batch) * sample : 0);
  std::vector<double> one(action.noise_epsilon > 0 ? sample : 0);
  for (int i = 0; i < batch; ++i) {
    int* members = draws.members.data() + size_t(i) * k;
    float* weights = draws.weights.data() + size_t(i) * k;
    masker_.draw_mixture(i, batch, action, keys[i], step, members, weights);
    gains[i] = masker_.mixture_gain(weights, k);
    if (action.noise_epsilon > 0) {
      masker_.draw_noise(keys[i], step, action.noise_epsilon, one.data(), sample);
      std::copy(one.begin(), one.end(), noise.begin() + std::ptrdiff_t(i * sample));
    }
  }
  const std::vector<char> zeroed = masker_.zeroed_channels(action);
  // Synchronous copies: the host vectors die with this call.
  check(cudaMemcpy(members_, draws.members.data(), draws.members.size() * sizeof(int), cudaMemcpyHostToDevice), "copy");
  check(cudaMemcpy(weights_, draws.weights.data(), draws.weights.size() * sizeof(float), cudaMemcpyHostToDevice), "copy");
  check(cudaMemcpy(gains_, gains.data(), gains.size() * sizeof(float), cudaMemcpyHostToDevice), "copy");
  check(cudaMemcpy(zeroed_, zeroed.data(), zeroed.size(), cudaMemcpyHostToDevice), "copy");
  if (!noise.empty())
    check(cudaMemcpy(noise_, noise.data(), noise.size() * sizeof(float), cudaMemcpyHostToDevice), "copy");
  const long long total = (long long)batch * (long long)sample;
  const long long plane = (long long)masker_.out_size() * masker_.out_size();
  mix_kernel<<<unsigned((total + 255) / 256), 256, 0, stream>>>(
      unmixed_, out, members_, weights_, gains_, zeroed_, noise.empty() ? nullptr : noise_,
      batch, (long long)sample, plane, k, float(masker_.options().dp_clip));
  check(cudaGetLastError(), "mixing kernel launch");
}

}  // namespace hymask::gpu
