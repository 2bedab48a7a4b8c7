#pragma once

#include <cstddef>
#include <new>

namespace ferry {

/// An allocator for connections' short-lived read buffers (a response head, the body bytes that
/// came with it): a block freed is kept, per thread, for the next allocation of the same size.
///
/// A connection gives its head buffer back after every response, so that thousands of idle
/// connections hold none; with malloc that was an allocation and a free of a few KiB per request,
/// too large for malloc's per-thread cache and so among the costs of a request on a kept-alive
/// connection. The cache holds at most `slots` blocks of at most `largest` bytes per thread.
template <class T>
struct block_recycler {
    using value_type = T;
    static constexpr std::size_t slots = 64;
    static constexpr std::size_t largest = 96 * 1024;

    block_recycler() noexcept = default;
    template <class U>
    block_recycler(const block_recycler<U>&) noexcept {}

    T* allocate(std::size_t n) { return static_cast<T*>(take(n * sizeof(T))); }
    void deallocate(T* p, std::size_t n) noexcept { give(p, n * sizeof(T)); }

    template <class U>
    bool operator==(const block_recycler<U>&) const noexcept { return true; }

private:
    struct cache {
        struct block {
            void* data;
            std::size_t size;
        };
        block kept[slots];
        std::size_t count = 0;
        ~cache() {
            while (count > 0)
                ::operator delete(kept[--count].data);
        }
    };
    static cache& local() {
        thread_local cache c;
        return c;
    }
    static void* take(std::size_t bytes) {
        auto& c = local();
        for (std::size_t i = c.count; i-- > 0;)
            if (c.kept[i].size == bytes) {
                void* p = c.kept[i].data;
                c.kept[i] = c.kept[--c.count];
                return p;
            }
        return ::operator new(bytes);
    }
    static void give(void* p, std::size_t bytes) noexcept {
        auto& c = local();
        if (bytes <= largest && c.count < slots)
            c.kept[c.count++] = {p, bytes};
        else
            ::operator delete(p);
    }
};

} // namespace ferry
