// Parallel batch loading ahead of the consumer: threads decode, preprocess and (through `prepare`)
// mask whole batches while the trainer works on earlier ones; batches come out in order.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/dataset.h"
#include "core/masking.h"
#include "core/preprocess.h"

namespace hymask {

struct Batch {
  uint64_t number = 0;          // position in this pass over the data
  std::vector<size_t> indices;  // dataset index of each sample
  std::vector<uint64_t> keys;   // its stable key (FaceDataset::key), which keys the masking
  std::vector<int> labels;
  std::vector<float> pixels;         // batch x planes x S x S, centred
  std::vector<std::string> skipped;  // samples dropped from this batch (bad files), with why
  MaskedBatch masked;                // filled by `prepare`, if given
  // Time the loader thread spent on this batch (for the per-stage breakdown).
  double decode_seconds = 0, preprocess_seconds = 0, prepare_seconds = 0;
  size_t size() const { return keys.size(); }
};

// The sample order of one epoch of one shard: a seeded shuffle of `items`, the same for every run
// with the same seed (the mask command exports epoch 0's order of the whole dataset).
std::vector<size_t> epoch_order(std::vector<size_t> items, uint64_t seed, uint64_t epoch,
                                uint64_t shard = 0);

class BatchLoader {
 public:
  using Prepare = std::function<void(Batch&)>;

  // Batches are consecutive runs of `order` (dataset indices); the last one may be short.
  BatchLoader(std::shared_ptr<const FaceDataset> dataset, std::vector<size_t> order, int batch_size,
              PreprocessOptions preprocess, BadFilePolicy policy, int threads, int prefetch,
              Prepare prepare = {});
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch in order; nullopt after the last. Rethrows a loader thread's error.
  std::optional<Batch> next();
  size_t num_batches() const { return num_batches_; }

 private:
  void run();
  Batch load(uint64_t number) const;

  std::shared_ptr<const FaceDataset> dataset_;
  std::vector<size_t> order_;
  int batch_size_;
  PreprocessOptions preprocess_;
  BadFilePolicy policy_;
  int prefetch_;
  Prepare prepare_;
  size_t num_batches_;

  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t claimed_ = 0;   // next batch number a thread will take
  uint64_t consumed_ = 0;  // next batch number next() returns
  std::map<uint64_t, Batch> ready_;
  std::exception_ptr error_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace hymask
