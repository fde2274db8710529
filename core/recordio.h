// InsightFace's training-set format: MXNet indexed RecordIO (PREFIX.rec, PREFIX.idx, and a
// `property` file), read with random access through the index, as arcface_torch reads
// faces_emore/, glint360k/ and faces_webface_112x112/.
//
//   PREFIX.idx   text, one "index<TAB>byte offset" line per record
//   PREFIX.rec   records: uint32 magic 0xced7230a, uint32 length word (low 29 bits the length,
//                top 3 bits the continuation flag: 0 whole, 1 first, 2 middle, 3 last part),
//                then the payload, padded with zeros to 4 bytes
//   payload      IRHeader (uint32 flag, float32 label, uint64 id, uint64 id2), then `flag` more
//                float32 labels when flag > 0, then the encoded image (JPEG or PNG)
//   record 0     when its flag > 0, labels [a, b]: images are records 1 .. a-1, identities are
//                records a .. b-1, identity j's record holding [first, end) of its images
//   image record label: the identity (the float label, or the first of the labels)
//   property     "classes,height,width"
// All integers little-endian. Every size and offset read from a file is checked against the file
// before use: a damaged set gives a DataError naming the record, its offset and what is wrong.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/dataset.h"

namespace hymask {

constexpr uint32_t kRecordIoMagic = 0xced7230a;

struct RecordHeader {
  uint32_t flag = 0;
  std::vector<float> labels;  // the float label when flag == 0, else the `flag` labels
  uint64_t id = 0, id2 = 0;
  size_t data_offset = 0;  // where the image starts in the payload
};

// Parses a record's payload; throws DataError (naming `where`) when it is too short.
RecordHeader parse_record_header(const std::vector<uint8_t>& payload, const std::string& where);

// Random access to the records of PREFIX.rec through PREFIX.idx. Thread-safe.
class RecordIoReader {
 public:
  explicit RecordIoReader(const std::filesystem::path& prefix);
  // Record indices in the .idx file's order.
  const std::vector<uint64_t>& indices() const { return indices_; }
  bool contains(uint64_t index) const;
  // The payload of a record; DataError for a damaged record (wrong magic, past the end, ...).
  std::vector<uint8_t> read(uint64_t index) const;
  // "PREFIX.rec record I at byte O", for messages.
  std::string where(uint64_t index) const;
  const std::filesystem::path& prefix() const { return prefix_; }

 private:
  std::filesystem::path prefix_;
  std::vector<uint64_t> indices_;
  std::vector<uint64_t> offsets_;  // by index (UINT64_MAX: absent)
  uint64_t size_ = 0;
  mutable std::ifstream rec_;
  mutable std::mutex mutex_;
};

// Writes PREFIX.rec and PREFIX.idx record by record, in index order from 0; `property` beside.
class RecordIoWriter {
 public:
  explicit RecordIoWriter(const std::filesystem::path& prefix);
  ~RecordIoWriter();
  void write(const RecordHeader& header, const std::vector<uint8_t>& image);
  // Flushes both files and checks that they were written whole.
  void close();

 private:
  std::filesystem::path prefix_;
  std::ofstream rec_, idx_;
  uint64_t next_ = 0;
  uint64_t offset_ = 0;
  bool closed_ = false;
};

// The images of an InsightFace RecordIO set as a FaceDataset. Identity ranges in record 0 give
// the labels without reading the images; without them every record's header is read once.
// Corrupt records are skipped (named) or fatal, by `policy`.
class RecordIoDataset : public FaceDataset {
 public:
  static std::shared_ptr<RecordIoDataset> open(const std::filesystem::path& prefix,
                                               BadFilePolicy policy);

  size_t size() const override { return records_.size(); }
  int label(size_t index) const override { return labels_[index]; }
  int num_classes() const override { return classes_; }
  std::string identity(int label) const override { return "id" + std::to_string(label); }
  std::string source(size_t index) const override;
  uint64_t key(size_t index) const override { return index; }
  Image load(size_t index, bool grey) const override;

  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  std::unique_ptr<RecordIoReader> reader_;
  std::vector<uint64_t> records_;
  std::vector<int> labels_;
  int classes_ = 0;
  std::vector<std::string> skipped_;
};

}  // namespace hymask
