#include "attack/model_inversion.h"

#include <spdlog/spdlog.h>
#include <torch/optim/adam.h>
#include <torch/utils.h>

namespace hymask::attack {

torch::Tensor invert_identities(FaceModel& model, const MaskingTransform& transform,
                                const std::vector<int>& labels, const std::vector<float>& prior,
                                int planes, int size, const InversionOptions& options) {
  torch::manual_seed(options.seed);
  model.train(false);
  for (torch::Tensor& p : model.parameters()) p.requires_grad_(false);
  const int64_t count = int64_t(labels.size());
  const torch::Tensor start =
      (torch::from_blob(const_cast<float*>(prior.data()), {1, planes, size, size}) / 128.0f)
          .repeat({count, 1, 1, 1});
  torch::Tensor image = start.clone().requires_grad_(true);
  const torch::Tensor targets = torch::tensor(std::vector<int64_t>(labels.begin(), labels.end()));
  torch::optim::Adam optimizer({image}, torch::optim::AdamOptions(options.lr));
  for (int step = 0; step < options.steps; ++step) {
    optimizer.zero_grad();
    // A random shift of up to 3 pixels each step (circular; the borders are background).
    const int64_t dy = torch::randint(-3, 4, {1}).item<int64_t>();
    const int64_t dx = torch::randint(-3, 4, {1}).item<int64_t>();
    const torch::Tensor shifted = torch::roll(image.clamp(-1, 1), {dy, dx}, {2, 3});
    const torch::Tensor cosine =
        model.head->cosine(model.backbone->forward(transform(shifted * 128.0f)));
    const torch::Tensor fit = cosine.gather(1, targets.unsqueeze(1)).mean();
    const torch::Tensor tv =
        (image.narrow(2, 1, size - 1) - image.narrow(2, 0, size - 1)).abs().mean() +
        (image.narrow(3, 1, size - 1) - image.narrow(3, 0, size - 1)).abs().mean();
    const torch::Tensor loss = -fit + options.tv * tv;
    loss.backward();
    optimizer.step();
    if ((step + 1) % 50 == 0 || step + 1 == options.steps)
      spdlog::info("model inversion: step {}/{} | cosine to the target centre {:.3f}", step + 1,
                   options.steps, fit.item<double>());
  }
  for (torch::Tensor& p : model.parameters()) p.requires_grad_(true);
  return (image.detach().clamp(-1, 1) * 128.0f).clamp(-128, 127);
}

}  // namespace hymask::attack
