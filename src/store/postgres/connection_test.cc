#include "store/postgres/connection.h"

#include <gtest/gtest.h>

namespace kiln::store::postgres {
namespace {

TEST(PostgresConnectionTest, ParametersAreNumbered) {
  EXPECT_EQ(NumberParameters("SELECT ? , ? FROM t WHERE a = ?"),
            "SELECT $1 , $2 FROM t WHERE a = $3");
  EXPECT_EQ(NumberParameters("SELECT ?1, ?12 WHERE id = ?1"), "SELECT $1, $12 WHERE id = $1");
  EXPECT_EQ(NumberParameters("SELECT '?', ? WHERE x = 'it''s ?'"),
            "SELECT '?', $1 WHERE x = 'it''s ?'");
}

TEST(PostgresConnectionTest, UnreachableServerIsUnavailable) {
  const auto connection = Connection::Open("postgresql://kiln@127.0.0.1:1/none?connect_timeout=2");
  ASSERT_FALSE(connection.ok());
  EXPECT_EQ(connection.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(connection.status().message().find("cannot connect to the PostgreSQL store"),
            std::string::npos)
      << connection.status().message();
}

}  // namespace
}  // namespace kiln::store::postgres
