// The device a process trains on, chosen once from train.device and the GPUs it can see.
#pragma once

#include <torch/types.h>

#include "core/options.h"

namespace hymask {

// auto: CUDA when this build's LibTorch has it and a GPU is visible, else the CPU; cpu;
// cuda: GPU local_rank modulo the visible GPUs, or a ConfigError that says why there is none.
torch::Device training_device(DeviceChoice choice, int local_rank);

}  // namespace hymask
