#include "queue_parts.hpp"

namespace stampede::load {

void consumer_set::set_origin(std::int64_t t0_ns) {
    for (auto& [i, r] : receivers) {
        r->set_origin(t0_ns);
    }
}

void consumer_set::report_errors(errors& errs) const {
    for (const auto& [i, r] : receivers) {
        errs.from_connection(name_of("consumer ", i), &r->conn());
    }
}

expectation producer_streams(const args& a) {
    return expected_streams('P', split_evenly(static_cast<std::uint64_t>(a.integer("messages")),
                                              static_cast<std::size_t>(a.integer("producers"))));
}

consumer_set subscribe_consumers(link& l, const args& a, const broker_address& to, std::size_t n,
                                 latency_sink& latency, errors& errs) {
    consumer_set set;
    const std::string ack = a.text("ack");
    const auto prefetch = static_cast<std::uint64_t>(a.integer("prefetch"));
    set.conns = connect_limited(
        to, l.mine(n), static_cast<std::size_t>(a.integer("connect-concurrency")),
        [&](std::size_t i, connection& c, std::string& why) {
            set.receivers[i] = std::make_unique<receiver>(c, l.counters(), counter::received,
                                                          latency, ack != "auto");
            return c.subscribe(a.text("destination"), name_of("c", i), ack, prefetch,
                               a.real("connect-timeout"), why);
        },
        errs, "consumer");
    std::erase_if(set.receivers, [&](const auto& kv) {
        return std::none_of(set.conns.begin(), set.conns.end(),
                            [&](const auto& c) { return c.first == kv.first; });
    });
    return set;
}

std::vector<publisher_stats> publish_share(link& l, const args& a,
                                           const indexed_connections& producers, std::int64_t t0) {
    const auto counts = split_evenly(static_cast<std::uint64_t>(a.integer("messages")),
                                     static_cast<std::size_t>(a.integer("producers")));
    std::vector<std::unique_ptr<publisher>> pubs;
    std::vector<std::function<void()>> jobs;
    for (const auto& [i, conn] : producers) {
        pubs.push_back(std::make_unique<publisher>(*conn, a.text("destination"), name_of("P", i),
                                                   static_cast<std::size_t>(a.integer("body-size")),
                                                   t0, l.counters()));
        jobs.push_back([p = pubs.back().get(), n = counts[i], &l] { p->run(n, 0, &l); });
    }
    run_all(std::move(jobs));
    std::vector<publisher_stats> out;
    for (const auto& p : pubs) {
        out.push_back(p->stats());
    }
    return out;
}

consumers_result consumer_result(const consumer_set& set) {
    consumers_result out;
    for (const auto& [i, r] : set.receivers) {
        out.consumers.emplace_back(i, r->tracker().total());
        out.tracker.merge(r->tracker());
        out.last_arrival.push_back(r->last_ns());
        add_into(out.consumed_per_second, r->series().counts());
    }
    return out;
}

json merge_consumed(const args& a, const std::vector<const consumers_result*>& parts) {
    sequence_tracker all;
    // By consumer index; one that never connected got nothing.
    std::vector<std::uint64_t> counts(static_cast<std::size_t>(a.integer("consumers")), 0);
    for (const consumers_result* p : parts) {
        all.merge(p->tracker);
        for (const auto& [i, n] : p->consumers) {
            counts.at(i) = n;
        }
    }
    json out = queue_loss(producer_streams(a), all);
    update(out, fairness(counts));
    out["per_consumer"] = counts;
    return out;
}

publish_summary summarize(const std::vector<const std::vector<publisher_stats>*>& parts) {
    publish_summary out;
    std::vector<std::optional<std::int64_t>> ends;
    for (const auto* part : parts) {
        for (const publisher_stats& s : *part) {
            out.published += s.sent;
            out.firsts.push_back(s.first_ns);
            ends.push_back(s.receipt_ns ? s.receipt_ns : s.last_ns);
            add_into(out.per_second, s.per_second);
        }
    }
    out.seconds = span_seconds(out.firsts, ends);
    return out;
}

}  // namespace stampede::load
