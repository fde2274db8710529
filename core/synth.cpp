#include "core/synth.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/random.h"

namespace hymask {
namespace {

using Rgb = std::array<float, 3>;

Rgb mix(const Rgb& a, const Rgb& b, float t) {
  return {a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t};
}

// Coverage of a signed distance (negative inside) with a soft edge of `edge` units.
float coverage(float distance, float edge) {
  const float t = std::clamp(0.5f - distance / edge, 0.0f, 1.0f);
  return t * t * (3 - 2 * t);
}

// Approximate signed distance to an axis-aligned ellipse (scaled-circle metric).
float ellipse(float x, float y, float cx, float cy, float rx, float ry) {
  const float dx = (x - cx) / rx, dy = (y - cy) / ry;
  return (std::sqrt(dx * dx + dy * dy) - 1.0f) * std::min(rx, ry);
}

struct Identity {
  float face_w, face_h, jaw;
  Rgb skin, hair, iris, lip;
  float hairline, hair_volume;
  float eye_dx, eye_y, eye_rx, eye_ry;
  float brow_gap, brow_thickness, brow_tilt;
  float nose_len, nose_w;
  float mouth_y, mouth_w, lip_h;
  bool beard, glasses;
};

struct Variation {
  float angle, dx, dy, scale, yaw;
  float smile, mouth_open, eye_open;
  float light_angle, light_strength, brightness, contrast;
  Rgb background;
  float background_gradient;
  float noise;
};

Identity draw_identity(Rng& r) {
  Identity id;
  id.face_w = float(r.uniform(0.27, 0.37));
  id.face_h = float(r.uniform(0.37, 0.46));
  id.jaw = float(r.uniform(0.65, 1.0));
  const Rgb light{238, 205, 180}, dark{92, 60, 44};
  id.skin = mix(light, dark, float(r.uniform()));
  for (float& c : id.skin) c *= float(r.uniform(0.93, 1.07));
  static const Rgb kHair[] = {{25, 20, 18},    {70, 45, 30},    {140, 95, 55},
                              {210, 180, 120}, {160, 160, 160}, {120, 40, 25}};
  id.hair = kHair[r.below(6)];
  static const Rgb kIris[] = {{60, 40, 25}, {50, 90, 140}, {80, 110, 70}, {30, 25, 20}};
  id.iris = kIris[r.below(4)];
  id.lip = mix(id.skin, Rgb{170, 70, 75}, float(r.uniform(0.3, 0.7)));
  id.hairline = float(r.uniform(0.55, 0.8));
  id.hair_volume = float(r.uniform(1.0, 1.2));
  id.eye_dx = float(r.uniform(0.10, 0.16));
  id.eye_y = float(r.uniform(-0.10, -0.02));
  id.eye_rx = float(r.uniform(0.04, 0.065));
  id.eye_ry = float(r.uniform(0.45, 0.7));
  id.brow_gap = float(r.uniform(0.045, 0.075));
  id.brow_thickness = float(r.uniform(0.008, 0.02));
  id.brow_tilt = float(r.uniform(-0.25, 0.25));
  id.nose_len = float(r.uniform(0.08, 0.15));
  id.nose_w = float(r.uniform(0.025, 0.05));
  id.mouth_y = float(r.uniform(0.15, 0.24));
  id.mouth_w = float(r.uniform(0.07, 0.13));
  id.lip_h = float(r.uniform(0.01, 0.022));
  id.beard = r.uniform() < 0.15;
  id.glasses = r.uniform() < 0.15;
  return id;
}

Variation draw_variation(Rng& r) {
  Variation v;
  v.angle = float(r.uniform(-0.2, 0.2));
  v.dx = float(r.uniform(-0.05, 0.05));
  v.dy = float(r.uniform(-0.05, 0.05));
  v.scale = float(r.uniform(0.9, 1.1));
  v.yaw = float(r.uniform(-0.35, 0.35));
  v.smile = float(r.uniform(-0.6, 1.0));
  v.mouth_open = float(std::max(0.0, r.uniform(-0.5, 1.0)));
  v.eye_open = float(r.uniform(0.35, 1.0));
  v.light_angle = float(r.uniform(0, 2 * M_PI));
  v.light_strength = float(r.uniform(0.0, 0.5));
  v.brightness = float(r.uniform(0.75, 1.2));
  v.contrast = float(r.uniform(0.8, 1.15));
  v.background = {float(r.uniform(30, 220)), float(r.uniform(30, 220)), float(r.uniform(30, 220))};
  v.background_gradient = float(r.uniform(-60, 60));
  v.noise = float(r.uniform(2, 9));
  return v;
}

void render(const Identity& id, const Variation& var, Rng& noise, Image& out) {
  const int s = out.width;
  const float edge = 1.5f / s;
  const float ca = std::cos(var.angle), sa = std::sin(var.angle);
  const float light_x = std::cos(var.light_angle), light_y = std::sin(var.light_angle);
  // Yaw turns the head: features slide sideways and the face narrows.
  const float shift = var.yaw * 0.09f;
  const float face_w = id.face_w * (1 - 0.25f * std::abs(var.yaw));
  for (int py = 0; py < s; ++py)
    for (int px = 0; px < s; ++px) {
      const float u = (px + 0.5f) / s - 0.5f, w = (py + 0.5f) / s - 0.5f;
      // Image -> face coordinates (inverse of rotate, scale, translate).
      const float tx = (u - var.dx) / var.scale, ty = (w - var.dy) / var.scale;
      const float x = ca * tx + sa * ty, y = -sa * tx + ca * ty;
      Rgb c = var.background;
      for (float& ch : c) ch += var.background_gradient * u;

      // Hair behind the head, then the face (narrower jaw below the eyes).
      const float hair = coverage(
          ellipse(x, y, shift * 0.5f, -0.05f, face_w * 1.12f * id.hair_volume, id.face_h * 1.05f),
          edge);
      c = mix(c, id.hair, hair);
      const float jaw = y > 0 ? 1.0f - (1.0f - id.jaw) * std::min(1.0f, y / id.face_h) : 1.0f;
      const float face_d = ellipse(x, y, shift * 0.3f, 0.02f, face_w * jaw, id.face_h);
      const float face = coverage(face_d, edge);
      // Shading: darker towards the rim, directional light across the face.
      const float rim = std::clamp(-face_d / (face_w * 0.5f), 0.0f, 1.0f);
      const float light = 1.0f + var.light_strength * (light_x * x + light_y * y) * 3.0f;
      Rgb skin = id.skin;
      for (float& ch : skin) ch *= (0.78f + 0.22f * rim) * light;
      c = mix(c, skin, face);
      // Hair on the forehead above the hairline.
      const float fringe =
          coverage(y + id.face_h * id.hairline, edge) *
          coverage(ellipse(x, y, shift * 0.4f, -0.06f, face_w * 1.1f, id.face_h * 1.02f), edge);
      c = mix(c, id.hair, fringe);
      if (id.beard) {
        const float beard = coverage(-(y - id.mouth_y + 0.04f), edge * 4) * face * 0.7f;
        c = mix(c, id.hair, beard);
      }
      for (int side : {-1, 1}) {
        const float ex = shift + side * id.eye_dx * (1 - 0.3f * side * var.yaw);
        const float ery = id.eye_rx * id.eye_ry * var.eye_open;
        const float white = coverage(ellipse(x, y, ex, id.eye_y, id.eye_rx, ery), edge);
        c = mix(c, Rgb{235, 235, 230}, white * light);
        const float iris = coverage(ellipse(x, y, ex + shift * 0.3f, id.eye_y, id.eye_rx * 0.45f,
                                            id.eye_rx * 0.45f),
                                    edge) *
                           white;
        c = mix(c, id.iris, iris);
        const float pupil =
            coverage(ellipse(x, y, ex + shift * 0.3f, id.eye_y, id.eye_rx * 0.2f, id.eye_rx * 0.2f),
                     edge) *
            white;
        c = mix(c, Rgb{10, 10, 10}, pupil);
        // Brow: a thick tilted bar above the eye.
        const float bx = x - ex, by = y - (id.eye_y - id.brow_gap) + side * id.brow_tilt * bx;
        const float brow_d =
            std::max(std::abs(bx) - id.eye_rx * 1.2f, std::abs(by) - id.brow_thickness);
        c = mix(c, id.hair, coverage(brow_d, edge) * 0.9f);
        if (id.glasses) {
          const float ring =
              std::abs(ellipse(x, y, ex, id.eye_y, id.eye_rx * 1.6f, id.eye_rx * 1.3f)) - 0.006f;
          c = mix(c, Rgb{20, 20, 25}, coverage(ring, edge));
        }
      }
      // Nose: a shaded ridge and two nostrils.
      const float nose_top = id.eye_y + 0.02f, nose_bottom = id.eye_y + 0.02f + id.nose_len;
      const float ridge =
          coverage(ellipse(x, y, shift * 1.2f + id.nose_w * 0.3f * var.yaw,
                           (nose_top + nose_bottom) / 2, id.nose_w * 0.5f, id.nose_len / 2),
                   edge * 2);
      Rgb shade = skin;
      for (float& ch : shade) ch *= 0.85f;
      c = mix(c, shade, ridge * face * 0.8f);
      for (int side : {-1, 1}) {
        const float nostril = coverage(ellipse(x, y, shift * 1.2f + side * id.nose_w * 0.5f,
                                               nose_bottom, id.nose_w * 0.35f, id.nose_w * 0.2f),
                                       edge);
        c = mix(c, Rgb{60, 35, 30}, nostril * face);
      }
      // Mouth: a band bent by the smile, opened by the expression.
      const float mx = (x - shift * 1.1f) / id.mouth_w;
      if (std::abs(mx) < 1.2f) {
        const float curve = id.mouth_y - var.smile * 0.025f * (1 - mx * mx);
        const float half = id.lip_h * (1 + var.mouth_open * 1.5f);
        const float band = std::max(std::abs(y - curve) - half, (std::abs(mx) - 1) * id.mouth_w);
        c = mix(c, id.lip, coverage(band, edge));
        const float open = std::max(std::abs(y - curve) - half * var.mouth_open * 0.6f,
                                    (std::abs(mx) - 0.8f) * id.mouth_w);
        c = mix(c, Rgb{40, 15, 20}, coverage(open, edge) * (var.mouth_open > 0.05f));
      }
      uint8_t* p = out.row(py) + size_t(px) * 3;
      for (int ch = 0; ch < 3; ++ch) {
        const float v = (c[ch] - 128) * var.contrast + 128;
        const float lit = v * var.brightness + float(noise.normal()) * var.noise;
        p[ch] = uint8_t(std::clamp(std::lround(lit), 0L, 255L));
      }
    }
}

}  // namespace

SyntheticFaces::SyntheticFaces(SynthOptions options) : options_(options) {
  if (options_.identities < 1) throw ConfigError("synthetic identities must be at least 1");
  if (options_.images_per_identity < 1)
    throw ConfigError("synthetic images per identity must be at least 1");
  if (options_.size < 16 || options_.size > 4096)
    throw ConfigError("synthetic image size must be in 16..4096");
}

std::string SyntheticFaces::identity(int label) const {
  char name[32];
  std::snprintf(name, sizeof(name), "id_%04d", label);
  return name;
}

std::string SyntheticFaces::source(size_t index) const {
  char name[64];
  std::snprintf(name, sizeof(name), "synth://%s/%04zu", identity(label(index)).c_str(),
                index % options_.images_per_identity);
  return name;
}

Image SyntheticFaces::load(size_t index, bool) const {
  const int person = label(index);
  const size_t image = index % options_.images_per_identity;
  Rng identity_rng = Rng::stream(options_.seed, person, 0, Purpose::kSynthIdentity);
  Rng image_rng = Rng::stream(options_.seed, person, image + 1, Purpose::kSynthImage);
  const Identity id = draw_identity(identity_rng);
  const Variation var = draw_variation(image_rng);
  Image out(options_.size, options_.size, 3);
  render(id, var, image_rng, out);
  return out;
}

void write_synthetic_faces(const SyntheticFaces& faces, const std::filesystem::path& root,
                           int threads) {
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    try {
      for (size_t i; (i = next++) < faces.size();) {
        char file[32];
        std::snprintf(file, sizeof(file), "%04zu.png", i % faces.options().images_per_identity);
        write_png(root / faces.identity(faces.label(i)) / file, faces.load(i, false));
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      error = std::current_exception();
      next = faces.size();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace hymask
