#include "worker/device.h"

#include <ATen/Context.h>
#include <torch/cuda.h>

#include <cstdlib>

#include "core/error.h"

namespace hymask {

torch::Device training_device(const std::string& name, int local_rank) {
  if (name != "auto" && name != "cpu" && name != "cuda")
    throw ConfigError("train.device '" + name + "': choose auto, cpu or cuda");
  const int gpus = int(torch::cuda::device_count());
  if (name == "cpu" || (name == "auto" && gpus == 0)) return torch::kCPU;
  if (!at::hasCUDA())
    throw ConfigError(
        "train.device cuda: this hymask was built against a LibTorch without CUDA; build it "
        "with scripts/build_cuda.sh, or train with train.device cpu");
  if (gpus == 0) {
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    throw ConfigError(
        "train.device cuda: no GPU is visible to this process "
        "(CUDA_VISIBLE_DEVICES='" +
        std::string(visible ? visible : "<unset>") +
        "'); train with train.device cpu, or run where a GPU is");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % gpus));
}

}  // namespace hymask
