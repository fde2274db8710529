// Face datasets: an identity-labelled collection of images, read one at a time by index.
//   ImageFolderDataset: one subfolder per identity, JPEG/PNG/PGM files, sorted by name.
//   SyntheticFaces (synth.h): procedurally drawn faces, the built-in default.
//   SubsetDataset: a view of some samples of another dataset with labels renumbered 0..n-1.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/image.h"

namespace hymask {

class FaceDataset {
 public:
  virtual ~FaceDataset() = default;
  virtual size_t size() const = 0;
  virtual int label(size_t index) const = 0;
  virtual int num_classes() const = 0;
  virtual std::string identity(int label) const = 0;
  // Where the sample comes from (a file path, or synth:// for generated faces).
  virtual std::string source(size_t index) const = 0;
  // Decoded image; throws DataError for an unreadable file.
  virtual Image load(size_t index) const = 0;
};

enum class BadFilePolicy { kSkip, kFail };
BadFilePolicy parse_bad_file_policy(const std::string& name);  // "skip" | "fail"

class ImageFolderDataset : public FaceDataset {
 public:
  struct Entry {
    std::filesystem::path path;
    int label;
  };

  // Scans `root` (one subfolder per identity; other files are ignored) and probes every image
  // header with `threads` threads. A bad file (unreadable, corrupt, not an image, smaller than
  // `min_side` pixels) is skipped and counted, or is an error, by `policy`. Throws DataError
  // when the folder is missing or holds no usable image.
  static std::shared_ptr<ImageFolderDataset> open(const std::filesystem::path& root,
                                                  BadFilePolicy policy, int min_side = 8,
                                                  int threads = 2);

  size_t size() const override { return entries_.size(); }
  int label(size_t index) const override { return entries_[index].label; }
  int num_classes() const override { return int(identities_.size()); }
  std::string identity(int label) const override { return identities_[label]; }
  std::string source(size_t index) const override { return entries_[index].path.string(); }
  Image load(size_t index) const override;

  const std::filesystem::path& root() const { return root_; }
  const std::vector<Entry>& entries() const { return entries_; }
  // Files skipped at open (bad or unsupported), each with its problem.
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  std::filesystem::path root_;
  std::vector<std::string> identities_;
  std::vector<Entry> entries_;
  std::vector<std::string> skipped_;
};

class SubsetDataset : public FaceDataset {
 public:
  SubsetDataset(std::shared_ptr<const FaceDataset> base, std::vector<size_t> indices);

  size_t size() const override { return indices_.size(); }
  int label(size_t index) const override { return labels_[index]; }
  int num_classes() const override { return int(base_label_.size()); }
  std::string identity(int label) const override { return base_->identity(base_label_[label]); }
  std::string source(size_t index) const override { return base_->source(indices_[index]); }
  Image load(size_t index) const override { return base_->load(indices_[index]); }
  size_t base_index(size_t index) const { return indices_[index]; }

 private:
  std::shared_ptr<const FaceDataset> base_;
  std::vector<size_t> indices_;
  std::vector<int> labels_;
  std::vector<int> base_label_;  // new label -> base label
};

}  // namespace hymask
