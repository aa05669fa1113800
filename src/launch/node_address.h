#pragma once

// This node's IPv4 address on the network that a cluster's ranks talk over, given as a
// subnet ("10.77.0.0/24") or an interface name ("ib0"): what MASTER_ADDR is set to, and
// what Open MPI is told to use.

#include <string>
#include <string_view>

#include "common/result.h"

namespace kiln::launch {

// Whether `network` is a well-formed IPv4 subnet in CIDR notation.
bool IsSubnet(std::string_view network);

struct NodeAddress {
  std::string address;    // "10.77.0.11"
  std::string interface;  // "eth0": for GLOO_SOCKET_IFNAME and NCCL_SOCKET_IFNAME
};

// NotFound, naming the addresses this node has, when none is on `network`.
Result<NodeAddress> AddressOnNetwork(std::string_view network);

}  // namespace kiln::launch
