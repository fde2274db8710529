#include "core/splits.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"

namespace hymask {
namespace fs = std::filesystem;

Split orl_id_split(const FolderListing& orl) {
  Split split;
  for (size_t i = 0; i < orl.entries.size(); ++i) {
    const fs::path& path = orl.entries[i].path;
    int number = 0;
    try {
      number = std::stoi(path.stem().string());
    } catch (const std::exception&) {
      throw DataError(path.string() + ": ORL files are named 1.pgm .. 10.pgm");
    }
    if (number < 1 || number > 10)
      throw DataError(path.string() + ": ORL files are named 1.pgm .. 10.pgm");
    (number <= 7 ? split.train : split.test).push_back(i);
  }
  return split;
}

std::vector<LfwPair> read_lfw_pairs(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw DataError("cannot read LFW pairs file " + path.string());
  std::string line;
  // "10\t300": folds, and pairs of each kind per fold; a fold is that many same-person lines,
  // then as many different-person lines.
  std::getline(in, line);
  int folds = 0, per_kind = 0;
  if (!(std::istringstream(line) >> folds >> per_kind) || folds < 1 || per_kind < 1)
    throw DataError(path.string() + ":1: expected the header 'folds pairs-per-kind' (LFW: 10 300)");
  std::vector<LfwPair> pairs;
  for (int index = 1; std::getline(in, line); ++index) {
    if (line.empty() || line == "\r") continue;
    std::istringstream fields(line);
    std::vector<std::string> parts;
    for (std::string part; fields >> part;) parts.push_back(part);
    LfwPair pair;
    pair.fold = (index - 1) / (2 * per_kind);
    try {
      if (parts.size() == 3) {
        pair = {parts[0], std::stoi(parts[1]), parts[0], std::stoi(parts[2]), true, pair.fold};
      } else if (parts.size() == 4) {
        pair = {parts[0], std::stoi(parts[1]), parts[2], std::stoi(parts[3]), false, pair.fold};
      } else {
        throw std::invalid_argument("field count");
      }
    } catch (const std::exception&) {
      throw DataError(path.string() + ":" + std::to_string(index + 1) +
                      ": expected 'name n1 n2' or 'name1 n1 name2 n2'");
    }
    pairs.push_back(pair);
  }
  if (pairs.empty()) throw DataError(path.string() + " holds no pairs");
  return pairs;
}

fs::path lfw_image_path(const fs::path& root, const std::string& name, int image) {
  char file[32];
  std::snprintf(file, sizeof(file), "_%04d.jpg", image);
  return root / name / (name + file);
}

LfwDisjointSplit lfw_disjoint_split(const FolderListing& lfw, const std::vector<LfwPair>& pairs,
                                    int min_images) {
  std::map<int, int> count;
  for (const auto& entry : lfw.entries) ++count[entry.label];
  LfwDisjointSplit split;
  for (size_t i = 0; i < lfw.entries.size(); ++i) {
    const int label = lfw.entries[i].label;
    if (count[label] >= min_images) {
      split.train.push_back(i);
      split.train_people.insert(lfw.identities[label]);
    } else {
      split.auxiliary.push_back(i);
    }
  }
  std::set<std::string> evaluated;
  for (const LfwPair& pair : pairs)
    if (!split.train_people.count(pair.name1) && !split.train_people.count(pair.name2)) {
      split.test.push_back(pair);
      evaluated.insert({pair.name1, pair.name2});
    }
  for (size_t i : split.auxiliary)
    if (!evaluated.count(lfw.identities[size_t(lfw.entries[i].label)]))
      split.unevaluated.push_back(i);
  return split;
}

}  // namespace hymask
