import LBStore

/// Merges what comes by the thousand (the balancer's own error answers, refused client requests)
/// into at most one event row per second per kind, backend and detail, each row with the exact
/// number of occurrences it stands for and a bounded sample of their request ids and clients.
///
/// A plain value driven by the times its caller passes, so it is tested with a made-up clock;
/// `EventSink` keeps it behind a lock and writes the rows it hands back. The first occurrence of a
/// key after a quiet interval is handed back at once; later ones are merged until the interval
/// since the key's last row is over, and then handed back by the key's next `add` or by
/// `flushDue(at:)`, whichever comes first. `flushAll()` hands back everything still merged.
struct EventCoalescer: Sendable {
    /// What occurrences are merged by: "503 no backend available" from the balancer is one key,
    /// "502 invalid response from backend" from one backend another. The row's detail is
    /// "status reason".
    struct Key: Hashable, Sendable {
        var kind: EventKind
        var backendID: Int64?
        var status: Int
        var reason: String

        var detail: String { "\(status) \(reason)" }

        /// Cheap fields only: a daemon has few keys, equality settles the rare tie, and hashing
        /// the reason's bytes on every request cost more than the rest of the bookkeeping.
        func hash(into hasher: inout Hasher) {
            hasher.combine(kind == .rejected)
            hasher.combine(backendID)
            hasher.combine(status)
            hasher.combine(reason.utf8.count)
        }
    }

    /// What `add` asks of its caller.
    enum Outcome: Equatable, Sendable {
        /// Write this row now.
        case write(Event)
        /// Merged into a row that will be handed back later; nothing to do.
        case merged
        /// Merged, and no `flushDue(at:)` call is pending: make one at this time.
        case mergedFlushDue(Timestamp)
    }

    /// Milliseconds between two rows of one key.
    let intervalMilliseconds: Int64
    /// Request ids, and distinct client addresses, sampled per row at most.
    let sampleSize: Int
    /// Keys tracked at most; an occurrence of a key beyond them is its own row, so a reason text
    /// that varied without bound could cost rows but never unbounded memory.
    let maximumKeys: Int

    private var states: [Key: KeyState] = [:]
    /// A `flushDue(at:)` call has been asked for (by `.mergedFlushDue` or by its own answer).
    private var flushAsked = false
    /// After `flushAll()`: nothing is merged any more, each occurrence is handed back as a row.
    private(set) var isClosed = false

    init(intervalMilliseconds: Int64 = 1_000, sampleSize: Int = 5, maximumKeys: Int = 1_024) {
        self.intervalMilliseconds = intervalMilliseconds
        self.sampleSize = sampleSize
        self.maximumKeys = maximumKeys
    }

    /// Counts one occurrence of `key` at `now`.
    mutating func add(_ key: Key, at now: Timestamp, requestID: String?, client: String?) -> Outcome {
        guard !isClosed else { return .write(Tally(at: now, requestID: requestID, client: client).event(key)) }
        let interval = intervalMilliseconds
        let sampleSize = sampleSize
        // Mutated in place through the dictionary, so the samples are not copied per occurrence.
        let outcome = states[key]?.add(at: now, requestID: requestID, client: client, interval: interval,
                                     sampleSize: sampleSize)
        switch outcome {
        case nil:
            if states.count < maximumKeys { states[key] = KeyState(lastWrittenAt: now) }
            return .write(Tally(at: now, requestID: requestID, client: client).event(key))
        case .write(let tally):
            return .write(tally.event(key))
        case .merged(let due):
            if flushAsked { return .merged }
            flushAsked = true
            return .mergedFlushDue(due)
        }
    }

    /// The rows whose interval is over at `now`, and when the next call is due (nil: nothing is
    /// merged any more, and the next merge will ask for a call). Forgets keys quiet for an interval.
    mutating func flushDue(at now: Timestamp) -> (rows: [Event], next: Timestamp?) {
        var rows: [Event] = []
        var next: Timestamp?
        var quiet: [Key] = []
        for index in states.indices {
            let key = states.keys[index]
            let isDue = states.values[index].isDue(at: now, interval: intervalMilliseconds)
            if let tally = states.values[index].pending {
                if isDue {
                    rows.append(tally.event(key))
                    states.values[index] = KeyState(lastWrittenAt: now)
                } else {
                    let due = states.values[index].lastWrittenAt.adding(milliseconds: intervalMilliseconds)
                    next = next.map { min($0, due) } ?? due
                }
            } else if isDue {
                quiet.append(key)
            }
        }
        for key in quiet { states[key] = nil }
        flushAsked = next != nil
        return (rows, next)
    }

    /// Every merged occurrence not handed back yet, as rows; from now on each occurrence is its own
    /// row. For the stop, before the writer closes, so that no count is lost.
    mutating func flushAll() -> [Event] {
        isClosed = true
        let rows = states.compactMap { key, state in state.pending?.event(key) }
        states.removeAll()
        flushAsked = false
        return rows
    }

    /// Occurrences merged and not handed back yet.
    var pendingCount: Int { states.values.reduce(0) { $0 + ($1.pending?.count ?? 0) } }

    /// One key's last row and what has been merged since.
    private struct KeyState: Sendable {
        var lastWrittenAt: Timestamp
        var pending: Tally?

        /// The interval since the last row is over; a wall clock stepped back counts as over, so
        /// it cannot hold rows back until it catches up.
        func isDue(at now: Timestamp, interval: Int64) -> Bool {
            now.milliseconds >= lastWrittenAt.milliseconds + interval || now < lastWrittenAt
        }

        enum Step {
            case write(Tally)
            /// Merged; the row is due at this time.
            case merged(due: Timestamp)
        }

        mutating func add(at now: Timestamp, requestID: String?, client: String?, interval: Int64,
                          sampleSize: Int) -> Step {
            if pending == nil {
                if isDue(at: now, interval: interval) {
                    lastWrittenAt = now
                    return .write(Tally(at: now, requestID: requestID, client: client))
                }
                pending = Tally(at: now, requestID: requestID, client: client)
            } else {
                pending!.merge(at: now, requestID: requestID, client: client, sampleSize: sampleSize)
                if isDue(at: now, interval: interval) {
                    let tally = pending!
                    pending = nil
                    lastWrittenAt = now
                    return .write(tally)
                }
            }
            return .merged(due: lastWrittenAt.adding(milliseconds: interval))
        }
    }

    /// Occurrences merged into one row: the exact count, first and last time, and the samples.
    private struct Tally: Sendable {
        var first: Timestamp
        var last: Timestamp
        var count = 1
        var requestIDs: [String] = []
        var clients: [String] = []

        init(at now: Timestamp, requestID: String?, client: String?) {
            first = now
            last = now
            if let requestID { requestIDs.append(requestID) }
            if let client { clients.append(client) }
        }

        mutating func merge(at now: Timestamp, requestID: String?, client: String?, sampleSize: Int) {
            count += 1
            last = max(last, now)
            if let requestID, requestIDs.count < sampleSize { requestIDs.append(requestID) }
            if let client, clients.count < sampleSize, !clients.contains(client) { clients.append(client) }
        }

        /// The row: `at` is the first occurrence, `request_id` the first sampled id, the samples and
        /// the last occurrence in `data`.
        func event(_ key: Key) -> Event {
            let data = EventData(requestIDs: requestIDs.isEmpty ? nil : requestIDs,
                                 clients: clients.isEmpty ? nil : clients,
                                 lastAt: count > 1 ? last.milliseconds : nil)
            return Event(at: first, kind: key.kind, backendID: key.backendID, requestID: requestIDs.first,
                         detail: key.detail, data: data, count: count)
        }
    }
}
