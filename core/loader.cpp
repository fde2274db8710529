#include "core/loader.h"

#include <chrono>

#include "core/error.h"
#include "core/random.h"

namespace hymask {

std::vector<size_t> epoch_order(std::vector<size_t> items, uint64_t seed, uint64_t epoch,
                                uint64_t shard) {
  Rng rng = Rng::stream(seed, epoch, shard, Purpose::kShuffle);
  rng.shuffle(items);
  return items;
}

BatchLoader::BatchLoader(std::shared_ptr<const FaceDataset> dataset, std::vector<size_t> order,
                         int batch_size, PreprocessOptions preprocess, BadFilePolicy policy,
                         int threads, int prefetch, Prepare prepare)
    : dataset_(std::move(dataset)),
      order_(std::move(order)),
      batch_size_(batch_size),
      preprocess_(preprocess),
      policy_(policy),
      prefetch_(std::max(1, prefetch)),
      prepare_(std::move(prepare)),
      num_batches_((order_.size() + batch_size - 1) / batch_size) {
  HYMASK_CHECK(batch_size > 0, batch_size);
  for (int t = 0; t < std::max(1, threads); ++t) threads_.emplace_back([this] { run(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& t : threads_) t.join();
}

Batch BatchLoader::load(uint64_t number) const {
  Batch batch;
  batch.number = number;
  const size_t begin = number * batch_size_;
  const size_t end = std::min(order_.size(), begin + batch_size_);
  const size_t plane = size_t(preprocess_.size) * preprocess_.size;
  const size_t sample = plane * color_planes(preprocess_.color);
  batch.pixels.resize((end - begin) * sample);
  for (size_t i = begin; i < end; ++i) {
    const size_t index = order_[i];
    try {
      const auto start = std::chrono::steady_clock::now();
      const Image image = dataset_->load(index, preprocess_.color == ColorMode::kGrey);
      const auto decoded = std::chrono::steady_clock::now();
      preprocess(image, preprocess_, batch.pixels.data() + batch.keys.size() * sample,
                 dataset_->source(index));
      batch.decode_seconds += std::chrono::duration<double>(decoded - start).count();
      batch.preprocess_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - decoded).count();
    } catch (const DataError& e) {
      if (policy_ == BadFilePolicy::kFail)
        throw DataError(std::string(e.what()) + " (set data.on_bad_file: skip to skip such files)");
      batch.skipped.push_back(e.what());
      continue;
    }
    batch.indices.push_back(index);
    batch.keys.push_back(dataset_->key(index));
    batch.labels.push_back(dataset_->label(index));
  }
  batch.pixels.resize(batch.keys.size() * sample);
  return batch;
}

void BatchLoader::run() {
  for (;;) {
    uint64_t number;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] {
        return stopping_ || error_ || claimed_ >= num_batches_ ||
               claimed_ < consumed_ + uint64_t(prefetch_);
      });
      if (stopping_ || error_ || claimed_ >= num_batches_) return;
      number = claimed_++;
    }
    try {
      Batch batch = load(number);
      if (prepare_ && batch.size() > 0) {
        const auto start = std::chrono::steady_clock::now();
        prepare_(batch);
        batch.prepare_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(number, std::move(batch));
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
    changed_.notify_all();
  }
}

std::optional<Batch> BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (consumed_ >= num_batches_) return std::nullopt;
  changed_.wait(lock, [&] { return error_ || ready_.count(consumed_); });
  if (error_) std::rethrow_exception(error_);
  Batch batch = std::move(ready_.at(consumed_));
  ready_.erase(consumed_++);
  lock.unlock();
  changed_.notify_all();
  return batch;
}

}  // namespace hymask
