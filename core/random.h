// Reproducible randomness: every draw in hymask comes from a stream keyed by
// (seed, step, sample, purpose), so that runs, threads and tests are deterministic no matter which
// thread handles which sample. The generator is xoshiro256** seeded through splitmix64; the
// distributions are written out here (not std::*_distribution) so the bytes do not depend on the
// standard library.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace hymask {

// What a stream is used for; distinct purposes give independent streams for the same sample.
enum class Purpose : uint64_t {
  kPartners = 1,
  kWeights = 2,
  kSigns = 3,
  kChannels = 4,
  kPermutation = 5,
  kSynthIdentity = 6,
  kSynthImage = 7,
  kShuffle = 8,
  kPolicy = 9,
  kNoise = 10,
  kValidationPairs = 11,
};

inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    uint64_t s = seed;
    for (auto& word : state_) word = splitmix64(s);
  }

  // The stream for one (seed, step, sample, purpose).
  static Rng stream(uint64_t seed, uint64_t step, uint64_t sample, Purpose purpose) {
    uint64_t h = seed;
    uint64_t key = splitmix64(h);
    for (uint64_t part : {step, sample, static_cast<uint64_t>(purpose)}) {
      uint64_t mixed = key ^ (part * 0xD6E8FEB86659FD93ull);
      key = splitmix64(mixed);
    }
    return Rng(key);
  }

  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  // Uniform integer in [0, n), n > 0, without modulo bias.
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return x % n;
  }

  // Standard normal (Box-Muller; both values of a pair are used).
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1;
    do u1 = uniform();
    while (u1 <= 0.0);
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * M_PI * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * M_PI * u2);
  }

  // Gamma(shape, 1) by Marsaglia and Tsang (2000), with the shape < 1 boost.
  double gamma(double shape) {
    if (shape < 1.0) return gamma(shape + 1.0) * std::pow(uniform_open(), 1.0 / shape);
    const double d = shape - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = uniform_open();
      if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
  }

  // Fisher-Yates.
  template <typename T>
  void shuffle(std::vector<T>& items) {
    for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  double uniform_open() {
    double u;
    do u = uniform();
    while (u <= 0.0);
    return u;
  }

  uint64_t state_[4];
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace hymask
