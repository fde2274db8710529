#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <map>
#include <sstream>
#include <type_traits>

#include "core/error.h"
#include "core/spectrum.h"

namespace hymask {
namespace {

std::string type_name(const std::string&) {
  return "a string";
}
std::string type_name(int) {
  return "an integer";
}
std::string type_name(uint64_t) {
  return "a non-negative integer";
}
std::string type_name(double) {
  return "a number";
}
std::string type_name(bool) {
  return "true or false";
}

template <typename E, typename = std::enable_if_t<std::is_enum_v<E>>>
std::string type_name(E) {
  return option_choices<E>();
}

template <typename T>
void assign(T& member, const YAML::Node& value, const std::string& key, const std::string& origin) {
  const std::string where = "key '" + key + "' in " + origin + ": ";
  if constexpr (std::is_enum_v<T>) {  // parsed here, once: the rest of hymask sees the enum
    if (!value.IsScalar()) throw ConfigError(where + "expected " + type_name(member));
    try {
      member = parse_option<T>(value.Scalar());
    } catch (const ConfigError& e) {
      throw ConfigError(where + e.what());
    }
  } else if constexpr (std::is_same_v<T, std::vector<int>>) {
    if (value.IsScalar() && value.Scalar().empty()) {
      member.clear();
      return;
    }
    try {
      member = value.as<std::vector<int>>();
    } catch (const YAML::Exception&) {
      throw ConfigError(where + "expected a list of integers");
    }
  } else {
    if (!value.IsScalar())
      throw ConfigError(where + "expected " + type_name(member) + ", got a " +
                        (value.IsMap() ? "map" : "list"));
    try {
      if constexpr (std::is_same_v<T, uint64_t>) {
        if (!value.Scalar().empty() && value.Scalar()[0] == '-') throw YAML::BadConversion({});
      }
      member = value.as<T>();
    } catch (const YAML::Exception&) {
      throw ConfigError(where + "expected " + type_name(member) + ", got '" + value.Scalar() + "'");
    }
  }
}

void flatten(const YAML::Node& node, const std::string& prefix,
             std::vector<std::pair<std::string, YAML::Node>>& out) {
  for (const auto& item : node) {
    const std::string key =
        prefix.empty() ? item.first.Scalar() : prefix + "." + item.first.Scalar();
    if (item.second.IsMap() && item.second.size() > 0)
      flatten(item.second, key, out);
    else
      out.emplace_back(key, item.second);
  }
}

void set_key(Config& config, const std::string& key, const YAML::Node& value) {
  bool found = false;
  visit_config_fields(config, [&](const char* name, auto& member, const char*) {
    if (key == name) {
      assign(member, value, key, config.origin);
      found = true;
    }
  });
  if (!found) {
    std::string section = key.substr(0, key.find('.'));
    std::string known;
    visit_config_fields(config, [&](const char* name, auto&, const char*) {
      if (std::string(name).rfind(section + ".", 0) == 0) known += std::string(" ") + name;
    });
    throw ConfigError("unknown key '" + key + "' in " + config.origin +
                      (known.empty() ? " (see `hymask config check` for every key)"
                                     : " (known keys in '" + section + "':" + known + ")"));
  }
}

void require(bool ok, const Config& config, const std::string& key, const std::string& what) {
  if (!ok) throw ConfigError("key '" + key + "' in " + config.origin + ": " + what);
}

void check_margin_head(const std::string& head) {
  if (head != "arcface" && head != "cosface")
    throw ConfigError("must be arcface or cosface, not '" + head + "'");
}

void validate(const Config& c) {
  // Enumerations: reuse the parsers so there is one list of names.
  auto check = [&](const std::string& key, auto&& parse) {
    try {
      parse();
    } catch (const ConfigError& e) {
      throw ConfigError("key '" + key + "' in " + c.origin + ": " + e.what());
    }
  };
  check("data.color", [&] { parse_color_mode(c.data.color); });
  check("mask.method", [&] { parse_method(c.mask.method); });
  check("mask.weights", [&] { parse_weight_scheme(c.mask.weights); });
  check("mask.drop_level", [&] { kept_channels_for_drop_level(c.mask.drop_level); });
  static const char* kSplits[] = {"all", "orl-train", "orl-test", "lfw5-train", "lfw5-aux"};
  bool split_ok = false;
  for (const char* s : kSplits) split_ok |= c.data.split == s;
  require(split_ok, c, "data.split",
          "must be all, orl-train, orl-test, lfw5-train or lfw5-aux, not '" + c.data.split + "'");
  require(c.data.shard == "image" || c.data.shard == "identity", c, "data.shard",
          "must be image or identity");
  require(c.data.shards >= 0, c, "data.shards", "must be >= 0");
  require(c.data.image_size >= 8 && c.data.image_size <= 1024, c, "data.image_size",
          "must be in 8..1024");
  require(c.data.crop >= 0, c, "data.crop", "must be >= 0");
  require(c.data.threads >= 1 && c.data.threads <= 256, c, "data.threads", "must be in 1..256");
  require(c.data.prefetch >= 1 && c.data.prefetch <= 256, c, "data.prefetch", "must be in 1..256");
  require(c.data.synthetic_identities >= 2, c, "data.synthetic_identities", "must be >= 2");
  require(c.data.synthetic_images_per_identity >= 1, c, "data.synthetic_images_per_identity",
          "must be >= 1");
  const int u = c.mask.upsample;
  require(u == 1 || u == 2 || u == 4 || u == 8, c, "mask.upsample", "must be 1, 2, 4 or 8");
  require((c.data.image_size * u) % 8 == 0 && c.data.image_size * u >= 24, c, "mask.upsample",
          "data.image_size x mask.upsample must be a multiple of 8 and at least 24");
  require(c.data.format == "folder" || c.data.format == "recordio", c, "data.format",
          "must be folder or recordio");
  require(c.data.format == "folder" || c.data.split == "all", c, "data.split",
          "must be all with data.format recordio (the protocol splits read image folders)");
  require(c.mask.k >= 1 && c.mask.k <= 16, c, "mask.k", "must be in 1..16");
  if (c.mask.domain == MaskDomain::kSpectrum) {
    const char* why = "acts on the block DCT's channels: use it with mask.domain=block-dct";
    require(c.mask.upsample == 1, c, "mask.upsample", why);
    require(!c.mask.sign_flip, c, "mask.sign_flip", why);
    require(!c.mask.permute_channels, c, "mask.permute_channels", why);
    require(c.mask.channel_subset == 0, c, "mask.channel_subset", why);
    require(c.policy.drop_levels == 1, c, "policy.drop_levels", why);
    require(2 * int(SpectrumHighPass::cutoff_for_drop_level(c.data.image_size, c.mask.drop_level)) <
                c.data.image_size,
            c, "mask.drop_level", "removes the whole spectrum of these faces: lower it");
  }
  // Partners come from the same batch: a batch of B mixes at most B faces.
  const bool adaptive = c.mask.method == "adaptive";
  const bool mixes = c.mask.method == "mixup" || c.mask.method == "instahide";
  require(!mixes || c.mask.k <= c.train.batch_size, c, "mask.k",
          "must be at most train.batch_size (" + std::to_string(c.train.batch_size) +
              "): mixing partners come from the same batch");
  require(!adaptive || c.policy.k_max <= c.train.batch_size, c, "policy.k_max",
          "must be at most train.batch_size (" + std::to_string(c.train.batch_size) +
              "): mixing partners come from the same batch");
  require(c.mask.dirichlet_alpha > 0, c, "mask.dirichlet_alpha", "must be positive");
  // The cap binds the largest mixture drawn: mask.k, or for adaptive the policy's k_max (a
  // smaller mixture raises a cap below 1/k to 1/k: equal weights).
  const int largest_mixture = adaptive ? c.policy.k_max : c.mask.k;
  require(c.mask.weight_cap <= 1.0 && c.mask.weight_cap * largest_mixture >= 1.0 - 1e-9, c,
          "mask.weight_cap",
          std::string("must lie in [1/k, 1] with k = ") + (adaptive ? "policy.k_max" : "mask.k") +
              " (" + std::to_string(largest_mixture) + ")");
  require(c.mask.channel_subset >= 0, c, "mask.channel_subset", "must be >= 0");
  require(c.attack.aux_images >= 0, c, "attack.aux_images", "must be >= 0");
  require(c.attack.targets >= 0, c, "attack.targets", "must be >= 0");
  require(c.attack.observed_epochs >= 1, c, "attack.observed_epochs", "must be >= 1");
  require(c.attack.reconstruction_epochs >= 0, c, "attack.reconstruction_epochs", "must be >= 0");
  require(c.attack.reconstruction_width >= 1, c, "attack.reconstruction_width", "must be >= 1");
  require(c.attack.reconstruction_restarts >= 1, c, "attack.reconstruction_restarts",
          "must be >= 1");
  require(c.attack.inversion_identities >= 0, c, "attack.inversion_identities", "must be >= 0");
  require(c.attack.inversion_steps >= 0, c, "attack.inversion_steps", "must be >= 0");
  require(c.mask.dp_epsilon > 0, c, "mask.dp_epsilon", "must be positive");
  require(c.mask.dp_clip > 0, c, "mask.dp_clip", "must be positive");
  require(c.train.batch_size >= 2 && c.train.batch_size <= 65536, c, "train.batch_size",
          "must be in 2..65536");
  check("model.head", [&] { check_margin_head(c.model.head); });
  require(c.model.embedding >= 2, c, "model.embedding", "must be >= 2");
  require(c.model.scale > 0, c, "model.scale", "must be positive");
  require(c.model.margin >= 0 && c.model.margin < 1.5, c, "model.margin", "must be in [0, 1.5)");
  require(c.train.epochs >= 1, c, "train.epochs", "must be >= 1");
  require(c.train.stop_after >= 0, c, "train.stop_after", "must be >= 0");
  require(c.train.lr > 0, c, "train.lr", "must be positive");
  require(c.train.momentum >= 0 && c.train.momentum < 1, c, "train.momentum", "must be in [0, 1)");
  require(c.train.weight_decay >= 0, c, "train.weight_decay", "must be >= 0");
  require(c.train.warmup_epochs >= 0, c, "train.warmup_epochs", "must be >= 0");
  require(c.train.schedule == "cosine" || c.train.schedule == "step", c, "train.schedule",
          "must be cosine or step");
  require(c.train.threads >= 1 && c.train.threads <= 256, c, "train.threads", "must be in 1..256");
  require(c.train.checkpoint_every >= 0, c, "train.checkpoint_every", "must be >= 0");
  require(c.train.log_every >= 1, c, "train.log_every", "must be >= 1");
  require(c.train.bucket_mb > 0, c, "train.bucket_mb", "must be positive");
  require(c.attack.identity_weight >= 0, c, "attack.identity_weight", "must be 0 or positive");
  require(c.train.comm_timeout_s > 0, c, "train.comm_timeout_s", "must be positive");
  require(c.policy.update_every >= 1, c, "policy.update_every", "must be >= 1");
  require(c.policy.k_max >= 1 && c.policy.k_max <= 16, c, "policy.k_max", "must be in 1..16");
  require(c.policy.drop_levels >= 1 && c.mask.drop_level + c.policy.drop_levels - 1 <= 13, c,
          "policy.drop_levels", "must be >= 1 with mask.drop_level + policy.drop_levels - 1 <= 13");
  require(c.policy.noise_levels >= 1 && c.policy.noise_levels <= 8, c, "policy.noise_levels",
          "must be in 1..8");
  require(c.policy.hidden >= 1, c, "policy.hidden", "must be >= 1");
  require(c.policy.lr >= 0, c, "policy.lr", "must be 0 or positive");
  require(c.policy.entropy >= 0, c, "policy.entropy", "must be >= 0");
  require(c.policy.baseline_momentum > 0 && c.policy.baseline_momentum <= 1, c,
          "policy.baseline_momentum", "must be in (0, 1]");
  require(
      c.policy.reward == "loss" || c.policy.reward == "teacher" || c.policy.reward == "constrained",
      c, "policy.reward", "must be loss, teacher or constrained");
  require(c.policy.k_min >= 1 && c.policy.k_min <= c.policy.k_max, c, "policy.k_min",
          "must be in 1..policy.k_max");
  require(c.policy.teacher_momentum >= 0 && c.policy.teacher_momentum < 1, c,
          "policy.teacher_momentum", "must be in [0, 1)");
  require(c.policy.max_accuracy_drop >= 0 && c.policy.max_accuracy_drop <= 100, c,
          "policy.max_accuracy_drop", "must be in 0..100 (points)");
  require(c.policy.lambda_lr > 0, c, "policy.lambda_lr", "must be positive");
  require(c.policy.lambda_gain >= 0, c, "policy.lambda_gain", "must be >= 0");
  require(c.policy.lambda_init >= 0, c, "policy.lambda_init", "must be >= 0");
  require(
      !c.policy.noise_control || (c.policy.noise_levels > 1 && c.policy.reward == "constrained"), c,
      "policy.noise_control",
      "needs policy.reward=constrained (its validation shortfall drives the level) and "
      "policy.noise_levels > 1");
  require(c.policy.start_mildest >= 0 && c.policy.start_mildest < 1, c, "policy.start_mildest",
          "must be in [0, 1) (0: uniform start)");
  require(c.policy.finish >= 0 && c.policy.finish < 1, c, "policy.finish",
          "must be in [0, 1) (the share of the last steps at the mildest action; 0: none)");
  require(c.train.val_samples >= 0, c, "train.val_samples", "must be >= 0");
  require(c.train.val_every >= 0, c, "train.val_every", "must be >= 0");
  require(c.policy.reward != "constrained" || c.mask.method != "adaptive" ||
              (c.train.val_samples > 0 && !c.policy.reference.empty()),
          c, "policy.reward",
          "constrained needs train.val_samples > 0 and policy.reference (a mask.method=mask run "
          "with the same data, seed and train.val_samples)");
  require(c.eval.batch_size >= 1, c, "eval.batch_size", "must be >= 1");
  require(c.coordinator.broadcast_every >= 1, c, "coordinator.broadcast_every", "must be >= 1");
  require(c.coordinator.broadcast_seconds >= 0, c, "coordinator.broadcast_seconds", "must be >= 0");
  require(c.coordinator.max_connections >= 1, c, "coordinator.max_connections", "must be >= 1");
  require(c.coordinator.heartbeat_timeout_s > 0, c, "coordinator.heartbeat_timeout_s",
          "must be positive");
  require(c.coordinator.give_up_s > 0, c, "coordinator.give_up_s", "must be positive");
  require(c.eval.synthetic_probes >= 1, c, "eval.synthetic_probes", "must be >= 1");
  require(c.eval.audit_targets >= 0, c, "eval.audit_targets", "must be >= 0 (0: all)");
  require(c.eval.audit_identities >= 1, c, "eval.audit_identities", "must be >= 1");
  require(c.eval.audit_inversion_steps >= 1, c, "eval.audit_inversion_steps", "must be >= 1");
  require(c.eval.batchnorm == "model" || c.eval.batchnorm == "public" ||
              c.eval.batchnorm == "train" || c.eval.batchnorm == "train-mixed",
          c, "eval.batchnorm",
          "must be model, public, train or train-mixed, not '" + c.eval.batchnorm + "'");
  require(c.eval.batchnorm != "public" || c.data.split.rfind("lfw5", 0) == 0, c, "eval.batchnorm",
          "public re-estimates on the LFW faces of people neither trained on nor evaluated: it "
          "needs data.split lfw5-train (elsewhere use train-mixed)");
  require(c.eval.batchnorm_images >= 2, c, "eval.batchnorm_images", "must be >= 2");
}

std::string scalar_to_yaml(const std::string& v) {
  YAML::Emitter out;
  out << YAML::DoubleQuoted << v;
  return out.c_str();
}
std::string scalar_to_yaml(bool v) {
  return v ? "true" : "false";
}
std::string scalar_to_yaml(const std::vector<int>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
  return out + "]";
}
template <typename T>
std::string scalar_to_yaml(const T& v) {
  if constexpr (std::is_enum_v<T>) {
    return scalar_to_yaml(std::string(option_name(v)));
  } else {
    std::ostringstream out;
    out.precision(15);  // round-trips the values people write, without float noise
    out << v;
    return out.str();
  }
}

void apply_document(Config& config, const YAML::Node& root) {
  if (!root.IsDefined() || root.IsNull()) return;
  if (!root.IsMap()) throw ConfigError("config " + config.origin + " must be a map of keys");
  std::vector<std::pair<std::string, YAML::Node>> flat;
  flatten(root, "", flat);
  for (const auto& [key, value] : flat) set_key(config, key, value);
}

}  // namespace

Config config_from_yaml(const std::string& text, const std::string& origin) {
  Config config;
  config.origin = origin;
  try {
    apply_document(config, YAML::Load(text));
  } catch (const YAML::ParserException& e) {
    throw ConfigError("config " + origin + " is not valid YAML: " + e.what());
  }
  validate(config);
  return config;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  Config config;
  if (!path.empty()) {
    config.origin = path;
    try {
      apply_document(config, YAML::LoadFile(path));
    } catch (const YAML::BadFile&) {
      throw ConfigError("cannot read config file " + path);
    } catch (const YAML::ParserException& e) {
      throw ConfigError("config file " + path + " is not valid YAML: " + e.what());
    }
  }
  apply_overrides(config, overrides);
  return config;
}

void apply_overrides(Config& config, const std::vector<std::string>& overrides) {
  const std::string file_origin = config.origin;
  for (const std::string& item : overrides) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError("override '" + item + "' must look like key=value, e.g. mask.k=4");
    config.origin = "the command line";
    YAML::Node value;
    try {
      value = YAML::Load(item.substr(eq + 1));
    } catch (const YAML::Exception&) {
      value = YAML::Node(item.substr(eq + 1));
    }
    if (value.IsNull()) value = YAML::Node(std::string());
    set_key(config, item.substr(0, eq), value);
  }
  config.origin = overrides.empty() ? file_origin : file_origin + " with command-line overrides";
  validate(config);
}

std::string config_to_yaml(const Config& config, bool with_help) {
  std::ostringstream out;
  std::string section;
  Config copy = config;
  visit_config_fields(copy, [&](const char* name, auto& member, const char* help) {
    std::string key = name;
    const size_t dot = key.find('.');
    std::string indent;
    if (dot != std::string::npos) {
      if (key.substr(0, dot) != section) {
        section = key.substr(0, dot);
        out << section << ":\n";
      }
      key = key.substr(dot + 1);
      indent = "  ";
    }
    if (with_help) out << indent << "# " << help << "\n";
    out << indent << key << ": " << scalar_to_yaml(member) << "\n";
  });
  return out.str();
}

std::string experiment_yaml(const Config& config) {
  Config c = config;
  const Config defaults;
  c.train.stop_after = defaults.train.stop_after;
  c.train.log_every = defaults.train.log_every;
  c.train.checkpoint_every = defaults.train.checkpoint_every;
  c.train.threads = defaults.train.threads;
  c.train.comm_timeout_s = defaults.train.comm_timeout_s;
  c.train.backend = defaults.train.backend;  // the same collectives' results on any backend
  c.train.device = defaults.train.device;    // the same computation on any device
  c.train.bucket_mb = defaults.train.bucket_mb;
  c.data.threads = defaults.data.threads;
  c.data.prefetch = defaults.data.prefetch;
  c.coordinator = defaults.coordinator;
  c.attack = defaults.attack;  // settings of a later attack on the run, not of the training
  c.eval = defaults.eval;      // nor of its evaluation and audit
  return config_to_yaml(c, false);
}

std::string experiment_difference(const Config& a, const Config& b) {
  std::istringstream la(experiment_yaml(a)), lb(experiment_yaml(b));
  std::string line_a, line_b, section;
  while (std::getline(la, line_a) && std::getline(lb, line_b)) {
    if (!line_a.empty() && line_a[0] != ' ') section = line_a.substr(0, line_a.find(':'));
    if (line_a == line_b) continue;
    std::string key = line_a.substr(0, line_a.find(':'));
    key.erase(0, key.find_first_not_of(' '));
    return line_a[0] == ' ' ? section + "." + key : key;
  }
  return "";
}

MaskOptions mask_options(const Config& c) {
  MaskOptions o;
  o.method = parse_method(c.mask.method);
  o.domain = c.mask.domain;
  o.upsample = c.mask.upsample;
  o.drop_level = c.mask.drop_level;
  o.k = c.mask.k;
  o.weights = parse_weight_scheme(c.mask.weights);
  o.dirichlet_alpha = c.mask.dirichlet_alpha;
  o.weight_cap = c.mask.weight_cap;
  o.sign_flip = c.mask.sign_flip;
  o.normalize_mixture = c.mask.normalize;
  o.channel_subset = c.mask.channel_subset;
  o.permute_channels = c.mask.permute_channels;
  o.noise = c.mask.noise;
  o.dp_epsilon = c.mask.dp_epsilon;
  o.dp_clip = c.mask.dp_clip;
  o.seed = c.seed;
  return o;
}

PreprocessOptions preprocess_options(const Config& c) {
  return {c.data.image_size, c.data.crop, parse_color_mode(c.data.color)};
}

SynthOptions synth_options(const Config& c) {
  return {c.data.synthetic_identities, c.data.synthetic_images_per_identity, c.data.image_size,
          c.seed};
}

}  // namespace hymask
