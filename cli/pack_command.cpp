// hymask pack: writes an image folder (one subfolder per identity) as an InsightFace RecordIO set,
// PREFIX.rec, PREFIX.idx and `property` beside them, laid out as InsightFace's own tools write
// faces_emore/ (core/recordio.h): record 0 with the image and identity ranges, the images in
// listing order with their identity as label and their file's bytes as they are, then one record
// per identity with its range of images. Training from the set then equals training from the
// folder (same images, labels and sample keys).
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "cli/commands.h"
#include "core/dataset.h"
#include "core/error.h"
#include "core/files.h"
#include "core/image.h"
#include "core/recordio.h"

namespace hymask::cli {
namespace fs = std::filesystem;

namespace {

struct Args {
  std::string data;
  std::string out;
};

void run_pack(const Args& args) {
  const FolderListing listing = FolderListing::read(args.data);
  for (const std::string& empty : listing.empty_folders) spdlog::warn("skipped {}", empty);
  // Probe every file first: the ranges in record 0 must count only the images written.
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<int> labels;
  std::vector<std::string> skipped;
  ImageInfo first{};
  for (const FolderListing::Entry& e : listing.entries) {
    try {
      std::vector<uint8_t> file = read_file(e.path);
      const ImageInfo info = probe_image(file, e.path.string());
      if (bytes.empty()) first = info;
      bytes.push_back(std::move(file));
      labels.push_back(e.label);
    } catch (const DataError& error) {
      skipped.push_back(error.what());
      spdlog::warn("skipped {}", error.what());
    }
  }
  if (bytes.empty()) throw DataError(args.data + " holds no readable image to pack");
  const uint64_t images_end = 1 + bytes.size();
  const int classes = int(listing.identities.size());
  RecordIoWriter writer(args.out);
  RecordHeader head;
  head.flag = 2;
  head.labels = {float(images_end), float(images_end + uint64_t(classes))};
  writer.write(head, {});
  std::vector<uint64_t> begin(size_t(classes), 0), end(size_t(classes), 0);
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < bytes.size(); ++i) {
    const uint64_t record = 1 + i;
    RecordHeader h;
    h.labels = {float(labels[i])};
    h.id = record;
    writer.write(h, bytes[i]);
    if (begin[labels[i]] == 0) begin[labels[i]] = record;
    end[labels[i]] = record + 1;
  }
  for (int c = 0; c < classes; ++c) {
    RecordHeader h;
    h.flag = 2;
    h.labels = {float(begin[c]), float(end[c])};  // [0, 0): an identity whose files were all bad
    h.id = images_end + uint64_t(c);
    writer.write(h, {});
  }
  writer.close();
  const fs::path property = fs::path(args.out).parent_path() / "property";
  write_file_atomic(property, std::to_string(classes) + "," + std::to_string(first.height) + "," +
                                  std::to_string(first.width) + "\n");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("packed {} images of {} identities into {}.rec/.idx and {} in {:.1f} s{}",
               bytes.size(), classes, args.out, property.string(), seconds,
               skipped.empty() ? "" : fmt::format(" ({} bad files skipped)", skipped.size()));
}

}  // namespace

void add_pack_command(CLI::App& app) {
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "pack",
      "Write an image folder as an InsightFace RecordIO set (PREFIX.rec, PREFIX.idx, property), "
      "for data.format=recordio");
  cmd->add_option("--data", args->data, "Image folder, one subfolder per identity")->required();
  cmd->add_option("--out", args->out, "PREFIX of the set, e.g. faces/train")->required();
  cmd->callback([args] { run_pack(*args); });
}

}  // namespace hymask::cli
