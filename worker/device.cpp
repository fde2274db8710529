#include "worker/device.h"

#include <torch/cuda.h>

#include <cstdlib>

#include "core/error.h"

namespace hymask {

torch::Device training_device(DeviceChoice choice, int local_rank) {
  const int gpus = int(torch::cuda::device_count());
  if (choice == DeviceChoice::kCpu || (choice == DeviceChoice::kAuto && gpus == 0))
    return torch::kCPU;
  if (gpus == 0) {
    // LibTorch answers the same when it has no CUDA and when it sees no GPU.
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    throw ConfigError(
        "train.device cuda: no GPU is usable here: none is visible to this process "
        "(CUDA_VISIBLE_DEVICES='" +
        std::string(visible ? visible : "<unset>") +
        "'), or this hymask was built against a LibTorch without CUDA (scripts/build_cuda.sh "
        "builds one with it); train with train.device cpu or auto");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % gpus));
}

}  // namespace hymask
