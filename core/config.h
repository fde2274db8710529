// hymask's configuration: one YAML file, key=value overrides on the command line, and a table of
// every key with its type, default and meaning (visit_config_fields), from which parsing,
// validation, `hymask config check` and the key reference are all derived.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/dataset.h"
#include "core/masking.h"
#include "core/options.h"
#include "core/preprocess.h"
#include "core/synth.h"

namespace hymask {

struct Config {
  uint64_t seed = 1;
  struct Data {
    std::string format = "folder";
    std::string root;  // empty: the built-in synthetic faces
    std::string split = "all";
    std::string pairs;
    std::string shard = "image";
    int shards = 0;
    BadFilePolicy on_bad_file = BadFilePolicy::kSkip;
    int image_size = 112;
    int crop = 0;
    std::string color = "grey";
    int threads = 2;
    int prefetch = 4;
    int synthetic_identities = 100;
    int synthetic_images_per_identity = 20;
  } data;
  struct Mask {
    std::string method = "mixup";
    MaskDomain domain = MaskDomain::kBlockDct;
    int upsample = 1;
    int drop_level = 0;
    int k = 2;
    std::string weights = "dirichlet";
    double dirichlet_alpha = 1.0;
    double weight_cap = 1.0;
    bool sign_flip = false;
    bool normalize = false;
    int channel_subset = 0;
    bool permute_channels = false;
    bool noise = false;
    double dp_epsilon = 8.0;
    double dp_clip = 32.0;
  } mask;
  struct Model {
    std::string backbone = "resnet-s";
    int embedding = 512;
    bool batchnorm = true;
    bool onednn = true;
    std::string head = "arcface";
    double scale = 64.0;
    double margin = 0.5;
  } model;
  struct Train {
    int batch_size = 64;
    int epochs = 10;
    int stop_after = 0;
    double lr = 0.1;
    double momentum = 0.9;
    double weight_decay = 5e-4;
    double warmup_epochs = 1.0;
    std::string schedule = "cosine";
    std::vector<int> lr_steps;
    Precision precision = Precision::kFp32;
    int threads = 2;
    int checkpoint_every = 200;
    int log_every = 20;
    double bucket_mb = 25.0;
    double comm_timeout_s = 300.0;
    Backend backend = Backend::kAuto;
    DeviceChoice device = DeviceChoice::kAuto;
    int val_samples = 0;
    int val_every = 0;
    ValMetric val_metric = ValMetric::kIdentification;
  } train;
  struct Policy {
    int update_every = 2;
    std::string reward = "teacher";
    int k_min = 2;
    int k_max = 6;
    int drop_levels = 1;
    int noise_levels = 1;
    bool noise_control = false;
    int hidden = 32;
    double lr = 0.01;
    double entropy = 0.01;
    double baseline_momentum = 0.1;
    double teacher_momentum = 0.99;
    double max_accuracy_drop = 3.0;
    std::string reference;
    double lambda_lr = 0.005;
    double lambda_gain = 0.0;
    double lambda_init = 0.0;
    double start_mildest = 0.0;
    double finish = 0.25;
  } policy;
  struct Eval {
    int batch_size = 128;
    int synthetic_probes = 3;
    bool audit = false;
    int audit_targets = 1000;
    int audit_identities = 16;
    int audit_inversion_steps = 50;
    std::string audit_evaluator;
    std::string batchnorm = "model";
    int batchnorm_images = 2048;
  } eval;
  struct Coordinator {
    std::string address;  // host:port of hymask-coordinator; empty: local policy mode
    std::string listen = "127.0.0.1:7777";
    std::string console = "127.0.0.1:7778";
    int broadcast_every = 64;
    double broadcast_seconds = 10.0;
    double heartbeat_timeout_s = 30.0;
    double give_up_s = 600.0;
    int max_connections = 1024;
    bool tls = false;
    std::string tls_certificate;
    std::string tls_private_key;
    std::string tls_trusted;
  } coordinator;
  struct Attack {
    std::string aux_root = "../shared/data/lfw/lfw-deepfunneled";
    int aux_crop = 150;
    int aux_images = 0;
    int targets = 0;
    int observed_epochs = 8;
    double ssim_threshold = 0.7;
    int reconstruction_epochs = 30;
    int reconstruction_width = 16;
    int reconstruction_restarts = 3;
    double identity_weight = 0;
    int inversion_identities = 40;
    int inversion_steps = 100;
    double inversion_lr = 0.05;
    double inversion_tv = 0.1;
  } attack;

  // Where the config came from, for messages ("<defaults>" when no file was given).
  std::string origin = "<defaults>";
};

// Calls visit(key, member, help) for every key, in file order.
template <typename Visitor>
void visit_config_fields(Config& c, Visitor&& visit) {
  visit("seed", c.seed, "Seed of every random draw: synthetic faces, masking, shuffling.");
  visit("data.format", c.data.format,
        "folder (one subfolder per identity) or recordio (InsightFace's PREFIX.rec/.idx, as "
        "faces_emore/train: data.root is then the PREFIX).");
  visit("data.root", c.data.root,
        "Image folder, one subfolder per identity (JPEG/PNG/PGM). Empty: built-in synthetic "
        "faces.");
  visit("data.split", c.data.split,
        "Which samples to use: all | orl-train | orl-test (ORL-id protocol) | lfw5-train | "
        "lfw5-aux (LFW-disjoint-5: training people / people with 1-4 images).");
  visit("data.pairs", c.data.pairs,
        "LFW pairs.txt for the lfw5 splits. Empty: pairs.txt beside data.root.");
  visit("data.shard", c.data.shard,
        "How ranks split the data: image (every n-th sample) or identity (whole people). A "
        "data.root containing {rank} gives each rank its own folder instead.");
  visit("data.shards", c.data.shards,
        "Number of shards (0 = one per rank). A rank owns the shards s with s mod ranks == its "
        "rank and trains on train.batch_size samples of each per step.");
  visit("data.on_bad_file", c.data.on_bad_file,
        "skip: skip unreadable or corrupt images, counted and reported; fail: stop at the first.");
  visit("data.image_size", c.data.image_size, "Side S of the square face after preprocessing.");
  visit("data.crop", c.data.crop,
        "Side of the centred square cut from each source image before resizing; 0 = the largest.");
  visit("data.color", c.data.color, "grey (1 plane) or ycbcr (3 planes).");
  visit("data.threads", c.data.threads, "Threads decoding and masking ahead of the consumer.");
  visit("data.prefetch", c.data.prefetch, "Batches prepared ahead of the consumer.");
  visit("data.synthetic_identities", c.data.synthetic_identities,
        "Identities of the synthetic dataset (when data.root is empty).");
  visit("data.synthetic_images_per_identity", c.data.synthetic_images_per_identity,
        "Images per synthetic identity.");
  visit("mask.method", c.mask.method,
        "none (raw pixels) | mask (channel masking, PPFR-FD-like) | instahide (pixel MixUp) | "
        "mixup (frequency MixUp, fixed k) | adaptive (policy-chosen) | dp (DCTDP-like Laplace "
        "noise on the kept coefficients).");
  visit("mask.domain", c.mask.domain,
        "Where the frequency methods (mask, mixup, adaptive, dp) drop the low frequencies: "
        "block-dct (8x8 blocks' DCT channels, the paper's) or spectrum (the face's global 2-D "
        "spectrum, frequencies within (mask.drop_level + 1) x S / 16 cycles per image removed, "
        "about as many values as the blocks' DC; the high-pass image is what the network sees). "
        "spectrum takes no mask.upsample, sign_flip, permute_channels, channel_subset or "
        "policy.drop_levels: they act on the blocks' channels.");
  visit("mask.upsample", c.mask.upsample,
        "Bilinear upsampling u before the 8x8 block DCT: 1, 2, 4 or 8. u >= 2 is overcomplete and "
        "linearly invertible (see README, privacy).");
  visit("mask.drop_level", c.mask.drop_level,
        "Drop every DCT channel with v + h <= t (t = 0: DC only; -1 keeps all).");
  visit("mask.k", c.mask.k, "Samples mixed into each protected sample (mixup, instahide).");
  visit("mask.weights", c.mask.weights,
        "Mixing weights: dirichlet (Dirichlet(alpha)) or gaussian (|N(0,1)| normalised, "
        "InstaHide).");
  visit("mask.dirichlet_alpha", c.mask.dirichlet_alpha, "Concentration of the Dirichlet weights.");
  visit("mask.weight_cap", c.mask.weight_cap,
        "Largest allowed mixing weight, in [1/k, 1]. adaptive: caps the actions the policy "
        "chooses; its finish (policy.finish) mixes uncapped.");
  visit("mask.sign_flip", c.mask.sign_flip,
        "Flip the sign of each coefficient at random (secret, per sample).");
  visit("mask.normalize", c.mask.normalize,
        "Rescale each mixture of k faces by 1 / sqrt(sum of squared weights), to the energy of "
        "one face: the network then sees samples of the same scale whatever k is, and as "
        "evaluation's unmixed ones.");
  visit("mask.channel_subset", c.mask.channel_subset,
        "If > 0, each sample keeps only this many randomly chosen channels (PartialFace-like).");
  visit("mask.permute_channels", c.mask.permute_channels,
        "Store channels in a secret random order fixed for the run.");
  visit("mask.noise", c.mask.noise,
        "mixup: add dp's clipped Laplace noise (mask.dp_epsilon, mask.dp_clip) to every mixture "
        "as well.");
  visit("mask.dp_epsilon", c.mask.dp_epsilon,
        "dp: privacy budget per kept coefficient (Laplace scale 2 dp_clip / epsilon); an image "
        "of d coefficients composes to d x epsilon.");
  visit("mask.dp_clip", c.mask.dp_clip,
        "dp: each coefficient is clipped to [-dp_clip, dp_clip] (pixels are centred, -128..127).");
  visit("model.backbone", c.model.backbone,
        "resnet-s (small, for CPU) | iresnet18 | iresnet50 (ArcFace's standard, for GPUs).");
  visit("model.embedding", c.model.embedding, "Size of the face embedding.");
  visit("model.batchnorm", c.model.batchnorm,
        "BatchNorm in the backbone. Its statistics are per rank; without it, N ranks of batch B "
        "compute exactly what one process of batch N x B does.");
  visit("model.onednn", c.model.onednn,
        "resnet-s with BatchNorm, float32 CPU training: compute the convolutional trunk through "
        "oneDNN directly (blocked layout throughout, Winograd where it pays; 1.2-1.4x faster "
        "steps) where hymask was built with it; false: LibTorch's modules alone. Same model "
        "and checkpoints either way.");
  visit("model.head", c.model.head, "Margin head: arcface or cosface.");
  visit("model.scale", c.model.scale, "Margin head scale s.");
  visit("model.margin", c.model.margin, "Margin m (ArcFace: angular, radians; CosFace: cosine).");
  visit("train.batch_size", c.train.batch_size,
        "Samples per batch; mixing partners come from the same batch.");
  visit("train.epochs", c.train.epochs, "Passes over the training data (sets the LR schedule).");
  visit("train.stop_after", c.train.stop_after,
        "Stop (with a checkpoint) after this many steps without changing the schedule; 0 = run "
        "to the end. Resume later with --resume (the run's config.yaml does not keep it).");
  visit("train.lr", c.train.lr, "Peak learning rate of SGD.");
  visit("train.momentum", c.train.momentum, "SGD momentum.");
  visit("train.weight_decay", c.train.weight_decay, "SGD weight decay.");
  visit("train.warmup_epochs", c.train.warmup_epochs, "Linear LR warm-up length, in epochs.");
  visit("train.schedule", c.train.schedule,
        "cosine (to 0 at the end) or step (x0.1 at each epoch of train.lr_steps).");
  visit("train.lr_steps", c.train.lr_steps, "Epochs at which the step schedule divides LR by 10.");
  visit("train.precision", c.train.precision,
        "fp32, or bf16: the backbone's forward runs in bfloat16 (CPU autocast; oneDNN uses AMX / "
        "AVX512-BF16 where the CPU has them, ~3x faster there); weights, ArcFace head, "
        "gradients' reduction and optimiser stay float32.");
  visit("train.threads", c.train.threads, "Threads for the model's tensor operations.");
  visit("train.checkpoint_every", c.train.checkpoint_every,
        "Write a checkpoint every N steps (and always at the end); 0 = only at the end.");
  visit("train.log_every", c.train.log_every, "Progress line and metrics record every N steps.");
  visit("train.bucket_mb", c.train.bucket_mb,
        "Gradient bucket size of the data-parallel reducer, in MiB.");
  visit("train.device", c.train.device,
        "auto (CUDA when this build's LibTorch has it and a GPU is visible, else the CPU), cpu or "
        "cuda. Each rank takes GPU local_rank modulo the GPUs it sees (cluster/gpu-rank.sh and "
        "Slurm's binding leave it one). Masking stays on the CPU loader threads.");
  visit("train.backend", c.train.backend,
        "How hymask-worker's ranks average gradients (comm/factory.h): auto (NCCL on CUDA, MPI "
        "on the CPU; a process alone needs neither), mpi (CPU only), or nccl (CUDA only). The "
        "ranks' small agreements (sizes, losses, stop flags) always go over MPI.");
  visit("train.comm_timeout_s", c.train.comm_timeout_s,
        "A collective that takes longer (a rank died or hangs) ends every rank with an error "
        "naming the missing ranks.");
  visit("train.val_samples", c.train.val_samples,
        "Held-out validation slice: this many images of each rank's first shard are kept out of "
        "training; their train.val_metric, masked with k = 1, is logged as val_accuracy (and is "
        "policy.reward constrained's utility signal). 0 = none.");
  visit("train.val_every", c.train.val_every,
        "Steps between validation measurements; 0 = every train.log_every steps.");
  visit("train.val_metric", c.train.val_metric,
        "identification (top-1 of the classifier over the training people) or verification "
        "(accuracy at the best threshold on the slice's pairs: every same-person pair and as many "
        "others; LFW's unit, which needs people with several images in the slice).");
  visit("policy.update_every", c.policy.update_every,
        "R: REINFORCE update of the masking policy every R steps (adaptive). Measured on ORL: "
        "with 35 updates a run (R = 8) the policy never leaves its exploring mixture; with 140 "
        "(R = 2) it settles, and the constrained reward keeps its accuracy budget "
        "(docs/RESULTS.md).");
  visit("policy.reward", c.policy.reward,
        "What the policy maximises (docs/RESULTS.md compares them): teacher (the FR loss less an "
        "EMA teacher's loss on the same batch: hard but still recognisable, after TeachAugment), "
        "loss (the paper: the batch's FR loss), or constrained (privacy measured in the loop, "
        "subject to policy.max_accuracy_drop against policy.reference; a Lagrange multiplier on "
        "the FR loss, after RCPO).");
  visit("policy.k_min", c.policy.k_min,
        "Smallest k the policy may choose. 2: every emitted sample mixes faces; 1 also lets "
        "unmixed (only masked) faces through.");
  visit("policy.k_max", c.policy.k_max, "Largest k the policy may choose.");
  visit("policy.drop_levels", c.policy.drop_levels,
        "The policy chooses a drop level in mask.drop_level .. mask.drop_level + this - 1. 1 "
        "(the default): the level stays mask.drop_level; more trains on zeroed channels that "
        "evaluation (at mask.drop_level) keeps, which costs far more accuracy than it buys privacy "
        "(docs/RESULTS.md).");
  visit("policy.noise_levels", c.policy.noise_levels,
        "Noise levels the policy may add after mixing (dp's clipped Laplace noise): 1 = never; "
        "n > 1: none, or epsilon = mask.dp_epsilon x 2^(n-2), ..., x 2, x 1 (the top level). "
        "Validation adds the level the policy currently prefers, evaluation the one the run "
        "emitted most: a model trained on noise is measured on noise, as dp and mask.noise are.");
  visit("policy.noise_control", c.policy.noise_control,
        "reward constrained, policy.noise_levels > 1: the constraint's controller sets the noise "
        "level instead of a policy head, one level more after each validation measurement inside "
        "the budget, one less after one beyond it (no batch loss prices the noise: "
        "docs/RESULTS.md). The policy still chooses k and the weights.");
  visit("policy.hidden", c.policy.hidden, "Hidden units of the policy network.");
  visit("policy.lr", c.policy.lr,
        "Adam learning rate of the policy. 0 freezes it at its uniform start: the random-policy "
        "baseline that shows what learning adds.");
  visit("policy.entropy", c.policy.entropy, "Entropy bonus weight (keeps exploring).");
  visit("policy.baseline_momentum", c.policy.baseline_momentum,
        "Momentum of the moving-average reward baseline.");
  visit("policy.teacher_momentum", c.policy.teacher_momentum,
        "reward teacher: the teacher is this exponential moving average of the FR model.");
  visit("policy.max_accuracy_drop", c.policy.max_accuracy_drop,
        "reward constrained: points of validation accuracy (train.val_samples) the policy may "
        "spend below policy.reference's at the same point of training, in train.val_metric's "
        "unit. Identification charges mixing far more than verification does (LFW-disjoint-5: "
        "MixUp k = 2 costs 16 identification points and 2.7 of LFW's; docs/RESULTS.md).");
  visit("policy.reference", c.policy.reference,
        "reward constrained: a finished run with the same data, seed, train.val_samples and "
        "train.val_metric, "
        "trained with mask.method=mask, whose val_accuracy curve the budget is measured against.");
  visit("policy.lambda_lr", c.policy.lambda_lr,
        "reward constrained: the Lagrange multiplier's step per point of validation accuracy "
        "beyond the budget, per measurement (the slow timescale).");
  visit("policy.lambda_gain", c.policy.lambda_gain,
        "reward constrained: the multiplier's proportional part per point beyond the budget at "
        "the last measurement (a PI controller; 0 = RCPO's integral alone).");
  visit("policy.lambda_init", c.policy.lambda_init,
        "reward constrained: the multiplier's value at the start (0: privacy alone until the "
        "first shortfall). A short run has no time to win back what the first epoch spends: "
        "10 kept budget 3 on LFW-disjoint-5's 4 epochs (docs/RESULTS.md).");
  visit("policy.start_mildest", c.policy.start_mildest,
        "The start's probability of each head's mildest choice (k_min, Dirichlet weights, "
        "mask.drop_level, no noise); the other choices share the rest. 0: a uniform start.");
  visit("policy.finish", c.policy.finish,
        "Share of the last training steps that all use the mildest action (k_min, Dirichlet "
        "weights, mask.drop_level, no noise, no weight cap); the policy neither chooses nor learns "
        "from them. "
        "The leak of a run is its actions' share-weighted mean whatever their order, while the "
        "model is shaped most by its last steps: a hard phase then a mild finish keeps more "
        "accuracy than any mixture of the same actions. Measured on LFW-disjoint-5 in the "
        "spectrum domain (docs/RESULTS.md, scripts/place_front.py): after equal-weight pairs "
        "(policy.k_max=2 mask.weight_cap=0.5), 0.05-0.25 pass the fixed settings' front by "
        "about 3.5 points of identity hits, and all of that is the BatchNorm statistics the "
        "finish leaves: with eval.batchnorm=public it adds no accuracy, and equal pairs alone "
        "are ahead of it. The default policy (k 2..6, finish 0.25) is 8 points behind the "
        "front. 0: no finish.");
  visit("coordinator.address", c.coordinator.address,
        "host:port of hymask-coordinator, which then trains one policy from every worker's "
        "rewards; empty: each process trains its own (local policy mode). The shared secret "
        "comes from $HYMASK_SECRET_FILE (a chmod 600 file) or $HYMASK_SECRET.");
  visit("coordinator.listen", c.coordinator.listen,
        "Address the coordinator listens on for workers (loopback unless you say otherwise).");
  visit("coordinator.console", c.coordinator.console,
        "Address of the coordinator's HTTP status console (/, /status, /metrics).");
  visit("coordinator.broadcast_every", c.coordinator.broadcast_every,
        "Reward records (from all workers) per policy update and broadcast.");
  visit("coordinator.broadcast_seconds", c.coordinator.broadcast_seconds,
        "Also update and broadcast the policy this often while records wait (0 = by count only).");
  visit("coordinator.heartbeat_timeout_s", c.coordinator.heartbeat_timeout_s,
        "A worker silent this long is marked lost.");
  visit("coordinator.give_up_s", c.coordinator.give_up_s,
        "A worker that cannot reach its coordinator this long ends the run with a checkpoint and "
        "an error, rather than train on with a policy nobody updates (resume it once the "
        "coordinator is back). A refusal (wrong secret, other config) ends it at once.");
  visit("coordinator.max_connections", c.coordinator.max_connections,
        "Connections the coordinator accepts at once (workers plus handshakes in progress); more "
        "are closed at once. Raise it above the number of worker ranks.");
  visit("coordinator.tls", c.coordinator.tls,
        "Encrypt the control plane (coordinator <-> workers) with TLS; the coordinator and every "
        "worker must agree. cluster/launch.sh --tls makes a certificate for the run.");
  visit("coordinator.tls_certificate", c.coordinator.tls_certificate,
        "PEM certificate (chain) the coordinator presents; its names must include the host of "
        "coordinator.address.");
  visit("coordinator.tls_private_key", c.coordinator.tls_private_key,
        "PEM private key of the coordinator's certificate (chmod 600; read by the coordinator "
        "only).");
  visit("coordinator.tls_trusted", c.coordinator.tls_trusted,
        "PEM certificates the workers trust to sign the coordinator's; empty: "
        "coordinator.tls_certificate itself (self-signed).");
  visit("eval.batch_size", c.eval.batch_size, "Batch size when computing embeddings.");
  visit("eval.synthetic_probes", c.eval.synthetic_probes,
        "Unseen images per identity used as probes when evaluating on synthetic faces.");
  visit("eval.audit", c.eval.audit,
        "hymask train: after the evaluation, audit the run's privacy in a few minutes and write "
        "it into eval.json under \"audit\": the linear attack on one epoch of the samples it "
        "emitted (its own actions) and a short model inversion, each scored by SSIM and by how "
        "often the result is identified as the right person. Lower bounds: `hymask attack` is "
        "the full suite.");
  visit("eval.audit_targets", c.eval.audit_targets,
        "Training images the audit masks and attacks (0: all).");
  visit("eval.audit_identities", c.eval.audit_identities,
        "Identities the audit's model inversion reconstructs.");
  visit("eval.audit_inversion_steps", c.eval.audit_inversion_steps,
        "Optimisation steps of the audit's model inversion.");
  visit("eval.audit_evaluator", c.eval.audit_evaluator,
        "A mask.method=none run on the same data that identifies the audit's reconstructions; "
        "empty: the nearest other audited training face by pixels (weaker, so lower rates).");
  visit("eval.batchnorm", c.eval.batchnorm,
        "BatchNorm statistics the evaluation (and the audit) runs with: model (the running "
        "statistics training left, as the checkpoint keeps them), public (re-estimated on the "
        "1,650 LFW faces of people neither trained on nor named by an evaluation pair, k = 1; "
        "LFW only), train (on the training images, k = 1: they enter the model; a measurement, "
        "not a protection), train-mixed (on the training images under the run's mixing). "
        "Measured on LFW-disjoint-5 (8 seeds): public lifts equal-weight pairs from 76.30 to "
        "77.67 %, past the policy's finish (77.20 %), which under public statistics adds "
        "nothing (docs/RESULTS.md).");
  visit("eval.batchnorm_images", c.eval.batchnorm_images,
        "Images that eval.batchnorm other than model averages over.");
  visit("attack.aux_root", c.attack.aux_root,
        "hymask attack: the attacker's public faces, an LFW folder (its people with 1-4 images, "
        "never training people, as ../shared/data/README.md prescribes).");
  visit("attack.aux_crop", c.attack.aux_crop, "Centre crop of the auxiliary LFW images.");
  visit("attack.aux_images", c.attack.aux_images,
        "Auxiliary images the reconstruction network trains on (0 = all).");
  visit("attack.targets", c.attack.targets,
        "Training images attacked (0 = all of the run's training images).");
  visit("attack.observed_epochs", c.attack.observed_epochs,
        "Multi-observation attack: epochs of protected samples the attacker collects.");
  visit("attack.ssim_threshold", c.attack.ssim_threshold,
        "A training face counts as recovered when a reconstruction reaches this SSIM.");
  visit("attack.reconstruction_epochs", c.attack.reconstruction_epochs,
        "Most epochs over the auxiliary images for the reconstruction network; each time its L1 "
        "error on 400 held-out auxiliary faces stops falling (by 1 % in 2 epochs) it halves its "
        "learning rate, at the fourth time it stops, and it keeps its best epoch.");
  visit("attack.identity_weight", c.attack.identity_weight,
        "Weight of the reconstruction network's identity loss (1 - cosine of the run's own FR "
        "model's embeddings of reconstruction and face) against its L1 pixel loss; 0 = none. "
        "The attacker who holds the trained model; the independent evaluator still scores. "
        "About 30x the cost per epoch on a CPU: the report's gpu profile uses 0.5.");
  visit("attack.reconstruction_width", c.attack.reconstruction_width,
        "Channels of the reconstruction U-Net's first level (doubling at each of 3 levels).");
  visit("attack.reconstruction_restarts", c.attack.reconstruction_restarts,
        "Trainings of each reconstruction network from different starts; the one with the lowest "
        "held-out L1 attacks: one training can stall (on LFW, one action's networks identified "
        "16-27 % of their targets, by seed). Costs that many times the training time.");
  visit("attack.inversion_identities", c.attack.inversion_identities,
        "Model inversion: identities attacked (0 = all).");
  visit("attack.inversion_steps", c.attack.inversion_steps, "Model inversion: Adam steps.");
  visit("attack.inversion_lr", c.attack.inversion_lr,
        "Model inversion: Adam learning rate (images scaled to [-1, 1]).");
  visit("attack.inversion_tv", c.attack.inversion_tv,
        "Model inversion: weight of the total-variation image prior.");
}

// Loads `path` (empty: defaults only), then applies "key=value" overrides, then validates.
// Throws ConfigError naming the key and the file for unknown keys, wrong types and bad values.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// Applies "key=value" overrides to a config, then validates it.
void apply_overrides(Config& config, const std::vector<std::string>& overrides);

// Parses and validates a config held in memory; `origin` names it in messages.
Config config_from_yaml(const std::string& text, const std::string& origin);

// The config with the keys that do not change a run's result (threads, logging, checkpoint
// cadence, stop point, timeouts, addresses) at their defaults, as YAML: two runs with the same
// experiment_yaml compute the same thing. Resumption and the coordinator's config check use it.
std::string experiment_yaml(const Config& config);

// The first key whose value differs between two experiments (experiment_yaml), or "".
std::string experiment_difference(const Config& a, const Config& b);

// The resolved configuration as YAML, every key present, with its meaning as a comment.
std::string config_to_yaml(const Config& config, bool with_help = true);

// Derived settings.
MaskOptions mask_options(const Config& config);
PreprocessOptions preprocess_options(const Config& config);
SynthOptions synth_options(const Config& config);

}  // namespace hymask
