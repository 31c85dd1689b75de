#include "nra/sources/static_file.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "nra/base/fd.hpp"
#include "nra/base/file.hpp"
#include "nra/base/log.hpp"
#include "nra/base/loop.hpp"
#include "nra/sources/legacy_text.hpp"

namespace nra {

namespace {

// A read discarded because the file changed under it is retried at once this
// many times, then after kRetry (a writer rewriting in a tight loop).
constexpr int kImmediateRetries = 3;
constexpr auto kRetry = std::chrono::milliseconds(20);
// Loads of files at least this large give their memory back to the system.
constexpr std::size_t kTrimAbove = 256 * 1024;

FileStamp stamp_of(const std::string& path) {
    struct stat st {};
    FileStamp s;
    if (::stat(path.c_str(), &st) == 0) s = FileStamp{st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
    return s;
}

std::size_t text_hash(std::string_view t) { return std::hash<std::string_view>{}(t) ^ t.size(); }

class StaticFileSource final : public Source {
public:
    StaticFileSource(std::string path, std::chrono::milliseconds recheck) : path_(std::move(path)), recheck_(recheck) {
        const auto slash = path_.rfind('/');
        dir_ = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
        base_ = slash == std::string::npos ? path_ : path_.substr(slash + 1);
    }

    void start(EventLoop& loop, Callbacks cb) override {
        loop_ = &loop;
        cb_ = std::move(cb);
        inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
        if (inotify_ &&
            ::inotify_add_watch(inotify_.get(), dir_.c_str(),
                                IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB |
                                    IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF | IN_OPEN | IN_CLOSE_NOWRITE) >= 0) {
            loop.add(inotify_.get(), EPOLLIN, [this](std::uint32_t) { on_inotify(); });
        } else {
            log::warn("cannot watch the config directory; relying on periodic re-checks",
                      {{"dir", dir_}, {"error", std::strerror(errno)}});
            inotify_.reset();
        }
        pending_ = true;
        try_load();
        schedule_recheck();
    }

    std::string describe() const override { return "static file " + path_; }

private:
    // Reads every queued event and folds it into the state: `pending_` (the
    // file may differ from what was last read), `writing_` (it was modified
    // after its last close or rename: a writer may be mid-way) and `opens_`
    // (files open on it: IN_OPEN minus closes). A close can be reported late
    // (IN_CLOSE_WRITE comes with the last reference: a writer's fd inherited
    // by a child it forked closes at the child's exec), so a close alone
    // does not say the file is complete: nothing may be open on it either.
    // Returns whether any event changed (or may have changed) its content;
    // opens and read-only closes (ours included) do not.
    bool drain() {
        if (!inotify_) return false;
        alignas(inotify_event) char buf[8192];
        bool any = false;
        for (;;) {
            const ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
            if (n <= 0) break;
            for (ssize_t off = 0; off + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
                const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
                off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
                if (!relevant(*ev)) continue;
                const std::uint32_t m = ev->mask;
                if (ev->len > 0 && !(m & IN_ISDIR)) {  // the file's opens, not the directory's (ls)
                    if (m & IN_OPEN) ++opens_;
                    if ((m & (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE)) && opens_ > 0) --opens_;
                }
                if (!(m & ~(IN_OPEN | IN_CLOSE_NOWRITE | IN_ISDIR))) continue;  // content unchanged
                any = true;
                pending_ = true;
                if (m & IN_Q_OVERFLOW)
                    writing_ = true;  // unknown: wait for quiet
                else if (m & (IN_MODIFY | IN_CREATE))
                    writing_ = true;
                else if (m & (IN_CLOSE_WRITE | IN_MOVED_TO))
                    writing_ = false;
                // another file at the path: opens counted so far were on the old one
                if (m & (IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE | IN_Q_OVERFLOW)) opens_ = 0;
            }
        }
        if (any) last_event_ = Clock::now();
        return any;
    }

    void on_inotify() {
        drain();
        settle();  // also when only a close arrived: the last one open may be done
    }

    // Reads now when the file is complete; otherwise waits for the close (or
    // rename) that completes it, or for the quiet period.
    void settle() {
        if (!pending_) return;
        if (complete()) {
            try_load();
            return;
        }
        arm_quiet();
    }

    void arm_quiet() {
        if (quiet_timer_) return;
        quiet_stamp_ = stamp_of(path_);
        quiet_timer_ = loop_->after(kQuietPeriod, [this] {
            quiet_timer_ = 0;
            if (!pending_) return;
            const auto idle = Clock::now() - last_event_;
            const FileStamp now = stamp_of(path_);
            if (idle < kQuietPeriod || !(now == quiet_stamp_)) {
                arm_quiet();  // still changing
                return;
            }
            log::debug("configuration file unchanged for the quiet period without a close; reading it",
                       {{"path", path_}, {"quiet_ms", static_cast<long long>(kQuietPeriod.count())}});
            writing_ = false;
            opens_ = 0;  // a writer keeping it open, or a close inotify merged away
            try_load();
        });
    }

    bool complete() const { return !writing_ && opens_ == 0; }

    // Events about other files of the directory (a temporary file being
    // written before it is renamed into place, say) need no reading: only
    // the file itself, the target of a symlink in the same directory, the
    // ConfigMap volume's "..data" swap, or the directory itself.
    bool relevant(const inotify_event& ev) const {
        if (ev.len == 0 || (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_Q_OVERFLOW))) return true;
        const std::string_view name(ev.name);
        return name == base_ || name == "..data" || (!link_target_.empty() && name == link_target_);
    }

    void update_link_target() {
        link_target_.clear();
        char buf[4096];
        const ssize_t n = ::readlink(path_.c_str(), buf, sizeof buf - 1);
        if (n <= 0) return;
        const std::string_view t(buf, static_cast<std::size_t>(n));
        const auto slash = t.find('/');
        link_target_ =
            std::string(slash == std::string_view::npos ? t : t.substr(0, slash));  // "..data/config" -> "..data"
    }

    void schedule_recheck() {
        if (recheck_.count() == 0) return;
        loop_->after(recheck_, [this] {
            // A change inotify did not report (no inotify, a symlink to
            // another directory): read once the file has settled.
            if (!(stamp_of(path_) == stamp_)) {
                pending_ = true;
                writing_ = true;
                last_event_ = Clock::now();
                arm_quiet();
            }
            schedule_recheck();
        });
    }

    void try_load() {
        for (int attempt = 0;; ++attempt) {
            const Outcome o = read_once();
            if (o != Outcome::Changed) return;
            if (!complete()) {
                arm_quiet();  // the close (or quiet period) that completes it reads it
                return;
            }
            if (attempt + 1 >= kImmediateRetries) {
                if (!retry_timer_)
                    retry_timer_ = loop_->after(kRetry, [this] {
                        retry_timer_ = 0;
                        drain();
                        if (pending_ && complete())
                            try_load();
                        else if (pending_)
                            arm_quiet();
                    });
                return;
            }
        }
    }

    enum class Outcome { Done, Changed };

    // One read, parse and (when valid and new) delivery. The read counts only
    // if the file did not change while it was read: no event about it
    // arrived meanwhile and it still has the identity, size and times fstat
    // saw at open. Otherwise it is discarded (Outcome::Changed).
    Outcome read_once() {
        pending_ = false;
        stamp_ = stamp_of(path_);
        update_link_target();
        FileStamp opened;
        auto read = read_whole_file(path_, kMaxStaticFileSize, &opened);
        const bool read_ok = read.value.has_value();
        std::string text = read_ok ? std::move(*read.value) : std::string();
        if (drain() || (read_ok && !(stamp_of(path_) == opened))) {
            pending_ = true;
            log::debug("configuration file changed while it was read; read discarded", {{"path", path_}});
            return Outcome::Changed;
        }
        if (read_ok) stamp_ = opened;
        std::optional<std::size_t> hash;
        if (read_ok) {
            // Unchanged bytes (a touch, a chmod, a rewrite of the same text)
            // need no parsing: 10,000 entries take milliseconds to parse.
            hash = text_hash(text);
            if (seen_hash_ == hash) return Outcome::Done;
        }
        seen_hash_ = hash;
        const std::size_t size = text.size();
        FileLoad f;
        if (read_ok)
            f = parse_static_text(path_, text);
        else
            f.error = std::move(read.error);
        std::string().swap(text);  // no copy of the text is kept
        deliver(std::move(f), hash);
        if (size >= kTrimAbove) ::malloc_trim(0);  // a big file's tree and text go back to the system
        return Outcome::Done;
    }

    void deliver(FileLoad f, std::optional<std::size_t> hash) {
        if (!f.model) {
            if (f.error != last_error_) {
                if (f.empty)
                    log::warn(synced_ ? "configuration file holds no configuration; keeping the last good one"
                                      : "configuration file holds no configuration; nothing is changed until it does",
                              {{"path", path_}, {"error", f.error}});
                else {
                    log::error(synced_ ? "configuration file is invalid; keeping the last good configuration"
                                       : "configuration file is invalid; nothing is changed until it is fixed",
                               {{"path", path_}, {"error", f.error}});
                    log_config_problems(path_, f.diagnostics);
                }
            }
            last_error_ = f.error;
            if (cb_.failed) cb_.failed(f.error);
            return;
        }
        last_error_.clear();
        if (synced_ && hash == applied_hash_) return;  // back to what is applied
        applied_hash_ = hash;
        log::info("configuration loaded",
                  {{"path", path_}, {"peers", f.model->peers.size()}, {"addresses", f.model->addresses.size()}});
        synced_ = true;
        cb_.config(std::move(*f.model));
    }

    using Clock = std::chrono::steady_clock;

    std::string path_, dir_, base_, link_target_;
    std::optional<std::size_t> seen_hash_;     // the last bytes read (valid or not)
    std::optional<std::size_t> applied_hash_;  // the bytes of the configuration delivered
    std::chrono::milliseconds recheck_;
    EventLoop* loop_ = nullptr;
    Callbacks cb_;
    Fd inotify_;
    FileStamp stamp_, quiet_stamp_;
    Clock::time_point last_event_{};
    EventLoop::TimerId quiet_timer_ = 0, retry_timer_ = 0;
    bool synced_ = false;
    bool pending_ = false;   // the file may differ from what was last read
    bool writing_ = false;   // modified since its last close or rename
    std::size_t opens_ = 0;  // files open on it, as inotify counted them
    std::string last_error_;
};

}  // namespace

FileLoad load_static_file(const std::string& path) {
    auto text = read_whole_file(path, kMaxStaticFileSize);
    if (!text) {
        FileLoad f;
        f.error = std::move(text.error);
        return f;
    }
    return parse_static_text(path, *text.value);
}

FileLoad parse_static_text(const std::string& path, std::string_view text) {
    FileLoad f;
    // The static file's rules: what the agent reads, not the speaker-only
    // fields (files written for the Node.js agent keep working).
    auto load = load_legacy_text(text, path, LegacyRules::File);
    if (!load) {
        f.error = std::move(load.error);
        return f;
    }
    if (load.value->rejected()) {  // refused whole: the last good configuration stays
        f.error = rejection_summary(path, load.value->problems);
        f.diagnostics = std::move(load.value->problems);
        return f;
    }
    if (load.value->empty) {  // the last good configuration stays
        f.empty = true;
        f.error = std::move(load.value->empty_reason);
        return f;
    }
    f.model = std::move(load.value->model);
    return f;
}

std::unique_ptr<Source> make_static_file_source(const std::string& path, std::chrono::milliseconds recheck) {
    return std::make_unique<StaticFileSource>(path, recheck);
}

}  // namespace nra
