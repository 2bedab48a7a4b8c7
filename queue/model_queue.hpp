#pragma once

#include "queue/priority.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace ferry {

/// Where model_queue::change_position counts from: aria2's POS_SET, POS_CUR and POS_END.
enum class position_origin { begin, current, end };

/// The life of one file in a model_queue.
enum class file_state { waiting, running, finished };

/// Decides which file starts next: the engine's scheduling, without I/O and without a clock. Not
/// thread-safe: the engine keeps it on its strand.
///
/// The queue holds models (by id), each with a priority, a paused flag and its files. A model is
/// *in the queue* from add() until every one of its files has finished or it is cancelled; the
/// models in the queue have positions 0, 1, 2... in arrival order unless change_position() moved
/// them. A file is waiting, running or finished.
///
/// next() answers with the first waiting file of the first model that may start one: models by
/// priority (high, normal, low), within a priority by position; a model's files small first (by
/// size as given to add(), unknown sizes last, ties in the order given): configs and tokenizers are
/// what a model needs before its shards. Nothing starts beyond `max_files` running files in all or
/// `max_files_per_model` in one model, for a paused model, or while the memory is under pressure.
/// A model at its own cap lets the next one use the free slot; nothing else does: once max_files
/// files run, nothing starts for a lower priority either.
///
/// The caller reports what happened: started() when it starts the file next() named; finished()
/// when a file ends for good (done, skipped, failed, cancelled); requeued() when a file that a
/// pause asked to stop has stopped (it waits again, in its old place). Calls that name a model or
/// file the queue does not hold, or a file in the wrong state, are programming errors and throw
/// std::logic_error (std::out_of_range for unknown ids).
class model_queue {
public:
    /// A file of a model: its index in the sizes given to add().
    struct file_ref {
        std::string model;
        std::size_t file = 0;
        bool operator==(const file_ref&) const = default;
    };

    /// What the queue knows of one model (see status()).
    struct model_status {
        priority prio = priority::normal;
        std::optional<std::size_t> position; ///< nullopt once it has left the queue
        bool paused = false;
        bool cancelled = false;
        std::size_t waiting = 0, running = 0, finished = 0;
        bool done() const noexcept { return waiting == 0 && running == 0; } ///< every file finished
    };

    /// Limits of files in flight; 0 counts as 1.
    model_queue(std::size_t max_files, std::size_t max_files_per_model);

    /// Queues a model at the end of the queue, its files waiting; it starts paused while pause_all()
    /// holds. A model without files is finished at once (it never enters the queue). false, and
    /// nothing changes, when the id is already held.
    bool add(const std::string& id, priority prio, const std::vector<std::optional<std::uint64_t>>& file_sizes);
    /// Forgets a model whose files have all finished or that has no file running (the engine
    /// forgets old finished models). false for an unknown id. Throws std::logic_error while one of
    /// its files runs.
    bool remove(const std::string& id);
    bool contains(const std::string& id) const { return models_.count(id) > 0; }

    /// The file to start now, or nullopt when nothing may start (see the class comment). With
    /// `beyond` > 0, as if each limit of files in flight were that much higher (a file that starts
    /// early, beside one about to end).
    std::optional<file_ref> next(std::size_t beyond = 0) const;
    /// The file next() named (or any waiting file) has started: waiting → running.
    void started(const file_ref& f);
    /// A running file has ended for good: running → finished.
    void finished(const file_ref& f);
    /// A running file that pause() asked to stop has stopped: running → waiting, in its old place
    /// (even when the model was resumed meanwhile). Throws std::logic_error for a file no pause
    /// asked to stop (or whose model was cancelled since: that file has finished()).
    void requeued(const file_ref& f);
    /// Whether a pause asked this running file to stop (requeued() is the answer when it does).
    bool stop_requested(const file_ref& f) const;

    /// Pauses a model: none of its files starts until resume(). Returns its running files, each
    /// now asked to stop (the caller stops them and reports requeued()). Empty for an unknown,
    /// cancelled or finished model.
    std::vector<file_ref> pause(const std::string& id);
    /// Pauses every model held, and every model added until resume_all(). Returns the running
    /// files asked to stop, as pause().
    std::vector<file_ref> pause_all();
    /// Lets a paused model start files again. false for an unknown id.
    bool resume(const std::string& id);
    /// Ends pause_all() and resumes every model held.
    void resume_all();
    /// Cancels a model: it leaves the queue, its waiting files finish now (returned in ascending
    /// order, so the caller records them as cancelled) and its running files are no longer asked
    /// to go back to the queue (the caller stops them and reports finished()). Cancelling again,
    /// or cancelling a model whose files have all finished, changes nothing and returns nothing.
    /// nullopt for an unknown id.
    std::optional<std::vector<std::size_t>> cancel(const std::string& id);
    /// false for an unknown id.
    bool set_priority(const std::string& id, priority prio);

    /// Moves a model in the queue as aria2's changePosition does: to `offset` (origin begin), to
    /// its position + `offset` (current) or to the last position + `offset` (end), clamped to the
    /// queue; the models between shift by one. Returns the new position; nullopt for a model not
    /// in the queue (unknown, finished or cancelled).
    std::optional<std::size_t> change_position(const std::string& id, int offset, position_origin how);

    /// Files in flight in all (aria2's max-concurrent-downloads), changeable at any time: lowering
    /// it stops nothing, it only starts nothing until fewer files run. 0 counts as 1.
    void set_max_files(std::size_t n);
    std::size_t max_files() const noexcept { return max_files_; }
    /// While true, nothing starts (the engine decides it from the resident memory).
    void set_memory_pressure(bool under_pressure) noexcept { memory_pressure_ = under_pressure; }

    /// The ids of the models in the queue, in queue order (position 0 first).
    std::vector<std::string> in_queue_order() const;
    /// nullopt for an unknown id.
    std::optional<model_status> status(const std::string& id) const;
    file_state state_of(const file_ref& f) const;
    /// The states of a model's files, by file index (empty for an unknown id). Valid until the
    /// next call that changes the queue.
    std::span<const file_state> file_states(const std::string& id) const;
    /// Whether every file of the model has finished (false for an unknown id).
    bool done(const std::string& id) const;
    std::size_t running() const noexcept { return running_; }
    bool paused_all() const noexcept { return paused_all_; }

private:
    struct model {
        std::string id;
        priority prio = priority::normal;
        bool paused = false;
        bool cancelled = false;
        std::vector<file_state> files;         ///< by file index
        std::vector<std::size_t> start_order;  ///< file indexes, smallest first
        std::vector<std::size_t> rank;         ///< file index → place in start_order
        /// Places in start_order below `cursor` that wait again (requeued); every waiting file
        /// is either here or at or after the cursor.
        std::set<std::size_t> requeued;
        std::size_t cursor = 0;
        std::set<std::size_t> stopping;        ///< running files a pause asked to stop
        std::size_t running = 0, finished = 0;
        bool done() const noexcept { return finished == files.size(); }
        std::optional<std::size_t> first_waiting() const;
    };

    model& at(const std::string& id);
    const model& at(const std::string& id) const;
    std::vector<file_ref> ask_to_stop(model& m);
    void leave_queue(const model& m);

    std::map<std::string, model> models_;
    std::vector<model*> queue_; ///< the models in the queue, by position
    std::size_t max_files_;
    std::size_t max_files_per_model_;
    std::size_t running_ = 0;
    bool paused_all_ = false;
    bool memory_pressure_ = false;
};

} // namespace ferry
