#include "client/pickle_scan.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>

namespace kiln::client {

namespace {

std::uint64_t Le(std::string_view bytes, std::size_t at, int width) {
  std::uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[at + static_cast<std::size_t>(i)]);
  }
  return value;
}

bool IsAllowedGlobal(std::string_view global) {
  static constexpr std::array kAllowed = {"collections.OrderedDict",
                                          "torch.Size",
                                          "torch.device",
                                          "builtins.set",
                                          "builtins.frozenset",
                                          "builtins.complex",
                                          "builtins.slice",
                                          "_codecs.encode",
                                          "torch.float16",
                                          "torch.float32",
                                          "torch.float64",
                                          "torch.bfloat16",
                                          "torch.int8",
                                          "torch.int16",
                                          "torch.int32",
                                          "torch.int64",
                                          "torch.uint8",
                                          "torch.bool",
                                          "torch.complex64",
                                          "torch.complex128",
                                          "torch.nn.parameter.Parameter"};
  if (global.starts_with("torch._utils._rebuild_")) return true;  // tensors and parameters
  if (global.starts_with("torch.") && global.ends_with("Storage") &&
      global.find('.', 6) == std::string_view::npos) {
    return true;  // torch.FloatStorage, torch.UntypedStorage, ...
  }
  if (global == "torch.storage.UntypedStorage" || global == "torch.storage.TypedStorage") {
    return true;
  }
  return std::find(kAllowed.begin(), kAllowed.end(), global) != kAllowed.end();
}

}  // namespace

bool IsStateDict(const PickleFacts& facts) {
  return facts.top_is_dict && std::all_of(facts.globals.begin(), facts.globals.end(),
                                          [](const std::string& g) { return IsAllowedGlobal(g); });
}

// The walk (pickletools' opcode table, protocols 0 to 5). Globals come from GLOBAL and INST
// ("module\nname\n") and from STACK_GLOBAL, whose module and name are the two strings last
// pushed (possibly through the memo); a STACK_GLOBAL whose strings cannot be told is "?",
// which no allow-list holds.
Result<PickleFacts> WalkPickle(std::string_view data, std::size_t* pos) {
  PickleFacts facts;
  std::size_t at = *pos;
  const auto truncated = [] { return InvalidArgumentError("the pickle ends before its STOP"); };
  // The last two values pushed, when they were strings (nullopt: another value).
  std::optional<std::string> last, before_last;
  bool decided = false;  // whether the outermost object's kind is known
  std::map<std::uint64_t, std::optional<std::string>> memo;
  std::uint64_t next_memo = 0;
  const auto push = [&](std::optional<std::string> value) {
    if (!decided && !value) decided = true;  // a value other than a string came first
    before_last = std::move(last);
    last = std::move(value);
  };
  const auto consumed = [&] {
    last.reset();
    before_last.reset();
  };
  const auto take = [&](std::size_t n) -> std::optional<std::string_view> {
    if (at + n > data.size()) return std::nullopt;
    const std::string_view out = data.substr(at, n);
    at += n;
    return out;
  };
  const auto line = [&]() -> std::optional<std::string_view> {
    const std::size_t end = data.find('\n', at);
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view out = data.substr(at, end - at);
    at = end + 1;
    return out;
  };
  const auto counted = [&](int width) -> std::optional<std::string_view> {
    const std::optional<std::string_view> size = take(static_cast<std::size_t>(width));
    if (!size) return std::nullopt;
    const std::uint64_t n = Le(*size, 0, width);
    if (n > data.size()) return std::nullopt;
    return take(static_cast<std::size_t>(n));
  };
  const auto global = [&](std::string module, std::string name) {
    const std::string full = module + "." + name;
    if (!decided) {
      facts.top_is_dict = full == "collections.OrderedDict";
      decided = true;
    }
    facts.globals.push_back(full);
  };
  const auto memo_put = [&](std::uint64_t index) { memo[index] = last; };
  const auto memo_get = [&](std::uint64_t index) {
    const auto found = memo.find(index);
    push(found == memo.end() ? std::nullopt : found->second);
  };

  while (true) {
    const std::optional<std::string_view> op = take(1);
    if (!op) return truncated();
    const unsigned char code = static_cast<unsigned char>((*op)[0]);
    switch (code) {
      case '.':  // STOP
        *pos = at;
        return facts;
      // Stack-neutral: framing and the memo.
      case 0x80:  // PROTO
        if (!take(1)) return truncated();
        break;
      case 0x95:  // FRAME
        if (!take(8)) return truncated();
        break;
      case 0x94:  // MEMOIZE
        memo_put(next_memo++);
        break;
      case 'p': {  // PUT
        const auto text = line();
        if (!text) return truncated();
        memo_put(std::strtoull(std::string(*text).c_str(), nullptr, 10));
        break;
      }
      case 'q': {  // BINPUT
        const auto n = take(1);
        if (!n) return truncated();
        memo_put(Le(*n, 0, 1));
        break;
      }
      case 'r': {  // LONG_BINPUT
        const auto n = take(4);
        if (!n) return truncated();
        memo_put(Le(*n, 0, 4));
        break;
      }
      case '(':  // MARK
        break;
      // Strings.
      case 'S':
      case 'V': {  // STRING, UNICODE (a line)
        const auto text = line();
        if (!text) return truncated();
        push(std::string(*text));
        break;
      }
      case 'X':    // BINUNICODE
      case 'T': {  // BINSTRING
        const auto text = counted(4);
        if (!text) return truncated();
        push(std::string(*text));
        break;
      }
      case 'U':     // SHORT_BINSTRING
      case 0x8c: {  // SHORT_BINUNICODE
        const auto text = counted(1);
        if (!text) return truncated();
        push(std::string(*text));
        break;
      }
      case 0x8d: {  // BINUNICODE8
        const auto text = counted(8);
        if (!text) return truncated();
        push(std::string(*text));
        break;
      }
      // Globals.
      case 'c':    // GLOBAL
      case 'i': {  // INST
        const auto module = line();
        const auto name = module ? line() : std::nullopt;
        if (!name) return truncated();
        global(std::string(*module), std::string(*name));
        push(std::nullopt);
        break;
      }
      case 0x93:  // STACK_GLOBAL
        global(before_last.value_or("?"), last.value_or("?"));
        consumed();
        push(std::nullopt);
        break;
      // The memo's values.
      case 'g': {  // GET
        const auto text = line();
        if (!text) return truncated();
        memo_get(std::strtoull(std::string(*text).c_str(), nullptr, 10));
        break;
      }
      case 'h': {  // BINGET
        const auto n = take(1);
        if (!n) return truncated();
        memo_get(Le(*n, 0, 1));
        break;
      }
      case 'j': {  // LONG_BINGET
        const auto n = take(4);
        if (!n) return truncated();
        memo_get(Le(*n, 0, 4));
        break;
      }
      // Dicts: the first value decides whether the outermost object is one.
      case '}':  // EMPTY_DICT
      case 'd':  // DICT
        if (!decided) {
          facts.top_is_dict = true;
          decided = true;
        }
        consumed();
        push(std::nullopt);
        break;
      // Other values with an argument.
      case 'F':
      case 'I':
      case 'L':
      case 'P':  // FLOAT, INT, LONG, PERSID (a line)
        if (!line()) return truncated();
        push(std::nullopt);
        break;
      case 'K':  // BININT1
        if (!take(1)) return truncated();
        push(std::nullopt);
        break;
      case 'M':  // BININT2
        if (!take(2)) return truncated();
        push(std::nullopt);
        break;
      case 'J':  // BININT
        if (!take(4)) return truncated();
        push(std::nullopt);
        break;
      case 'G':  // BINFLOAT
        if (!take(8)) return truncated();
        push(std::nullopt);
        break;
      case 0x82:  // EXT1
        if (!take(1)) return truncated();
        push(std::nullopt);
        break;
      case 0x83:  // EXT2
        if (!take(2)) return truncated();
        push(std::nullopt);
        break;
      case 0x84:  // EXT4
        if (!take(4)) return truncated();
        push(std::nullopt);
        break;
      case 'C':     // SHORT_BINBYTES
      case 0x8a: {  // LONG1
        if (!counted(1)) return truncated();
        push(std::nullopt);
        break;
      }
      case 'B':     // BINBYTES
      case 0x8b: {  // LONG4
        if (!counted(4)) return truncated();
        push(std::nullopt);
        break;
      }
      case 0x8e:    // BINBYTES8
      case 0x96: {  // BYTEARRAY8
        if (!counted(8)) return truncated();
        push(std::nullopt);
        break;
      }
      // Values without an argument.
      case 'N':   // NONE
      case 0x88:  // NEWTRUE
      case 0x89:  // NEWFALSE
      case ']':   // EMPTY_LIST
      case ')':   // EMPTY_TUPLE
      case 0x8f:  // EMPTY_SET
        push(std::nullopt);
        break;
      // Operations on the stack: what they leave is no string.
      case '0':   // POP
      case '1':   // POP_MARK
      case '2':   // DUP
      case 'Q':   // BINPERSID
      case 'R':   // REDUCE
      case 'a':   // APPEND
      case 'b':   // BUILD
      case 'e':   // APPENDS
      case 'l':   // LIST
      case 'o':   // OBJ
      case 's':   // SETITEM
      case 't':   // TUPLE
      case 'u':   // SETITEMS
      case 0x81:  // NEWOBJ
      case 0x85:  // TUPLE1
      case 0x86:  // TUPLE2
      case 0x87:  // TUPLE3
      case 0x90:  // ADDITEMS
      case 0x91:  // FROZENSET
      case 0x92:  // NEWOBJ_EX
      case 0x97:  // NEXT_BUFFER
      case 0x98:  // READONLY_BUFFER
        consumed();
        if (!decided) decided = true;
        break;
      default:
        return InvalidArgumentError(
            fmt::format("unknown pickle opcode 0x{:02x} at byte {}", code, at - 1));
    }
  }
}

}  // namespace kiln::client
