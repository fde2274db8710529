#include "core/recordio.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "core/error.h"

namespace hymask {
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kAbsent = UINT64_MAX;
constexpr size_t kHeaderSize = 24;               // flag, label, id, id2
constexpr uint32_t kMaxRecord = (1u << 29) - 1;  // the length word's 29 bits

template <typename T>
T read_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // little-endian hosts only (x86-64, aarch64)
  return v;
}

template <typename T>
void append_le(std::vector<uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
}

std::string hex(uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%08x", v);
  return text;
}

fs::path with_suffix(const fs::path& prefix, const std::string& suffix) {
  return fs::path(prefix.string() + suffix);
}

}  // namespace

RecordHeader parse_record_header(const std::vector<uint8_t>& payload, const std::string& where) {
  if (payload.size() < kHeaderSize)
    throw DataError(where + ": " + std::to_string(payload.size()) +
                    " bytes, shorter than a record header (24)");
  RecordHeader h;
  h.flag = read_le<uint32_t>(payload.data());
  h.id = read_le<uint64_t>(payload.data() + 8);
  h.id2 = read_le<uint64_t>(payload.data() + 16);
  if (h.flag == 0) {
    h.labels = {read_le<float>(payload.data() + 4)};
    h.data_offset = kHeaderSize;
  } else {
    if (h.flag > (payload.size() - kHeaderSize) / 4)
      throw DataError(where + ": its header announces " + std::to_string(h.flag) +
                      " labels, more than the record holds");
    for (uint32_t i = 0; i < h.flag; ++i)
      h.labels.push_back(read_le<float>(payload.data() + kHeaderSize + 4 * i));
    h.data_offset = kHeaderSize + 4 * size_t(h.flag);
  }
  return h;
}

RecordIoReader::RecordIoReader(const fs::path& prefix) : prefix_(prefix) {
  const fs::path idx = with_suffix(prefix, ".idx"), rec = with_suffix(prefix, ".rec");
  for (const fs::path& p : {idx, rec})
    if (!fs::exists(p))
      throw DataError(p.string() + " does not exist (data.root of data.format recordio is the " +
                      "prefix of PREFIX.rec and PREFIX.idx, e.g. faces_emore/train)");
  rec_.open(rec, std::ios::binary);
  if (!rec_) throw DataError("cannot open " + rec.string());
  size_ = fs::file_size(rec);
  std::ifstream in(idx);
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    uint64_t index, offset;
    if (!(fields >> index >> offset))
      throw DataError(idx.string() + " line " + std::to_string(number) +
                      ": not an 'index<TAB>offset' line");
    if (offset + 8 > size_)
      throw DataError(idx.string() + " line " + std::to_string(number) + ": record " +
                      std::to_string(index) + " at byte " + std::to_string(offset) +
                      " lies past the end of " + rec.string() + " (" + std::to_string(size_) +
                      " bytes): the .rec is truncated or belongs to another index");
    if (index > size_ / 8)  // every record takes 8 bytes or more: bounds the table below
      throw DataError(idx.string() + " line " + std::to_string(number) + ": record index " +
                      std::to_string(index) + " is larger than " + rec.string() + " could hold");
    if (index >= offsets_.size()) offsets_.resize(index + 1, kAbsent);
    if (offsets_[index] != kAbsent)
      throw DataError(idx.string() + ": record " + std::to_string(index) + " is listed twice");
    offsets_[index] = offset;
    indices_.push_back(index);
  }
  if (indices_.empty()) throw DataError(idx.string() + " lists no record");
}

bool RecordIoReader::contains(uint64_t index) const {
  return index < offsets_.size() && offsets_[index] != kAbsent;
}

std::string RecordIoReader::where(uint64_t index) const {
  return with_suffix(prefix_, ".rec").string() + " record " + std::to_string(index) +
         (contains(index) ? " at byte " + std::to_string(offsets_[index]) : "");
}

std::vector<uint8_t> RecordIoReader::read(uint64_t index) const {
  if (!contains(index)) throw DataError(where(index) + ": not in the index");
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<uint8_t> payload;
  uint64_t at = offsets_[index];
  for (int part = 0;; ++part) {
    uint8_t head[8];
    if (at + 8 > size_) throw DataError(where(index) + ": cut short (truncated .rec)");
    rec_.clear();
    rec_.seekg(std::streamoff(at));
    rec_.read(reinterpret_cast<char*>(head), 8);
    const uint32_t magic = read_le<uint32_t>(head), word = read_le<uint32_t>(head + 4);
    if (magic != kRecordIoMagic)
      throw DataError(where(index) + ": no record starts there (magic " + hex(magic) +
                      ", not 0xced7230a)");
    const uint32_t length = word & kMaxRecord, flag = word >> 29;
    if (at + 8 + length > size_) throw DataError(where(index) + ": cut short (truncated .rec)");
    if ((part == 0 && flag != 0 && flag != 1) || (part > 0 && flag != 2 && flag != 3))
      throw DataError(where(index) + ": broken continuation (part " + std::to_string(part) +
                      " has flag " + std::to_string(flag) + ")");
    const size_t old = payload.size();
    payload.resize(old + length);
    rec_.read(reinterpret_cast<char*>(payload.data() + old), length);
    if (!rec_) throw DataError(where(index) + ": cannot be read");
    at += 8 + ((uint64_t(length) + 3) & ~uint64_t(3));
    if (flag == 0 || flag == 3) break;
    // MXNet splits a payload where it holds the magic number, which it then leaves out.
    append_le(payload, kRecordIoMagic);
  }
  return payload;
}

RecordIoWriter::RecordIoWriter(const fs::path& prefix) : prefix_(prefix) {
  if (prefix.has_parent_path()) fs::create_directories(prefix.parent_path());
  rec_.open(with_suffix(prefix, ".rec"), std::ios::binary | std::ios::trunc);
  idx_.open(with_suffix(prefix, ".idx"), std::ios::trunc);
  if (!rec_ || !idx_) throw Error("cannot create " + prefix.string() + ".rec/.idx");
}

RecordIoWriter::~RecordIoWriter() = default;

void RecordIoWriter::write(const RecordHeader& header, const std::vector<uint8_t>& image) {
  std::vector<uint8_t> payload;
  const bool single = header.flag == 0;
  append_le<uint32_t>(payload, single ? 0 : uint32_t(header.labels.size()));
  append_le<float>(payload, single && !header.labels.empty() ? header.labels[0] : 0.0f);
  append_le<uint64_t>(payload, header.id);
  append_le<uint64_t>(payload, header.id2);
  if (!single)
    for (float l : header.labels) append_le<float>(payload, l);
  payload.insert(payload.end(), image.begin(), image.end());
  if (payload.size() > kMaxRecord)
    throw Error("a record of " + std::to_string(payload.size()) +
                " bytes exceeds RecordIO's 512 MiB");
  // As MXNet writes it: split where the payload holds the magic number at a 4-byte boundary
  // (the magic itself left out), so that a scan for record starts never stops inside a payload.
  std::vector<std::pair<size_t, size_t>> parts;  // [begin, end) of each part
  size_t begin = 0;
  for (size_t p = 0; p + 4 <= payload.size(); p += 4)
    if (read_le<uint32_t>(payload.data() + p) == kRecordIoMagic) {
      parts.emplace_back(begin, p);
      begin = p + 4;
    }
  parts.emplace_back(begin, payload.size());
  idx_ << next_ << '\t' << offset_ << '\n';
  for (size_t i = 0; i < parts.size(); ++i) {
    const uint32_t flag = parts.size() == 1 ? 0 : i == 0 ? 1 : i + 1 == parts.size() ? 3 : 2;
    const size_t length = parts[i].second - parts[i].first;
    std::vector<uint8_t> head;
    append_le<uint32_t>(head, kRecordIoMagic);
    append_le<uint32_t>(head, uint32_t(length) | (flag << 29));
    rec_.write(reinterpret_cast<const char*>(head.data()), std::streamsize(head.size()));
    rec_.write(reinterpret_cast<const char*>(payload.data() + parts[i].first),
               std::streamsize(length));
    const size_t pad = (4 - length % 4) % 4;
    const char zeros[4] = {};
    rec_.write(zeros, std::streamsize(pad));
    offset_ += 8 + length + pad;
  }
  ++next_;
}

void RecordIoWriter::close() {
  if (closed_) return;
  rec_.flush();
  idx_.flush();
  if (!rec_ || !idx_) throw Error("writing " + prefix_.string() + ".rec/.idx failed (disk full?)");
  rec_.close();
  idx_.close();
  closed_ = true;
}

std::shared_ptr<RecordIoDataset> RecordIoDataset::open(const fs::path& prefix,
                                                       BadFilePolicy policy) {
  auto d = std::shared_ptr<RecordIoDataset>(new RecordIoDataset());
  d->reader_ = std::make_unique<RecordIoReader>(prefix);
  const RecordIoReader& r = *d->reader_;
  auto bad = [&](const std::string& problem) {
    if (policy == BadFilePolicy::kFail)
      throw DataError(problem + " (set data.on_bad_file: skip to skip such records)");
    d->skipped_.push_back(problem);
  };
  const RecordHeader first = parse_record_header(r.read(0), r.where(0));
  if (first.flag > 0 && first.labels.size() >= 2) {
    // InsightFace's layout: identity records give every image's label without a scan.
    const uint64_t images_end = uint64_t(first.labels[0]), ids_end = uint64_t(first.labels[1]);
    if (images_end < 1 || ids_end < images_end || !r.contains(images_end - 1))
      throw DataError(r.where(0) + ": its ranges [1, " + std::to_string(images_end) + ") and [" +
                      std::to_string(images_end) + ", " + std::to_string(ids_end) +
                      ") do not fit the index");
    std::vector<int> label_of(images_end, -1);
    for (uint64_t id = images_end; id < ids_end; ++id) {
      const RecordHeader h = parse_record_header(r.read(id), r.where(id));
      if (h.labels.size() < 2) throw DataError(r.where(id) + ": not an identity record");
      const uint64_t begin = uint64_t(h.labels[0]), end = uint64_t(h.labels[1]);
      if (begin != end && (begin < 1 || end > images_end || begin > end))
        throw DataError(r.where(id) + ": identity range [" + std::to_string(begin) + ", " +
                        std::to_string(end) + ") lies outside the images");
      for (uint64_t i = begin; i < end; ++i) label_of[i] = int(id - images_end);
    }
    d->classes_ = int(ids_end - images_end);
    for (uint64_t i = 1; i < images_end; ++i) {
      if (!r.contains(i)) {
        bad(r.where(i) + ": missing from the index");
        continue;
      }
      if (label_of[i] < 0) {
        bad(r.where(i) + ": in no identity's range");
        continue;
      }
      d->records_.push_back(i);
      d->labels_.push_back(label_of[i]);
    }
  } else {
    // A plain set: every record is an image; read each header once for its label.
    int most = -1;
    for (uint64_t i : r.indices()) {
      try {
        const RecordHeader h = parse_record_header(r.read(i), r.where(i));
        const double label = h.labels.empty() ? -1.0 : h.labels[0];
        if (!(label >= 0 && label < 1e8) || label != std::floor(label))
          throw DataError(r.where(i) + ": label " + std::to_string(label) +
                          " is not an identity number");
        d->records_.push_back(i);
        d->labels_.push_back(int(label));
        most = std::max(most, int(label));
      } catch (const DataError& e) {
        bad(e.what());
      }
    }
    d->classes_ = most + 1;
  }
  if (d->records_.empty()) throw DataError(prefix.string() + ".rec holds no usable image record");
  return d;
}

std::string RecordIoDataset::source(size_t index) const {
  return reader_->where(records_[index]);
}

Image RecordIoDataset::load(size_t index, bool grey) const {
  const uint64_t record = records_[index];
  const std::vector<uint8_t> payload = reader_->read(record);
  const RecordHeader h = parse_record_header(payload, reader_->where(record));
  return decode_image(
      std::vector<uint8_t>(payload.begin() + std::ptrdiff_t(h.data_offset), payload.end()),
      reader_->where(record), grey);
}

}  // namespace hymask
