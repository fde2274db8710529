#include "core/data_source.h"

#include "core/error.h"
#include "core/splits.h"
#include "core/synth.h"

namespace hymask {
namespace fs = std::filesystem;

DataSource open_data(const Config& config) {
  DataSource source;
  if (config.data.root.empty()) {
    if (config.data.split != "all")
      throw ConfigError("data.split '" + config.data.split +
                        "' needs data.root (the synthetic faces have no protocol splits)");
    auto faces = std::make_shared<SyntheticFaces>(synth_options(config));
    source.description = "synthetic faces: " + std::to_string(faces->num_classes()) +
                         " identities x " +
                         std::to_string(config.data.synthetic_images_per_identity) + " images";
    source.dataset = faces;
    return source;
  }
  const int min_side = std::max(8, config.data.crop);
  auto folder = ImageFolderDataset::open(config.data.root,
                                         parse_bad_file_policy(config.data.on_bad_file), min_side,
                                         config.data.threads);
  source.skipped = folder->skipped();
  const std::string& split = config.data.split;
  std::vector<size_t> indices;
  if (split == "orl-train" || split == "orl-test") {
    const Split orl = orl_id_split(*folder);
    indices = split == "orl-train" ? orl.train : orl.test;
  } else if (split == "lfw5-train" || split == "lfw5-aux") {
    const fs::path pairs = config.data.pairs.empty()
                               ? fs::path(config.data.root).parent_path() / "pairs.txt"
                               : fs::path(config.data.pairs);
    const LfwDisjointSplit lfw = lfw_disjoint_split(*folder, read_lfw_pairs(pairs));
    indices = split == "lfw5-train" ? lfw.train : lfw.auxiliary;
  }
  if (split == "all") {
    source.dataset = folder;
  } else if (indices.empty()) {
    throw DataError("split " + split + " selects no image of " + config.data.root +
                    " (is data.root the right dataset for this protocol?)");
  } else {
    source.dataset = std::make_shared<SubsetDataset>(folder, std::move(indices));
  }
  source.description = config.data.root + " (" + split + "): " +
                       std::to_string(source.dataset->num_classes()) + " identities, " +
                       std::to_string(source.dataset->size()) + " images";
  if (!source.skipped.empty())
    source.description += ", " + std::to_string(source.skipped.size()) + " bad files skipped";
  return source;
}

}  // namespace hymask
