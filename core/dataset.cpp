#include "core/dataset.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "core/error.h"
#include "core/files.h"

namespace hymask {
namespace fs = std::filesystem;

namespace {

bool has_image_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".pgm" || ext == ".ppm" ||
         ext == ".pnm";
}

std::vector<fs::path> sorted_children(const fs::path& dir, bool directories) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_directory(type_ec) == directories) out.push_back(it->path());
  }
  if (ec) throw DataError("cannot list " + dir.string() + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

// Empty string when the file is a usable image, else the problem.
std::string probe_problem(const fs::path& path, int min_side) {
  try {
    const ImageInfo info = probe_image(read_file(path), path.string());
    if (info.width < min_side || info.height < min_side)
      return path.string() + ": image is " + std::to_string(info.width) + "x" +
             std::to_string(info.height) + ", smaller than the " + std::to_string(min_side) +
             " px the preprocessing needs";
    return {};
  } catch (const DataError& e) {
    return e.what();
  }
}

}  // namespace

FolderListing FolderListing::read(const fs::path& root) {
  std::error_code ec;
  if (!fs::exists(root, ec))
    throw DataError("data folder " + root.string() +
                    " does not exist (set data.root to a folder with one subfolder per identity)");
  if (!fs::is_directory(root, ec))
    throw DataError(root.string() +
                    " is not a folder (data.root must be a folder with one "
                    "subfolder per identity)");
  FolderListing listing;
  listing.root = root;
  for (const fs::path& dir : sorted_children(root, true)) {
    bool any = false;
    for (const fs::path& file : sorted_children(dir, false))
      if (has_image_extension(file)) {
        if (!any) listing.identities.push_back(dir.filename().string());
        any = true;
        listing.entries.push_back({file, int(listing.identities.size()) - 1});
      }
    if (!any)
      listing.empty_folders.push_back(dir.string() +
                                      ": identity folder holds no image (.jpg, .png or .pgm)");
  }
  if (listing.entries.empty())
    throw DataError("data folder " + root.string() +
                    " holds no usable image (expected one subfolder per identity holding .jpg, "
                    ".png or .pgm files)");
  return listing;
}

FolderListing FolderListing::select(const std::vector<size_t>& indices) const {
  FolderListing out;
  out.root = root;
  out.empty_folders = empty_folders;
  std::map<int, int> renumber;
  for (size_t i : indices) renumber.emplace(entries.at(i).label, 0);
  for (auto& [old_label, label] : renumber) {
    label = int(out.identities.size());
    out.identities.push_back(identities[old_label]);
  }
  for (size_t i : indices) out.entries.push_back({entries[i].path, renumber[entries[i].label]});
  return out;
}

std::shared_ptr<ImageFolderDataset> ImageFolderDataset::open(const fs::path& root,
                                                             BadFilePolicy policy, int min_side,
                                                             int threads) {
  const FolderListing listing = FolderListing::read(root);
  std::vector<size_t> all(listing.entries.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  return open(listing, all, policy, min_side, threads);
}

std::shared_ptr<ImageFolderDataset> ImageFolderDataset::open(const FolderListing& listing,
                                                             const std::vector<size_t>& selected,
                                                             BadFilePolicy policy, int min_side,
                                                             int threads) {
  auto dataset = std::shared_ptr<ImageFolderDataset>(new ImageFolderDataset());
  dataset->root_ = listing.root;
  dataset->identities_ = listing.identities;
  for (const std::string& empty : listing.empty_folders) {
    if (policy == BadFilePolicy::kFail)
      throw DataError(empty + " (set data.on_bad_file: skip to skip it)");
    dataset->skipped_.push_back(empty);
  }
  std::vector<std::string> problems(selected.size());
  std::atomic<size_t> next{0};
  auto probe = [&] {
    for (size_t i; (i = next++) < selected.size();)
      problems[i] = probe_problem(listing.entries.at(selected[i]).path, min_side);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t) pool.emplace_back(probe);
  probe();
  for (auto& t : pool) t.join();

  for (size_t i = 0; i < selected.size(); ++i) {
    if (!problems[i].empty()) {
      if (policy == BadFilePolicy::kFail)
        throw DataError(problems[i] + " (set data.on_bad_file: skip to skip such files)");
      dataset->skipped_.push_back(problems[i]);
      continue;
    }
    dataset->entries_.push_back(listing.entries[selected[i]]);
    dataset->keys_.push_back(selected[i]);
  }
  if (dataset->entries_.empty())
    throw DataError("data folder " + listing.root.string() + " holds no usable image (" +
                    std::to_string(selected.size()) + " files were all bad" +
                    (problems.empty() ? std::string() : "; first: " + problems[0]) + ")");
  return dataset;
}

Image ImageFolderDataset::load(size_t index, bool grey) const {
  return read_image(entries_[index].path, grey);
}

}  // namespace hymask
