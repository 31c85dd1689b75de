#include "nra/sources/static_file.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nra/base/fd.hpp"
#include "nra/base/file.hpp"
#include "nra/base/log.hpp"
#include "nra/base/loop.hpp"
#include "nra/core/legacy.hpp"
#include "nra/doc/yaml.hpp"

namespace nra {

namespace {

constexpr std::size_t kMaxFileSize = 64 * 1024 * 1024;
constexpr auto kDebounce = std::chrono::milliseconds(30);

struct Stamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    timespec mtime{};
    bool operator==(const Stamp& o) const {
        return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec;
    }
};

Stamp stamp_of(const std::string& path) {
    struct stat st{};
    Stamp s;
    if (::stat(path.c_str(), &st) == 0) s = Stamp{st.st_dev, st.st_ino, st.st_size, st.st_mtim};
    return s;
}

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
        if (inotify_ && ::inotify_add_watch(inotify_.get(), dir_.c_str(),
                                            IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                                                IN_ATTRIB | IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF) >= 0) {
            loop.add(inotify_.get(), EPOLLIN, [this](std::uint32_t) { on_inotify(); });
        } else {
            log::warn("cannot watch the config directory; relying on periodic re-checks",
                      {{"dir", dir_}, {"error", std::strerror(errno)}});
            inotify_.reset();
        }
        load();
        schedule_recheck();
    }

    bool synced() const override { return synced_; }
    std::string describe() const override { return "static file " + path_; }

private:
    void on_inotify() {
        alignas(inotify_event) char buf[8192];
        bool relevant_seen = false, complete = false;
        for (;;) {
            const ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
            if (n <= 0) break;
            for (ssize_t off = 0; off + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
                const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
                off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
                if (!relevant(*ev)) continue;
                relevant_seen = true;
                if (ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE)) complete = true;
            }
        }
        // A file renamed into place (atomic replace, ConfigMap volume ..data
        // swap) or closed after writing is complete: read it at once.
        if (complete) {
            load();
            return;
        }
        // Anything else (a create before the content, a write still going on,
        // chmod) may be mid-way: settle, then read once; the close or rename
        // that completes it reads at once anyway.
        if (relevant_seen && !debounce_pending_) {
            debounce_pending_ = true;
            loop_->after(kDebounce, [this] {
                debounce_pending_ = false;
                load();
            });
        }
    }

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
        link_target_ = std::string(slash == std::string_view::npos ? t : t.substr(0, slash));  // "..data/config" -> "..data"
    }

    void schedule_recheck() {
        if (recheck_.count() == 0) return;
        loop_->after(recheck_, [this] {
            if (!(stamp_of(path_) == stamp_)) load();
            schedule_recheck();
        });
    }

    void load() {
        stamp_ = stamp_of(path_);
        update_link_target();
        std::string text, err;
        if (read_whole_file(path_, text, err, kMaxFileSize)) {
            // Unchanged bytes (a touch, a chmod, a rewrite of the same text)
            // need no parsing: 10,000 entries take milliseconds to parse.
            if (seen_text_ == text) return;
            seen_text_ = text;
        } else {
            seen_text_.reset();
        }
        FileLoad f;
        if (err.empty()) f = parse_static_text(path_, std::move(text));
        else f.error = std::move(err);
        if (!f.model) {
            if (f.error != last_error_)
                log::error("configuration file is invalid; keeping the last good configuration",
                           {{"path", path_}, {"error", f.error}});
            last_error_ = f.error;
            return;
        }
        last_error_.clear();
        if (synced_ && f.text == last_text_) return;  // touched, not changed
        last_text_ = f.text;
        for (const auto& d : f.diagnostics) log::warn("configuration entry skipped", {{"path", path_}, {"where", d.where}, {"error", d.what}});
        log::info("configuration loaded", {{"path", path_}, {"peers", f.model->peers.size()}, {"addresses", f.model->addresses.size()}});
        synced_ = true;
        cb_.config(std::move(*f.model));
    }

    std::string path_, dir_, base_, link_target_;
    std::optional<std::string> seen_text_;  // the last bytes read (valid or not)
    std::chrono::milliseconds recheck_;
    EventLoop* loop_ = nullptr;
    Callbacks cb_;
    Fd inotify_;
    Stamp stamp_;
    bool synced_ = false;
    bool debounce_pending_ = false;
    std::string last_text_, last_error_;
};

}  // namespace

FileLoad load_static_file(const std::string& path) {
    std::string text, err;
    if (!read_whole_file(path, text, err, kMaxFileSize)) {
        FileLoad f;
        f.error = std::move(err);
        return f;
    }
    return parse_static_text(path, std::move(text));
}

FileLoad parse_static_text(const std::string& path, std::string text) {
    FileLoad f;
    f.text = std::move(text);
    auto doc = parse_yaml(f.text);
    if (!doc) {
        f.error = path + ": " + doc.error;
        return f;
    }
    LegacyParse lp = parse_legacy(*doc.value);
    if (lp.fatal) {
        f.error = path + ": " + (lp.diagnostics.empty() ? "not a MetalLB configuration" : lp.diagnostics.back().where + ": " + lp.diagnostics.back().what);
        return f;
    }
    f.diagnostics = std::move(lp.diagnostics);
    f.model = std::move(lp.model);
    return f;
}

std::unique_ptr<Source> make_static_file_source(const std::string& path, std::chrono::milliseconds recheck) {
    return std::make_unique<StaticFileSource>(path, recheck);
}

}  // namespace nra
