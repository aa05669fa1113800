#pragma once

// SHA-256 over OpenSSL's EVP interface, which uses the CPU's SHA extensions where present.

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kiln {

class Sha256 {
 public:
  static constexpr std::size_t kDigestBytes = 32;
  using Digest = std::array<std::uint8_t, kDigestBytes>;

  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view data);
  void Update(const void* data, std::size_t size);
  // Ends the hash; the object may not be updated afterwards.
  Digest Finish();
  // Finish() as 64 lower-case hex digits.
  std::string FinishHex();

  static std::string HexOf(std::string_view data);

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

std::string ToHex(const Sha256::Digest& digest);

}  // namespace kiln
