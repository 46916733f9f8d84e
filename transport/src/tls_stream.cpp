// TLS over the runtime's tcp_stream, driven by the calling fiber.
//
// OpenSSL talks to a custom BIO that never blocks: reads are served from the
// ciphertext the fiber last received (the lent receive buffer itself, no
// copy), writes append to an output buffer the fiber then sends. An SSL call
// never switches fibers, so the reader and the writer fiber can share one SSL
// object: their calls interleave only between SSL calls.
//
// Memory: nothing is held while idle. The decrypted-input buffer and the
// ciphertext are released before a receive waits, the output buffers after a
// write, and OpenSSL's own record buffers by SSL_MODE_RELEASE_BUFFERS.

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "stampede/runtime/sync.hpp"
#include "tls_detail.hpp"

namespace stampede::transport {

namespace {

using namespace std::chrono_literals;

// Decrypted bytes lent per receive(). A TLS record carries at most 16 KiB,
// and a receive of the runtime brings up to 32 KiB of ciphertext.
constexpr std::size_t plain_capacity = 32 * 1024;

// Small messages are gathered into records this large: one encryption and
// 22-29 bytes of record overhead per 16 KiB instead of per message.
constexpr std::size_t record_payload = 16 * 1024;

// Ciphertext gathered before a system call; bounds the output buffer.
constexpr std::size_t flush_threshold = 64 * 1024;

// How long close_notify may take to go out before the TCP side is shut.
constexpr auto close_notify_time = 1s;

class tls_stream;

// ---- the BIO between OpenSSL and the fiber ----

int bio_create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
}

int bio_read(BIO* bio, char* out, int size);
int bio_write(BIO* bio, const char* in, int size);

long bio_ctrl(BIO*, int cmd, long, void*) {
    // OpenSSL flushes after each handshake flight; our writes are buffered
    // until the fiber sends them, so a flush has nothing to do.
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

BIO_METHOD* fiber_bio_method() {
    static BIO_METHOD* const method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "stampede fiber");
        if (m != nullptr) {
            BIO_meth_set_create(m, bio_create);
            BIO_meth_set_read(m, bio_read);
            BIO_meth_set_write(m, bio_write);
            BIO_meth_set_ctrl(m, bio_ctrl);
        }
        return m;
    }();
    return method;
}

struct ssl_deleter {
    void operator()(SSL* ssl) const noexcept { SSL_free(ssl); }
};
using ssl_ptr = std::unique_ptr<SSL, ssl_deleter>;

// The CN of a certificate's subject, if it has exactly one and it holds no NUL.
std::string common_name(X509* cert) {
    X509_NAME* subject = X509_get_subject_name(cert);
    const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, at) >= 0) {
        return {};
    }
    unsigned char* utf8 = nullptr;
    const int size =
        ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)));
    if (size < 0) {
        return {};
    }
    std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(size));
    OPENSSL_free(utf8);
    return cn.find('\0') == std::string::npos ? cn : std::string();
}

// ---- the stream ----

class tls_stream final : public stream {
  public:
    tls_stream(runtime::tcp_stream tcp, std::shared_ptr<const tls_context> context, ssl_ptr ssl,
               BIO* bio)
        : tcp_(std::move(tcp)), context_(std::move(context)), ssl_(std::move(ssl)) {
        BIO_set_data(bio, this);
        if (auto at = runtime::endpoint::peer_of(tcp_.native_handle())) {
            peer_.address = at->to_string();
        } else {
            peer_.address.assign(1, '?');  // (not = "?": a GCC 12 -Wrestrict false alarm)
        }
    }

    ~tls_stream() override = default;

    /// Runs the handshake to its end, `deadline` included; on success fills
    /// in the peer's verified certificate name.
    runtime::result<void> handshake(runtime::time_point deadline);

    runtime::result<std::span<char>> receive(runtime::time_point deadline) override;
    void release_input() noexcept override;
    runtime::result<void> write_messages(std::span<iovec> parts,
                                         std::span<const std::uint32_t> message_sizes,
                                         runtime::time_point deadline) override;
    void shutdown_send(close_reason why) noexcept override;
    void close() noexcept override;

    bool is_open() const noexcept override { return !closed_ && tcp_.is_open(); }
    const peer_identity& peer() const noexcept override { return peer_; }
    std::string_view kind() const noexcept override { return "tls"; }
    int native_handle() const noexcept override { return tcp_.native_handle(); }

    tls_session_info info() const noexcept {
        return {SSL_get_version(ssl_.get()), SSL_get_cipher_name(ssl_.get()),
                SSL_session_reused(ssl_.get()) == 1};
    }

    // For the BIO: ciphertext in and out.
    int bio_take(char* out, std::size_t size) noexcept;
    void bio_put(const char* in, std::size_t size) { out_.insert(out_.end(), in, in + size); }

  private:
    // Marks a fiber as inside a method, so close() can wait for it to leave.
    class inside {
      public:
        explicit inside(tls_stream& s) noexcept : s_(s) { ++s_.inside_; }
        ~inside() {
            if (--s_.inside_ == 0 && s_.closed_) {
                s_.left_.notify_all();
            }
        }
        inside(const inside&) = delete;
        inside& operator=(const inside&) = delete;

      private:
        tls_stream& s_;
    };

    runtime::result<std::size_t> decrypt();
    runtime::result<void> fetch(runtime::time_point deadline);
    runtime::result<void> encrypt(const char* data, std::size_t size);
    runtime::result<void> flush(runtime::time_point deadline);
    void drop_ciphertext() noexcept;
    boost::system::error_code failure(int ssl_error, bool handshaking) noexcept;
    void learn_peer() noexcept;

    runtime::tcp_stream tcp_;
    std::shared_ptr<const tls_context> context_;  // a client's session slot outlives us
    ssl_ptr ssl_;
    peer_identity peer_;

    // Input: ciphertext not yet given to OpenSSL (in the lent receive buffer,
    // or in held_ after release_input), and the decrypted bytes lent out.
    runtime::rx_buffer cipher_rx_;
    std::vector<char> cipher_held_;
    std::span<const char> cipher_;
    std::unique_ptr<char[]> plain_;

    // Output: ciphertext OpenSSL produced, and the plaintext being gathered.
    std::vector<char> out_;
    std::unique_ptr<char[]> staging_;
    bool writing_ = false;  // a fiber is sending; others leave their output to it
    runtime::event write_done_;

    boost::system::error_code failed_;  // a fatal TLS error: every later call reports it
    bool sent_close_notify_ = false;
    bool peer_closed_ = false;
    bool closed_ = false;
    std::size_t inside_ = 0;
    runtime::event left_;
};

int bio_read(BIO* bio, char* out, int size) {
    BIO_clear_retry_flags(bio);
    auto* self = static_cast<tls_stream*>(BIO_get_data(bio));
    const int got = self->bio_take(out, static_cast<std::size_t>(size));
    if (got == 0) {
        BIO_set_retry_read(bio);  // "come back later": the fiber fetches more
        return -1;
    }
    return got;
}

int bio_write(BIO* bio, const char* in, int size) {
    BIO_clear_retry_flags(bio);
    static_cast<tls_stream*>(BIO_get_data(bio))->bio_put(in, static_cast<std::size_t>(size));
    return size;
}

int tls_stream::bio_take(char* out, std::size_t size) noexcept {
    const std::size_t n = std::min(size, cipher_.size());
    if (n == 0) {
        return 0;
    }
    std::memcpy(out, cipher_.data(), n);
    cipher_ = cipher_.subspan(n);
    return static_cast<int>(n);
}

// The error an SSL call's failure stands for (during the handshake, a failed
// certificate check first); takes this thread's OpenSSL error queue, so it
// must run right after the call.
boost::system::error_code tls_stream::failure(int ssl_error, bool handshaking) noexcept {
    if (ssl_error == SSL_ERROR_ZERO_RETURN) {
        return runtime::errc::end_of_stream;
    }
    // A peer certificate that failed a check we enforce is the reason; one we
    // only looked at (a client that does not verify) is not.
    const bool enforced = (SSL_get_verify_mode(ssl_.get()) & SSL_VERIFY_PEER) != 0;
    const long verified = handshaking && enforced ? SSL_get_verify_result(ssl_.get()) : X509_V_OK;
    if (verified != X509_V_OK) {
        ERR_clear_error();
        return {static_cast<int>(verified), x509_category()};
    }
    return detail::take_openssl_error(tls_errc::handshake_failed);
}

runtime::result<void> tls_stream::handshake(runtime::time_point deadline) {
    const inside guard(*this);
    for (;;) {
        ERR_clear_error();
        const int r = SSL_do_handshake(ssl_.get());
        const int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), r);
        if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ) {
            failed_ = failure(e, true);
        }
        // Our flight, or the alert that tells the peer why we give up.
        if (auto sent = flush(deadline); !sent && !failed_) {
            return sent.error();
        }
        if (failed_) {
            return failed_;
        }
        if (e == SSL_ERROR_NONE) {
            learn_peer();
            std::vector<char>().swap(out_);  // the flights' buffer: not kept while idle
            return {};
        }
        if (auto more = fetch(deadline); !more) {
            return more.error();
        }
    }
}

void tls_stream::learn_peer() noexcept {
    X509* cert = SSL_get0_peer_certificate(ssl_.get());
    if (cert != nullptr && SSL_get_verify_result(ssl_.get()) == X509_V_OK) {
        peer_.certificate_name = common_name(cert);
    }
}

// Decrypts what OpenSSL can without more ciphertext into the lent buffer.
// Returns the bytes decrypted (0: it needs more ciphertext), end_of_stream
// after the peer's close_notify, or the TLS error.
runtime::result<std::size_t> tls_stream::decrypt() {
    if (!plain_) {
        plain_ = std::make_unique_for_overwrite<char[]>(plain_capacity);
    }
    std::size_t n = 0;
    while (n < plain_capacity) {
        ERR_clear_error();
        std::size_t got = 0;
        const int r = SSL_read_ex(ssl_.get(), plain_.get() + n, plain_capacity - n, &got);
        if (r == 1) {
            n += got;
            continue;
        }
        const int e = SSL_get_error(ssl_.get(), r);
        if (e == SSL_ERROR_ZERO_RETURN) {
            peer_closed_ = true;  // close_notify: we may still write
        } else if (e != SSL_ERROR_WANT_READ) {
            failed_ = failure(e, false);  // reported now, or after these bytes
        }
        break;
    }
    if (n == 0 && failed_) {
        return failed_;
    }
    if (n == 0 && peer_closed_) {
        return runtime::errc::end_of_stream;
    }
    return n;
}

// Gives back what the last receive lent and waits for more ciphertext.
runtime::result<void> tls_stream::fetch(runtime::time_point deadline) {
    plain_.reset();
    drop_ciphertext();
    auto data = tcp_.receive(deadline);
    if (!data) {
        // A TCP end without close_notify is reported as a plain end: STOMP
        // frames delimit themselves, so a truncation cannot pass as a frame.
        return data.error();
    }
    cipher_rx_ = std::move(*data);
    cipher_ = cipher_rx_.data();
    return {};
}

void tls_stream::drop_ciphertext() noexcept {
    cipher_ = {};
    cipher_rx_.reset();
    std::vector<char>().swap(cipher_held_);
}

runtime::result<std::span<char>> tls_stream::receive(runtime::time_point deadline) {
    const inside guard(*this);
    for (;;) {
        if (closed_) {
            return runtime::errc::stream_closed;
        }
        if (failed_) {
            return failed_;
        }
        // With no ciphertext at hand and nothing buffered in OpenSSL there is
        // nothing to decrypt: wait without allocating the lent buffer.
        if (!cipher_.empty() || SSL_has_pending(ssl_.get()) == 1 || peer_closed_) {
            auto got = decrypt();
            if (!got) {
                return got.error();
            }
            if (*got > 0) {
                return std::span<char>(plain_.get(), *got);
            }
        }
        // Reading can make OpenSSL answer (a key update, an alert): send it.
        if (!out_.empty() && !writing_) {
            if (auto sent = flush(deadline); !sent) {
                return sent.error();
            }
            if (!writing_) {
                std::vector<char>().swap(out_);
            }
        }
        if (auto more = fetch(deadline); !more) {
            return more.error();
        }
    }
}

void tls_stream::release_input() noexcept {
    plain_.reset();
    if (!cipher_.empty() && cipher_rx_.size() > 0) {
        // Ciphertext OpenSSL has not taken yet: keep it, not the pool's buffer.
        cipher_held_.assign(cipher_.begin(), cipher_.end());
        cipher_rx_.reset();
        cipher_ = {cipher_held_.data(), cipher_held_.size()};
    }
}

// ---- writing ----

runtime::result<void> tls_stream::encrypt(const char* data, std::size_t size) {
    ERR_clear_error();
    std::size_t written = 0;
    // The BIO takes everything, so SSL_write_ex writes all or fails.
    if (SSL_write_ex(ssl_.get(), data, size, &written) != 1) {
        failed_ = detail::take_openssl_error(tls_errc::handshake_failed);
        return failed_;
    }
    return {};
}

// Sends the ciphertext gathered so far (and whatever another fiber adds while
// it is sent). One fiber sends at a time; the others wait for it.
runtime::result<void> tls_stream::flush(runtime::time_point deadline) {
    while (writing_) {
        if (closed_) {
            return runtime::errc::stream_closed;
        }
        if (auto waited = write_done_.wait(deadline); !waited) {
            return waited.error();
        }
    }
    writing_ = true;
    runtime::result<void> outcome;
    std::vector<char> sending;
    while (!out_.empty() && outcome) {
        sending.swap(out_);  // what OpenSSL writes meanwhile goes to a fresh out_
        outcome = tcp_.write(sending, deadline);
        sending.clear();
        if (out_.empty()) {
            out_.swap(sending);  // keep the capacity for the rest of the batch
        }
    }
    writing_ = false;
    write_done_.notify_all();
    return outcome;
}

runtime::result<void> tls_stream::write_messages(std::span<iovec> parts,
                                                 std::span<const std::uint32_t>,
                                                 runtime::time_point deadline) {
    const inside guard(*this);
    if (closed_) {
        return runtime::errc::stream_closed;
    }
    if (failed_) {
        return failed_;
    }
    if (sent_close_notify_) {
        return runtime::errc::end_of_stream;
    }
    if (out_.capacity() == 0) {
        // Room for the batch's records (22-29 bytes of overhead each), up to
        // the flush threshold and one more record, so the buffer never regrows.
        std::size_t bytes = 0;
        for (const iovec& part : parts) {
            bytes += part.iov_len;
        }
        out_.reserve(std::min(bytes + (bytes / record_payload + 1) * 64,
                              flush_threshold + record_payload + 1024));
    }
    runtime::result<void> outcome;
    std::size_t staged = 0;
    for (iovec& part : parts) {
        const char* data = static_cast<const char*>(part.iov_base);
        std::size_t left = part.iov_len;
        while (left > 0 && outcome) {
            if (staged == 0 && left >= record_payload) {
                // Large enough for whole records: encrypt it where it lies.
                const std::size_t chunk = std::min(left - left % record_payload, flush_threshold);
                outcome = encrypt(data, chunk);
                data += chunk;
                left -= chunk;
            } else {
                if (!staging_) {
                    staging_ = std::make_unique_for_overwrite<char[]>(record_payload);
                }
                const std::size_t take = std::min(left, record_payload - staged);
                std::memcpy(staging_.get() + staged, data, take);
                staged += take;
                data += take;
                left -= take;
                if (staged == record_payload) {
                    outcome = encrypt(staging_.get(), staged);
                    staged = 0;
                }
            }
            if (outcome && out_.size() >= flush_threshold) {
                outcome = flush(deadline);
            }
        }
        part.iov_len = left;
        part.iov_base = const_cast<char*>(data);
    }
    if (outcome && staged > 0) {
        outcome = encrypt(staging_.get(), staged);
    }
    if (outcome) {
        outcome = flush(deadline);
    }
    // Idle until the next batch: hold no buffer.
    staging_.reset();
    if (!writing_) {
        std::vector<char>().swap(out_);
    }
    return outcome;
}

void tls_stream::shutdown_send(close_reason) noexcept {
    const inside guard(*this);
    if (closed_) {
        return;
    }
    if (!sent_close_notify_ && !failed_ && SSL_is_init_finished(ssl_.get())) {
        sent_close_notify_ = true;
        ERR_clear_error();
        (void)SSL_shutdown(ssl_.get());  // 0: close_notify is queued, the peer's not yet seen
        ERR_clear_error();
        (void)flush(runtime::deadline_after(close_notify_time));
    }
    tcp_.shutdown_send();
}

void tls_stream::close() noexcept {
    if (closed_) {
        return;
    }
    closed_ = true;
    tcp_.close();  // interrupts our fibers' I/O and waits for its completions
    write_done_.notify_all();
    while (inside_ > 0) {
        if (!left_.wait()) {
            break;  // the runtime is stopping: nothing will touch us after it
        }
    }
    plain_.reset();
    drop_ciphertext();
    staging_.reset();
    std::vector<char>().swap(out_);
}

// ---- set-up ----

bool is_ip_address(const std::string& name) {
    unsigned char scratch[16];
    return ::inet_pton(AF_INET, name.c_str(), scratch) == 1 ||
           ::inet_pton(AF_INET6, name.c_str(), scratch) == 1;
}

// The client's wishes: SNI, the name to check, the session to resume.
bool prepare_client(SSL* ssl, const tls_context& context, const std::string& name) {
    if (!name.empty()) {
        if (is_ip_address(name)) {
            if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) != 1) {
                return false;
            }
        } else if (SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                            const_cast<char*>(name.c_str())) != 1 ||
                   SSL_set1_host(ssl, name.c_str()) != 1) {
            return false;
        }
    }
    if (tls_context::session_slot* slot = context.sessions()) {
        const std::lock_guard lock(slot->mutex);
        if (slot->last != nullptr && SSL_set_session(ssl, slot->last) != 1) {
            return false;
        }
    }
    return true;
}

// A stream over a fresh SSL object and fiber BIO, its handshake run.
runtime::result<std::unique_ptr<stream>> start(runtime::tcp_stream tcp,
                                               std::shared_ptr<const tls_context> context,
                                               const std::string* server_name,
                                               runtime::time_point deadline) {
    const bool client = server_name != nullptr;
    if (!context || context->is_server() == client) {
        return tls_errc::wrong_context_side;
    }
    ERR_clear_error();
    BIO_METHOD* method = fiber_bio_method();
    ssl_ptr ssl(method != nullptr ? SSL_new(context->native_handle()) : nullptr);
    BIO* bio = ssl ? BIO_new(method) : nullptr;
    if (bio == nullptr) {
        return detail::take_openssl_error(tls_errc::session_failed);
    }
    SSL_set_bio(ssl.get(), bio, bio);  // the SSL owns the BIO now
    if (client) {
        if (!prepare_client(ssl.get(), *context, *server_name)) {
            return detail::take_openssl_error(tls_errc::session_failed);
        }
        SSL_set_connect_state(ssl.get());
    } else {
        SSL_set_accept_state(ssl.get());
    }
    auto s = std::make_unique<tls_stream>(std::move(tcp), std::move(context), std::move(ssl), bio);
    if (auto done = s->handshake(deadline); !done) {
        s->close();
        return done.error();
    }
    return std::unique_ptr<stream>(std::move(s));
}

}  // namespace

runtime::result<std::unique_ptr<stream>> tls_accept(runtime::tcp_stream tcp,
                                                    std::shared_ptr<const tls_context> context,
                                                    runtime::time_point deadline) {
    return start(std::move(tcp), std::move(context), nullptr, deadline);
}

runtime::result<std::unique_ptr<stream>> tls_connect(runtime::tcp_stream tcp,
                                                     std::shared_ptr<const tls_context> context,
                                                     std::string_view server_name,
                                                     runtime::time_point deadline) {
    const std::string name(server_name);
    return start(std::move(tcp), std::move(context), &name, deadline);
}

std::optional<tls_session_info> tls_info(const stream& s) noexcept {
    if (const auto* tls = dynamic_cast<const tls_stream*>(&s)) {
        return tls->info();
    }
    return std::nullopt;
}

}  // namespace stampede::transport
