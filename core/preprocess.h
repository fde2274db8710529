// Step 1 of the masking method: colour conversion, centre crop, resize to S x S, centring
// (pixel - 128). Output is planar float: planes x S x S.
#pragma once

#include <string>
#include <vector>

#include "core/image.h"

namespace hymask {

enum class ColorMode { kGrey, kYCbCr };

ColorMode parse_color_mode(const std::string& name);  // "grey" | "ycbcr"
inline int color_planes(ColorMode mode) {
  return mode == ColorMode::kGrey ? 1 : 3;
}

struct PreprocessOptions {
  int size = 112;
  int crop = 0;  // side of the centred square cut from the source; 0 = the largest one
  ColorMode color = ColorMode::kGrey;
};

// Throws DataError naming `name` when the image is smaller than the crop.
void preprocess(const Image& image, const PreprocessOptions& options, float* out,
                const std::string& name);

// Inverse of the colour step for pictures: planes x S x S centred values -> 8-bit grey or RGB.
Image planes_to_image(const float* planes, ColorMode mode, int size);
// The same, with the values stretched to the full 8-bit range first (high-pass pictures are
// faint otherwise).
Image stretched_image(std::vector<float> planes, ColorMode mode, int size);

// Resamples an image (any channels) with a triangle filter widened when shrinking (antialiased
// bilinear).
Image resize(const Image& image, int width, int height);

}  // namespace hymask
