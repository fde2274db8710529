// 8-bit images and their codecs: JPEG (libjpeg-turbo), PNG (libpng), PGM/PPM (netpbm, parsed
// here: the format is a text header and raw samples). Every decoding failure is a DataError that
// names the file and the problem.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace hymask {

// Row-major, interleaved channels (1 = grey, 3 = RGB).
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;

  Image() = default;
  Image(int w, int h, int c) : width(w), height(h), channels(c), pixels(size_t(w) * h * c) {}
  uint8_t* row(int y) { return pixels.data() + size_t(y) * width * channels; }
  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * width * channels; }
};

enum class ImageFormat { kUnknown, kJpeg, kPng, kPnm };

// Format from the file's first bytes (not its name).
ImageFormat detect_image_format(const uint8_t* data, size_t size);

struct ImageInfo {
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;
  int height = 0;
  int channels = 0;
};

// Header only: format and size. `name` is used in error messages.
ImageInfo probe_image(const std::vector<uint8_t>& bytes, const std::string& name);

// Decodes to grey (1 channel) or RGB (3 channels), as the file stores it. With `grey`, a colour
// JPEG decodes to its own luma channel alone, skipping the chroma (a third faster on LFW; within
// one level of the grey of its RGB decode for 98 % of the pixels); other images come as stored.
Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name, bool grey = false);
Image read_image(const std::filesystem::path& path, bool grey = false);

// Rows of equally sized tiles (grey or RGB), 2 px apart on white, as one RGB image.
Image tile_grid(const std::vector<std::vector<Image>>& rows);

std::vector<uint8_t> encode_png(const Image& image);
// Atomic PNG write.
void write_png(const std::filesystem::path& path, const Image& image);

}  // namespace hymask
