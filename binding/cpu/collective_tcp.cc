// The TCP collectives of the CPU backend (collective_tcp.h).
#include "cpu/collective_tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace mypt {
namespace cpu {
namespace {

constexpr uint32_t kMagic = 0x4d595054;  // "MYPT"
constexpr uint32_t kVersion = 1;
const char* const kIdPrefix = "mypt-tcp:";

using Clock = std::chrono::steady_clock;

// Listening sockets made by tcp_group_id in this process, by port, until a group takes its own.
std::mutex g_listen_mu;
std::map<int, int> g_listeners;

std::string errno_text() { return std::strerror(errno); }

struct Hello {
  uint32_t magic, version;
  int32_t rank, world;
};

struct Header {
  uint32_t magic, op, dtype;
  int32_t root;
  int64_t count;
  uint64_t seq;
};

// Rank 0's answer before a result: 0, or the length of an error message that follows.
struct Status {
  uint32_t magic;
  uint32_t error_len;
};

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : (int)std::min<long long>(left, 1 << 30);
}

class TcpCollective final : public Collective {
 public:
  TcpCollective(const GroupSpec& spec, int port) : rank_(spec.rank), world_(spec.world), timeout_ms_(spec.timeout_ms) {
    if (world_ < 1 || rank_ < 0 || rank_ >= world_)
      throw std::invalid_argument("rank " + std::to_string(rank_) + " is outside a group of " + std::to_string(world_));
    if (timeout_ms_ < 1) timeout_ms_ = 1;
    fds_.assign(world_, -1);
    if (rank_ == 0) accept_all(port);
    else connect_to_root(spec.host, port);
  }

  ~TcpCollective() override {
    for (int fd : fds_)
      if (fd >= 0) ::close(fd);
  }

  int rank() const override { return rank_; }
  int world() const override { return world_; }
  std::string describe() const override {
    return "cpu tcp, rank " + std::to_string(rank_) + " of " + std::to_string(world_);
  }
  bool on_device() const override { return false; }

  void run(CollOp op, void* buf, int64_t count, DType t, int root, void* /*stream*/) override {
    run_host(op, buf, count, t, root);
  }
  void join(void*) override {}
  void synchronize(void*) override {}

  void run_host(CollOp op, void* buf, int64_t count, DType t, int root) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.empty()) throw GroupFailure(failed_);
    if (count < 0) throw std::invalid_argument("a collective of a negative count");
    if (root < 0 || root >= world_) throw std::invalid_argument("broadcast root " + std::to_string(root) + " is not a rank");
    try {
      if (world_ > 1) {
        if (rank_ == 0) root_op(op, (char*)buf, count, t, root);
        else peer_op(op, (char*)buf, count, t, root);
      }
      seq_++;
    } catch (const GroupFailure& e) {
      failed_ = e.what();
      if (rank_ == 0) tell_peers(failed_);
      throw;
    }
  }

 private:
  // ---- forming the group ----
  void accept_all(int port) {
    int lfd = -1;
    {
      std::lock_guard<std::mutex> lock(g_listen_mu);
      auto it = g_listeners.find(port);
      if (it == g_listeners.end())
        throw std::invalid_argument("rank 0 of a CPU group must join with an id this process made (groupId)");
      lfd = it->second;
      g_listeners.erase(it);
    }
    const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
    int joined = 1;
    try {
      while (joined < world_) {
        pollfd p{lfd, POLLIN, 0};
        const int n = ::poll(&p, 1, remaining_ms(deadline));
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) throw GroupFailure(missing_ranks() + " did not join the CPU group within " + seconds() + " s");
        if (n < 0) throw GroupFailure("waiting for the ranks of the CPU group: " + errno_text());
        const int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EINTR || errno == ECONNABORTED) continue;
          throw GroupFailure("accepting a rank of the CPU group: " + errno_text());
        }
        tune(fd);
        Hello h{};
        try {
          recv_all(fd, &h, sizeof h, -1, deadline);
        } catch (const GroupFailure&) {
          ::close(fd);
          continue;  // not one of ours, or it went away before saying who it is
        }
        if (h.magic != kMagic || h.version != kVersion) {
          ::close(fd);
          continue;
        }
        if (h.world != world_ || h.rank < 1 || h.rank >= world_ || fds_[h.rank] >= 0) {
          ::close(fd);
          throw GroupFailure("a process joined the CPU group as rank " + std::to_string(h.rank) + " of " +
                             std::to_string(h.world) + ", but the group is " + std::to_string(world_) +
                             " ranks" + (h.rank >= 1 && h.rank < world_ && fds_[h.rank] >= 0 ? " and has that rank" : ""));
        }
        fds_[h.rank] = fd;
        joined++;
      }
    } catch (...) {
      ::close(lfd);
      throw;
    }
    ::close(lfd);
    // everyone is here: tell them
    for (int r = 1; r < world_; r++) {
      Hello ok{kMagic, kVersion, 0, world_};
      send_all(fds_[r], &ok, sizeof ok, r, deadline);
    }
  }

  void connect_to_root(const std::string& host, int port) {
    const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(timeout_ms_);
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string where = (host.empty() ? "127.0.0.1" : host) + ":" + std::to_string(port);
    const int rc = ::getaddrinfo(host.empty() ? "127.0.0.1" : host.c_str(), std::to_string(port).c_str(), &hints, &res);
    if (rc != 0 || !res) throw GroupFailure("cannot resolve rank 0's address " + where + ": " + gai_strerror(rc));
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, ::freeaddrinfo);
    int fd = -1;
    std::string last;
    while (true) {
      fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) throw GroupFailure("socket: " + errno_text());
      if (::connect(fd, res->ai_addr, res->ai_addrlen) == 0) break;
      last = errno_text();
      ::close(fd);
      fd = -1;
      if (remaining_ms(deadline) == 0)
        throw GroupFailure("rank " + std::to_string(rank_) + " cannot reach rank 0 of the CPU group at " + where +
                           " (" + last + ")");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    tune(fd);
    fds_[0] = fd;
    Hello h{kMagic, kVersion, rank_, world_};
    send_all(fd, &h, sizeof h, 0, deadline);
    Hello ok{};
    recv_all(fd, &ok, sizeof ok, 0, deadline);
    if (ok.magic != kMagic || ok.world != world_) throw GroupFailure("rank 0 at " + where + " answered as another group");
  }

  static void tune(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }

  std::string seconds() const {
    char b[32];
    std::snprintf(b, sizeof b, "%g", timeout_ms_ / 1000.0);
    return b;
  }

  std::string missing_ranks() const {
    std::string s;
    int n = 0;
    for (int r = 1; r < world_; r++)
      if (fds_[r] < 0) {
        s += (n++ ? ", " : "") + std::to_string(r);
      }
    return (n == 1 ? "rank " : "ranks ") + s;
  }

  // ---- moving bytes; `peer` names the other end in messages ----
  void recv_all(int fd, void* dst, size_t n, int peer, Clock::time_point deadline) {
    char* p = (char*)dst;
    while (n > 0) {
      pollfd q{fd, POLLIN, 0};
      const int k = ::poll(&q, 1, remaining_ms(deadline));
      if (k < 0 && errno == EINTR) continue;
      if (k == 0) throw GroupFailure(who(peer) + " sent nothing for " + seconds() + " s (a hang or a slow rank)");
      if (k < 0) throw GroupFailure("waiting for " + who(peer) + ": " + errno_text());
      const ssize_t got = ::recv(fd, p, n, 0);
      if (got == 0) throw GroupFailure(who(peer) + " closed its connection (the process ended)");
      if (got < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        throw GroupFailure(who(peer) + ": " + errno_text() + " (the process ended?)");
      }
      p += got;
      n -= (size_t)got;
    }
  }

  void send_all(int fd, const void* src, size_t n, int peer, Clock::time_point deadline) {
    const char* p = (const char*)src;
    while (n > 0) {
      pollfd q{fd, POLLOUT, 0};
      const int k = ::poll(&q, 1, remaining_ms(deadline));
      if (k < 0 && errno == EINTR) continue;
      if (k == 0) throw GroupFailure(who(peer) + " took nothing for " + seconds() + " s (a hang or a slow rank)");
      if (k < 0) throw GroupFailure("sending to " + who(peer) + ": " + errno_text());
      const ssize_t put = ::send(fd, p, n, MSG_NOSIGNAL);
      if (put < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        throw GroupFailure(who(peer) + ": " + errno_text() + " (the process ended?)");
      }
      p += put;
      n -= (size_t)put;
    }
  }

  std::string who(int peer) const { return "rank " + std::to_string(peer) + " of the CPU group"; }

  Clock::time_point deadline() const { return Clock::now() + std::chrono::milliseconds(timeout_ms_); }

  // ---- one op ----
  // elements each rank sends to rank 0, and rank 0 sends back to rank r
  int64_t in_count(CollOp op, int64_t count, int r, int root) const {
    switch (op) {
      case CollOp::AllReduce: return count;
      case CollOp::ReduceScatter: return count * world_;
      case CollOp::AllGather: return count;
      case CollOp::Broadcast: return r == root ? count : 0;
    }
    return 0;
  }
  int64_t out_count(CollOp op, int64_t count) const {
    return op == CollOp::ReduceScatter ? count : op == CollOp::AllReduce || op == CollOp::Broadcast ? count
                                                                                                    : count * world_;
  }

  void peer_op(CollOp op, char* buf, int64_t count, DType t, int root) {
    const size_t es = dtype_bytes(t);
    const Clock::time_point dl = deadline();
    Header h{kMagic, (uint32_t)op, (uint32_t)t, root, count, seq_};
    send_all(fds_[0], &h, sizeof h, 0, dl);
    const int64_t n_in = in_count(op, count, rank_, root);
    const char* src = op == CollOp::AllGather ? buf + (size_t)rank_ * count * es : buf;
    if (n_in > 0) send_all(fds_[0], src, (size_t)n_in * es, 0, dl);
    Status st{};
    recv_all(fds_[0], &st, sizeof st, 0, deadline());
    if (st.magic != kMagic) throw GroupFailure("rank 0 of the CPU group answered out of turn");
    if (st.error_len > 0) {
      std::string msg(std::min<uint32_t>(st.error_len, 4096), '\0');
      recv_all(fds_[0], &msg[0], msg.size(), 0, deadline());
      throw GroupFailure("rank 0 of the CPU group stopped: " + msg);
    }
    char* dst = op == CollOp::ReduceScatter ? buf + (size_t)rank_ * count * es : buf;
    recv_all(fds_[0], dst, (size_t)out_count(op, count) * es, 0, deadline());
  }

  void root_op(CollOp op, char* buf, int64_t count, DType t, int root) {
    const size_t es = dtype_bytes(t);
    const int64_t n_all = op == CollOp::ReduceScatter ? count * world_ : op == CollOp::AllGather ? count * world_ : count;
    // the sum so far, in fp32 (f32, bf16) or double (f64)
    std::vector<float> acc32;
    std::vector<double> acc64;
    const bool sums = op == CollOp::AllReduce || op == CollOp::ReduceScatter;
    if (sums) start_sum(buf, n_all, t, acc32, acc64);
    std::vector<char> in;
    std::string mismatch;
    for (int r = 1; r < world_; r++) {
      Header h{};
      recv_all(fds_[r], &h, sizeof h, r, deadline());
      if (h.magic != kMagic) throw GroupFailure("rank " + std::to_string(r) + " of the CPU group sent garbage");
      if (h.op != (uint32_t)op || h.dtype != (uint32_t)t || h.count != count || h.root != root || h.seq != seq_) {
        // read nothing more from it; tell everyone after the others have been heard
        if (mismatch.empty())
          mismatch = "the ranks of the CPU group called different collectives: rank 0 called " +
                     std::string(coll_op_name(op)) + " #" + std::to_string(seq_) + " of " + std::to_string(count) +
                     " " + dtype_name(t) + ", rank " + std::to_string(r) + " called " +
                     (h.op <= 3 ? coll_op_name((CollOp)h.op) : "?") + " #" + std::to_string(h.seq) + " of " +
                     std::to_string(h.count) + " " + (h.dtype <= 2 ? dtype_name((DType)h.dtype) : "?");
        continue;
      }
      if (!mismatch.empty()) continue;
      const int64_t n_in = in_count(op, count, r, root);
      if (n_in == 0) continue;
      in.resize((size_t)n_in * es);
      recv_all(fds_[r], in.data(), in.size(), r, deadline());
      if (sums) add(in.data(), n_in, t, acc32, acc64);
      else if (op == CollOp::AllGather) std::memcpy(buf + (size_t)r * count * es, in.data(), in.size());
      else std::memcpy(buf, in.data(), in.size());  // broadcast from root r
    }
    if (!mismatch.empty()) throw GroupFailure(mismatch);  // run_host tells the peers
    if (sums) finish_sum(buf, n_all, t, acc32, acc64);
    for (int r = 1; r < world_; r++) {
      Status st{kMagic, 0};
      send_all(fds_[r], &st, sizeof st, r, deadline());
      const char* src = op == CollOp::ReduceScatter ? buf + (size_t)r * count * es : buf;
      send_all(fds_[r], src, (size_t)out_count(op, count) * es, r, deadline());
    }
  }

  // Rank 0 failed an op: every peer still there hears why (best effort, a second at most) before the
  // group goes, rather than only that rank 0's connection closed.
  void tell_peers(const std::string& why) {
    const Clock::time_point dl = Clock::now() + std::chrono::seconds(1);
    for (int r = 1; r < world_; r++) {
      if (fds_[r] < 0) continue;
      try {
        Status st{kMagic, (uint32_t)why.size()};
        send_all(fds_[r], &st, sizeof st, r, dl);
        send_all(fds_[r], why.data(), why.size(), r, dl);
      } catch (const GroupFailure&) {
      }
      ::shutdown(fds_[r], SHUT_WR);
    }
  }

  static void start_sum(const char* buf, int64_t n, DType t, std::vector<float>& a32, std::vector<double>& a64) {
    if (t == DType::F64) {
      a64.assign((const double*)buf, (const double*)buf + n);
    } else if (t == DType::F32) {
      a32.assign((const float*)buf, (const float*)buf + n);
    } else {
      a32.resize((size_t)n);
      for (int64_t i = 0; i < n; i++) a32[i] = from_bf16(((const uint16_t*)buf)[i]);
    }
  }

  static void add(const char* in, int64_t n, DType t, std::vector<float>& a32, std::vector<double>& a64) {
    if (t == DType::F64) {
      for (int64_t i = 0; i < n; i++) a64[i] += ((const double*)in)[i];
    } else if (t == DType::F32) {
      for (int64_t i = 0; i < n; i++) a32[i] += ((const float*)in)[i];
    } else {
      for (int64_t i = 0; i < n; i++) a32[i] += from_bf16(((const uint16_t*)in)[i]);
    }
  }

  static void finish_sum(char* buf, int64_t n, DType t, const std::vector<float>& a32, const std::vector<double>& a64) {
    if (t == DType::F64) std::memcpy(buf, a64.data(), (size_t)n * 8);
    else if (t == DType::F32) std::memcpy(buf, a32.data(), (size_t)n * 4);
    else
      for (int64_t i = 0; i < n; i++) ((uint16_t*)buf)[i] = to_bf16(a32[i]);
  }

  const int rank_, world_;
  int timeout_ms_;
  std::vector<int> fds_;  // rank 0: one per peer; others: fds_[0] to rank 0
  std::mutex mu_;
  uint64_t seq_ = 0;
  std::string failed_;
};

int port_of(const std::vector<uint8_t>& id) {
  const std::string s(id.begin(), id.end());
  const size_t n = std::strlen(kIdPrefix);
  if (s.compare(0, n, kIdPrefix) != 0) throw std::invalid_argument("not a CPU group id: " + s.substr(0, 32));
  const int port = std::atoi(s.c_str() + n);
  if (port <= 0 || port > 65535) throw std::invalid_argument("a CPU group id with a bad port: " + s);
  return port;
}

}  // namespace

std::vector<uint8_t> tcp_group_id() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw GroupFailure("socket: " + errno_text());
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, (sockaddr*)&a, sizeof a) != 0 || ::listen(fd, 128) != 0 || ::getsockname(fd, (sockaddr*)&a, &len) != 0) {
    const std::string e = errno_text();
    ::close(fd);
    throw GroupFailure("cannot open a port for the CPU group: " + e);
  }
  const int port = ntohs(a.sin_port);
  {
    std::lock_guard<std::mutex> lock(g_listen_mu);
    g_listeners[port] = fd;
  }
  const std::string id = kIdPrefix + std::to_string(port);
  return std::vector<uint8_t>(id.begin(), id.end());
}

std::shared_ptr<Collective> make_tcp_collective(const GroupSpec& spec) {
  return std::make_shared<TcpCollective>(spec, port_of(spec.id));
}

}  // namespace cpu
}  // namespace mypt
