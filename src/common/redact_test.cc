#include "common/redact.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(RedactTest, PasswordsInUserinfoAreReplaced) {
  EXPECT_EQ(RedactUrlCredentials("postgresql://u:secret@h/db"), "postgresql://u:***@h/db");
  EXPECT_EQ(
      RedactUrlCredentials("Looking in indexes: https://__token__:pypi-AgE@pi.example/simple"),
      "Looking in indexes: https://__token__:***@pi.example/simple");
  EXPECT_EQ(RedactUrlCredentials("a https://u:p@x/ and 'http://v:q@y:8080'"),
            "a https://u:***@x/ and 'http://v:***@y:8080'");
}

TEST(RedactTest, AUserAloneIsTakenForAToken) {
  EXPECT_EQ(RedactUrlCredentials("git+https://ghp_abc@github.com/o/r.git"),
            "git+https://***@github.com/o/r.git");
  // A database URL's user is a role name, not a secret.
  EXPECT_EQ(RedactUrlCredentials("postgresql://kiln@127.0.0.1:5432/db"),
            "postgresql://kiln@127.0.0.1:5432/db");
}

TEST(RedactTest, SecretQueryParametersAreReplaced) {
  EXPECT_EQ(RedactUrlCredentials("postgresql://h/db?sslmode=require&password=s3&x=1#f"),
            "postgresql://h/db?sslmode=require&password=***&x=1#f");
  EXPECT_EQ(RedactUrlCredentials("https://h/simple?Access_Token=abc"),
            "https://h/simple?Access_Token=***");
}

TEST(RedactTest, TextWithoutCredentialsIsUnchanged) {
  for (const char* text :
       {"", "no url here", "sqlite:///root/.kiln/kiln.db", "http://127.0.0.1:8470",
        "https://pypi.org/simple?x=1", "user@host is not a URL"}) {
    EXPECT_EQ(RedactUrlCredentials(text), text);
  }
}

}  // namespace
}  // namespace kiln
