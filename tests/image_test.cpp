#include "core/image.h"

#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "core/error.h"
#include "core/files.h"
#include "core/random.h"
#include "tests/test_util.h"

namespace hymask {
namespace {

Image noise_image(int w, int h, int c, uint64_t seed) {
  Image img(w, h, c);
  Rng rng(seed);
  for (auto& p : img.pixels) p = uint8_t(rng.below(256));
  return img;
}

std::vector<uint8_t> encode_jpeg(const Image& img, int quality) {
  tjhandle tj = tjInitCompress();
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  EXPECT_EQ(tjCompress2(tj, img.pixels.data(), img.width, 0, img.height,
                        img.channels == 1 ? TJPF_GRAY : TJPF_RGB, &buffer, &size,
                        img.channels == 1 ? TJSAMP_GRAY : TJSAMP_444, quality, 0),
            0);
  std::vector<uint8_t> out(buffer, buffer + size);
  tjFree(buffer);
  tjDestroy(tj);
  return out;
}

std::string error_of(const std::vector<uint8_t>& bytes, const std::string& name) {
  try {
    decode_image(bytes, name);
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

TEST(Image, PngRoundTripIsExact) {
  for (int channels : {1, 3}) {
    const Image img = noise_image(37, 21, channels, channels);
    const Image back = decode_image(encode_png(img), "mem.png");
    EXPECT_EQ(back.width, 37);
    EXPECT_EQ(back.height, 21);
    EXPECT_EQ(back.channels, channels);
    EXPECT_EQ(back.pixels, img.pixels);
  }
}

TEST(Image, JpegDecodesCloseToTheSource) {
  Image img(64, 48, 3);
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x)
      for (int c = 0; c < 3; ++c) img.row(y)[x * 3 + c] = uint8_t(x * 3 + y + c * 20);
  const Image back = decode_image(encode_jpeg(img, 98), "mem.jpg");
  ASSERT_EQ(back.channels, 3);
  double err = 0;
  for (size_t i = 0; i < img.pixels.size(); ++i) err += std::abs(img.pixels[i] - back.pixels[i]);
  EXPECT_LT(err / img.pixels.size(), 2.0);  // mean absolute error at quality 98
  EXPECT_EQ(decode_image(encode_jpeg(noise_image(16, 16, 1, 3), 90), "g.jpg").channels, 1);
}

// Decoding a colour JPEG straight to grey gives its luma: the grey of its RGB decode up to the
// rounding of the colour conversions (a level or two), never a different picture. Grey files and
// other formats come as stored.
TEST(Image, JpegDecodesStraightToGrey) {
  Image img(64, 48, 3);
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x)
      for (int c = 0; c < 3; ++c) img.row(y)[x * 3 + c] = uint8_t(x * 2 + y + c * 30);
  const std::vector<uint8_t> jpeg = encode_jpeg(img, 95);
  const Image rgb = decode_image(jpeg, "c.jpg");
  const Image grey = decode_image(jpeg, "c.jpg", true);
  ASSERT_EQ(grey.channels, 1);
  ASSERT_EQ(grey.width, 64);
  ASSERT_EQ(grey.height, 48);
  int worst = 0;
  for (size_t i = 0; i < grey.pixels.size(); ++i) {
    const double luma =
        0.299 * rgb.pixels[3 * i] + 0.587 * rgb.pixels[3 * i + 1] + 0.114 * rgb.pixels[3 * i + 2];
    worst = std::max(worst, int(std::lround(std::abs(luma - grey.pixels[i]))));
  }
  EXPECT_LE(worst, 2);
  const Image grey_file = noise_image(16, 16, 1, 3);
  EXPECT_EQ(decode_image(encode_jpeg(grey_file, 90), "g.jpg", true).pixels,
            decode_image(encode_jpeg(grey_file, 90), "g.jpg").pixels);
  EXPECT_EQ(decode_image(encode_png(img), "c.png", true).channels, 3);
}

TEST(Image, PgmBinaryAndAscii) {
  const std::string binary = std::string("P5\n# comment\n3 2\n255\n") + "\x01\x02\x03\x04\x05\xff";
  const Image a = decode_image(std::vector<uint8_t>(binary.begin(), binary.end()), "a.pgm");
  EXPECT_EQ(a.width, 3);
  EXPECT_EQ(a.height, 2);
  EXPECT_EQ(a.pixels, (std::vector<uint8_t>{1, 2, 3, 4, 5, 255}));
  const std::string ascii = "P2 2 1 15\n0 15\n";
  const Image b = decode_image(std::vector<uint8_t>(ascii.begin(), ascii.end()), "b.pgm");
  EXPECT_EQ(b.pixels, (std::vector<uint8_t>{0, 255}));
}

TEST(Image, CorruptInputsNameTheFileAndTheProblem) {
  std::vector<uint8_t> jpeg = encode_jpeg(noise_image(64, 64, 3, 9), 90);
  jpeg.resize(jpeg.size() / 2);
  std::string e = error_of(jpeg, "faces/bob/1.jpg");
  EXPECT_NE(e.find("faces/bob/1.jpg"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;

  std::vector<uint8_t> png = encode_png(noise_image(40, 40, 3, 4));
  png.resize(png.size() - 200);
  e = error_of(png, "x.png");
  EXPECT_NE(e.find("x.png: corrupt or truncated PNG"), std::string::npos) << e;

  EXPECT_NE(error_of({}, "empty.jpg").find("empty.jpg: empty file"), std::string::npos);
  e = error_of({'h', 'e', 'l', 'l', 'o'}, "notes.png");
  EXPECT_NE(e.find("not a JPEG, PNG or PGM"), std::string::npos) << e;

  const std::string huge = "P5 100000 100000 255\n";
  e = error_of(std::vector<uint8_t>(huge.begin(), huge.end()), "huge.pgm");
  EXPECT_NE(e.find("more than hymask accepts"), std::string::npos) << e;
  const std::string short_pgm = "P5 4 4 255\n\x01\x02";
  e = error_of(std::vector<uint8_t>(short_pgm.begin(), short_pgm.end()), "short.pgm");
  EXPECT_NE(e.find("truncated PGM/PPM data"), std::string::npos) << e;
  // Found by fuzzing: a few bytes declaring 210 M ASCII samples made the decoder allocate them
  // before noticing the data was missing. The size is checked first now.
  const std::string tiny_ascii = "P2 277559 755 5\n1 2";
  e = error_of(std::vector<uint8_t>(tiny_ascii.begin(), tiny_ascii.end()), "tiny.pgm");
  EXPECT_NE(e.find("truncated PGM/PPM data: 3 bytes for 209557045 samples"), std::string::npos)
      << e;
}

TEST(Image, ReadingAMissingFileSaysSo) {
  try {
    read_image("/nonexistent/face.jpg");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/face.jpg: no such file"), std::string::npos)
        << e.what();
  }
}

TEST(Files, AtomicWriteLeavesNoTemporaryBehind) {
  testing::TempDir dir;
  write_file_atomic(dir.path() / "a.txt", std::string("hello"));
  {
    AtomicFile abandoned(dir.path() / "b.txt");
    abandoned.write("x", 1);
  }  // never committed
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "a.txt");
  }
  EXPECT_EQ(files, 1u);
  const std::vector<uint8_t> back = read_file(dir.path() / "a.txt");
  EXPECT_EQ(std::string(back.begin(), back.end()), "hello");
}

}  // namespace
}  // namespace hymask
