#include "core/image.h"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/files.h"

namespace hymask {
namespace {

// Images larger than this are refused before any allocation (a corrupt header can claim anything).
constexpr int64_t kMaxPixels = int64_t(1) << 28;

[[noreturn]] void fail(const std::string& name, const std::string& problem) {
  throw DataError(name + ": " + problem);
}

void check_dimensions(const std::string& name, int64_t width, int64_t height) {
  if (width <= 0 || height <= 0) fail(name, "image has no pixels (corrupt header?)");
  if (width * height > kMaxPixels)
    fail(name, "image claims " + std::to_string(width) + "x" + std::to_string(height) +
                   " pixels, more than hymask accepts (corrupt header?)");
}

struct TjHandle {
  tjhandle handle = tjInitDecompress();
  ~TjHandle() {
    if (handle) tjDestroy(handle);
  }
};

// One decompressor per thread: creating one costs more than decoding a small face.
tjhandle thread_decompressor() {
  thread_local TjHandle tj;
  if (!tj.handle) throw Error("libjpeg-turbo could not create a decompressor");
  return tj.handle;
}

ImageInfo probe_jpeg(const std::vector<uint8_t>& bytes, const std::string& name) {
  tjhandle tj = thread_decompressor();
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, bytes.data(), static_cast<unsigned long>(bytes.size()), &width,
                          &height, &subsampling, &colorspace) != 0)
    fail(name, std::string("corrupt JPEG header: ") + tjGetErrorStr2(tj));
  check_dimensions(name, width, height);
  return {ImageFormat::kJpeg, width, height, colorspace == TJCS_GRAY ? 1 : 3};
}

Image decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& name, bool grey) {
  const ImageInfo info = probe_jpeg(bytes, name);
  Image image(info.width, info.height, grey ? 1 : info.channels);
  tjhandle tj = thread_decompressor();
  // A truncated or damaged stream only raises a warning in libjpeg (it fills in grey); hymask
  // treats that as an error: a half-grey face is not training data.
  if (tjDecompress2(tj, bytes.data(), static_cast<unsigned long>(bytes.size()), image.pixels.data(),
                    info.width, 0, info.height, image.channels == 1 ? TJPF_GRAY : TJPF_RGB,
                    TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING) != 0)
    fail(name, std::string("corrupt or truncated JPEG data: ") + tjGetErrorStr2(tj));
  return image;
}

struct PngReader {
  png_image image;
  PngReader() {
    std::memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
  }
  ~PngReader() { png_image_free(&image); }
};

ImageInfo probe_png(PngReader& reader, const std::vector<uint8_t>& bytes, const std::string& name) {
  if (!png_image_begin_read_from_memory(&reader.image, bytes.data(), bytes.size()))
    fail(name, std::string("corrupt PNG header: ") + reader.image.message);
  check_dimensions(name, reader.image.width, reader.image.height);
  const bool colour = reader.image.format & PNG_FORMAT_FLAG_COLOR;
  return {ImageFormat::kPng, int(reader.image.width), int(reader.image.height), colour ? 3 : 1};
}

Image decode_png(const std::vector<uint8_t>& bytes, const std::string& name) {
  PngReader reader;
  const ImageInfo info = probe_png(reader, bytes, name);
  reader.image.format = info.channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  Image image(info.width, info.height, info.channels);
  if (!png_image_finish_read(&reader.image, nullptr, image.pixels.data(), 0, nullptr))
    fail(name, std::string("corrupt or truncated PNG data: ") + reader.image.message);
  return image;
}

// Netpbm: P2/P5 (grey) and P3/P6 (RGB), maxval up to 65535 (scaled to 8 bits).
struct PnmHeader {
  ImageInfo info;
  bool ascii = false;
  int maxval = 0;
  size_t data_offset = 0;
};

PnmHeader parse_pnm_header(const std::vector<uint8_t>& bytes, const std::string& name) {
  PnmHeader header;
  const char kind = bytes.size() >= 2 ? char(bytes[1]) : 0;
  header.ascii = kind == '2' || kind == '3';
  header.info.format = ImageFormat::kPnm;
  header.info.channels = (kind == '3' || kind == '6') ? 3 : 1;
  size_t pos = 2;
  auto next_number = [&](const char* what) -> int64_t {
    for (;;) {  // whitespace and '#' comments
      while (pos < bytes.size() && std::isspace(bytes[pos])) ++pos;
      if (pos < bytes.size() && bytes[pos] == '#') {
        while (pos < bytes.size() && bytes[pos] != '\n') ++pos;
        continue;
      }
      break;
    }
    if (pos >= bytes.size() || !std::isdigit(bytes[pos]))
      fail(name, std::string("corrupt PGM/PPM header: expected the ") + what);
    int64_t value = 0;
    while (pos < bytes.size() && std::isdigit(bytes[pos])) {
      value = value * 10 + (bytes[pos++] - '0');
      if (value > (int64_t(1) << 31)) fail(name, std::string("corrupt PGM/PPM header: ") + what);
    }
    return value;
  };
  const int64_t width = next_number("width");
  const int64_t height = next_number("height");
  const int64_t maxval = next_number("maximum value");
  check_dimensions(name, width, height);
  if (maxval < 1 || maxval > 65535)
    fail(name, "corrupt PGM/PPM header: maximum value out of range");
  if (pos >= bytes.size() || !std::isspace(bytes[pos]))
    fail(name, "corrupt PGM/PPM header: no separator before the pixel data");
  header.data_offset = pos + 1;
  header.info.width = int(width);
  header.info.height = int(height);
  header.maxval = int(maxval);
  return header;
}

Image decode_pnm(const std::vector<uint8_t>& bytes, const std::string& name) {
  const PnmHeader h = parse_pnm_header(bytes, name);
  const size_t count = size_t(h.info.width) * h.info.height * h.info.channels;
  // The file must hold the samples its header declares before anything is allocated for them:
  // a few bytes declaring a huge image are refused at once (found by fuzzing). An ASCII sample
  // takes at least a digit and a separator.
  const size_t bytes_per_sample = h.ascii ? 2 : h.maxval > 255 ? 2 : 1;
  const size_t needed = count * bytes_per_sample - (h.ascii ? 1 : 0);
  const size_t available = bytes.size() - h.data_offset;
  if (available < needed)
    fail(name, "truncated PGM/PPM data: " + std::to_string(available) + " bytes for " +
                   std::to_string(count) + " samples");
  Image image(h.info.width, h.info.height, h.info.channels);
  auto scale = [&](int64_t v) -> uint8_t {
    if (v > h.maxval) fail(name, "corrupt PGM/PPM data: sample above the maximum value");
    return uint8_t((v * 255 + h.maxval / 2) / h.maxval);
  };
  if (h.ascii) {
    size_t pos = h.data_offset;
    for (size_t i = 0; i < count; ++i) {
      while (pos < bytes.size() && std::isspace(bytes[pos])) ++pos;
      if (pos >= bytes.size() || !std::isdigit(bytes[pos]))
        fail(name, "truncated PGM/PPM data: " + std::to_string(i) + " of " + std::to_string(count) +
                       " samples");
      int64_t v = 0;
      while (pos < bytes.size() && std::isdigit(bytes[pos]) && v <= 65535)
        v = v * 10 + (bytes[pos++] - '0');
      image.pixels[i] = scale(v);
    }
    return image;
  }
  const uint8_t* data = bytes.data() + h.data_offset;
  for (size_t i = 0; i < count; ++i) {
    const int64_t v =
        bytes_per_sample == 2 ? (int64_t(data[2 * i]) << 8) | data[2 * i + 1] : data[i];
    image.pixels[i] = h.maxval == 255 ? uint8_t(v) : scale(v);
  }
  return image;
}

std::string describe_unknown(const std::vector<uint8_t>& bytes) {
  if (bytes.empty()) return "empty file";
  return "not a JPEG, PNG or PGM/PPM image (unrecognised first bytes)";
}

}  // namespace

ImageFormat detect_image_format(const uint8_t* data, size_t size) {
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat::kJpeg;
  if (size >= 8 && std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) return ImageFormat::kPng;
  if (size >= 2 && data[0] == 'P' && std::strchr("2356", data[1]) && data[1] != 0)
    return ImageFormat::kPnm;
  return ImageFormat::kUnknown;
}

ImageInfo probe_image(const std::vector<uint8_t>& bytes, const std::string& name) {
  switch (detect_image_format(bytes.data(), bytes.size())) {
    case ImageFormat::kJpeg:
      return probe_jpeg(bytes, name);
    case ImageFormat::kPng: {
      PngReader reader;
      return probe_png(reader, bytes, name);
    }
    case ImageFormat::kPnm:
      return parse_pnm_header(bytes, name).info;
    case ImageFormat::kUnknown:
      break;
  }
  fail(name, describe_unknown(bytes));
}

Image decode_image(const std::vector<uint8_t>& bytes, const std::string& name, bool grey) {
  switch (detect_image_format(bytes.data(), bytes.size())) {
    case ImageFormat::kJpeg:
      return decode_jpeg(bytes, name, grey);
    case ImageFormat::kPng:
      return decode_png(bytes, name);
    case ImageFormat::kPnm:
      return decode_pnm(bytes, name);
    case ImageFormat::kUnknown:
      break;
  }
  fail(name, describe_unknown(bytes));
}

Image read_image(const std::filesystem::path& path, bool grey) {
  return decode_image(read_file(path), path.string(), grey);
}

std::vector<uint8_t> encode_png(const Image& image) {
  HYMASK_CHECK(image.channels == 1 || image.channels == 3, image.channels);
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.width = png_uint_32(image.width);
  png.height = png_uint_32(image.height);
  png.format = image.channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&png, nullptr, &size, 0, image.pixels.data(), 0, nullptr))
    throw Error(std::string("PNG encoding failed: ") + png.message);
  std::vector<uint8_t> out(size);
  if (!png_image_write_to_memory(&png, out.data(), &size, 0, image.pixels.data(), 0, nullptr))
    throw Error(std::string("PNG encoding failed: ") + png.message);
  out.resize(size);
  return out;
}

void write_png(const std::filesystem::path& path, const Image& image) {
  const std::vector<uint8_t> bytes = encode_png(image);
  write_file_atomic(path, bytes.data(), bytes.size());
}

Image tile_grid(const std::vector<std::vector<Image>>& rows) {
  const int tile = rows.at(0).at(0).width, gap = 2;
  int columns = 0;
  for (const auto& row : rows) columns = std::max(columns, int(row.size()));
  Image out(columns * (tile + gap) + gap, int(rows.size()) * (tile + gap) + gap, 3);
  std::fill(out.pixels.begin(), out.pixels.end(), 255);
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const Image& img = rows[r][c];
      for (int y = 0; y < tile; ++y)
        for (int x = 0; x < tile; ++x)
          for (int ch = 0; ch < 3; ++ch)
            out.row(gap + int(r) * (tile + gap) + y)[(gap + int(c) * (tile + gap) + x) * 3 + ch] =
                img.row(y)[x * img.channels + (img.channels == 3 ? ch : 0)];
    }
  return out;
}

}  // namespace hymask
