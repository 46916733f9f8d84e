#include "stampede/broker/broker.hpp"

#include <filesystem>
#include <stdexcept>
#include <thread>

#include "admin.hpp"
#include "admission.hpp"
#include "auth_state.hpp"
#include "context.hpp"
#include "durable.hpp"
#include "flow.hpp"
#include "listener.hpp"
#include "registry.hpp"
#include "report.hpp"
#include "session.hpp"
#include "stampede/broker/version.hpp"
#include "stampede/runtime/log.hpp"
#include "stats.hpp"
#include "topic.hpp"

namespace stampede::broker {

namespace {

runtime::runtime_options runtime_options_from(const config& cfg) {
    runtime::runtime_options options;
    options.schedulers = cfg.schedulers;
    options.io = cfg.io;
    options.default_stack_size = cfg.stack_size;
    return options;
}

}  // namespace

broker::broker(config cfg) : cfg_(std::move(cfg)) {}

broker::~broker() {
    stop();
}

bool broker::reload_auth(const std::function<config()>& read) {
    if (!ctx_ || !ctx_->auth) {
        return false;
    }
    broker_auth& auth = *ctx_->auth;
    try {
        const config fresh = read();
        auth.reload(fresh);  // parses hashes and compiles patterns: no argon2id run
    } catch (const std::exception& e) {
        auth.reload_failures.fetch_add(1, std::memory_order_relaxed);
        runtime::log::warn("reload: kept the old users and permissions: ", e.what());
        return false;
    }
    auth.reloads.fetch_add(1, std::memory_order_relaxed);
    runtime::log::info("reload: users and permissions replaced");
    return true;
}

bool broker::reload_tls() {
    if (!ctx_) {
        return false;
    }
    bool all = true;
    bool any = false;
    const auto reload = [&](listener_state& state) {
        if (!state.tls()) {
            return;
        }
        any = true;
        std::string why;
        if (state.reload_tls(why)) {
            runtime::log::info("reload: ", state.describe());
        } else {
            all = false;
            runtime::log::warn("reload: listener '", state.name(), "' kept its old certificate: ", why);
        }
    };
    for (auto& state : listeners_) {
        reload(*state);
    }
    if (admin_state_) {
        reload(*admin_state_);
    }
    if (any) {
        (all ? ctx_->tls_reloads : ctx_->tls_reload_failures).fetch_add(1, std::memory_order_relaxed);
    }
    return all;
}

const std::string& broker::io_backend() const {
    return rt_->io_backend_name();
}

void broker::start() {
    validate(cfg_);
    // First: a second broker on the same data_dir stops here, naming it
    // (absolute, so that the default `data` says where it is).
    std::unique_ptr<durability> durable;
    if (!cfg_.data_dir.empty()) {
        cfg_.data_dir = std::filesystem::absolute(cfg_.data_dir).lexically_normal().string();
        durable = durability::open(cfg_);
        runtime::log::info("data directory ", cfg_.data_dir, " (journal.sync ", cfg_.journal.sync,
                           "): persistent messages to durable destinations survive a restart");
    } else {
        runtime::log::info("no data directory (--data-dir none): memory only, persistent "
                           "messages are lost when the broker stops");
    }
    for (auto& l : effective_listeners(cfg_)) {
        listeners_.push_back(std::make_unique<listener_state>(std::move(l)));  // loads TLS files
    }
    // One argon2id computation (the dummy hash): here, before any scheduler runs.
    auto auth = std::make_unique<broker_auth>(cfg_);
    rt_ = std::make_unique<runtime::runtime>(runtime_options_from(cfg_));
    rt_->start();
    ctx_ = std::make_unique<broker_context>(cfg_, *rt_);
    ctx_->auth = std::move(auth);
    ctx_->durable = std::move(durable);
    start_actors();
    if (ctx_->durable) {
        ctx_->durable->restore(*ctx_);  // before any connection can publish
    }
    start_listeners();
    start_admin();
    runtime::log::info("stampede ", version, " listening on ", listening_.to_string(), " (",
                       rt_->size(), " scheduler(s), I/O ", rt_->io_backend_name(), ")");
}

// One registry shard and one relay per scheduler, spawned before any
// connection can look for them, and the memory monitor.
void broker::start_actors() {
    const std::size_t high_water = memory_high_water_bytes(cfg_.memory);
    runtime::spawn<memory_monitor>(rt_->at(0), "memory-monitor", ctx_->memory_alarm, high_water,
                                   cfg_.memory.check_interval_ms);
    runtime::log::info("memory high-water mark ", high_water / (1024 * 1024),
                       " MiB: publishers are held above it");
    for (unsigned i = 0; i < rt_->size(); ++i) {
        ctx_->registries.push_back(
            runtime::spawn<registry_actor>(rt_->at(i), "registry-" + std::to_string(i), *ctx_, i));
        ctx_->relays.push_back(
            runtime::spawn<relay_actor>(rt_->at(i), "relay-" + std::to_string(i), *ctx_, i));
    }
}

// One acceptor fiber per listener, all on shard 0; each connection's fiber
// goes to a scheduler of its own (runtime::serve spreads them).
void broker::start_listeners() {
    const listener_state* main = nullptr;
    for (auto& state : listeners_) {
        const auto at = runtime::endpoint::parse(state->config().listen);
        auto listener = rt_->run_on(0, [&] { return runtime::tcp_listener::listen(*at); });
        if (!listener) {
            throw std::runtime_error("cannot listen on " + state->config().listen + " (listener '" +
                                     state->name() + "'): " + listener.error().message());
        }
        state->bound = listener->local_endpoint();
        if (main == nullptr || (state->config().plain() && !main->config().plain())) {
            main = state.get();
        }
        runtime::log::info(state->describe());
        broker_context* ctx = ctx_.get();
        listener_state* ls = state.get();
        const std::size_t stack = cfg_.stack_size;
        rt_->at(0).spawn(
            [ctx, ls, stack, l = std::move(*listener)]() mutable {
                // The listener lives in this fiber; stop() reaches it through shard 0.
                ls->socket = &l;
                (void)runtime::serve(l, ctx->rt,
                                     [ctx, ls](runtime::tcp_stream stream) {
                                         admit_and_serve(*ctx, *ls, std::move(stream));
                                     },
                                     {stack, "session.reader"});
                ls->socket = nullptr;
            },
            {0, "acceptor"});
    }
    listening_ = main->bound;
}

std::vector<std::pair<std::string, runtime::endpoint>> broker::listeners() const {
    std::vector<std::pair<std::string, runtime::endpoint>> out;
    for (const auto& l : listeners_) {
        out.emplace_back(l->name(), l->bound);
    }
    return out;
}

void broker::start_admin() {
    if (!cfg_.admin.enabled) {
        return;
    }
    listener_config endpoint;
    endpoint.name = "admin";
    endpoint.listen = cfg_.admin.listen;
    endpoint.tls = cfg_.admin.tls;
    admin_state_ = std::make_unique<listener_state>(std::move(endpoint));  // loads TLS files
    const auto at = runtime::endpoint::parse(cfg_.admin.listen);
    auto listener = rt_->run_on(0, [&] { return runtime::tcp_listener::listen(*at, 64); });
    if (!listener) {
        const std::string why = "cannot listen on " + cfg_.admin.listen +
                                " for the admin endpoint: " + listener.error().message();
        if (cfg_.admin.required) {
            throw std::runtime_error(why);
        }
        runtime::log::warn(why, " (continuing without it)");
        return;
    }
    admin_listening_ = listener->local_endpoint();
    broker_context* ctx = ctx_.get();
    rt_->at(0).spawn(
        [ctx, state = admin_state_.get(), listen = listening_.to_string(),
         l = std::move(*listener)]() mutable {
            ctx->here().admin_listener = &l;
            serve_admin(*ctx, l, *state, listen);
            ctx->here().admin_listener = nullptr;
        },
        {0, "admin.acceptor"});
    admin_state_->bound = *admin_listening_;
    runtime::log::info("admin listening on ", admin_listening_->to_string(),
                       admin_state_->tls() ? " over TLS" : "", " (/healthz, /stats, /metrics)");
}

std::size_t broker::open_connections() {
    std::size_t open = 0;
    for (unsigned i = 0; i < rt_->size(); ++i) {
        open += rt_->run_on(i, [&] { return ctx_->here().sessions.size(); });
    }
    return open;
}

void broker::stop() {
    if (stopped_ || !rt_) {
        return;
    }
    stopped_ = true;
    runtime::log::info("stopping: no new connections; closing ", open_connections(), " open");
    rt_->run_on(0, [&] {
        for (auto& state : listeners_) {
            if (auto* l = state->socket) {
                l->close();
            }
        }
        if (auto* l = ctx_->here().admin_listener) {
            l->close();
        }
    });
    for (unsigned i = 0; i < rt_->size(); ++i) {
        rt_->run_on(i, [&] {
            for (auto& [id, weak] : ctx_->here().sessions) {
                if (auto s = weak.lock()) {
                    s->close("the broker is shutting down");
                }
            }
        });
    }
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(cfg_.shutdown_timeout_ms) +
                          std::chrono::seconds(1);
    while (open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ctx_->auth->stop();  // its threads post to sessions: gone before the runtime
    if (ctx_->durable) {
        ctx_->durable->journal().flush();  // what was confirmed is on disk
    }
    rt_->stop();
    if (ctx_->durable) {
        ctx_->durable->close();
    }
    runtime::log::info("stopped");
}

nlohmann::json broker::snapshot() {
    std::vector<nlohmann::json> parts;
    for (unsigned i = 0; i < rt_->size(); ++i) {
        parts.push_back(rt_->run_on(i, [&] { return ctx_->here().stats->snapshot(); }));
    }
    return compose_snapshot(*ctx_, parts, rt_->stack_stats(), listening_.to_string());
}

}  // namespace stampede::broker
