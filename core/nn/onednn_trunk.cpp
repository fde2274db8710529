#include "core/nn/onednn_trunk.h"

#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

namespace hymask::nn {
namespace {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// A buffer for `desc` (float32 or bfloat16), owned by a tensor so that LibTorch's allocator
// (and autograd's lifetime rules) manage it.
torch::Tensor buffer(const memory::desc& desc) {
  const bool bf16 = desc.data_type() == memory::data_type::bf16;
  const size_t element = bf16 ? 2 : 4;
  return torch::empty({int64_t((desc.get_size() + element - 1) / element)},
                      bf16 ? torch::kBFloat16 : torch::kFloat);
}

memory wrap(const memory::desc& desc, const torch::Tensor& t) {
  return memory(desc, cpu_engine(), t.data_ptr());
}

// Copies a tensor from one layout into another, or passes it on when the layouts agree.
struct Relayout {
  memory::desc from;
  memory::desc to;
  std::optional<dnnl::reorder> reorder;

  Relayout() = default;
  Relayout(const memory::desc& from_desc, const memory::desc& to_desc)
      : from(from_desc), to(to_desc) {
    if (from != to)
      reorder.emplace(dnnl::reorder::primitive_desc(cpu_engine(), from, cpu_engine(), to));
  }
  torch::Tensor operator()(dnnl::stream& s, const torch::Tensor& t) const {
    if (!reorder) return t;
    torch::Tensor out = buffer(to);
    memory src = wrap(from, t), dst = wrap(to, out);
    reorder->execute(s, src, dst);
    return out;
  }
};

// LibTorch's side: float32, contiguous.
memory::desc plain(const memory::dims& dims) {
  return {dims, memory::data_type::f32,
          dims.size() == 4 ? memory::format_tag::abcd : memory::format_tag::a};
}

memory::desc any(const memory::dims& dims, memory::data_type type) {
  return {dims, type, memory::format_tag::any};
}

// One convolution and its BatchNorm (ReLU fused or not): the primitives for both passes.
struct UnitPlan {
  memory::desc src, dst;  // blocked activations in and out
  dnnl::convolution_forward conv;
  std::optional<dnnl::convolution_backward_data> conv_bwd_data;  // not for the stem
  dnnl::convolution_backward_weights conv_bwd_weights;
  Relayout weights, bwd_data_weights, weight_grad;  // plain OIHW <-> the kernels' layouts
  // The activations into the layouts of conv_bwd_weights, where it has a kernel only for others.
  Relayout bwd_weights_src, bwd_weights_diff_dst;
  dnnl::batch_normalization_forward bn;
  dnnl::batch_normalization_backward bn_bwd;
  memory::desc stats, workspace;
  double count = 0;  // values per channel that the batch statistics average
};

struct BlockPlan {
  size_t first, second;  // indices into Plan::units
  std::optional<size_t> shortcut;
  dnnl::binary add_relu;  // relu(second + shortcut)
  dnnl::eltwise_backward relu_bwd;
  dnnl::binary grad_sum;  // the two paths' input gradients, summed in place
};

struct Plan {
  std::vector<UnitPlan> units;  // the stem, then each block's first, second and shortcut
  std::vector<BlockPlan> blocks;
  Relayout input, output, output_grad;
  memory::dims output_dims;
};

struct Params {
  torch::Tensor weight, gamma, beta;
};

Params params_of(const ConvBn& u) {
  return {u.conv->weight.detach(), u.bn->weight.detach(), u.bn->bias.detach()};
}

// What one training step keeps for its backward pass.
struct UnitStep {
  torch::Tensor input, conv_out, mean, variance, workspace, weights, bwd_data_weights;
};

struct Step {
  std::vector<UnitStep> units;
  std::vector<torch::Tensor> block_outputs;
  std::vector<Params> params;
};

// `src`: the input's layout and type, which the activations keep throughout.
UnitPlan make_unit(const ConvBn& u, const memory::desc& src, bool relu, bool input_grad,
                   bool winograd) {
  const memory::dims src_dims = src.dims();
  const memory::data_type type = src.data_type();
  const auto& o = u.conv->options;
  const int64_t k = o.kernel_size()->at(0), stride = o.stride()->at(0);
  const auto* pad = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  if (!pad || o.groups() != 1 || o.bias() || o.kernel_size()->at(1) != k ||
      o.stride()->at(1) != stride || (*pad)->at(0) != (*pad)->at(1) || o.dilation()->at(0) != 1 ||
      o.dilation()->at(1) != 1)
    throw TrunkDoesNotApply("oneDNN trunk: unsupported convolution options");
  const int64_t p = (*pad)->at(0), n = src_dims[0], c = o.out_channels();
  const int64_t h = (src_dims[2] + 2 * p - k) / stride + 1,
                w = (src_dims[3] + 2 * p - k) / stride + 1;
  const memory::dims weight_dims{c, o.in_channels(), k, k}, dst_dims{n, c, h, w};
  const memory::dims strides{stride, stride}, padding{p, p};

  UnitPlan plan;
  // Winograd F(4x4, 3x3) for every 3x3 stride-1 convolution. In resnet-s's whole step
  // (bench_model_step) it was as fast as or faster than the direct kernels for every such layer;
  // leaving the 4 x 4 last block to the direct kernels cost 6-15 ms of backward.
  const bool try_winograd = winograd && k == 3 && stride == 1;
  for (algorithm alg : {algorithm::convolution_winograd, algorithm::convolution_direct}) {
    if (alg == algorithm::convolution_winograd && !try_winograd) continue;
    try {
      dnnl::convolution_forward::primitive_desc fwd(
          {prop_kind::forward_training, alg, src, any(weight_dims, type), any(dst_dims, type),
           strides, padding, padding},
          cpu_engine());
      dnnl::convolution_backward_weights::primitive_desc bwd_weights(
          {alg, fwd.src_desc(), any(weight_dims, memory::data_type::f32), fwd.dst_desc(), strides,
           padding, padding},
          cpu_engine(), fwd);
      // Without AVX-512 oneDNN has no weight-gradient kernel for the stem's one-channel plain
      // input against blocked outputs, only its reference loop: 1.8 s of a 2 s resnet-s step at
      // 112 px (docs/BENCHMARKS.md). Reordering both activations for a real kernel costs
      // milliseconds.
      const auto reference = [](const dnnl::primitive_desc_base& pd) {
        return std::string(pd.impl_info_str()).rfind("ref", 0) == 0;
      };
      std::optional<dnnl::convolution_backward_weights::primitive_desc> relaid;
      if (reference(bwd_weights)) {
        relaid.emplace(
            dnnl::convolution_backward_weights::desc{
                alg, any(src_dims, type), any(weight_dims, memory::data_type::f32),
                any(dst_dims, type), strides, padding, padding},
            cpu_engine(), fwd);
        if (reference(*relaid)) relaid.reset();
      }
      std::optional<dnnl::convolution_backward_data::primitive_desc> bwd_data;
      if (input_grad)
        bwd_data.emplace(
            dnnl::convolution_backward_data::desc{alg, fwd.src_desc(), any(weight_dims, type),
                                                  fwd.dst_desc(), strides, padding, padding},
            cpu_engine(), fwd);
      // The activations must flow between kernels without reorders.
      if (bwd_weights.src_desc() != fwd.src_desc() ||
          bwd_weights.diff_dst_desc() != fwd.dst_desc() ||
          (bwd_data && (bwd_data->diff_src_desc() != fwd.src_desc() ||
                        bwd_data->diff_dst_desc() != fwd.dst_desc())))
        continue;
      plan.src = fwd.src_desc();
      plan.dst = fwd.dst_desc();
      plan.conv = dnnl::convolution_forward(fwd);
      const auto& weights_pd = relaid ? *relaid : bwd_weights;
      plan.conv_bwd_weights = dnnl::convolution_backward_weights(weights_pd);
      plan.bwd_weights_src = Relayout(plan.src, weights_pd.src_desc());
      plan.bwd_weights_diff_dst = Relayout(plan.dst, weights_pd.diff_dst_desc());
      plan.weights = Relayout(plain(weight_dims), fwd.weights_desc());
      plan.weight_grad = Relayout(weights_pd.diff_weights_desc(), plain(weight_dims));
      if (bwd_data) {
        plan.conv_bwd_data = dnnl::convolution_backward_data(*bwd_data);
        plan.bwd_data_weights = Relayout(plain(weight_dims), bwd_data->weights_desc());
      }
      break;
    } catch (const dnnl::error&) {
      // This algorithm has no kernel for the shape here; try the next.
    }
  }
  if (!plan.conv) throw TrunkDoesNotApply("oneDNN trunk: no convolution kernel for this shape");

  auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  if (relu) flags |= dnnl::normalization_flags::fuse_norm_relu;
  const float eps = float(u.bn->options.eps());
  dnnl::batch_normalization_forward::primitive_desc bn(
      {prop_kind::forward_training, plan.dst, eps, flags}, cpu_engine());
  dnnl::batch_normalization_backward::primitive_desc bn_bwd(
      {prop_kind::backward, plan.dst, plan.dst, eps, flags}, cpu_engine(), bn);
  plan.bn = dnnl::batch_normalization_forward(bn);
  plan.bn_bwd = dnnl::batch_normalization_backward(bn_bwd);
  plan.stats = bn.mean_desc();
  plan.workspace = bn.workspace_desc();
  plan.count = double(n * h * w);
  if (plan.count < 2)  // LibTorch refuses this itself, with its own message
    throw TrunkDoesNotApply("oneDNN trunk: BatchNorm needs more than one value per channel");
  return plan;
}

// Convolution, then BatchNorm (and ReLU) with the batch's statistics.
torch::Tensor unit_forward(dnnl::stream& s, const UnitPlan& u, const Params& p,
                           const torch::Tensor& input, UnitStep& keep) {
  keep.input = input;
  keep.weights = u.weights(s, p.weight);
  if (u.conv_bwd_data) keep.bwd_data_weights = u.bwd_data_weights(s, p.weight);
  keep.conv_out = buffer(u.dst);
  u.conv.execute(s, {{DNNL_ARG_SRC, wrap(u.src, input)},
                     {DNNL_ARG_WEIGHTS, wrap(u.weights.to, keep.weights)},
                     {DNNL_ARG_DST, wrap(u.dst, keep.conv_out)}});
  torch::Tensor out = buffer(u.dst);
  keep.mean = buffer(u.stats);
  keep.variance = buffer(u.stats);
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, wrap(u.dst, keep.conv_out)}, {DNNL_ARG_DST, wrap(u.dst, out)},
      {DNNL_ARG_MEAN, wrap(u.stats, keep.mean)},  {DNNL_ARG_VARIANCE, wrap(u.stats, keep.variance)},
      {DNNL_ARG_SCALE, wrap(u.stats, p.gamma)},   {DNNL_ARG_SHIFT, wrap(u.stats, p.beta)}};
  if (u.workspace.get_size() > 0) {
    keep.workspace = torch::empty({int64_t(u.workspace.get_size())}, torch::kUInt8);
    args.emplace(DNNL_ARG_WORKSPACE, wrap(u.workspace, keep.workspace));
  }
  u.bn.execute(s, args);
  return out;
}

// Gradients of one unit: returns the input's gradient (undefined when not wanted) and appends
// those of the weight, gamma and beta to `grads`.
torch::Tensor unit_backward(dnnl::stream& s, const UnitPlan& u, const Params& p,
                            const UnitStep& keep, const torch::Tensor& grad_out,
                            std::vector<torch::Tensor>& grads) {
  torch::Tensor grad_conv = buffer(u.dst);
  torch::Tensor grad_gamma = torch::empty_like(p.gamma), grad_beta = torch::empty_like(p.beta);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(u.dst, keep.conv_out)},
                                       {DNNL_ARG_MEAN, wrap(u.stats, keep.mean)},
                                       {DNNL_ARG_VARIANCE, wrap(u.stats, keep.variance)},
                                       {DNNL_ARG_DIFF_DST, wrap(u.dst, grad_out)},
                                       {DNNL_ARG_SCALE, wrap(u.stats, p.gamma)},
                                       {DNNL_ARG_SHIFT, wrap(u.stats, p.beta)},
                                       {DNNL_ARG_DIFF_SRC, wrap(u.dst, grad_conv)},
                                       {DNNL_ARG_DIFF_SCALE, wrap(u.stats, grad_gamma)},
                                       {DNNL_ARG_DIFF_SHIFT, wrap(u.stats, grad_beta)}};
  if (keep.workspace.defined()) args.emplace(DNNL_ARG_WORKSPACE, wrap(u.workspace, keep.workspace));
  u.bn_bwd.execute(s, args);

  torch::Tensor grad_weights = buffer(u.weight_grad.from);
  const torch::Tensor src = u.bwd_weights_src(s, keep.input);
  const torch::Tensor diff_dst = u.bwd_weights_diff_dst(s, grad_conv);
  u.conv_bwd_weights.execute(s, {{DNNL_ARG_SRC, wrap(u.bwd_weights_src.to, src)},
                                 {DNNL_ARG_DIFF_DST, wrap(u.bwd_weights_diff_dst.to, diff_dst)},
                                 {DNNL_ARG_DIFF_WEIGHTS, wrap(u.weight_grad.from, grad_weights)}});
  grads.push_back(u.weight_grad(s, grad_weights).view(p.weight.sizes()));
  grads.push_back(grad_gamma);
  grads.push_back(grad_beta);

  if (!u.conv_bwd_data) return {};
  torch::Tensor grad_in = buffer(u.src);
  u.conv_bwd_data->execute(s,
                           {{DNNL_ARG_DIFF_DST, wrap(u.dst, grad_conv)},
                            {DNNL_ARG_WEIGHTS, wrap(u.bwd_data_weights.to, keep.bwd_data_weights)},
                            {DNNL_ARG_DIFF_SRC, wrap(u.src, grad_in)}});
  return grad_in;
}

// The trunk's node in the autograd graph. Its inputs are x and each unit's weight, gamma and
// beta, in that order.
class TrunkBackward : public torch::autograd::Node {
 public:
  TrunkBackward(std::shared_ptr<const Plan> plan, Step step)
      : plan_(std::move(plan)), step_(std::move(step)) {}

  std::string name() const override { return "OnednnTrunkBackward"; }
  void release_variables() override { step_ = {}; }

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    torch::autograd::variable_list out(num_outputs());
    if (!grads[0].defined() || step_.units.empty()) return out;
    const Plan& plan = *plan_;
    dnnl::stream s(cpu_engine());
    torch::Tensor grad = plan.output_grad(s, grads[0].contiguous());
    // Each unit's parameter gradients, in unit order, filled from the back.
    std::vector<std::vector<torch::Tensor>> unit_grads(plan.units.size());
    auto backward = [&](size_t unit, const torch::Tensor& g) {
      return unit_backward(s, plan.units[unit], step_.params[unit], step_.units[unit], g,
                           unit_grads[unit]);
    };
    for (size_t b = plan.blocks.size(); b-- > 0;) {
      const BlockPlan& block = plan.blocks[b];
      const memory::desc& out_desc = plan.units[block.second].dst;
      torch::Tensor g = buffer(out_desc);
      block.relu_bwd.execute(s, {{DNNL_ARG_DST, wrap(out_desc, step_.block_outputs[b])},
                                 {DNNL_ARG_DIFF_DST, wrap(out_desc, grad)},
                                 {DNNL_ARG_DIFF_SRC, wrap(out_desc, g)}});
      torch::Tensor grad_in = backward(block.first, backward(block.second, g));
      const torch::Tensor other = block.shortcut ? backward(*block.shortcut, g) : g;
      const memory::desc& in_desc = plan.units[block.first].src;
      block.grad_sum.execute(s, {{DNNL_ARG_SRC_0, wrap(in_desc, grad_in)},
                                 {DNNL_ARG_SRC_1, wrap(in_desc, other)},
                                 {DNNL_ARG_DST, wrap(in_desc, grad_in)}});
      grad = grad_in;
    }
    backward(0, grad);  // applies() rules out an input that needs its gradient
    s.wait();
    size_t i = 1;
    for (auto& g : unit_grads)
      for (auto& t : g) out[i++] = std::move(t);
    return out;
  }

 private:
  std::shared_ptr<const Plan> plan_;
  Step step_;
};

void update_running_stats(const ConvBn& u, const UnitStep& keep, double count) {
  torch::NoGradGuard no_grad;
  const double m = *u.bn->options.momentum();
  u.bn->running_mean.mul_(1 - m).add_(keep.mean, m);
  // LibTorch keeps the unbiased variance; oneDNN gives the biased one.
  u.bn->running_var.mul_(1 - m).add_(keep.variance, m * count / (count - 1));
  u.bn->num_batches_tracked.add_(1);
}

class OnednnTrunk : public TrainingTrunk {
 public:
  OnednnTrunk(ConvBn stem, std::vector<TrunkBlock> blocks, bool winograd)
      : stem_(std::move(stem)), blocks_(std::move(blocks)), winograd_(winograd) {
    units_.push_back(stem_);
    for (const TrunkBlock& b : blocks_) {
      units_.push_back(b.first);
      units_.push_back(b.second);
      if (b.shortcut) units_.push_back(*b.shortcut);
    }
  }
  bool applies(const torch::Tensor& x) const override;
  torch::Tensor forward(const torch::Tensor& x) override;

 private:
  std::shared_ptr<Plan> plan_for(const torch::Tensor& x);

  ConvBn stem_;
  std::vector<TrunkBlock> blocks_;
  std::vector<ConvBn> units_;  // in Plan::units' order
  bool winograd_;
  std::map<std::vector<int64_t>, std::shared_ptr<Plan>> plans_;  // by input shape and type
};

// The activations' type: float32, or bfloat16 under LibTorch's CPU autocast to bfloat16 (as
// autocast would run the convolutions; statistics, parameters and gradients stay float32).
std::optional<memory::data_type> activation_type() {
  if (!at::autocast::is_cpu_enabled()) return memory::data_type::f32;
  if (at::autocast::get_autocast_cpu_dtype() == at::kBFloat16) return memory::data_type::bf16;
  return std::nullopt;
}

bool OnednnTrunk::applies(const torch::Tensor& x) const {
  if (x.dim() != 4 || x.scalar_type() != torch::kFloat || !x.device().is_cpu() ||
      x.requires_grad() || !activation_type())
    return false;
  auto ok = [](const ConvBn& u) {
    const auto& o = u.bn->options;
    const torch::Tensor& w = u.conv->weight;  // read as plain OIHW
    return u.bn->is_training() && o.affine() && o.track_running_stats() && o.momentum() &&
           w.device().is_cpu() && w.scalar_type() == torch::kFloat && w.is_contiguous();
  };
  return std::all_of(units_.begin(), units_.end(), ok);
}

std::shared_ptr<Plan> OnednnTrunk::plan_for(const torch::Tensor& x) {
  const memory::dims in_dims(x.sizes().begin(), x.sizes().end());
  const memory::data_type type = *activation_type();
  std::vector<int64_t> key = in_dims;
  key.push_back(int64_t(type));
  if (auto found = plans_.find(key); found != plans_.end()) return found->second;

  auto plan = std::make_shared<Plan>();
  plan->units.push_back(make_unit(stem_, any(in_dims, type), true, false, winograd_));
  plan->input = Relayout(plain(in_dims), plan->units[0].src);
  for (const TrunkBlock& b : blocks_) {
    const memory::desc in = plan->units.back().dst;
    BlockPlan block;
    block.first = plan->units.size();
    plan->units.push_back(make_unit(b.first, in, true, true, winograd_));
    block.second = plan->units.size();
    const memory::desc mid = plan->units.back().dst;
    plan->units.push_back(make_unit(b.second, mid, false, true, winograd_));
    if (b.shortcut) {
      block.shortcut = plan->units.size();
      plan->units.push_back(make_unit(*b.shortcut, in, false, true, winograd_));
    }
    const memory::desc out = plan->units[block.second].dst;
    if ((block.shortcut && plan->units[*block.shortcut].dst != out) ||
        (!block.shortcut && in != out))
      throw TrunkDoesNotApply("oneDNN trunk: the residual paths' layouts differ");
    dnnl::post_ops relu;
    relu.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(relu);
    block.add_relu = dnnl::binary(
        dnnl::binary::primitive_desc({algorithm::binary_add, out, out, out}, attr, cpu_engine()));
    dnnl::eltwise_forward::primitive_desc hint(
        {prop_kind::forward_training, algorithm::eltwise_relu_use_dst_for_bwd, out, 0.f},
        cpu_engine());
    block.relu_bwd = dnnl::eltwise_backward(dnnl::eltwise_backward::primitive_desc(
        {algorithm::eltwise_relu_use_dst_for_bwd, out, out, 0.f}, cpu_engine(), hint));
    block.grad_sum = dnnl::binary(
        dnnl::binary::primitive_desc({algorithm::binary_add, in, in, in}, cpu_engine()));
    plan->blocks.push_back(block);
  }
  const memory::desc out = plan->units[plan->blocks.empty() ? 0 : plan->blocks.back().second].dst;
  plan->output_dims = out.dims();
  plan->output = Relayout(out, plain(plan->output_dims));
  plan->output_grad = Relayout(plain(plan->output_dims), out);
  plans_.emplace(key, plan);
  return plan;
}

torch::Tensor OnednnTrunk::forward(const torch::Tensor& input) {
  std::shared_ptr<Plan> plan;
  try {
    plan = plan_for(input);
  } catch (const dnnl::error& e) {
    throw TrunkDoesNotApply(std::string("oneDNN trunk: ") + e.what());
  }
  dnnl::stream s(cpu_engine());
  Step step;
  for (const ConvBn& u : units_) step.params.push_back(params_of(u));
  step.units.resize(units_.size());

  const torch::Tensor x = input.detach().contiguous();
  torch::Tensor act =
      unit_forward(s, plan->units[0], step.params[0], plan->input(s, x), step.units[0]);
  for (const BlockPlan& block : plan->blocks) {
    auto run = [&](size_t unit, const torch::Tensor& in) {
      return unit_forward(s, plan->units[unit], step.params[unit], in, step.units[unit]);
    };
    const torch::Tensor second = run(block.second, run(block.first, act));
    const torch::Tensor shortcut = block.shortcut ? run(*block.shortcut, act) : act;
    const memory::desc& out_desc = plan->units[block.second].dst;
    torch::Tensor out = buffer(out_desc);
    block.add_relu.execute(s, {{DNNL_ARG_SRC_0, wrap(out_desc, second)},
                               {DNNL_ARG_SRC_1, wrap(out_desc, shortcut)},
                               {DNNL_ARG_DST, wrap(out_desc, out)}});
    step.block_outputs.push_back(out);
    act = out;
  }
  torch::Tensor output = plan->output(s, act).view(plan->output_dims);
  s.wait();

  for (size_t i = 0; i < units_.size(); ++i)
    update_running_stats(units_[i], step.units[i], plan->units[i].count);

  torch::autograd::variable_list inputs{input};
  for (const ConvBn& u : units_) {
    inputs.push_back(u.conv->weight);
    inputs.push_back(u.bn->weight);
    inputs.push_back(u.bn->bias);
  }
  if (torch::GradMode::is_enabled() && torch::autograd::any_variable_requires_grad(inputs)) {
    auto node = std::shared_ptr<TrunkBackward>(new TrunkBackward(plan, std::move(step)),
                                               torch::autograd::deleteNode);
    node->set_next_edges(torch::autograd::collect_next_edges(inputs));
    torch::autograd::set_history(output, node);
  }
  return output;
}

}  // namespace

std::unique_ptr<TrainingTrunk> make_onednn_trunk(ConvBn stem, std::vector<TrunkBlock> blocks,
                                                 bool winograd) {
  return std::make_unique<OnednnTrunk>(std::move(stem), std::move(blocks), winograd);
}

}  // namespace hymask::nn
