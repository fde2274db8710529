// The privacy audit of a finished training run (eval.audit): what the cheapest attacks recover,
// in a few minutes on CPU, written next to the accuracy in eval.json.
//   linear           the least-squares inversion of each protected sample the run emitted (one
//                    epoch of its training images under its own actions, the adaptive run's
//                    recorded history included): SSIM to the largest-weight constituent, and how
//                    often the reconstruction is identified as that person;
//   model_inversion  a short inversion of the trained model for its first identities: how often
//                    the optimised image is identified as the identity it was optimised for.
// The identifier is an independent FR model when eval.audit_evaluator names one (a mask.method
// none run on the same data, as `hymask attack` takes), otherwise the nearest face by pixels
// among the other audited training images: weaker than a trained evaluator, so its rates are
// lower bounds, reported with the same identifier's rate on the clean faces (what a perfect
// reconstruction would reach) and with chance.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/masking.h"
#include "worker/face_model.h"

namespace hymask::attack {

// Audits the run in `run` (its trained `model`, moved to the CPU), logs a summary line and
// returns the figures.
nlohmann::json audit_run(const Config& config, FaceModel& model, const Masker& masker,
                         const std::filesystem::path& run);

// The end of a finished run (`hymask train`, rank 0 of `hymask-worker`): its evaluation (masked
// as make_eval_masker says), with the run's policy report when it has one, then the audit when
// eval.audit asks for it; each written to RUN/eval.json as soon as it is known, and logged.
void evaluate_and_audit(const Config& config, FaceModel& model, const nlohmann::json& policy,
                        const std::filesystem::path& run);

}  // namespace hymask::attack
