// Face datasets: an identity-labelled collection of images, read one at a time by index.
//   ImageFolderDataset: one subfolder per identity, JPEG/PNG/PGM files, sorted by name.
//   SyntheticFaces (synth.h): procedurally drawn faces, the built-in default.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/image.h"
#include "core/options.h"

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
  // A stable id of the sample across processes and shards (it keys the masking randomness).
  virtual uint64_t key(size_t index) const { return index; }
  // Decoded image; throws DataError for an unreadable file. `grey`: only grey is wanted, which
  // lets a decoder skip colour work (decode_image); the image may still come in colour.
  virtual Image load(size_t index, bool grey) const = 0;
};

// What an image folder holds, from its directory listing alone (no file is opened): identities
// are the subfolders with at least one file of an image extension, in name order; entries are
// their files in name order.
struct FolderListing {
  struct Entry {
    std::filesystem::path path;
    int label;
  };
  std::filesystem::path root;
  std::vector<std::string> identities;
  std::vector<Entry> entries;
  std::vector<std::string> empty_folders;  // identity folders without an image: reported as bad

  // Throws DataError when the folder is missing or holds no image file.
  static FolderListing read(const std::filesystem::path& root);
  // The entries at `indices`, with the labels renumbered densely over their identities.
  FolderListing select(const std::vector<size_t>& indices) const;
};

class ImageFolderDataset : public FaceDataset {
 public:
  using Entry = FolderListing::Entry;

  // Opens the `selected` entries of a listing (default: all) and probes their headers with
  // `threads` threads; nothing else is opened. A bad file (unreadable, corrupt, not an image,
  // smaller than `min_side` pixels) is skipped and counted, or is an error, by `policy`. Labels
  // are those of the listing. Throws DataError when no usable image remains.
  static std::shared_ptr<ImageFolderDataset> open(const FolderListing& listing,
                                                  const std::vector<size_t>& selected,
                                                  BadFilePolicy policy, int min_side = 8,
                                                  int threads = 2);
  static std::shared_ptr<ImageFolderDataset> open(const std::filesystem::path& root,
                                                  BadFilePolicy policy, int min_side = 8,
                                                  int threads = 2);

  size_t size() const override { return entries_.size(); }
  int label(size_t index) const override { return entries_[index].label; }
  int num_classes() const override { return int(identities_.size()); }
  std::string identity(int label) const override { return identities_[label]; }
  std::string source(size_t index) const override { return entries_[index].path.string(); }
  uint64_t key(size_t index) const override { return keys_[index]; }
  Image load(size_t index, bool grey) const override;

  const std::filesystem::path& root() const { return root_; }
  const std::vector<Entry>& entries() const { return entries_; }
  // Files skipped at open (bad or unsupported), each with its problem.
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  std::filesystem::path root_;
  std::vector<std::string> identities_;
  std::vector<Entry> entries_;
  std::vector<uint64_t> keys_;  // index in the listing
  std::vector<std::string> skipped_;
};

}  // namespace hymask
