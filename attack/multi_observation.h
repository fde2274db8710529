// The multi-observation attack, in the manner of Carlini et al.'s attack on InstaHide (2020): a
// private image takes part in many protected samples over the epochs the attacker watches. The
// attacker groups the samples that look alike (cosine similarity of their linear images less
// the mean of all it observed) and averages each group: the shared face adds up, the other
// constituents, drawn afresh each time, average out towards the mean face.
#pragma once

#include <vector>

#include "attack/observations.h"

namespace hymask::attack {

// One candidate per observation: the mean of it and its `group - 1` most similar observations.
// With `rescale`, the candidate's deviation from the observations' mean is scaled to `contrast`
// (the typical standard deviation of a public face around the mean face), since averaging
// mixtures shrinks it. Returns count x planes x S x S centred images.
std::vector<float> cluster_and_average(const Observations& obs, double contrast, int group,
                                       bool rescale);

}  // namespace hymask::attack
