#include "attack/multi_observation.h"

#include <torch/nn/functional/normalization.h>
#include <torch/utils.h>

#include <cmath>

namespace hymask::attack {

std::vector<float> cluster_and_average(const Observations& obs, double contrast, int group,
                                       bool rescale) {
  torch::NoGradGuard no_grad;
  const int64_t count = int64_t(obs.count()), dims = int64_t(obs.image_floats);
  const torch::Tensor all = torch::from_blob(const_cast<float*>(obs.linear.data()), {count, dims});
  const torch::Tensor centre = all.mean(0, true);
  const torch::Tensor deviation = all - centre;
  // Similarity on 4 x 4 block means: faces match in their coarse structure, at 1/16 of the cost.
  torch::Tensor coarse = deviation.view({count, obs.planes, obs.size, obs.size});
  if (obs.size % 4 == 0) coarse = torch::avg_pool2d(coarse, 4);
  const torch::Tensor unit = torch::nn::functional::normalize(
      coarse.reshape({count, -1}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  const int64_t members = std::min<int64_t>(group, count);
  std::vector<float> out(size_t(count) * dims);
  for (int64_t first = 0; first < count; first += 256) {  // similarity rows in blocks
    const int64_t b = std::min<int64_t>(256, count - first);
    const torch::Tensor nearest =
        std::get<1>(torch::mm(unit.narrow(0, first, b), unit.t()).topk(members, 1));
    for (int64_t i = 0; i < b; ++i) {
      torch::Tensor candidate = deviation.index_select(0, nearest[i]).mean(0);
      if (rescale) {
        const double spread = candidate.std().item<double>();
        if (spread > 0) candidate = candidate * float(contrast / spread);
      }
      candidate = (candidate + centre.squeeze(0)).clamp(-128, 127).contiguous();
      std::copy_n(candidate.data_ptr<float>(), dims, out.data() + (first + i) * dims);
    }
  }
  return out;
}

}  // namespace hymask::attack
