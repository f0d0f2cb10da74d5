// Intrusive reference counting for immutable, shared values (document nodes,
// fragment storage). A `Ref<T>` is a nullable owning handle; copying it bumps a
// counter stored in the object itself, which avoids the separate control block
// and double indirection of std::shared_ptr.
//
// Thread-safety: the count is atomic, so values may be shared between threads
// as long as they are immutable (every model value is, once constructed).
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>

namespace rtpm {

/// Base class of intrusively counted objects. Derive as
/// `class Node : public RefCounted<Node>`.
template <typename T>
class RefCounted {
 public:
  RefCounted() = default;
  RefCounted(const RefCounted&) : count_(0) {}
  RefCounted& operator=(const RefCounted&) { return *this; }

  void ref_inc() const { count_.fetch_add(1, std::memory_order_relaxed); }
  void ref_dec() const {
    if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete static_cast<const T*>(this);
  }
  /// True when exactly one handle refers to this object.
  bool ref_unique() const { return count_.load(std::memory_order_acquire) == 1; }

 protected:
  ~RefCounted() = default;

 private:
  mutable std::atomic<uint32_t> count_{0};
};

/// Owning handle to a RefCounted object; null when default-constructed.
template <typename T>
class Ref {
 public:
  Ref() = default;
  Ref(std::nullptr_t) {}
  explicit Ref(T* p) : p_(p) {
    if (p_) p_->ref_inc();
  }
  Ref(const Ref& o) : p_(o.p_) {
    if (p_) p_->ref_inc();
  }
  Ref(Ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  template <typename U>
  Ref(const Ref<U>& o) : p_(o.get()) {
    if (p_) p_->ref_inc();
  }
  ~Ref() {
    if (p_) p_->ref_dec();
  }
  Ref& operator=(const Ref& o) {
    Ref(o).swap(*this);
    return *this;
  }
  Ref& operator=(Ref&& o) noexcept {
    Ref(std::move(o)).swap(*this);
    return *this;
  }
  void swap(Ref& o) noexcept { std::swap(p_, o.p_); }

  T* get() const { return p_; }
  T& operator*() const { return *p_; }
  T* operator->() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }
  friend bool operator==(const Ref& a, const Ref& b) { return a.p_ == b.p_; }
  friend bool operator==(const Ref& a, std::nullptr_t) { return a.p_ == nullptr; }

 private:
  T* p_ = nullptr;
};

/// Allocates a T and returns the first handle to it.
template <typename T, typename... Args>
Ref<T> make_ref(Args&&... args) {
  return Ref<T>(new T(std::forward<Args>(args)...));
}

}  // namespace rtpm
