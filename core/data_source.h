// Opens the training data a config names, for one rank: the synthetic faces or an image folder,
// restricted to a protocol split, then partitioned into shards. A rank opens only the files of
// the shards it owns (shard s belongs to rank s mod world size).
//
//   data.shard: image      shard s holds every data.shards-th sample (in listing order)
//   data.shard: identity   shard s holds the people whose label is s mod data.shards
//   data.root with {rank}  each rank has a folder of its own (the federated case): one shard per
//                          rank, labels local to the folder (the trainer offsets them)
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/dataset.h"

namespace hymask {

struct DataSource {
  std::shared_ptr<const FaceDataset> dataset;  // this rank's samples: the union of its shards
  std::vector<std::vector<size_t>> shards;     // positions in `dataset`, one list per owned shard
  bool per_rank_folder = false;                // labels are local to this rank's folder
  std::string description;                     // for logs and manifests
  std::vector<std::string> skipped;            // bad files skipped while opening
};

DataSource open_data(const Config& config, int rank = 0, int world = 1);

// LFW's pairs.txt: data.pairs, or pairs.txt beside data.root.
std::filesystem::path lfw_pairs_path(const Config& config);

// data.shards, or the world size when it is 0.
int shard_count(const Config& config, int world);

}  // namespace hymask
