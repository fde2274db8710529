// Opens the dataset a config names: the synthetic faces, or an image folder restricted to a split.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/dataset.h"

namespace hymask {

struct DataSource {
  std::shared_ptr<const FaceDataset> dataset;
  std::string description;           // for logs and manifests
  std::vector<std::string> skipped;  // bad files skipped while opening
};

DataSource open_data(const Config& config);

}  // namespace hymask
