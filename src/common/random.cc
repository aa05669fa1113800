#include "common/random.h"

#include <sys/random.h>

#include <cerrno>
#include <vector>

#include "common/status.h"

namespace kiln {

std::string RandomHex(int hex_digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::vector<unsigned char> bytes(static_cast<std::size_t>((hex_digits + 1) / 2));
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    KILN_CHECK(n > 0);
    filled += static_cast<std::size_t>(n);
  }
  std::string out;
  for (unsigned char byte : bytes) {
    out += kDigits[byte >> 4];
    out += kDigits[byte & 0xf];
  }
  out.resize(static_cast<std::size_t>(hex_digits));
  return out;
}

}  // namespace kiln
