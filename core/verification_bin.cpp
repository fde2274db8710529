#include "core/verification_bin.h"

#include <fmt/format.h>

#include <cstring>
#include <unordered_map>

#include "core/error.h"
#include "core/files.h"

namespace hymask {

namespace {

// A pickled value. Values live in their machine's arena and refer to each other by pointer: a
// memoised list and the stack see the same appends, and a list that holds itself is no leak.
struct Value;
using ValuePtr = Value*;
struct Value {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kBytes,
    kText,
    kList,
    kTuple,
    kDict,
    kGlobal,
    kObject,
    kMark
  };
  Kind kind = Kind::kNone;
  int64_t number = 0;           // kBool, kInt
  std::string bytes;            // kBytes, kText, kGlobal ("module name")
  std::vector<ValuePtr> items;  // kList, kTuple, kDict (key, value, ...), kObject (below)
  // kObject: the result of calling `callable` with `args`, then set to `state` (BUILD).
  ValuePtr callable = nullptr, args = nullptr, state = nullptr;
};

const char* kind_name(Value::Kind kind) {
  static const char* names[] = {"None", "bool",  "int",  "float",  "bytes",  "str",
                                "list", "tuple", "dict", "global", "object", "mark"};
  return names[int(kind)];
}

// The stack machine of Python's pickle, restricted to what verification sets use.
class PickleMachine {
 public:
  PickleMachine(const uint8_t* data, size_t size, std::string name)
      : data_(data), size_(size), name_(std::move(name)) {}

  ValuePtr run() {
    while (true) {
      opcode_at_ = at_;
      const uint8_t op = *take(1);
      switch (op) {
        case 0x80: {  // PROTO
          const int protocol = *take(1);
          if (protocol < 2 || protocol > 5)
            fail(fmt::format("pickle protocol {}; a verification .bin uses 2 to 5", protocol));
          break;
        }
        case 0x95:
          take(8);
          break;   // FRAME: a read-ahead hint
        case '.':  // STOP
          if (stack_.size() != 1) fail("the pickle ends with more than one value on its stack");
          return pop();
        case '(':
          push(make(Value::Kind::kMark));
          break;
        case ']':
          push(make(Value::Kind::kList));
          break;
        case ')':
          push(make(Value::Kind::kTuple));
          break;
        case '}':
          push(make(Value::Kind::kDict));
          break;
        case 'l':
          push(sequence(Value::Kind::kList, pop_to_mark()));
          break;
        case 't':
          push(sequence(Value::Kind::kTuple, pop_to_mark()));
          break;
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          std::vector<ValuePtr> items(size_t(op - 0x84));
          for (size_t i = items.size(); i-- > 0;) items[i] = pop();
          push(sequence(Value::Kind::kTuple, std::move(items)));
          break;
        }
        case 'a': {  // APPEND
          ValuePtr item = pop();
          top(Value::Kind::kList).items.push_back(std::move(item));
          break;
        }
        case 'e': {  // APPENDS
          std::vector<ValuePtr> items = pop_to_mark();
          auto& list = top(Value::Kind::kList).items;
          list.insert(list.end(), items.begin(), items.end());
          break;
        }
        case 's':
        case 'u': {  // SETITEM, SETITEMS
          std::vector<ValuePtr> items;
          if (op == 's') {
            items.resize(2);
            items[1] = pop();
            items[0] = pop();
          } else {
            items = pop_to_mark();
            if (items.size() % 2 != 0) fail("SETITEMS with a key but no value");
          }
          auto& dict = top(Value::Kind::kDict).items;
          dict.insert(dict.end(), items.begin(), items.end());
          break;
        }
        case 'N':
          push(make(Value::Kind::kNone));
          break;
        case 0x88:
        case 0x89: {  // NEWTRUE, NEWFALSE
          ValuePtr v = make(Value::Kind::kBool);
          v->number = op == 0x88;
          push(v);
          break;
        }
        case 'J':
          push(integer(int32_t(uint32_t(unsigned_le(4)))));
          break;  // BININT
        case 'K':
          push(integer(int64_t(unsigned_le(1))));
          break;  // BININT1
        case 'M':
          push(integer(int64_t(unsigned_le(2))));
          break;      // BININT2
        case 0x8a: {  // LONG1
          const size_t n = *take(1);
          if (n > 8) fail(fmt::format("a {}-byte integer; at most 8 bytes are supported", n));
          uint64_t bits = n == 0 ? 0 : unsigned_le(n);
          if (n > 0 && n < 8 && (bits >> (8 * n - 1)) != 0) bits |= ~uint64_t(0) << (8 * n);
          push(integer(int64_t(bits)));
          break;
        }
        case 'G':
          take(8);
          push(make(Value::Kind::kFloat));
          break;  // BINFLOAT: never needed
        case 'U':
        case 'C':
          push(bytes(Value::Kind::kBytes, unsigned_le(1)));
          break;
        case 'T':
        case 'B':
          push(bytes(Value::Kind::kBytes, unsigned_le(4)));
          break;
        case 0x8e:
        case 0x96:
          push(bytes(Value::Kind::kBytes, unsigned_le(8)));
          break;
        case 0x8c:
          push(bytes(Value::Kind::kText, unsigned_le(1)));
          break;
        case 'X':
          push(bytes(Value::Kind::kText, unsigned_le(4)));
          break;
        case 0x8d:
          push(bytes(Value::Kind::kText, unsigned_le(8)));
          break;
        case 'q':
          memo_[unsigned_le(1)] = peek();
          break;  // BINPUT
        case 'r':
          memo_[unsigned_le(4)] = peek();
          break;  // LONG_BINPUT
        case 0x94:
          memo_[memo_.size()] = peek();
          break;  // MEMOIZE
        case 'h':
          push(recall(unsigned_le(1)));
          break;  // BINGET
        case 'j':
          push(recall(unsigned_le(4)));
          break;     // LONG_BINGET
        case 'c': {  // GLOBAL
          const std::string module = line();
          push(global(module, line()));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          const ValuePtr name = pop(), module = pop();
          if (name->kind != Value::Kind::kText || module->kind != Value::Kind::kText)
            fail("STACK_GLOBAL of something that is not a name");
          push(global(module->bytes, name->bytes));
          break;
        }
        case 'R':
        case 0x81: {  // REDUCE, NEWOBJ: recorded, never called
          ValuePtr args = pop(), callable = pop();
          if (callable->kind != Value::Kind::kGlobal || args->kind != Value::Kind::kTuple)
            fail("a call of something that is not a global name");
          ValuePtr object = make(Value::Kind::kObject);
          object->callable = callable;
          object->args = args;
          push(object);
          break;
        }
        case 'b': {  // BUILD
          ValuePtr state = pop();
          top(Value::Kind::kObject).state = state;
          break;
        }
        default:
          fail(
              fmt::format("pickle opcode 0x{:02x}{} is outside the subset that verification "
                          ".bin files use (protocols 2-5: lists, tuples, bytes, bools, ints, "
                          "NumPy arrays)",
                          op, std::isprint(op) ? fmt::format(" ('{}')", char(op)) : ""));
      }
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw DataError(fmt::format("{}: byte {}: {}", name_, opcode_at_, what));
  }

  // Every value counts against a bound: real sets hold tens of thousands, and a crafted file
  // must not make millions of small allocations out of one byte each.
  ValuePtr make(Value::Kind kind) {
    if (arena_.size() >= kMaxValues)
      fail(fmt::format("more than {} values: not a verification set", kMaxValues));
    arena_.push_back(std::make_unique<Value>());
    arena_.back()->kind = kind;
    return arena_.back().get();
  }

 private:
  const uint8_t* take(size_t n) {
    if (n > size_ - at_)
      fail(
          fmt::format("the file ends inside the pickle ({} more bytes wanted, {} left): "
                      "truncated or not a pickle",
                      n, size_ - at_));
    const uint8_t* p = data_ + at_;
    at_ += n;
    return p;
  }
  uint64_t unsigned_le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
  }
  std::string line() {
    std::string s;
    while (true) {
      const char c = char(*take(1));
      if (c == '\n') return s;
      if (s.size() > 256) fail("a GLOBAL name longer than 256 characters");
      s += c;
    }
  }

  void push(ValuePtr v) { stack_.push_back(v); }
  ValuePtr pop() {
    if (stack_.empty() || stack_.back()->kind == Value::Kind::kMark)
      fail("an opcode takes a value from an empty stack");
    ValuePtr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  ValuePtr peek() {
    if (stack_.empty()) fail("memoising from an empty stack");
    return stack_.back();
  }
  Value& top(Value::Kind kind) {
    if (stack_.empty() || stack_.back()->kind != kind)
      fail(fmt::format("an opcode expects a {} on the stack, finds {}", kind_name(kind),
                       stack_.empty() ? "nothing" : kind_name(stack_.back()->kind)));
    return *stack_.back();
  }
  std::vector<ValuePtr> pop_to_mark() {
    size_t mark = stack_.size();
    while (mark > 0 && stack_[mark - 1]->kind != Value::Kind::kMark) --mark;
    if (mark == 0) fail("an opcode looks for a MARK that is not there");
    std::vector<ValuePtr> items(stack_.begin() + std::ptrdiff_t(mark), stack_.end());
    stack_.resize(mark - 1);
    return items;
  }
  ValuePtr recall(uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail(fmt::format("memo entry {} was never stored", index));
    return it->second;
  }
  ValuePtr sequence(Value::Kind kind, std::vector<ValuePtr> items) {
    ValuePtr v = make(kind);
    v->items = std::move(items);
    return v;
  }
  ValuePtr integer(int64_t n) {
    ValuePtr v = make(Value::Kind::kInt);
    v->number = n;
    return v;
  }
  ValuePtr bytes(Value::Kind kind, uint64_t n) {
    const uint8_t* p = take(n);
    ValuePtr v = make(kind);
    v->bytes.assign(reinterpret_cast<const char*>(p), size_t(n));
    return v;
  }
  ValuePtr global(const std::string& module, const std::string& name) {
    ValuePtr v = make(Value::Kind::kGlobal);
    v->bytes = module + " " + name;
    return v;
  }

  static constexpr size_t kMaxValues = size_t(1) << 20;
  const uint8_t* data_;
  size_t size_;
  std::string name_;
  size_t at_ = 0, opcode_at_ = 0;
  std::vector<std::unique_ptr<Value>> arena_;
  std::vector<ValuePtr> stack_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
};

// Turns the pickled objects into plain values: a NumPy array becomes a list of its elements, or
// bytes when its elements are bytes (uint8/int8, how images are stored as arrays); a NumPy scalar
// becomes an int.
class Interpreter {
 public:
  explicit Interpreter(PickleMachine& machine) : machine_(machine) {}

  // The elements of a list, tuple or 1-D array.
  std::vector<ValuePtr> elements(const ValuePtr& v, const char* what) const {
    const ValuePtr p = plain(v);
    if (p->kind != Value::Kind::kList && p->kind != Value::Kind::kTuple)
      fail(fmt::format("{} is a {}, not a list", what, kind_name(p->kind)));
    return p->items;
  }
  std::string image_bytes(const ValuePtr& v, size_t index) const {
    const ValuePtr p = plain(v);
    if (p->kind != Value::Kind::kBytes)
      fail(fmt::format("image {} is a {}, not bytes", index, kind_name(p->kind)));
    return p->bytes;
  }
  bool flag(const ValuePtr& v, size_t index) const {
    const ValuePtr p = plain(v);
    if ((p->kind != Value::Kind::kBool && p->kind != Value::Kind::kInt) || p->number < 0 ||
        p->number > 1)
      fail(fmt::format("'same' entry {} is not a boolean", index));
    return p->number != 0;
  }
  ValuePtr plain(const ValuePtr& v) const {
    if (v->kind != Value::Kind::kObject) return v;
    // Objects nest a few levels at most (an array's data); a crafted pickle may make one its own.
    struct Depth {
      int& depth;
      explicit Depth(int& d) : depth(d) { ++depth; }
      ~Depth() { --depth; }
    } depth(depth_);
    if (depth_ > 4) fail("objects nested deeper than a verification set's");
    const std::string callable = v->callable->bytes;
    const std::string name = callable.substr(callable.find(' ') + 1);
    const auto& args = v->args->items;
    // Python 3 pickles bytes under protocol 2 as _codecs.encode(text, 'latin1'), b'' as bytes().
    if (callable == "_codecs encode") {
      if (args.size() != 2 || args[0]->kind != Value::Kind::kText) fail("a malformed bytes value");
      return latin1(args[0]->bytes);
    }
    if ((callable == "builtins bytes" || callable == "__builtin__ bytes") && args.empty())
      return make(Value::Kind::kBytes);
    if (callable.rfind("numpy", 0) != 0 ||
        !(name == "_reconstruct" || name == "_frombuffer" || name == "scalar"))
      fail("the pickle builds '" + callable + "', which a verification set does not use");
    if (name == "scalar") {  // (dtype, raw bytes of one element)
      if (args.size() != 2) fail("a malformed NumPy scalar");
      return array(dtype(args[0]), data(args[1]), 1, true);
    }
    if (name == "_frombuffer") {  // protocol 5: (buffer, dtype, shape, order)
      if (args.size() != 4) fail("a malformed NumPy array (_frombuffer)");
      return array(dtype(args[1]), data(args[0]), elements_of_shape(args[2]), false);
    }
    // _reconstruct, then BUILD with ([version,] shape, dtype, is_fortran, data).
    if (!v->state || v->state->kind != Value::Kind::kTuple) fail("a NumPy array without its data");
    std::vector<ValuePtr> state = v->state->items;
    if (state.size() == 5) state.erase(state.begin());
    if (state.size() != 4) fail("a malformed NumPy array state");
    const Dtype type = dtype(state[1]);
    const int64_t count = elements_of_shape(state[0]);
    if (type.code == 'O') {  // an object array pickles its elements as a list
      if (state[3]->kind != Value::Kind::kList || int64_t(state[3]->items.size()) != count)
        fail("a NumPy object array whose elements do not match its shape");
      return state[3];
    }
    return array(type, data(state[3]), count, false);
  }

 private:
  struct Dtype {
    char code;  // NumPy kind: b (bool), u, i, O
    size_t size;
  };

  [[noreturn]] void fail(const std::string& what) const { machine_.fail(what); }

  // A NumPy array's raw data.
  std::string data(const ValuePtr& v) const {
    const ValuePtr p = v->kind == Value::Kind::kObject ? plain(v) : v;
    if (p->kind != Value::Kind::kBytes) fail("a NumPy array whose data are not bytes");
    return p->bytes;
  }

  // The bytes of a text whose code points are all below 256 (UTF-8 in the pickle).
  ValuePtr latin1(const std::string& utf8) const {
    ValuePtr v = make(Value::Kind::kBytes);
    for (size_t i = 0; i < utf8.size(); ++i) {
      const auto c = uint8_t(utf8[i]);
      if (c < 0x80) {
        v->bytes += char(c);
      } else if ((c == 0xc2 || c == 0xc3) && i + 1 < utf8.size()) {
        v->bytes += char(((c & 0x03) << 6) | (uint8_t(utf8[++i]) & 0x3f));
      } else {
        fail("a latin-1 bytes value with a character beyond U+00FF");
      }
    }
    return v;
  }

  Dtype dtype(const ValuePtr& v) const {
    if (v->kind != Value::Kind::kObject || v->callable->bytes.rfind("numpy", 0) != 0 ||
        v->callable->bytes.substr(v->callable->bytes.find(' ') + 1) != "dtype" ||
        v->args->items.empty() || v->args->items[0]->kind == Value::Kind::kList)
      fail("a NumPy array without a dtype");
    const std::string code = v->args->items[0]->bytes;
    // The byte order is in BUILD's state: (version, order, ...); '>' is big-endian.
    if (v->state && v->state->kind == Value::Kind::kTuple && v->state->items.size() > 1 &&
        v->state->items[1]->bytes == ">")
      fail("a big-endian NumPy array (write the set on a little-endian machine)");
    if (code == "b1" || code == "?") return {'b', 1};
    if (code == "O8" || code == "O4" || code == "O") return {'O', 0};
    if (code.size() == 2 && (code[0] == 'u' || code[0] == 'i') &&
        (code[1] == '1' || code[1] == '2' || code[1] == '4' || code[1] == '8'))
      return {code[0], size_t(code[1] - '0')};
    fail("a NumPy array of dtype '" + code + "'; verification sets hold bytes and booleans");
  }

  int64_t elements_of_shape(const ValuePtr& shape) const {
    if (shape->kind != Value::Kind::kTuple) fail("a NumPy array whose shape is not a tuple");
    if (shape->items.size() > 1) fail("a NumPy array of more than one dimension");
    if (shape->items.empty()) return 1;
    if (shape->items[0]->kind != Value::Kind::kInt || shape->items[0]->number < 0)
      fail("a NumPy array with a bad shape");
    return shape->items[0]->number;
  }

  // The elements of `data`, as bytes (for 1-byte integer arrays that are not a scalar) or ints.
  ValuePtr array(const Dtype& type, const std::string& data, int64_t count, bool scalar) const {
    if (type.code == 'O') fail("a NumPy object scalar");
    if (count < 0 || data.size() / type.size != uint64_t(count) || data.size() % type.size != 0)
      fail(fmt::format("a NumPy array of {} elements with {} bytes of data", count, data.size()));
    if (!scalar && type.size == 1 && type.code != 'b') {
      ValuePtr v = make(Value::Kind::kBytes);
      v->bytes = data;
      return v;
    }
    std::vector<ValuePtr> items;
    for (int64_t i = 0; i < count; ++i) {
      uint64_t bits = 0;
      std::memcpy(&bits, data.data() + size_t(i) * type.size, type.size);  // little-endian
      ValuePtr e = make(type.code == 'b' ? Value::Kind::kBool : Value::Kind::kInt);
      if (type.code == 'i' && type.size < 8 && (bits >> (8 * type.size - 1)) != 0)
        bits |= ~uint64_t(0) << (8 * type.size);
      e->number = int64_t(bits);
      items.push_back(e);
    }
    if (scalar) return items.at(0);
    ValuePtr v = make(Value::Kind::kList);
    v->items = std::move(items);
    return v;
  }

  ValuePtr make(Value::Kind kind) const { return machine_.make(kind); }

  PickleMachine& machine_;
  mutable int depth_ = 0;
};

}  // namespace

VerificationBin parse_verification_bin(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 2 || data[0] != 0x80)
    throw DataError(name +
                    " is not a pickle (a verification .bin starts with byte 0x80, pickle "
                    "protocol 2 or later)");
  PickleMachine machine(data, size, name);
  const ValuePtr root = machine.run();
  const Interpreter interpret(machine);  // its values join the machine's arena
  const std::vector<ValuePtr> pair = interpret.elements(root, "the pickled value");
  if (pair.size() != 2)
    machine.fail(
        fmt::format("the pickle holds {} values, not the pair (images, same)", pair.size()));
  const std::vector<ValuePtr> images = interpret.elements(pair[0], "the image list");
  const std::vector<ValuePtr> same = interpret.elements(pair[1], "the 'same' list");
  if (images.size() != 2 * same.size())
    machine.fail(fmt::format("{} images for {} pairs; a verification set holds two per pair",
                             images.size(), same.size()));
  if (same.empty()) machine.fail("the set holds no pair");
  VerificationBin bin;
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string bytes = interpret.image_bytes(images[i], i);
    bin.images.emplace_back(bytes.begin(), bytes.end());
  }
  for (size_t i = 0; i < same.size(); ++i) bin.same.push_back(interpret.flag(same[i], i));
  return bin;
}

VerificationBin read_verification_bin(const std::filesystem::path& path) {
  const std::vector<uint8_t> bytes = read_file(path);
  return parse_verification_bin(bytes.data(), bytes.size(), path.string());
}

std::vector<int> consecutive_folds(size_t pairs, int folds) {
  std::vector<int> fold(pairs);
  const size_t base = pairs / size_t(folds), longer = pairs % size_t(folds);
  size_t at = 0;
  for (int f = 0; f < folds; ++f)
    for (size_t n = base + (size_t(f) < longer ? 1 : 0); n > 0; --n) fold[at++] = f;
  return fold;
}

EncodedImageDataset::EncodedImageDataset(std::vector<std::vector<uint8_t>> images, std::string name)
    : images_(std::move(images)), name_(std::move(name)) {}

std::string EncodedImageDataset::source(size_t index) const {
  return name_ + "#" + std::to_string(index);
}

Image EncodedImageDataset::load(size_t index, bool grey) const {
  return decode_image(images_[index], source(index), grey);
}

}  // namespace hymask
