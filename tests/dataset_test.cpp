#include "core/dataset.h"
#include "core/data_source.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/files.h"
#include "core/loader.h"
#include "core/preprocess.h"
#include "core/random.h"
#include "core/splits.h"
#include "core/synth.h"
#include "tests/test_util.h"

namespace hymask {
namespace {
namespace fs = std::filesystem;

void write_face(const fs::path& path, int size, uint8_t value) {
  Image img(size, size, 1);
  std::fill(img.pixels.begin(), img.pixels.end(), value);
  write_png(path, img);
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

// Two people, b before a on disk creation, plus a stray README at the top.
fs::path make_folder(const testing::TempDir& dir) {
  write_face(dir.path() / "bob" / "2.png", 32, 20);
  write_face(dir.path() / "bob" / "1.png", 32, 10);
  write_face(dir.path() / "alice" / "x.png", 32, 30);
  write_bytes(dir.path() / "README", "not a face");
  write_bytes(dir.path() / "alice" / "notes.txt", "ignored: not an image extension");
  return dir.path();
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

TEST(ImageFolder, OrdersIdentitiesAndFilesByName) {
  testing::TempDir dir;
  auto ds = ImageFolderDataset::open(make_folder(dir), BadFilePolicy::kFail);
  ASSERT_EQ(ds->size(), 3u);
  EXPECT_EQ(ds->num_classes(), 2);
  EXPECT_EQ(ds->identity(0), "alice");
  EXPECT_EQ(ds->identity(1), "bob");
  EXPECT_EQ(fs::path(ds->source(1)).filename(), "1.png");
  EXPECT_EQ(ds->label(2), 1);
  EXPECT_EQ(ds->load(2, false).pixels[0], 20);
}

TEST(ImageFolder, MissingAndEmptyFoldersAreClearErrors) {
  testing::TempDir dir;
  std::string e =
      message_of([&] { ImageFolderDataset::open(dir.path() / "nope", BadFilePolicy::kSkip); });
  EXPECT_NE(e.find("does not exist"), std::string::npos) << e;
  e = message_of([&] { ImageFolderDataset::open(dir.path(), BadFilePolicy::kSkip); });
  EXPECT_NE(e.find("holds no usable image"), std::string::npos) << e;
}

TEST(ImageFolder, BadFilesAreSkippedAndCountedOrFatal) {
  testing::TempDir dir;
  make_folder(dir);
  write_bytes(dir.path() / "carol" / "broken.jpg", "\xff\xd8\xff\xe0garbage");
  write_face(dir.path() / "carol" / "tiny.png", 4, 0);
  auto ds = ImageFolderDataset::open(dir.path(), BadFilePolicy::kSkip);
  EXPECT_EQ(ds->size(), 3u);
  ASSERT_EQ(ds->skipped().size(), 2u);
  EXPECT_NE(ds->skipped()[0].find("corrupt"), std::string::npos) << ds->skipped()[0];
  EXPECT_NE(ds->skipped()[0].find("broken.jpg: "), std::string::npos) << ds->skipped()[0];
  EXPECT_NE(ds->skipped()[1].find("tiny.png: image is 4x4, smaller than"), std::string::npos);
  // Labels come from the listing, so that every rank numbers people alike: carol keeps hers.
  EXPECT_EQ(ds->num_classes(), 3);

  const std::string e =
      message_of([&] { ImageFolderDataset::open(dir.path(), BadFilePolicy::kFail); });
  EXPECT_NE(e.find("broken.jpg"), std::string::npos) << e;
  EXPECT_NE(e.find("data.on_bad_file: skip"), std::string::npos) << e;
}

TEST(Loader, DeliversBatchesInOrderAndSkipsFilesThatGoBad) {
  testing::TempDir dir;
  for (int person = 0; person < 5; ++person)
    for (int i = 0; i < 4; ++i)
      write_face(dir.path() / ("p" + std::to_string(person)) / (std::to_string(i) + ".png"), 16,
                 uint8_t(person * 40 + i));
  auto ds = ImageFolderDataset::open(dir.path(), BadFilePolicy::kSkip);
  // A file corrupted after the scan: the loader must skip it (policy skip) and say so.
  write_bytes(dir.path() / "p2" / "1.png", "\x89PNG\r\n\x1a\n broken");
  std::vector<size_t> order;
  for (size_t i = 0; i < ds->size(); ++i) order.push_back(ds->size() - 1 - i);
  const PreprocessOptions pre{8, 0, ColorMode::kGrey};
  BatchLoader loader(ds, order, 3, pre, BadFilePolicy::kSkip, 3, 2);
  EXPECT_EQ(loader.num_batches(), 7u);
  std::vector<uint64_t> seen;
  size_t skipped = 0;
  while (auto batch = loader.next()) {
    for (size_t i = 0; i < batch->size(); ++i) {
      seen.push_back(batch->indices[i]);
      EXPECT_EQ(batch->keys[i], ds->key(batch->indices[i]));
      const uint8_t value = ds->load(batch->indices[i], false).pixels[0];
      EXPECT_FLOAT_EQ(batch->pixels[i * 64], value - 128.0f);
    }
    skipped += batch->skipped.size();
  }
  EXPECT_EQ(skipped, 1u);
  std::vector<uint64_t> expected;
  for (size_t i : order)
    if (ds->source(i).find("p2/1.png") == std::string::npos) expected.push_back(i);
  EXPECT_EQ(seen, expected);

  BatchLoader strict(ds, order, 3, pre, BadFilePolicy::kFail, 2, 2);
  EXPECT_THROW(
      {
        while (strict.next()) {
        }
      },
      DataError);
}

// The antialiased bilinear resize by its definition, in float64 and one 2-D sum per output pixel:
// a triangle filter of half-width max(scale, 1) source pixels around the output pixel's centre,
// normalised, edges replicated.
double reference_resample(const Image& image, int width, int height, int x, int y, int ch) {
  auto taps = [](int in, int out, int o) {
    const double scale = double(in) / out, support = std::max(scale, 1.0);
    const double centre = (o + 0.5) * scale - 0.5;
    std::vector<std::pair<int, double>> weights;
    double total = 0;
    for (int s = int(std::floor(centre - support)); s <= int(std::ceil(centre + support)); ++s) {
      const double w = std::max(0.0, 1.0 - std::abs(s - centre) / support);
      weights.emplace_back(std::clamp(s, 0, in - 1), w);
      total += w;
    }
    for (auto& [source, w] : weights) w /= total;
    return weights;
  };
  double value = 0;
  for (const auto& [sy, wy] : taps(image.height, height, y))
    for (const auto& [sx, wx] : taps(image.width, width, x))
      value += wy * wx * image.row(sy)[sx * image.channels + ch];
  return value;
}

// Shrinking (the usual face crop), enlarging and non-square, grey and colour: every output pixel
// is the reference rounded to 8 bits, within half a level plus float32 rounding (0.51).
TEST(Resize, MatchesTheFloat64Definition) {
  struct Case {
    int in_w, in_h, channels, out_w, out_h;
  };
  Rng rng(9);
  for (const Case c :
       {Case{150, 150, 1, 112, 112}, Case{250, 250, 1, 112, 112}, Case{150, 130, 3, 112, 100},
        Case{40, 50, 1, 112, 112}, Case{37, 29, 3, 50, 20}}) {
    Image image(c.in_w, c.in_h, c.channels);
    for (uint8_t& v : image.pixels) v = uint8_t(rng.below(256));
    const Image got = resize(image, c.out_w, c.out_h);
    ASSERT_EQ(got.width, c.out_w);
    ASSERT_EQ(got.height, c.out_h);
    ASSERT_EQ(got.channels, c.channels);
    double worst = 0;
    for (int y = 0; y < c.out_h; ++y)
      for (int x = 0; x < c.out_w; ++x)
        for (int ch = 0; ch < c.channels; ++ch)
          worst = std::max(worst, std::abs(got.row(y)[x * c.channels + ch] -
                                           reference_resample(image, c.out_w, c.out_h, x, y, ch)));
    EXPECT_LE(worst, 0.51) << c.in_w << "x" << c.in_h << "x" << c.channels << " -> " << c.out_w
                           << "x" << c.out_h;
  }
}

// Grey output from a colour image converts before resizing (cheaper); it must equal resizing the
// colour image and converting after, up to the rounding of 8-bit pixels: half a level each for
// the grey pixels, the resized grey and the reference's resized colours, 1.5 levels in all.
TEST(Preprocess, GreyBeforeOrAfterTheResizeAgree) {
  Rng rng(4);
  Image rgb(150, 130, 3);
  for (uint8_t& v : rgb.pixels) v = uint8_t(rng.below(256));
  const PreprocessOptions pre{112, 120, ColorMode::kGrey};
  std::vector<float> got(112 * 112);
  preprocess(rgb, pre, got.data(), "rgb");

  Image square(120, 120, 3);  // the reference: crop, resize in colour, then grey
  for (int y = 0; y < 120; ++y) std::copy_n(rgb.row(5 + y) + 15 * 3, 120 * 3, square.row(y));
  const Image scaled = resize(square, 112, 112);
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const uint8_t* p = scaled.pixels.data() + 3 * i;
    const double expected = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2] - 128.0;
    worst = std::max(worst, std::abs(got[i] - expected));
  }
  EXPECT_LE(worst, 1.5);
}

TEST(Shards, ARankOpensOnlyTheFilesOfItsShards) {
  testing::TempDir dir;
  // 2 people x 4 images; in listing order image i belongs to shard i % 2. Corrupt every file of
  // shard 1: rank 0 of 2, failing on bad files, must not notice.
  int index = 0;
  for (const char* person : {"a", "b"})
    for (int i = 0; i < 4; ++i, ++index) {
      const fs::path file = dir.path() / person / (std::to_string(i) + ".png");
      if (index % 2 == 1)
        write_bytes(file, "not an image");
      else
        write_face(file, 16, uint8_t(index));
    }
  Config config = load_config("", {"data.on_bad_file=fail", "data.shard=image"});
  config.data.root = dir.path().string();
  const DataSource rank0 = open_data(config, 0, 2);
  ASSERT_EQ(rank0.shards.size(), 1u);
  EXPECT_EQ(rank0.shards[0].size(), 4u);
  EXPECT_EQ(rank0.dataset->num_classes(), 2);
  EXPECT_THROW(open_data(config, 1, 2), DataError);  // rank 1 does open them
  // By identity: rank 1 of 2 owns person b only.
  config.data.shard = "identity";
  config.data.on_bad_file = BadFilePolicy::kSkip;
  const DataSource by_person = open_data(config, 1, 2);
  for (size_t p : by_person.shards[0]) EXPECT_EQ(by_person.dataset->label(p), 1);
  // One process owning both shards keeps them apart, each in its own list.
  const DataSource both = open_data(config, 0, 1);
  EXPECT_EQ(both.shards.size(), 1u);
  config.data.shards = 2;
  EXPECT_EQ(open_data(config, 0, 1).shards.size(), 2u);
}

TEST(Synthetic, IsDeterministicAndVaries) {
  const SyntheticFaces a({5, 3, 48, 7}), b({5, 3, 48, 7}), other_seed({5, 3, 48, 8});
  EXPECT_EQ(a.size(), 15u);
  EXPECT_EQ(a.label(7), 2);
  EXPECT_EQ(a.load(7, false).pixels, b.load(7, false).pixels);
  EXPECT_NE(a.load(7, false).pixels, other_seed.load(7, false).pixels);
  EXPECT_NE(a.load(6, false).pixels, a.load(7, false).pixels);
  EXPECT_EQ(a.load(0, false).width, 48);
}

TEST(Synthetic, WritesAnImageFolderThatReadsBack) {
  testing::TempDir dir;
  const SyntheticFaces faces({3, 2, 32, 1});
  write_synthetic_faces(faces, dir.path(), 2);
  auto ds = ImageFolderDataset::open(dir.path(), BadFilePolicy::kFail);
  ASSERT_EQ(ds->size(), 6u);
  EXPECT_EQ(ds->identity(2), "id_0002");
  EXPECT_EQ(ds->load(5, false).pixels, faces.load(5, false).pixels);
}

TEST(Splits, OrlIdHasTheDocumentedCounts) {
  HYMASK_REQUIRE_DATA(orl, "orl");
  const FolderListing listing = FolderListing::read(orl);
  auto ds = ImageFolderDataset::open(orl, BadFilePolicy::kFail);
  EXPECT_EQ(ds->num_classes(), 40);
  const Split split = orl_id_split(listing);
  EXPECT_EQ(split.train.size(), 280u);
  EXPECT_EQ(split.test.size(), 120u);
  const Image face = ds->load(0, false);
  EXPECT_EQ(face.width, 92);
  EXPECT_EQ(face.height, 112);
}

TEST(Splits, LfwDisjoint5HasTheDocumentedCounts) {
  HYMASK_REQUIRE_DATA(lfw, "lfw/lfw-deepfunneled");
  const std::vector<LfwPair> pairs = read_lfw_pairs(lfw.parent_path() / "pairs.txt");
  ASSERT_EQ(pairs.size(), 6000u);
  EXPECT_EQ(pairs[0].fold, 0);
  EXPECT_EQ(pairs[5999].fold, 9);
  EXPECT_TRUE(pairs[0].same);
  EXPECT_FALSE(pairs[300].same);
  const FolderListing listing = FolderListing::read(lfw);
  EXPECT_EQ(listing.entries.size(), 13233u);
  EXPECT_EQ(listing.identities.size(), 5749u);
  const LfwDisjointSplit split = lfw_disjoint_split(listing, pairs);
  EXPECT_EQ(split.train_people.size(), 423u);
  EXPECT_EQ(split.train.size(), 5985u);
  EXPECT_EQ(split.test.size(), 4241u);
  size_t same = 0;
  for (const LfwPair& p : split.test) same += p.same;
  EXPECT_EQ(same, 1626u);
  EXPECT_EQ(split.test.size() - same, 2615u);
  std::set<std::string> evaluated;
  for (const LfwPair& p : split.test) {
    EXPECT_TRUE(fs::exists(lfw_image_path(lfw, p.name1, p.image1)));
    EXPECT_TRUE(fs::exists(lfw_image_path(lfw, p.name2, p.image2)));
    evaluated.insert({p.name1, p.name2});
  }
  // The public faces eval.batchnorm=public averages over: neither training nor evaluated people
  // (counted independently with a script over the folder and pairs.txt: 1,650 of the 7,248).
  EXPECT_EQ(split.auxiliary.size(), 7248u);
  EXPECT_EQ(split.unevaluated.size(), 1650u);
  for (size_t i : split.unevaluated) {
    const std::string& person = listing.identities[size_t(listing.entries[i].label)];
    EXPECT_FALSE(evaluated.count(person)) << person;
    EXPECT_FALSE(split.train_people.count(person)) << person;
  }
}

}  // namespace
}  // namespace hymask
