#include "core/block_dct.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__FMA__)
#include <immintrin.h>
#endif

#include "core/error.h"

namespace hymask {
namespace {

// Orthonormal DCT-II basis: D[f][i] = a(f) cos(pi (2i + 1) f / 16).
double dct_basis(int f, int i) {
  const double scale = f == 0 ? std::sqrt(1.0 / 8.0) : std::sqrt(2.0 / 8.0);
  return scale * std::cos(M_PI * (2 * i + 1) * f / 16.0);
}

// Source coordinate of upsampled sample p (PyTorch's bilinear, align_corners = false): the two
// source pixels and the weight of the second, edges replicated.
struct BilinearTap {
  int i0, i1;
  double w1;
};
BilinearTap bilinear_tap(int p, int size, int upsample) {
  double src = (p + 0.5) / upsample - 0.5;
  if (src < 0) src = 0;
  const int i0 = std::min(int(src), size - 1);
  return {i0, std::min(i0 + 1, size - 1), src - i0};
}

void check_geometry(int size, int upsample) {
  if (upsample != 1 && upsample != 2 && upsample != 4 && upsample != 8)
    throw ConfigError("upsampling factor must be 1, 2, 4 or 8, not " + std::to_string(upsample));
  if (size <= 0 || (size * upsample) % 8 != 0)
    throw ConfigError("image size " + std::to_string(size) + " times upsampling " +
                      std::to_string(upsample) + " must be a positive multiple of 8");
}

// In-place inverse of a symmetric positive definite n x n matrix (Gauss-Jordan, partial pivot).
void invert(std::vector<double>& a, int n) {
  std::vector<double> inv(size_t(n) * n, 0.0);
  for (int i = 0; i < n; ++i) inv[size_t(i) * n + i] = 1.0;
  for (int col = 0; col < n; ++col) {
    int pivot = col;
    for (int r = col + 1; r < n; ++r)
      if (std::abs(a[size_t(r) * n + col]) > std::abs(a[size_t(pivot) * n + col])) pivot = r;
    HYMASK_CHECK(std::abs(a[size_t(pivot) * n + col]) > 1e-300, "singular Gram matrix");
    if (pivot != col)
      for (int c = 0; c < n; ++c) {
        std::swap(a[size_t(col) * n + c], a[size_t(pivot) * n + c]);
        std::swap(inv[size_t(col) * n + c], inv[size_t(pivot) * n + c]);
      }
    const double d = a[size_t(col) * n + col];
    for (int c = 0; c < n; ++c) {
      a[size_t(col) * n + c] /= d;
      inv[size_t(col) * n + c] /= d;
    }
    for (int r = 0; r < n; ++r) {
      const double f = a[size_t(r) * n + col];
      if (r == col || f == 0.0) continue;
      for (int c = 0; c < n; ++c) {
        a[size_t(r) * n + c] -= f * a[size_t(col) * n + c];
        inv[size_t(r) * n + c] -= f * inv[size_t(col) * n + c];
      }
    }
  }
  a.swap(inv);
}

// Outputs of this size and more are written with non-temporal stores (see forward_impl).
constexpr size_t kStreamingBytes = size_t(4) << 20;

// Row pass: tmp[slot][y][bx] = sum_t w[(bx*8 + h)*T + t] * row_y[start[bx] + t].
// Column pass: out[c][by][bx] = sum_t w[(by*8 + v)*T + t] * tmp[slot(c)][start[by] + t][bx].
// TAPS is a template argument so that the compiler unrolls and vectorises the inner loops.
template <int TAPS, typename T>
void forward_plane(const T* in, T* out, T* tmp, int size, int blocks, const int* start,
                   const T* weight, const float* weight_by_tap, const std::vector<int>& horizontal,
                   const std::vector<int>& channels, const std::vector<int>& slot_of_channel,
                   bool stream) {
  const int n = blocks;
  bool horizontal_done = false;
#if defined(__AVX2__) && defined(__FMA__)
  if constexpr (std::is_same_v<T, float>) {
    // All 8 horizontal frequencies of a block at once, one 8-wide multiply-add per tap, instead
    // of a short dot product per frequency.
    alignas(32) float by_frequency[8];
    for (int y = 0; y < size; ++y) {
      const float* row = in + size_t(y) * size;
      for (int bx = 0; bx < n; ++bx) {
        const float* w = weight_by_tap + size_t(bx) * TAPS * 8;
        const float* x = row + start[bx];
        __m256 acc = _mm256_mul_ps(_mm256_loadu_ps(w), _mm256_set1_ps(x[0]));
        for (int t = 1; t < TAPS; ++t)
          acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + 8 * t), _mm256_set1_ps(x[t]), acc);
        _mm256_store_ps(by_frequency, acc);
        for (size_t slot = 0; slot < horizontal.size(); ++slot)
          tmp[(slot * size + y) * n + bx] = by_frequency[horizontal[slot]];
      }
    }
    horizontal_done = true;
  }
#endif
  for (int y = 0; y < size && !horizontal_done; ++y) {
    const T* row = in + size_t(y) * size;
    for (size_t slot = 0; slot < horizontal.size(); ++slot) {
      const int h = horizontal[slot];
      T* dst = tmp + (slot * size + y) * n;
      for (int bx = 0; bx < n; ++bx) {
        const T* w = weight + (size_t(bx) * 8 + h) * TAPS;
        const T* x = row + start[bx];
        T acc = 0;
        for (int t = 0; t < TAPS; ++t) acc += w[t] * x[t];
        dst[bx] = acc;
      }
    }
  }
  for (size_t ci = 0; ci < channels.size(); ++ci) {
    const int v = channels[ci] / 8;
    const T* plane = tmp + size_t(slot_of_channel[ci]) * size * n;
    T* o = out + ci * size_t(n) * n;
    for (int by = 0; by < n; ++by) {
      const T* w = weight + (size_t(by) * 8 + v) * TAPS;
      const T* src[TAPS];
      for (int t = 0; t < TAPS; ++t) src[t] = plane + size_t(start[by] + t) * n;
      T* dst = o + size_t(by) * n;
#if defined(__FMA__)
      if constexpr (std::is_same_v<T, float>) {
        if (stream) {  // n % 4 == 0 and `out` 16-byte aligned: checked by the caller
          auto four = [&](int bx) {
            __m128 acc = _mm_setzero_ps();
            for (int t = 0; t < TAPS; ++t)
              acc = _mm_fmadd_ps(_mm_set1_ps(w[t]), _mm_loadu_ps(src[t] + bx), acc);
            _mm_stream_ps(dst + bx, acc);
          };
          int bx = 0;
#if defined(__AVX2__)
          if (reinterpret_cast<uintptr_t>(dst) % 32 != 0) four(bx), bx += 4;
          for (; bx + 8 <= n; bx += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (int t = 0; t < TAPS; ++t)
              acc = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_loadu_ps(src[t] + bx), acc);
            _mm256_stream_ps(dst + bx, acc);
          }
#endif
          for (; bx < n; bx += 4) four(bx);
          continue;
        }
      }
#endif
      for (int bx = 0; bx < n; ++bx) {
        T acc = 0;
        for (int t = 0; t < TAPS; ++t) acc += w[t] * src[t][bx];
        dst[bx] = acc;
      }
    }
  }
}

template <typename T>
std::vector<T>& scratch() {
  thread_local std::vector<T> buffer;
  return buffer;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

std::vector<int> kept_channels_for_drop_level(int drop_level) {
  if (drop_level < -1 || drop_level > 13)
    throw ConfigError("drop level must be in -1..13 (-1 keeps every channel), not " +
                      std::to_string(drop_level));
  std::vector<int> kept;
  for (int c = 0; c < 64; ++c)
    if (c / 8 + c % 8 > drop_level) kept.push_back(c);
  return kept;
}

AxisOperator::AxisOperator(int size_, int upsample) : size(size_) {
  check_geometry(size, upsample);
  blocks = size * upsample / 8;
  // Dense rows first (blocks*8 x size), then the narrowest window that holds every row of a block.
  std::vector<double> dense(size_t(blocks) * 8 * size, 0.0);
  for (int b = 0; b < blocks; ++b)
    for (int i = 0; i < 8; ++i) {
      const BilinearTap tap = bilinear_tap(b * 8 + i, size, upsample);
      for (int f = 0; f < 8; ++f) {
        double* row = dense.data() + (size_t(b) * 8 + f) * size;
        row[tap.i0] += dct_basis(f, i) * (1.0 - tap.w1);
        row[tap.i1] += dct_basis(f, i) * tap.w1;
      }
    }
  std::vector<int> first(blocks, size), last(blocks, -1);
  for (int b = 0; b < blocks; ++b)
    for (int i = 0; i < 8; ++i) {  // support of the block = support of its upsampled samples
      const BilinearTap tap = bilinear_tap(b * 8 + i, size, upsample);
      first[b] = std::min(first[b], tap.i0);
      last[b] = std::max(last[b], tap.w1 > 0 ? tap.i1 : tap.i0);
    }
  taps = 0;
  for (int b = 0; b < blocks; ++b) taps = std::max(taps, last[b] - first[b] + 1);
  taps = std::min(taps, size);
  start.resize(blocks);
  weight.assign(size_t(blocks) * 8 * taps, 0.0);
  for (int b = 0; b < blocks; ++b) {
    start[b] = std::clamp(first[b], 0, size - taps);
    for (int f = 0; f < 8; ++f)
      for (int t = 0; t < taps; ++t)
        weight[(size_t(b) * 8 + f) * taps + t] = dense[(size_t(b) * 8 + f) * size + start[b] + t];
  }
}

BlockDct::BlockDct(int size, int upsample, std::vector<int> channels)
    : size_(size), upsample_(upsample), channels_(std::move(channels)), axis_(size, upsample) {
  if (channels_.empty()) throw ConfigError("the masking keeps no channel: lower the drop level");
  for (int c : channels_) HYMASK_CHECK(c >= 0 && c < 64, c);
  if (axis_.taps != 3 && axis_.taps != 4 && axis_.taps != 6 && axis_.taps != 8)
    throw ConfigError("image size " + std::to_string(size) + " is too small for upsampling " +
                      std::to_string(upsample));
  weight_f_.assign(axis_.weight.begin(), axis_.weight.end());
  weight_by_tap_.resize(axis_.weight.size());
  for (int b = 0; b < axis_.blocks; ++b)
    for (int f = 0; f < 8; ++f)
      for (int t = 0; t < axis_.taps; ++t)
        weight_by_tap_[(size_t(b) * axis_.taps + t) * 8 + f] =
            float(axis_.weight[(size_t(b) * 8 + f) * axis_.taps + t]);
  for (int c : channels_) {
    const auto it = std::find(horizontal_.begin(), horizontal_.end(), c % 8);
    slot_of_channel_.push_back(int(it - horizontal_.begin()));
    if (it == horizontal_.end()) horizontal_.push_back(c % 8);
  }
  // Gram matrix of one axis of the full transform: G = A1^T A1 (S x S), banded.
  const int s = size_, taps = axis_.taps;
  gram_inverse_.assign(size_t(s) * s, 0.0);
  for (int b = 0; b < axis_.blocks; ++b)
    for (int f = 0; f < 8; ++f) {
      const double* w = axis_.weight.data() + (size_t(b) * 8 + f) * taps;
      for (int i = 0; i < taps; ++i)
        for (int j = 0; j < taps; ++j)
          gram_inverse_[size_t(axis_.start[b] + i) * s + axis_.start[b] + j] += w[i] * w[j];
    }
  invert(gram_inverse_, s);
}

template <typename T>
void BlockDct::forward_impl(const T* in, T* out, int planes) const {
  const T* weight;
  if constexpr (std::is_same_v<T, float>)
    weight = weight_f_.data();
  else
    weight = axis_.weight.data();
  std::vector<T>& tmp = scratch<T>();
  tmp.resize(horizontal_.size() * size_t(size_) * axis_.blocks);
  // Outputs larger than the caches (large upsampling) are written with non-temporal stores:
  // they skip reading each cache line before overwriting it, which halves the memory traffic.
  bool stream = false;
#if defined(__FMA__)
  stream = std::is_same_v<T, float> && axis_.blocks % 4 == 0 &&
           reinterpret_cast<uintptr_t>(out) % 16 == 0 &&
           plane_out_size() * planes * sizeof(T) >= kStreamingBytes;
#endif
  for (int p = 0; p < planes; ++p) {
    const T* src = in + p * plane_in_size();
    T* dst = out + p * plane_out_size();
    auto run = [&](auto taps) {
      forward_plane<decltype(taps)::value>(src, dst, tmp.data(), size_, axis_.blocks,
                                           axis_.start.data(), weight, weight_by_tap_.data(),
                                           horizontal_, channels_, slot_of_channel_, stream);
    };
    switch (axis_.taps) {
      case 3:
        run(std::integral_constant<int, 3>());
        break;
      case 4:
        run(std::integral_constant<int, 4>());
        break;
      case 6:
        run(std::integral_constant<int, 6>());
        break;
      default:
        run(std::integral_constant<int, 8>());
        break;
    }
  }
#if defined(__FMA__)
  if (stream) _mm_sfence();  // the streamed stores are visible before the caller reads them
#endif
}

void BlockDct::forward(const float* in, float* out, int planes) const {
  forward_impl(in, out, planes);
}
void BlockDct::forward(const double* in, double* out, int planes) const {
  forward_impl(in, out, planes);
}

void BlockDct::adjoint(const double* in, double* out, int planes) const {
  const int n = axis_.blocks, s = size_, taps = axis_.taps;
  const double* weight = axis_.weight.data();
  std::vector<double> tmp(horizontal_.size() * size_t(s) * n);
  for (int p = 0; p < planes; ++p) {
    std::fill(tmp.begin(), tmp.end(), 0.0);
    const double* coeffs = in + p * plane_out_size();
    for (size_t ci = 0; ci < channels_.size(); ++ci) {
      const int v = channels_[ci] / 8;
      double* plane = tmp.data() + size_t(slot_of_channel_[ci]) * s * n;
      const double* c = coeffs + ci * size_t(n) * n;
      for (int by = 0; by < n; ++by) {
        const double* w = weight + (size_t(by) * 8 + v) * taps;
        for (int t = 0; t < taps; ++t) {
          double* dst = plane + size_t(axis_.start[by] + t) * n;
          for (int bx = 0; bx < n; ++bx) dst[bx] += w[t] * c[size_t(by) * n + bx];
        }
      }
    }
    double* image = out + p * plane_in_size();
    std::fill(image, image + plane_in_size(), 0.0);
    for (size_t slot = 0; slot < horizontal_.size(); ++slot)
      for (int y = 0; y < s; ++y) {
        const double* src = tmp.data() + (slot * s + y) * n;
        double* row = image + size_t(y) * s;
        for (int bx = 0; bx < n; ++bx) {
          const double* w = weight + (size_t(bx) * 8 + horizontal_[slot]) * taps;
          for (int t = 0; t < taps; ++t) row[axis_.start[bx] + t] += w[t] * src[bx];
        }
      }
  }
}

void BlockDct::gram_solve(const double* in, double* out, int planes) const {
  // (G^-1 kron G^-1) x  =  G^-1 X G^-1 for the S x S image X (G symmetric).
  const int s = size_;
  const double* g = gram_inverse_.data();
  std::vector<double> tmp(plane_in_size());
  for (int p = 0; p < planes; ++p) {
    const double* x = in + p * plane_in_size();
    double* y = out + p * plane_in_size();
    std::fill(tmp.begin(), tmp.end(), 0.0);
    for (int i = 0; i < s; ++i)
      for (int k = 0; k < s; ++k) {
        const double a = g[size_t(i) * s + k];
        const double* xr = x + size_t(k) * s;
        double* tr = tmp.data() + size_t(i) * s;
        for (int j = 0; j < s; ++j) tr[j] += a * xr[j];
      }
    for (int i = 0; i < s; ++i)
      for (int j = 0; j < s; ++j) {
        double acc = 0;
        const double* tr = tmp.data() + size_t(i) * s;
        const double* gr = g + size_t(j) * s;
        for (int k = 0; k < s; ++k) acc += tr[k] * gr[k];
        y[size_t(i) * s + j] = acc;
      }
  }
}

void BlockDct::inverse(const double* in, double* out, int planes) const {
  std::vector<double> back(planes * plane_in_size());
  adjoint(in, back.data(), planes);
  gram_solve(back.data(), out, planes);
}

int least_squares_invert(const BlockDct& transform, const double* coeffs, double* image, int planes,
                         int max_iterations, double tolerance) {
  const size_t n = transform.plane_in_size();
  std::vector<double> r(n), z(n), p(n), q(n), coeff_tmp(transform.plane_out_size());
  int most = 0;
  for (int plane = 0; plane < planes; ++plane) {
    double* x = image + plane * n;
    std::fill(x, x + n, 0.0);
    transform.adjoint(coeffs + plane * transform.plane_out_size(), r.data(), 1);
    const double target = std::sqrt(dot(r, r)) * tolerance;
    transform.gram_solve(r.data(), z.data(), 1);
    p = z;
    double rz = dot(r, z);
    int it = 0;
    for (; it < max_iterations && std::sqrt(dot(r, r)) > target; ++it) {
      transform.forward(p.data(), coeff_tmp.data(), 1);
      transform.adjoint(coeff_tmp.data(), q.data(), 1);
      const double alpha = rz / dot(p, q);
      for (size_t i = 0; i < n; ++i) {
        x[i] += alpha * p[i];
        r[i] -= alpha * q[i];
      }
      transform.gram_solve(r.data(), z.data(), 1);
      const double rz_next = dot(r, z);
      const double beta = rz_next / rz;
      rz = rz_next;
      for (size_t i = 0; i < n; ++i) p[i] = z[i] + beta * p[i];
    }
    most = std::max(most, it);
  }
  return most;
}

void block_dct_reference(const double* in, double* out, int size, int upsample, int planes) {
  check_geometry(size, upsample);
  const int up = size * upsample, n = up / 8;
  std::vector<double> image(size_t(up) * up);
  for (int p = 0; p < planes; ++p) {
    const double* x = in + size_t(p) * size * size;
    for (int yy = 0; yy < up; ++yy) {
      const BilinearTap ty = bilinear_tap(yy, size, upsample);
      for (int xx = 0; xx < up; ++xx) {
        const BilinearTap tx = bilinear_tap(xx, size, upsample);
        auto at = [&](int y, int xpos) { return x[size_t(y) * size + xpos]; };
        image[size_t(yy) * up + xx] =
            (1 - ty.w1) * ((1 - tx.w1) * at(ty.i0, tx.i0) + tx.w1 * at(ty.i0, tx.i1)) +
            ty.w1 * ((1 - tx.w1) * at(ty.i1, tx.i0) + tx.w1 * at(ty.i1, tx.i1));
      }
    }
    double* o = out + size_t(p) * 64 * n * n;
    for (int by = 0; by < n; ++by)
      for (int bx = 0; bx < n; ++bx)
        for (int v = 0; v < 8; ++v)
          for (int h = 0; h < 8; ++h) {
            double acc = 0;
            for (int i = 0; i < 8; ++i)
              for (int j = 0; j < 8; ++j)
                acc +=
                    dct_basis(v, i) * dct_basis(h, j) * image[size_t(by * 8 + i) * up + bx * 8 + j];
            o[(size_t(v * 8 + h) * n + by) * n + bx] = acc;
          }
  }
}

}  // namespace hymask
