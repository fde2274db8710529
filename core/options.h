// The enumerated options of a config, each parsed once, when the config is read, into a typed
// value (core/config.h): code compares enums, never names. One table per enumeration holds its
// names, so that parsing, the config file hymask writes and the error messages agree.
#pragma once

#include <array>
#include <string>
#include <utility>

#include "core/error.h"

namespace hymask {

enum class BadFilePolicy { kSkip, kFail };                // data.on_bad_file
enum class Precision { kFp32, kBf16 };                    // train.precision
enum class Backend { kAuto, kMpi, kNccl };                // train.backend (comm/factory.h)
enum class DeviceChoice { kAuto, kCpu, kCuda };           // train.device (worker/device.h)
enum class ValMetric { kIdentification, kVerification };  // train.val_metric
enum class MaskDomain { kBlockDct, kSpectrum };           // mask.domain (core/masking.h)

constexpr std::array<std::pair<BadFilePolicy, const char*>, 2> option_names(BadFilePolicy) {
  return {{{BadFilePolicy::kSkip, "skip"}, {BadFilePolicy::kFail, "fail"}}};
}
constexpr std::array<std::pair<Precision, const char*>, 2> option_names(Precision) {
  return {{{Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"}}};
}
constexpr std::array<std::pair<Backend, const char*>, 3> option_names(Backend) {
  return {{{Backend::kAuto, "auto"}, {Backend::kMpi, "mpi"}, {Backend::kNccl, "nccl"}}};
}
constexpr std::array<std::pair<DeviceChoice, const char*>, 3> option_names(DeviceChoice) {
  return {
      {{DeviceChoice::kAuto, "auto"}, {DeviceChoice::kCpu, "cpu"}, {DeviceChoice::kCuda, "cuda"}}};
}

constexpr std::array<std::pair<ValMetric, const char*>, 2> option_names(ValMetric) {
  return {
      {{ValMetric::kIdentification, "identification"}, {ValMetric::kVerification, "verification"}}};
}

constexpr std::array<std::pair<MaskDomain, const char*>, 2> option_names(MaskDomain) {
  return {{{MaskDomain::kBlockDct, "block-dct"}, {MaskDomain::kSpectrum, "spectrum"}}};
}

// "a, b or c": the names of an enumeration, for messages.
template <typename E>
std::string option_choices() {
  std::string out;
  const auto names = option_names(E{});
  for (size_t i = 0; i < names.size(); ++i)
    out += std::string(i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i].second;
  return out;
}

template <typename E>
const char* option_name(E value) {
  for (const auto& [v, name] : option_names(value))
    if (v == value) return name;
  return "?";
}

// The value of a name, or a ConfigError that lists the choices.
template <typename E>
E parse_option(const std::string& name) {
  for (const auto& [value, known] : option_names(E{}))
    if (name == known) return value;
  throw ConfigError("must be " + option_choices<E>() + ", not '" + name + "'");
}

}  // namespace hymask
