#include "tools/origin/content.hpp"

#include "tools/origin/synthetic.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace ferry::origin {

struct content::descriptor {
    int fd = -1;
    explicit descriptor(int f) : fd(f) {}
    ~descriptor() {
        if (fd >= 0)
            ::close(fd);
    }
    descriptor(const descriptor&) = delete;
    descriptor& operator=(const descriptor&) = delete;
};

namespace {

// Synthetic files say they were last modified at 2026-01-01 00:00:00 UTC (plus a minute per version).
constexpr std::int64_t synthetic_epoch = 1767225600;
constexpr std::byte version_mask{0x5A};

std::string hex(std::uint64_t v) {
    char text[17];
    std::snprintf(text, sizeof text, "%llx", static_cast<unsigned long long>(v));
    return text;
}

} // namespace

std::string http_date(std::int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    // Fixed English names: strftime's %a and %b would follow the locale.
    static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char text[40];
    std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
                  months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return text;
}

content content::synthetic(std::string name, std::uint64_t size, std::uint64_t seed) {
    content c;
    c.name_ = std::move(name);
    c.seed_ = seed;
    c.size_ = size;
    c.describe();
    return c;
}

std::optional<content> content::open_file(const std::filesystem::path& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    auto file = std::make_shared<descriptor>(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return std::nullopt;
    content c;
    c.file_ = std::move(file);
    c.size_ = static_cast<std::uint64_t>(st.st_size);
    c.modified_ns_ = std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    c.describe();
    return c;
}

content content::in_memory(std::shared_ptr<const std::string> bytes) {
    content c;
    c.size_ = bytes->size();
    c.memory_ = std::move(bytes);
    c.describe();
    return c;
}

content content::with_etag(std::string etag) const {
    content c = *this;
    c.fixed_etag_ = std::move(etag);
    c.describe();
    return c;
}

content content::with_version(std::uint64_t n) const {
    content c = *this;
    c.version_ = n;
    c.describe();
    return c;
}

content content::with_etag_salt(std::string salt) const {
    content c = *this;
    c.etag_salt_ = std::move(salt);
    c.describe();
    return c;
}

void content::describe() {
    std::string salt;
    if (!etag_salt_.empty())
        salt.append("-").append(hex(synthetic_key(etag_salt_, 0)));
    if (file_) {
        etag_ = "\"f-" + hex(std::uint64_t(modified_ns_)) + "-" + hex(size_) +
                (version_ ? "-v" + hex(version_) : std::string()) + salt + "\"";
        last_modified_ = http_date(modified_ns_ / 1'000'000'000 + std::int64_t(version_) * 60);
    } else {
        // Equal keys and sizes mean equal bytes, so the key makes a strong validator.
        etag_ = "\"s-" + hex(synthetic_key(name_, seed_ + version_)) + "-" + hex(size_) + salt + "\"";
        last_modified_ = http_date(synthetic_epoch + std::int64_t(version_) * 60);
    }
    if (!fixed_etag_.empty())
        etag_ = fixed_etag_;
}

bool content::read(std::uint64_t offset, std::span<std::byte> out) const {
    if (memory_) {
        std::memcpy(out.data(), memory_->data() + offset, out.size());
        if (version_)
            for (auto& b : out)
                b ^= version_mask;
        return true;
    }
    if (!file_) {
        synthetic_fill(name_, seed_ + version_, offset, out);
        return true;
    }
    std::size_t done = 0;
    while (done < out.size()) {
        ssize_t n = ::pread(file_->fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += static_cast<std::size_t>(n);
    }
    if (version_)
        for (auto& b : out)
            b ^= version_mask;
    return true;
}

} // namespace ferry::origin
