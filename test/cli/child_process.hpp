#pragma once

// Child processes for tests that run real programs (the ferry binary, nginx): fork/exec with
// stdout and stderr captured into files, waits bounded by a timeout (a pidfd polled, no sleeps),
// and a destructor that kills and reaps a child still running, so a failing test leaves no
// process behind. Shared by test/cli and test/integration.

#include <doctest/doctest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ferry::test {

/// A fresh directory under /tmp (mkdtemp), removed with everything in it on destruction.
class scratch_dir {
public:
    explicit scratch_dir(const char* prefix = "ferry-test") {
        std::string pattern = std::string("/tmp/") + prefix + "-XXXXXX";
        if (!::mkdtemp(pattern.data()))
            throw std::system_error(errno, std::generic_category(), "mkdtemp");
        path_ = pattern;
    }
    ~scratch_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }
    std::filesystem::path operator/(const std::filesystem::path& p) const { return path_ / p; }

private:
    std::filesystem::path path_;
};

/// The executable `name` found in PATH (or /usr/local/bin:/usr/bin:/bin without one), or "".
inline std::string find_in_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    for (std::size_t start = 0; start <= dirs.size();) {
        auto end = dirs.find(':', start);
        if (end == std::string::npos)
            end = dirs.size();
        std::filesystem::path candidate = std::filesystem::path(dirs.substr(start, end - start)) / name;
        if (end > start && ::access(candidate.c_str(), X_OK) == 0)
            return candidate.string();
        start = end + 1;
    }
    return {};
}

inline std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void spit(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out)
        throw std::runtime_error("cannot write " + path.string());
}

/// Non-empty lines of `text`.
inline std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos)
            end = text.size();
        if (end > start)
            lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

/// One child process. Not copyable; the destructor SIGKILLs and reaps it if it still runs.
class child_process {
public:
    /// Starts `argv[0]` (a path, not searched in PATH) with stdin from /dev/null and stdout/stderr
    /// written to the given files (truncated), in `cwd` when not empty. The child gets SIGKILL if
    /// the test process dies. Throws when it cannot fork or exec.
    child_process(const std::vector<std::string>& argv, const std::filesystem::path& stdout_file,
                  const std::filesystem::path& stderr_file, const std::filesystem::path& cwd = {}) {
        if (argv.empty())
            throw std::invalid_argument("child_process: empty argv");
        // Everything the child touches is prepared before fork: after it, only async-signal-safe calls.
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        std::string out = stdout_file.string(), err = stderr_file.string(), dir = cwd.string();
        int exec_error[2];
        if (::pipe2(exec_error, O_CLOEXEC) != 0)
            throw std::system_error(errno, std::generic_category(), "pipe2");
        pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0) {
            int e = errno;
            ::close(exec_error[0]);
            ::close(exec_error[1]);
            throw std::system_error(e, std::generic_category(), "fork");
        }
        if (pid_ == 0) {
            ::close(exec_error[0]);
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent)
                ::_exit(127);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::signal(SIGINT, SIG_DFL);
            ::signal(SIGTERM, SIG_DFL);
            ::signal(SIGPIPE, SIG_DFL);
            int in = ::open("/dev/null", O_RDONLY);
            int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int failure = 0;
            if (in < 0 || o < 0 || e < 0 || ::dup2(in, 0) < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0)
                failure = errno;
            if (!failure && !dir.empty() && ::chdir(dir.c_str()) != 0)
                failure = errno;
            if (!failure) {
                ::execv(args[0], args.data());
                failure = errno;
            }
            [[maybe_unused]] auto written = ::write(exec_error[1], &failure, sizeof failure);
            ::_exit(127);
        }
        ::close(exec_error[1]);
        int failure = 0;
        ssize_t n;
        do
            n = ::read(exec_error[0], &failure, sizeof failure);
        while (n < 0 && errno == EINTR);
        ::close(exec_error[0]);
        if (n == static_cast<ssize_t>(sizeof failure)) {
            reap();
            throw std::system_error(failure, std::generic_category(), "cannot start " + argv[0]);
        }
        pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    }

    ~child_process() {
        if (running()) {
            ::kill(pid_, SIGKILL);
            reap();
        }
        if (pidfd_ >= 0)
            ::close(pidfd_);
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const noexcept { return pid_; }

    /// True while the child has not been reaped and has not exited (checks without blocking).
    bool running() {
        if (status_)
            return false;
        int status = 0;
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_)
            status_ = status;
        return !status_;
    }

    void signal(int sig) {
        if (running())
            ::kill(pid_, sig);
    }

    /// Waits up to `timeout` for the child to end; its raw wait status, or nullopt if it still runs.
    std::optional<int> wait_for(std::chrono::milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (running()) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0)
                return std::nullopt;
            if (pidfd_ >= 0) {
                pollfd p{pidfd_, POLLIN, 0};
                ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
            } else {
                // No pidfd (old kernel): a bounded poll of waitpid.
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        }
        return status_;
    }

    /// SIGKILL and reap; returns the raw wait status.
    int kill_and_wait() {
        if (running()) {
            ::kill(pid_, SIGKILL);
            reap();
        }
        return *status_;
    }

private:
    void reap() {
        int status = 0;
        pid_t r;
        do
            r = ::waitpid(pid_, &status, 0);
        while (r < 0 && errno == EINTR);
        status_ = status;
    }

    pid_t pid_ = -1;
    int pidfd_ = -1;
    std::optional<int> status_;
};

/// The exit status as a shell shows it: the code, or 128 + the signal that ended the process.
inline int shell_status(int wait_status) {
    if (WIFEXITED(wait_status))
        return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status))
        return 128 + WTERMSIG(wait_status);
    return -1;
}

/// What a finished run of a program left.
struct run_result {
    int status = -1;       ///< shell-style exit status; -1 when it timed out (and was killed)
    std::string out, err;  ///< captured stdout and stderr
    double seconds = 0;
};

/// Runs a program to completion, killing it after `timeout`. Output goes through files in `dir`.
inline run_result run_program(const std::vector<std::string>& argv, const std::filesystem::path& dir,
                              std::chrono::seconds timeout = std::chrono::seconds(60),
                              const std::filesystem::path& cwd = {}) {
    static int counter = 0;
    ++counter;
    auto out_file = dir / ("run-" + std::to_string(counter) + ".out");
    auto err_file = dir / ("run-" + std::to_string(counter) + ".err");
    auto started = std::chrono::steady_clock::now();
    run_result r;
    {
        child_process child(argv, out_file, err_file, cwd);
        auto status = child.wait_for(timeout);
        if (status)
            r.status = shell_status(*status);
        else
            child.kill_and_wait();
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    r.out = slurp(out_file);
    r.err = slurp(err_file);
    std::error_code ignored;
    std::filesystem::remove(out_file, ignored);
    std::filesystem::remove(err_file, ignored);
    return r;
}

} // namespace ferry::test
