#pragma once

#include <string>

namespace kiln {

// `hex_digits` random lower-case hex digits from the kernel's random source.
std::string RandomHex(int hex_digits);

}  // namespace kiln
