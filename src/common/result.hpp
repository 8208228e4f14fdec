// Result<T, E>: a value or the reason there is none. Used for everything that parses or talks
// to the outside world (see "Error handling" in README.md): no exceptions on the data plane.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace tenex {

// The default error: a human-readable reason, safe to log (never contains secrets).
struct Error {
    std::string message;
};

// The value of a Result that carries no value: Status is success or an error.
struct Unit {};

template <class T, class E = Error>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit
    Result(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const E& error() const& { return std::get<1>(v_); }
    E&& error() && { return std::get<1>(std::move(v_)); }

  private:
    std::variant<T, E> v_;
};

using Status = Result<Unit>;

inline Error make_error(std::string message) {
    return Error{std::move(message)};
}

}  // namespace tenex
