#include "common/sha256.h"

#include <openssl/evp.h>

#include "common/status.h"

namespace kiln {

struct Sha256::Context {
  struct Deleter {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
  };
  std::unique_ptr<EVP_MD_CTX, Deleter> md;
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {
  context_->md.reset(EVP_MD_CTX_new());
  KILN_CHECK(context_->md != nullptr);
  KILN_CHECK(EVP_DigestInit_ex(context_->md.get(), EVP_sha256(), nullptr) == 1);
}

Sha256::~Sha256() = default;

void Sha256::Update(std::string_view data) { Update(data.data(), data.size()); }

void Sha256::Update(const void* data, std::size_t size) {
  KILN_CHECK(EVP_DigestUpdate(context_->md.get(), data, size) == 1);
}

Sha256::Digest Sha256::Finish() {
  Digest digest{};
  unsigned int length = 0;
  KILN_CHECK(EVP_DigestFinal_ex(context_->md.get(), digest.data(), &length) == 1);
  KILN_CHECK(length == kDigestBytes);
  return digest;
}

std::string Sha256::FinishHex() { return ToHex(Finish()); }

std::string Sha256::HexOf(std::string_view data) {
  Sha256 hash;
  hash.Update(data);
  return hash.FinishHex();
}

std::string ToHex(const Sha256::Digest& digest) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (std::uint8_t byte : digest) {
    out += kDigits[byte >> 4];
    out += kDigits[byte & 0xf];
  }
  return out;
}

}  // namespace kiln
