#include "core/data_source.h"

#include <map>

#include "core/error.h"
#include "core/recordio.h"
#include "core/splits.h"
#include "core/synth.h"

namespace hymask {
namespace fs = std::filesystem;

namespace {

// Listing indices of the configured protocol split.
std::vector<size_t> split_indices(const Config& config, const FolderListing& listing) {
  const std::string& split = config.data.split;
  std::vector<size_t> indices;
  if (split == "all") {
    for (size_t i = 0; i < listing.entries.size(); ++i) indices.push_back(i);
  } else if (split == "orl-train" || split == "orl-test") {
    const Split orl = orl_id_split(listing);
    indices = split == "orl-train" ? orl.train : orl.test;
  } else {
    const LfwDisjointSplit lfw =
        lfw_disjoint_split(listing, read_lfw_pairs(lfw_pairs_path(config)));
    indices = split == "lfw5-train" ? lfw.train : lfw.auxiliary;
  }
  if (indices.empty())
    throw DataError("split " + split + " selects no image of " + listing.root.string() +
                    " (is data.root the right dataset for this protocol?)");
  return indices;
}

int shard_of(const Config& config, size_t index, int label, int shards) {
  return int((config.data.shard == "identity" ? size_t(label) : index) % size_t(shards));
}

}  // namespace

fs::path lfw_pairs_path(const Config& config) {
  return config.data.pairs.empty() ? fs::path(config.data.root).parent_path() / "pairs.txt"
                                   : fs::path(config.data.pairs);
}

int shard_count(const Config& config, int world) {
  return config.data.shards > 0 ? config.data.shards : world;
}

DataSource open_data(const Config& config, int rank, int world) {
  DataSource source;
  const int shards = shard_count(config, world);
  if (shards % world != 0)
    throw ConfigError("data.shards (" + std::to_string(shards) + ") must be a multiple of the " +
                      std::to_string(world) + " ranks");
  std::vector<int> owned;
  for (int s = rank; s < shards; s += world) owned.push_back(s);
  source.shards.resize(owned.size());
  auto slot_of = [&](int shard) -> int {  // owned shard -> position in source.shards, or -1
    return shard % world == rank ? shard / world : -1;
  };

  if (config.data.root.empty()) {
    if (config.data.split != "all")
      throw ConfigError("data.split '" + config.data.split +
                        "' needs data.root (the synthetic faces have no protocol splits)");
    auto faces = std::make_shared<SyntheticFaces>(synth_options(config));
    for (size_t i = 0; i < faces->size(); ++i) {
      const int slot = slot_of(shard_of(config, i, faces->label(i), shards));
      if (slot >= 0) source.shards[slot].push_back(i);
    }
    source.description = "synthetic faces: " + std::to_string(faces->num_classes()) +
                         " identities x " +
                         std::to_string(config.data.synthetic_images_per_identity) + " images";
    source.dataset = faces;
  } else if (config.data.format == "recordio") {
    auto records = RecordIoDataset::open(config.data.root, config.data.on_bad_file);
    // Only the rank's own records are ever read (the labels came from the identity ranges).
    for (size_t i = 0; i < records->size(); ++i) {
      const int slot = slot_of(shard_of(config, i, records->label(i), shards));
      if (slot >= 0) source.shards[slot].push_back(i);
    }
    source.skipped = records->skipped();
    source.description = config.data.root +
                         ".rec (RecordIO): " + std::to_string(records->num_classes()) +
                         " identities, " + std::to_string(records->size()) + " images";
    if (!source.skipped.empty())
      source.description += ", " + std::to_string(source.skipped.size()) + " bad records skipped";
    source.dataset = records;
  } else {
    std::string root = config.data.root;
    const size_t placeholder = root.find("{rank}");
    source.per_rank_folder = placeholder != std::string::npos;
    if (source.per_rank_folder) {
      if (shards != world)
        throw ConfigError(
            "data.root with {rank} gives each rank one folder: leave data.shards "
            "at 0");
      root.replace(placeholder, 6, std::to_string(rank));
    }
    const FolderListing listing = FolderListing::read(root);
    const FolderListing selected = listing.select(split_indices(config, listing));
    std::vector<size_t> mine;
    for (size_t i = 0; i < selected.entries.size(); ++i)
      if (source.per_rank_folder ||
          slot_of(shard_of(config, i, selected.entries[i].label, shards)) >= 0)
        mine.push_back(i);
    auto folder = ImageFolderDataset::open(selected, mine, config.data.on_bad_file,
                                           std::max(8, config.data.crop), config.data.threads);
    source.skipped = folder->skipped();
    for (size_t p = 0; p < folder->size(); ++p) {
      const size_t key = folder->key(p);
      const int slot = source.per_rank_folder
                           ? 0
                           : slot_of(shard_of(config, key, selected.entries[key].label, shards));
      source.shards[slot].push_back(p);
    }
    source.description = root + " (" + config.data.split +
                         "): " + std::to_string(folder->num_classes()) + " identities, " +
                         std::to_string(folder->size()) + " images";
    if (!source.skipped.empty())
      source.description +=
          ", " + std::to_string(source.skipped.size()) + " bad files or folders skipped";
    source.dataset = folder;
  }
  if (shards > 1)
    source.description += "; shards " + std::to_string(owned.front()) +
                          (owned.size() > 1 ? ".." : "") + " of " + std::to_string(shards) +
                          " by " + (source.per_rank_folder ? "folder" : config.data.shard);
  return source;
}

}  // namespace hymask
