#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "comm/protocol/auth.h"
#include "comm/protocol/frame.h"
#include "comm/protocol/tls.h"
#include "core/random.h"
#include "tests/test_util.h"

namespace hymask::protocol {
namespace {

control::Envelope reward_batch() {
  control::Envelope e;
  auto* batch = e.mutable_reward_batch();
  for (int i = 0; i < 3; ++i) {
    auto* r = batch->add_records();
    r->set_policy_version(7);
    for (int s = 0; s < 6; ++s) r->add_state(0.5f * s);
    for (int a : {3, 1, 2}) r->add_action(a);
    r->set_loss(12.5 + i);
  }
  return e;
}

TEST(Frames, RoundTripByteByByte) {
  control::Envelope hello;
  hello.mutable_hello()->set_protocol_version(kVersion);
  hello.mutable_hello()->set_rank(3);
  hello.mutable_hello()->set_client_nonce(random_nonce());
  const std::string stream = encode_frame(hello) + encode_frame(reward_batch());
  FrameDecoder decoder;
  std::vector<control::Envelope> got;
  for (char c : stream) {  // the slowest sender: one byte at a time
    decoder.feed(&c, 1);
    while (auto m = decoder.next()) got.push_back(*m);
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].hello().rank(), 3);
  EXPECT_EQ(got[0].hello().client_nonce(), hello.hello().client_nonce());
  ASSERT_EQ(got[1].reward_batch().records_size(), 3);
  EXPECT_EQ(got[1].reward_batch().records(2).loss(), 14.5);
  EXPECT_EQ(got[1].reward_batch().records(1).action(0), 3);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(Frames, AHugeDeclaredLengthIsRefusedBeforeItsBytesArrive) {
  std::string header = "HYMK";
  header += char(0);
  header += char(kVersion);
  header += std::string("\xff\xff\xff\xf0", 4);  // ~4 GB
  FrameDecoder decoder(1 << 20);
  decoder.feed(header.data(), header.size());
  try {
    decoder.next();
    FAIL() << "accepted a 4 GB frame";
  } catch (const ProtocolError& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the limit of 1048576"), std::string::npos)
        << e.what();
  }
}

TEST(Frames, TruncatedFramesWaitAndGarbageIsAnError) {
  const std::string frame = encode_frame(reward_batch());
  FrameDecoder decoder;
  decoder.feed(frame.data(), frame.size() - 5);
  EXPECT_FALSE(decoder.next().has_value());  // waits for the rest

  FrameDecoder garbage;
  const std::string bytes = "GET / HTTP/1.1\r\n";
  garbage.feed(bytes.data(), bytes.size());
  EXPECT_THROW(garbage.next(), ProtocolError);

  std::string wrong_version = frame;
  wrong_version[5] = 9;
  FrameDecoder old;
  old.feed(wrong_version.data(), wrong_version.size());
  EXPECT_THROW(old.next(), ProtocolError);

  // A well-framed payload that is not an Envelope (random bytes) is refused too.
  Rng rng(3);
  std::string payload(64, '\0');
  for (char& c : payload) c = char(rng.below(256));
  std::string framed = frame.substr(0, 6);
  for (int shift = 24; shift >= 0; shift -= 8) framed += char((payload.size() >> shift) & 0xFF);
  FrameDecoder random;
  random.feed((framed + payload).data(), framed.size() + payload.size());
  EXPECT_THROW(random.next(), ProtocolError);
}

TEST(Auth, TheRightSecretPassesAndAnythingElseFails) {
  const Authenticator coordinator("0123456789abcdef-secret"), worker("0123456789abcdef-secret"),
      intruder("0123456789abcdef-wrong!");
  const std::string server = random_nonce(), client = random_nonce();
  const std::string hash = config_hash("seed: 1\n");
  const std::string mac = worker.mac("worker", server, client, 2, hash);
  EXPECT_EQ(mac.size(), 32u);
  EXPECT_TRUE(coordinator.verify(mac, "worker", server, client, 2, hash));
  EXPECT_FALSE(coordinator.verify(intruder.mac("worker", server, client, 2, hash), "worker", server,
                                  client, 2, hash));
  // Replay: the same answer to a new challenge fails; so does another rank or config.
  EXPECT_FALSE(coordinator.verify(mac, "worker", random_nonce(), client, 2, hash));
  EXPECT_FALSE(coordinator.verify(mac, "worker", server, client, 3, hash));
  EXPECT_FALSE(coordinator.verify(mac, "worker", server, client, 2, config_hash("seed: 2\n")));
  // The coordinator's answer is not the worker's: a MAC cannot be reflected back.
  EXPECT_FALSE(coordinator.verify(mac, "coordinator", server, client, 2, hash));
  EXPECT_NE(random_nonce(), random_nonce());
}

TEST(Auth, SecretsComeFromAPrivateFileOrTheEnvironment) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "secret").string();
  std::ofstream(path) << "a-long-enough-shared-secret\n";
  ::chmod(path.c_str(), 0644);
  EXPECT_THROW(load_secret(path), ConfigError);  // readable by others
  ::chmod(path.c_str(), 0600);
  EXPECT_EQ(load_secret(path), "a-long-enough-shared-secret");
  std::ofstream(path) << "short";
  EXPECT_THROW(load_secret(path), ConfigError);
  ::setenv("HYMASK_SECRET", "from-the-environment-123", 1);
  EXPECT_EQ(load_secret(), "from-the-environment-123");
  ::unsetenv("HYMASK_SECRET");
}

// Every mistake with the TLS files is a ConfigError that names the file and what to do.
TEST(Tls, BadCertificateFilesAreClearConfigErrors) {
  testing::TempDir dir;
  testing::make_tls_certificate(dir.path() / "a", "127.0.0.1");
  testing::make_tls_certificate(dir.path() / "b", "127.0.0.1");
  const std::string a = (dir.path() / "a").string(), b = (dir.path() / "b").string();
  TlsOptions good{true, a + "/coordinator.pem", a + "/coordinator.key", ""};
  EXPECT_NO_THROW(server_tls_context(good));
  EXPECT_NO_THROW(client_tls_context(good));

  auto expect_error = [](auto&& make, const std::string& expected) {
    try {
      make();
      ADD_FAILURE() << "no error; expected one saying: " << expected;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  };
  TlsOptions o = good;
  o.certificate = "";
  expect_error([&] { server_tls_context(o); }, "cluster/launch.sh --tls");
  o.certificate = a + "/missing.pem";
  expect_error([&] { server_tls_context(o); }, "no such file " + a + "/missing.pem");
  expect_error([&] { client_tls_context(o); }, "coordinator.tls_certificate: no such file");
  o = good;
  o.private_key = b + "/coordinator.key";
  expect_error([&] { server_tls_context(o); }, "does not belong to the certificate");
  const std::string junk = dir.path().string() + "/junk.pem";
  std::ofstream(junk) << "not a certificate";
  o = good;
  o.trusted = junk;
  expect_error([&] { client_tls_context(o); }, "coordinator.tls_trusted: cannot use");
  o = good;
  o.certificate = junk;
  expect_error([&] { server_tls_context(o); }, "expected a PEM file");
  std::filesystem::permissions(good.private_key, std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  expect_error([&] { server_tls_context(good); }, "chmod 600");
}

}  // namespace
}  // namespace hymask::protocol
