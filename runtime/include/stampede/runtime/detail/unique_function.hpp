#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace stampede::runtime::detail {

template <class Signature>
class unique_function;

/// A move-only std::function (std::move_only_function arrives only in C++23).
template <class R, class... Args>
class unique_function<R(Args...)> {
  public:
    unique_function() = default;

    template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, unique_function>>>
    unique_function(F&& f)  // NOLINT(google-explicit-constructor): used like std::function
        : impl_(std::make_unique<model<std::decay_t<F>>>(std::forward<F>(f))) {}

    explicit operator bool() const noexcept { return impl_ != nullptr; }

    R operator()(Args... args) { return impl_->call(std::forward<Args>(args)...); }

  private:
    struct concept_t {
        virtual ~concept_t() = default;
        virtual R call(Args... args) = 0;
    };
    template <class F>
    struct model final : concept_t {
        explicit model(F&& f) : fn(std::move(f)) {}
        explicit model(const F& f) : fn(f) {}
        R call(Args... args) override { return fn(std::forward<Args>(args)...); }
        F fn;
    };

    std::unique_ptr<concept_t> impl_;
};

}  // namespace stampede::runtime::detail
