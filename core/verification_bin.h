// InsightFace's verification sets (lfw.bin, cfp_fp.bin, agedb_30.bin, calfw.bin, cplfw.bin): a
// pickle of the pair (images, same), where images is a list of encoded JPEG/PNG files, two per
// pair, and same says for each consecutive pair whether it shows one person.
//
// The pickle is read by a small stack machine that knows only the opcodes such files use
// (protocols 2 to 5, Python 2's str or Python 3's bytes, plain lists or NumPy arrays); anything
// else is an error that names the opcode and its offset. Nothing in the file is ever executed:
// the names it refers to (numpy's array constructors) are only recognised.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/dataset.h"

namespace hymask {

struct VerificationBin {
  std::vector<std::vector<uint8_t>> images;  // 2 x pairs, encoded as in the file
  std::vector<bool> same;                    // per pair
  size_t pairs() const { return same.size(); }
};

// Parses a .bin's bytes; `name` labels the errors (DataError).
VerificationBin parse_verification_bin(const uint8_t* data, size_t size, const std::string& name);
VerificationBin read_verification_bin(const std::filesystem::path& path);

// InsightFace's folds over the pairs: ten consecutive blocks, the first (pairs mod 10) of them one
// pair longer (scikit-learn's unshuffled KFold, as arcface_torch's verification uses).
std::vector<int> consecutive_folds(size_t pairs, int folds = 10);

// A .bin's images as a FaceDataset: image i has label i / 2 (the pair), its key is i.
class EncodedImageDataset : public FaceDataset {
 public:
  EncodedImageDataset(std::vector<std::vector<uint8_t>> images, std::string name);
  size_t size() const override { return images_.size(); }
  int label(size_t index) const override { return int(index / 2); }
  int num_classes() const override { return int((images_.size() + 1) / 2); }
  std::string identity(int label) const override { return "pair" + std::to_string(label); }
  std::string source(size_t index) const override;
  Image load(size_t index, bool grey) const override;

 private:
  std::vector<std::vector<uint8_t>> images_;
  std::string name_;
};

}  // namespace hymask
