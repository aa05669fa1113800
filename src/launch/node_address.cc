#include "launch/node_address.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <charconv>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/strings.h"

namespace kiln::launch {
namespace {

struct Subnet {
  std::uint32_t network = 0;  // host byte order
  std::uint32_t mask = 0;
};

std::optional<Subnet> ParseSubnet(std::string_view text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string address(text.substr(0, slash));
  int bits = -1;
  const std::string_view length = text.substr(slash + 1);
  const auto [end, error] = std::from_chars(length.data(), length.data() + length.size(), bits);
  if (error != std::errc() || end != length.data() + length.size() || bits < 0 || bits > 32) {
    return std::nullopt;
  }
  in_addr parsed{};
  if (::inet_pton(AF_INET, address.c_str(), &parsed) != 1) return std::nullopt;
  const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return Subnet{ntohl(parsed.s_addr) & mask, mask};
}

}  // namespace

bool IsSubnet(std::string_view network) { return ParseSubnet(network).has_value(); }

Result<NodeAddress> AddressOnNetwork(std::string_view network) {
  const std::optional<Subnet> subnet = ParseSubnet(network);
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return ErrnoError("getifaddrs", errno);
  std::vector<std::string> seen;
  std::optional<NodeAddress> found;
  for (const ifaddrs* entry = list; entry != nullptr && !found; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) continue;
    const in_addr address = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr)->sin_addr;
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &address, text, sizeof(text));
    seen.push_back(fmt::format("{} ({})", text, entry->ifa_name));
    const bool match = subnet ? (ntohl(address.s_addr) & subnet->mask) == subnet->network
                              : network == entry->ifa_name;
    if (match) found = NodeAddress{text, entry->ifa_name};
  }
  ::freeifaddrs(list);
  if (found) return *found;
  return NotFoundError(fmt::format("this node has no IPv4 address on {} '{}'; it has {}",
                                   subnet ? "subnet" : "interface", network,
                                   seen.empty() ? "none" : JoinStrings(seen, ", ")));
}

}  // namespace kiln::launch
