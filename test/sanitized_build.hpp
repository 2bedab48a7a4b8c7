#pragma once

namespace ferry::test {

/// Whether this build runs under AddressSanitizer or ThreadSanitizer (GCC's macros). Code runs
/// several times slower there, in bursts: behaviour driven by measured time (delays, rates) is
/// checked in the release build's run of the same test, memory and threads here.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitized_build = true;
#else
inline constexpr bool sanitized_build = false;
#endif

} // namespace ferry::test
