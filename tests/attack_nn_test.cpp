// The LibTorch parts of the attack suite: the differentiable masking transform against the
// masking library, the multi-observation attack on constructed observations, and the learned
// reconstruction's training loop (early stopping on held-out faces, the identity term).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "attack/masking_transform.h"
#include "attack/multi_observation.h"
#include "attack/reconstruction.h"
#include "attack/scoring.h"
#include "core/linear_attack.h"
#include "core/random.h"

namespace hymask::attack {
namespace {

std::vector<float> random_images(int count, int size, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(size_t(count) * size * size);
  for (float& v : x) v = float(rng.uniform(-128, 127));
  return x;
}

// The nearest-face identifier against a naive loop over the gallery, in float64; a face may not
// match itself when excluded.
TEST(NearestPerson, MatchesANaiveCosineSearchAndHonoursTheExclusion) {
  const int size = 8, count = 12;
  FaceSet gallery;
  gallery.size = size;
  gallery.pixels = random_images(count, size, 3);
  for (int i = 0; i < count; ++i) gallery.labels.push_back(i / 3);
  const std::vector<float> queries = random_images(5, size, 4);
  const std::vector<int> exclude = {-1, 2, -1, 7, -1};
  const std::vector<int> got = nearest_person(gallery, queries.data(), 5, exclude);
  for (int q = 0; q < 5; ++q) {
    double best = -2;
    int person = -1;
    for (int g = 0; g < count; ++g) {
      if (g == exclude[q]) continue;
      double dot = 0, qq = 0, gg = 0;
      for (int e = 0; e < size * size; ++e) {
        const double a = queries[q * size * size + e], b = gallery.image(g)[e];
        dot += a * b, qq += a * a, gg += b * b;
      }
      if (dot / std::sqrt(qq * gg) > best) best = dot / std::sqrt(qq * gg), person = g / 3;
    }
    EXPECT_EQ(got[q], person) << "query " << q;
  }
  // A gallery face finds itself, unless excluded: then its copy, filed under another person.
  EXPECT_EQ(nearest_person(gallery, gallery.image(4), 1, {}), std::vector<int>{1});
  std::copy(gallery.image(4), gallery.image(4) + size * size,
            gallery.pixels.begin() + 9 * size * size);  // face 9, person 3
  EXPECT_EQ(nearest_person(gallery, gallery.image(4), 1, {-1}), std::vector<int>{1});
  EXPECT_EQ(nearest_person(gallery, gallery.image(4), 1, {4}), std::vector<int>{3});
}

// The floor of a hit rate: even guesses give 1/people; a sink person that takes every answer
// gives that person's share of the targets, whatever the answers' order.
TEST(HitRateIfUnrelated, IsTheOverlapOfAnswerAndTargetShares) {
  EXPECT_NEAR(hit_rate_if_unrelated({1, 2, 3, 0}, {0, 1, 2, 3}), 0.25, 1e-12);
  const std::vector<int> truth = {0, 0, 0, 1, 2, 3};
  EXPECT_NEAR(hit_rate_if_unrelated(std::vector<int>(6, 0), truth), 0.5, 1e-12);
  EXPECT_NEAR(hit_rate_if_unrelated(std::vector<int>(6, 3), truth), 1.0 / 6, 1e-12);
  EXPECT_NEAR(hit_rate_if_unrelated(std::vector<int>(6, 9), truth), 0.0, 1e-12);
}

// Per person, a person with many images counts once: person 0 (four targets, all hit) and
// person 1 (one target, missed) average to 0.5 where the per-target rate is 0.8. The floor is the
// mean over people of the share of answers naming them: 4/5 name person 0, none person 1.
TEST(PersonMeanHitRates, CountEachPersonOnce) {
  const PersonRates r = person_mean_hit_rates({0, 0, 0, 0, 2}, {0, 0, 0, 0, 1});
  EXPECT_NEAR(r.hit, 0.5, 1e-12);
  EXPECT_NEAR(r.unrelated, 0.4, 1e-12);
  // Even guesses over the people shown: each is named by 1/3 of the answers.
  const PersonRates even = person_mean_hit_rates({1, 2, 0}, {0, 1, 2});
  EXPECT_NEAR(even.hit, 0.0, 1e-12);
  EXPECT_NEAR(even.unrelated, 1.0 / 3, 1e-12);
  EXPECT_NEAR(person_mean_hit_rates({}, {}).hit, 0.0, 1e-12);
}

// The largest difference between the differentiable transform and the masking library on the
// same random faces (k = 1, no noise).
double transform_error(const MaskOptions& o, int size, uint64_t seed) {
  const int batch = 3;
  const Masker masker(o, size, ColorMode::kGrey);
  std::vector<float> x = random_images(batch, size, seed);
  std::vector<uint64_t> keys(batch);
  std::iota(keys.begin(), keys.end(), 0);
  MaskedBatch expected;
  masker.apply(x.data(), keys, 0, masker.default_action(), expected);
  const torch::Tensor got =
      MaskingTransform(masker)(torch::from_blob(x.data(), {batch, 1, size, size})).contiguous();
  if (got.numel() != int64_t(expected.data.size())) return INFINITY;
  const float* g = got.data_ptr<float>();
  double worst = 0;
  for (size_t i = 0; i < expected.data.size(); ++i)
    worst = std::max(worst, double(std::abs(g[i] - expected.data[i])));
  return worst;
}

TEST(MaskingTransform, MatchesTheMaskingLibrary) {
  MaskOptions o;
  o.method = Method::kMask;
  for (int upsample : {1, 2, 4})
    for (int drop : {-1, 0, 3}) {
      o.upsample = upsample;
      o.drop_level = drop;
      // float32 convolution against the float32 separable kernel: coefficients reach ~10^3,
      // rounding differences stay under 1e-2.
      EXPECT_LT(transform_error(o, 24, 11), 1e-2) << "u=" << upsample << " t=" << drop;
    }
  // The spectrum domain, through torch::fft, against the library's direct partial DFT.
  o.upsample = 1;
  o.domain = MaskDomain::kSpectrum;
  for (int drop : {-1, 0, 2}) {
    o.drop_level = drop;
    EXPECT_LT(transform_error(o, 24, 12), 1e-3) << "spectrum t=" << drop;
  }
}

// Smooth random images (a few low spatial frequencies), as faces are at the attack's coarse scale.
std::vector<float> smooth_images(int count, int size, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(size_t(count) * size * size, 0.0f);
  for (int i = 0; i < count; ++i)
    for (int term = 0; term < 12; ++term) {
      const double fy = rng.uniform(0, 8), fx = rng.uniform(0, 8), phase = rng.uniform(0, 6.3);
      const double amplitude = rng.uniform(-40, 40);
      for (int y = 0; y < size; ++y)
        for (int c = 0; c < size; ++c)
          x[(size_t(i) * size + y) * size + c] +=
              float(amplitude * std::cos(M_PI * (fy * y + fx * c) / size + phase));
    }
  return x;
}

// `count` smooth grey faces, one person each.
FaceSet smooth_faces(int count, int size, uint64_t seed) {
  FaceSet faces;
  faces.planes = 1;
  faces.size = size;
  faces.pixels = smooth_images(count, size, seed);
  for (int i = 0; i < count; ++i) {
    faces.labels.push_back(i);
    faces.keys.push_back(uint64_t(i));
  }
  return faces;
}

// A reconstruction network small enough to train in a test: 12 of the faces held out.
ReconstructionOptions small_options(int epochs) {
  ReconstructionOptions options;
  options.epochs = epochs;
  options.held_out = 12;
  options.width = 4;
  options.mask_batch = 8;
  options.threads = 1;
  return options;
}

// MixUp of two faces (Dirichlet weights) on grey images of `size`.
Masker mixup_masker(int size) {
  MaskOptions o;
  o.method = Method::kMixup;
  o.k = 2;
  return Masker(o, size, ColorMode::kGrey);
}

// Observations of 12 faces over 10 epochs, each sample = 0.6 x its own face + 0.4 x another.
TEST(MultiObservation, AveragingTheSimilarSamplesRecoversTheSharedFace) {
  const int size = 32, faces = 12, epochs = 10;
  const std::vector<float> images = smooth_images(faces, size, 3);
  const size_t per = size_t(size) * size;
  Observations obs;
  obs.planes = 1;
  obs.size = size;
  obs.image_floats = per;
  Rng rng(5);
  for (int e = 0; e < epochs; ++e)
    for (int i = 0; i < faces; ++i) {
      int partner = int(rng.below(faces - 1));
      partner += partner >= i;
      for (size_t p = 0; p < per; ++p)
        obs.linear.push_back(0.6f * images[i * per + p] + 0.4f * images[partner * per + p]);
      obs.members.push_back({i, partner});
      obs.weights.push_back({0.6f, 0.4f});
    }
  // The centre the attack measures deviations from: the mean of what it observes.
  std::vector<float> prior(per, 0.0f);
  for (size_t o = 0; o < obs.count(); ++o)
    for (size_t p = 0; p < per; ++p) prior[p] += obs.linear_image(o)[p] / float(obs.count());
  const std::vector<float> candidates = cluster_and_average(obs, 0, epochs, false);
  // Correlation with the shared face: one sample against the average of its group.
  auto correlation = [&](const float* a, const float* b) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t p = 0; p < per; ++p) {
      ab += double(a[p]) * b[p];
      aa += double(a[p]) * a[p];
      bb += double(b[p]) * b[p];
    }
    return ab / std::sqrt(aa * bb);
  };
  // Correlations of deviations from the prior (what distinguishes one face from the others).
  double single = 0, averaged = 0;
  std::vector<float> truth(per), seen(per), found(per);
  for (size_t o = 0; o < obs.count(); ++o) {
    for (size_t p = 0; p < per; ++p) {
      truth[p] = images[obs.members[o][0] * per + p] - prior[p];
      seen[p] = obs.linear_image(o)[p] - prior[p];
      found[p] = candidates[o * per + p] - prior[p];
    }
    single += correlation(seen.data(), truth.data()) / double(obs.count());
    averaged += correlation(found.data(), truth.data()) / double(obs.count());
  }
  // About 0.6 / sqrt(0.6^2 + 0.4^2) = 0.83 for one sample (the faces are not orthogonal); the
  // partners average out in a group.
  EXPECT_LT(single, 0.9);
  EXPECT_GT(averaged, single + 0.03);
}

TEST(Reconstruction, HalvesItsRateAtEachPlateauStopsAtTheLastAndKeepsItsBestEpoch) {
  const int size = 32, count = 60;
  const FaceSet faces = smooth_faces(count, size, 7);
  const Masker masker = mixup_masker(size);
  const LinearAttack linear(masker, mean_face(faces));
  ReconstructionOptions options = small_options(40);
  options.patience = 1;
  options.min_improvement = 0.05;  // demanding: the loop must stop well before 40 epochs
  int identity_calls = 0;
  options.identity_weight = 0.1;
  options.identity = [&](const torch::Tensor& reconstruction, const torch::Tensor& face) {
    ++identity_calls;
    return (reconstruction - face).abs().mean();
  };
  options.lr_halvings = 2;
  const TrainedReconstruction trained = train_reconstruction(
      faces, masker, [&](uint64_t) { return masker.default_action(); }, linear, options);
  ASSERT_FALSE(trained.curve.empty());
  EXPECT_LT(trained.curve.size(), 40u);
  ASSERT_GE(trained.best_epoch, 1);
  // The kept epoch is the lowest held-out one.
  const double best = trained.curve[size_t(trained.best_epoch) - 1].held_out_l1;
  for (const ReconstructionEpoch& e : trained.curve) EXPECT_GE(e.held_out_l1, best);
  // Replay the plateau rule on the curve: each epoch that fails to beat the last level of
  // progress by 5 % ends a plateau (patience 1), which halves the rate; the third one stops.
  double progress = std::numeric_limits<double>::infinity(), lr = options.lr;
  int plateaus = 0;
  for (const ReconstructionEpoch& e : trained.curve) {
    EXPECT_DOUBLE_EQ(e.lr, lr) << "epoch " << e.epoch;
    if (e.held_out_l1 < progress * (1 - options.min_improvement)) {
      progress = e.held_out_l1;
    } else {
      ++plateaus;
      lr /= 2;
    }
  }
  EXPECT_EQ(plateaus, options.lr_halvings + 1);
  // 48 training faces in SGD batches of 16: 3 identity terms per epoch.
  EXPECT_EQ(identity_calls, 3 * int(trained.curve.size()));
}

// Restarts: the first repeats a single training exactly, the others start elsewhere, and the
// network kept is the one whose best epoch has the lowest held-out L1 of all.
TEST(Reconstruction, RestartsKeepTheNetworkWithTheLowestHeldOutError) {
  const int size = 32;
  const FaceSet faces = smooth_faces(60, size, 7);
  const Masker masker = mixup_masker(size);
  const LinearAttack linear(masker, mean_face(faces));
  const ActionAt action_at = [&](uint64_t) { return masker.default_action(); };
  ReconstructionOptions options = small_options(3);
  const TrainedReconstruction single =
      train_reconstruction(faces, masker, action_at, linear, options);
  options.restarts = 3;
  const TrainedReconstruction restarted =
      train_reconstruction(faces, masker, action_at, linear, options);

  ASSERT_EQ(restarted.curve.size(), 9u);  // no plateau within 3 epochs
  std::vector<double> best(3, std::numeric_limits<double>::infinity());
  for (size_t i = 0; i < restarted.curve.size(); ++i) {
    const ReconstructionEpoch& e = restarted.curve[i];
    EXPECT_EQ(e.restart, int(i / 3) + 1);
    EXPECT_EQ(e.epoch, int(i % 3) + 1);
    best[size_t(e.restart) - 1] = std::min(best[size_t(e.restart) - 1], e.held_out_l1);
  }
  for (size_t i = 0; i < single.curve.size(); ++i)
    EXPECT_DOUBLE_EQ(restarted.curve[i].held_out_l1, single.curve[i].held_out_l1) << i;
  EXPECT_NE(best[1], best[0]);  // the second restart is a different training
  ASSERT_NE(restarted.kept(), nullptr);
  EXPECT_EQ(restarted.kept()->restart, restarted.best_restart);
  EXPECT_DOUBLE_EQ(restarted.kept()->held_out_l1, *std::min_element(best.begin(), best.end()));

  // The kept weights are that restart's: the first restart's network when it won, another's
  // when not.
  ReconstructionNet single_net = single.net, kept_net = restarted.net;
  const std::vector<float> image(smooth_faces(1, size, 3).pixels);
  const std::vector<float> a = reconstruct(single_net, image, 1, size);
  const std::vector<float> b = reconstruct(kept_net, image, 1, size);
  double difference = 0;
  for (size_t e = 0; e < a.size(); ++e) difference += std::abs(a[e] - b[e]);
  if (restarted.best_restart == 1)
    EXPECT_LT(difference, 1e-3);
  else
    EXPECT_GT(difference, 1.0);
}

// An adaptive run's samples: each action gets a network trained on that action alone (the same
// one a direct call trains), and each sample is reconstructed by its own action's network.
TEST(Reconstruction, TrainsOneNetworkPerActionAndSendsEachSampleToItsOwn) {
  const int size = 32;
  const FaceSet public_faces = smooth_faces(60, size, 7);
  const FaceSet targets = smooth_faces(24, size, 9);
  const Masker masker = mixup_masker(size);
  const LinearAttack linear(masker, mean_face(public_faces));
  MixAction two, three;
  two.k = 2;
  three.k = 3;
  three.weights = WeightScheme::kGaussian;
  // Batches of 8: the first and third mix two faces, the second three.
  const Observations obs = observe(
      targets, masker, [&](uint64_t step) { return step == 1 ? three : two; }, linear, 1, 8, 1, 0,
      0, 1);
  ReconstructionOptions options = small_options(2);
  const ReconstructionByAction result =
      reconstruct_by_action(public_faces, masker, linear, options, obs.linear, obs.actions);
  ASSERT_EQ(result.specialists.size(), 2u);
  EXPECT_EQ(result.specialists[0].action.k, 2);
  EXPECT_EQ(result.specialists[1].action.k, 3);
  EXPECT_EQ(result.specialists[1].action.weights, WeightScheme::kGaussian);
  ASSERT_EQ(result.images.size(), obs.linear.size());
  const size_t per = size_t(size) * size;
  size_t covered = 0;
  for (const ActionReconstruction& s : result.specialists) {
    const TrainedReconstruction direct = train_reconstruction(
        public_faces, masker, [&](uint64_t) { return s.action; }, linear, options);
    ASSERT_EQ(direct.curve.size(), s.trained.curve.size());
    for (size_t e = 0; e < direct.curve.size(); ++e)
      EXPECT_DOUBLE_EQ(direct.curve[e].held_out_l1, s.trained.curve[e].held_out_l1);
    ReconstructionNet net = s.trained.net;
    for (size_t i : s.samples) {
      ++covered;
      EXPECT_EQ(obs.actions[i].k, s.action.k) << i;
      const std::vector<float> alone = reconstruct(
          net, std::vector<float>(obs.linear_image(i), obs.linear_image(i) + per), 1, size);
      for (size_t e = 0; e < per; ++e)
        ASSERT_NEAR(result.images[i * per + e], alone[e], 1e-3) << "sample " << i;
    }
  }
  EXPECT_EQ(covered, obs.count());
  // The two networks differ: the same image comes out differently.
  ReconstructionNet first = result.specialists[0].trained.net;
  ReconstructionNet second = result.specialists[1].trained.net;
  const std::vector<float> image(obs.linear_image(0), obs.linear_image(0) + per);
  const std::vector<float> a = reconstruct(first, image, 1, size);
  const std::vector<float> b = reconstruct(second, image, 1, size);
  double difference = 0;
  for (size_t e = 0; e < per; ++e) difference += std::abs(a[e] - b[e]);
  EXPECT_GT(difference / double(per), 0.01);
}

TEST(Observations, RecordEachSamplesAction) {
  const int size = 16, count = 24;
  const FaceSet faces = smooth_faces(count, size, 2);
  const Masker masker = mixup_masker(size);
  const LinearAttack linear(masker, mean_face(faces));
  // Even steps mix two faces, odd steps three.
  const auto action_at = [](uint64_t step) {
    MixAction a;
    a.k = step % 2 == 0 ? 2 : 3;
    return a;
  };
  const Observations obs = observe(faces, masker, action_at, linear, 1, 8, 1, 0, 0, 1);
  ASSERT_EQ(obs.actions.size(), obs.count());
  for (size_t i = 0; i < obs.count(); ++i) {
    EXPECT_EQ(obs.actions[i].k, i / 8 % 2 == 0 ? 2 : 3) << i;
    EXPECT_EQ(int(obs.members[i].size()), obs.actions[i].k) << i;
  }
}

}  // namespace
}  // namespace hymask::attack
