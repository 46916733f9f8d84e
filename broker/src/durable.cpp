#include "durable.hpp"

#include <cstring>
#include <stdexcept>

#include "context.hpp"
#include "log_text.hpp"
#include "queue.hpp"
#include "registry.hpp"
#include "session.hpp"
#include "stampede/runtime/log.hpp"
#include "topic.hpp"

namespace stampede::broker {

namespace {

// The headers blob of a record: a version byte, then length-prefixed strings
// (32-bit little-endian lengths): message id, destination, header count,
// then each header's name and value.
constexpr char encoding_version = 1;

void put_u32(std::string& out, std::uint32_t v) {
    char bytes[4];
    for (int i = 0; i < 4; ++i) {
        bytes[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    }
    out.append(bytes, 4);
}

void put_string(std::string& out, std::string_view s) {
    put_u32(out, static_cast<std::uint32_t>(s.size()));
    out.append(s);
}

class blob_reader {
  public:
    explicit blob_reader(std::string_view in) : in_(in) {}
    bool u32(std::uint32_t& v) {
        if (in_.size() < 4) {
            return false;
        }
        v = 0;
        for (int i = 0; i < 4; ++i) {
            v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in_[i])) << (8 * i);
        }
        in_.remove_prefix(4);
        return true;
    }
    bool string(std::string_view& s) {
        std::uint32_t n = 0;
        if (!u32(n) || in_.size() < n) {
            return false;
        }
        s = in_.substr(0, n);
        in_.remove_prefix(n);
        return true;
    }
    bool done() const noexcept { return in_.empty(); }

  private:
    std::string_view in_;
};

// The journal's words for a failure, as a publisher reads them in an ERROR.
std::string describe(const boost::system::error_code& error) {
    if (error == storage::errc::no_space) {
        return "the disk is full: persistent message not stored";
    }
    return "the journal could not store it: " + error.message();
}

}  // namespace

bool is_persistent(const message& m) noexcept {
    for (const auto& h : m.headers()) {
        if (h.name == "persistent") {
            return h.value == "true";
        }
    }
    return false;
}

std::unique_ptr<durability> durability::open(const config& cfg) {
    storage::journal_options options;
    options.directory = cfg.data_dir;
    options.segment_bytes = cfg.journal.segment_bytes;
    if (!storage::parse_sync_mode(cfg.journal.sync, options.sync, options.sync_interval)) {
        throw std::runtime_error("journal.sync '" + cfg.journal.sync + "' is not a sync mode");
    }
    std::string diagnostic;
    auto opened = storage::journal::open(std::move(options), &diagnostic);
    if (!opened) {
        throw std::runtime_error(diagnostic.empty()
                                     ? "cannot open the journal in '" + cfg.data_dir +
                                           "': " + opened.error().message()
                                     : diagnostic);
    }
    return std::unique_ptr<durability>(new durability(cfg, std::move(*opened)));
}

durability::durability(const config& cfg, std::unique_ptr<storage::journal> journal)
    : cfg_(cfg), journal_(std::move(journal)) {}

durability::~durability() {
    close();
}

void durability::close() {
    closing_.store(true, std::memory_order_release);
    if (journal_) {
        journal_.reset();  // writes and syncs what was submitted
        runtime::log::info("journal in ", cfg_.data_dir, " closed");
    }
}

std::string durable_queue_name(std::string_view name) {
    return std::string(durable_queue_prefix) + std::string(name);
}

bool durability::durable(std::string_view destination) const noexcept {
    if (destination.starts_with(durable_queue_prefix)) {
        return true;
    }
    for (const auto& pattern : cfg_.journal.durable_destinations) {
        if (glob_match(pattern, destination)) {
            return true;
        }
    }
    return false;
}

std::uint64_t durability::expect(runtime::actor_ref<session_actor> who) {
    tokens_taken_.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t token = next_token_.fetch_add(1, std::memory_order_relaxed);
    waiters& w = shards_[token % shard_count];
    std::lock_guard lock(w.mutex);
    w.by_token.emplace(token, waiter{std::move(who), 0});
    return token;
}

std::uint64_t durability::part_of(std::uint64_t whole) {
    {
        splits& s = splits_[whole % shard_count];
        std::lock_guard lock(s.mutex);
        ++s.by_whole[whole].outstanding;  // a new split starts at 1: its seal
    }
    const std::uint64_t token = next_token_.fetch_add(1, std::memory_order_relaxed);
    waiters& w = shards_[token % shard_count];
    std::lock_guard lock(w.mutex);
    w.by_token.emplace(token, waiter{{}, whole});
    return token;
}

void durability::seal(std::uint64_t whole) {
    part_done(whole, {});
}

void durability::part_done(std::uint64_t whole, std::string error) {
    std::string outcome;
    {
        splits& s = splits_[whole % shard_count];
        std::lock_guard lock(s.mutex);
        const auto it = s.by_whole.find(whole);
        if (it != s.by_whole.end()) {
            if (it->second.error.empty()) {
                it->second.error = std::move(error);
            }
            if (--it->second.outstanding > 0) {
                return;
            }
            outcome = std::move(it->second.error);
            s.by_whole.erase(it);
        } else {
            outcome = std::move(error);  // sealed with no parts made
        }
    }
    complete(whole, std::move(outcome));
}

void durability::complete(std::uint64_t token, std::string error) {
    if (token == storage::no_token) {
        return;
    }
    waiter found;
    {
        waiters& w = shards_[token % shard_count];
        std::lock_guard lock(w.mutex);
        const auto it = w.by_token.find(token);
        if (it == w.by_token.end()) {
            return;
        }
        found = std::move(it->second);
        w.by_token.erase(it);
    }
    if (found.whole != 0) {
        part_done(found.whole, std::move(error));
        return;
    }
    if (!closing_.load(std::memory_order_acquire) && found.who.valid()) {
        found.who.cast(durable_done{token, std::move(error)});
    }
}

// On a journal thread: only lookups and casts.
void durability::dispatch(storage::completion&& done) {
    const std::string error = done.error ? describe(done.error) : std::string();
    for (const std::uint64_t token : done.tokens) {
        complete(token, error);
    }
}

storage::completion_handler durability::completions() {
    return [this](storage::completion&& done) { dispatch(std::move(done)); };
}

// ---- records ----

std::string durability::encode_headers(const message& m) {
    std::string out;
    out.push_back(encoding_version);
    put_string(out, m.id());
    put_string(out, m.destination());
    const auto headers = m.headers();
    put_u32(out, static_cast<std::uint32_t>(headers.size()));
    for (const auto& h : headers) {
        put_string(out, h.name);
        put_string(out, h.value);
    }
    return out;
}

storage::message_in durability::record_of(const message& m, const std::string& headers) {
    storage::message_in in;
    in.properties.priority = m.priority();
    in.properties.expires_at_ms = m.timing().expires_at;
    in.properties.deliver_at_ms = m.timing().deliver_at;
    in.headers = headers;
    in.body = m.body();
    return in;
}

std::shared_ptr<message> durability::decode(const storage::stored_message& stored) {
    std::string_view blob(stored.headers);
    if (blob.empty() || blob.front() != encoding_version) {
        return nullptr;
    }
    blob.remove_prefix(1);
    blob_reader in(blob);
    std::string_view id;
    std::string_view destination;
    std::uint32_t count = 0;
    if (!in.string(id) || !in.string(destination) || !in.u32(count) || count > (1u << 20)) {
        return nullptr;
    }
    std::vector<protocol::header> headers;
    headers.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        protocol::header h;
        if (!in.string(h.name) || !in.string(h.value)) {
            return nullptr;
        }
        headers.push_back(h);
    }
    if (!in.done()) {
        return nullptr;
    }
    const protocol::frame_view send{protocol::command::send, headers, stored.body};
    auto m = message::from_send(send, destination, std::string(id));
    message_timing timing;
    timing.priority = stored.properties.priority;
    timing.expires_at = stored.properties.expires_at_ms;
    timing.deliver_at = stored.properties.deliver_at_ms;
    m->set_timing(timing);
    return m;
}

// ---- start-up ----

void durability::restore(broker_context& ctx) {
    const storage::recovery_report& report = journal_->recovery();
    for (const auto& damage : report.damage) {
        runtime::log::warn("journal: ", damage.detail, " (", damage.file, " at offset ",
                           damage.offset, ")");
    }
    for (const auto& note : report.notes) {
        runtime::log::info("journal: ", note);
    }
    std::size_t subscriptions = 0;
    for (const storage::subscription_record& sub : journal_->subscriptions()) {
        subscriptions += restore_subscription(ctx, sub) ? 1 : 0;
    }
    std::uint64_t restored = 0;  // read into memory
    std::uint64_t pending = 0;   // in the restored queues, paged or not
    std::size_t queues = 0;
    for (const storage::queue_summary& q : journal_->queues()) {
        if (q.quarantined) {
            runtime::log::error("journal: queue ", escape_for_log(q.name), " is quarantined (",
                                q.reason, "): its ", q.messages,
                                " message(s) are kept for stampede-journal, not served");
            continue;
        }
        const auto newline = q.name.find('\n');
        if (q.messages == 0 || newline == std::string::npos) {
            continue;
        }
        const std::string vhost = q.name.substr(0, newline);
        const std::string name = q.name.substr(newline + 1);
        const unsigned shard = ctx.shard_for(q.name);
        auto handle = ctx.rt.run_on(shard, [&] {
            return runtime::call(ctx.registries[shard],
                                 resolve_destination{vhost, name, destination_kind::queue});
        });
        if (!handle || handle->refused != errc{} || !handle->handle.queue.valid()) {
            runtime::log::error("journal: cannot restore queue ", escape_for_log(name),
                                " in vhost ", vhost, ": its messages stay in the journal");
            continue;
        }
        restored += restore_queue(q, name, handle->handle.queue);
        pending += q.messages;
        ctx.registries[shard].cast(release_destination{handle->handle.key});
        ++queues;
    }
    runtime::log::info("journal in ", cfg_.data_dir, ": recovered in ",
                       static_cast<std::uint64_t>(report.seconds * 1000), " ms, ", pending,
                       " message(s) in ", queues, " queue(s) (", pending - restored,
                       " left on disk, read back as consumers need them), ", subscriptions,
                       " durable subscription(s), ", report.tail_cuts, " torn tail(s) cut, sync ",
                       cfg_.journal.sync);
}

// Refills one queue. With a memory budget (queues.memory_budget) nothing is
// read here: the whole queue is named as its paged tail and the queue reads
// it back through the journal's reader thread as it would any tail
// (queue_pager.hpp), so start-up costs the journal's index, not the bodies,
// and the listener opens as soon as the index is rebuilt. Without a budget
// every message is read here, as before paging existed. Returns the messages
// read here.
std::uint64_t durability::restore_queue(const storage::queue_summary& q, const std::string& name,
                                        const runtime::actor_ref<queue_actor>& queue) {
    if (cfg_.queues.memory_budget != 0) {
        queue_restore tail;
        tail.tail_from = q.first;
        tail.tail_count = q.messages;
        tail.tail_bytes = q.bytes;  // record bytes: what the journal knows
        tail.recovered_below = q.next_id;
        queue.cast(std::move(tail));
        return 0;
    }
    std::uint64_t loaded = 0;
    storage::message_id from = q.first;
    for (;;) {
        auto batch = journal_->read_now(q.id, from, {4096, 16u << 20});
        if (!batch || batch->empty()) {
            if (!batch) {
                runtime::log::error("journal: reading queue ", escape_for_log(name), ": ",
                                    batch.error().message());
            }
            break;
        }
        queue_restore part;
        part.messages.reserve(batch->size());
        for (const storage::stored_message& stored : *batch) {
            if (auto m = decode(stored)) {
                part.messages.push_back({std::move(m), stored.id, stored.properties.deliveries});
            } else {
                runtime::log::warn("journal: message ", stored.id, " of ", escape_for_log(name),
                                   " is not in the broker's encoding: left in the journal");
            }
        }
        loaded += batch->size();
        from = batch->back().id + 1;
        queue.cast(std::move(part));
    }
    return loaded;
}

// Feeds a durable subscription's queue from its topic again.
bool durability::restore_subscription(broker_context& ctx,
                                      const storage::subscription_record& sub) {
    const auto newline = sub.destination.find('\n');
    if (newline == std::string::npos) {
        return false;
    }
    const std::string vhost = sub.destination.substr(0, newline);
    const std::string topic = sub.destination.substr(newline + 1);
    selector_ptr selector;
    if (!sub.selector.empty()) {
        routing::compile_options options;
        options.max_length = cfg_.limits.max_selector_length;
        auto compiled = routing::selector::compile(sub.selector, options);
        if (!compiled) {
            runtime::log::error("journal: durable subscription ", escape_for_log(sub.name),
                                " has a selector that no longer compiles: not restored");
            return false;
        }
        selector = std::make_shared<const routing::selector>(std::move(*compiled));
    }
    const unsigned shard = ctx.shard_for(sub.destination);
    const bool fed = ctx.rt.run_on(shard, [&] {
        auto handle = runtime::call(ctx.registries[shard],
                                    resolve_destination{vhost, topic, destination_kind::topic});
        if (!handle || handle->refused != errc{}) {
            return false;
        }
        auto added = runtime::call(
            handle->handle.topic,
            add_durable_subscriber{sub.name, vhost, durable_queue_name(sub.name), selector});
        ctx.registries[shard].cast(release_destination{handle->handle.key});
        return added && *added;
    });
    if (!fed) {
        runtime::log::error("journal: cannot restore durable subscription ",
                            escape_for_log(sub.name), " to ", escape_for_log(topic));
    }
    return fed;
}

}  // namespace stampede::broker
