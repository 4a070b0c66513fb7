/// The last `capacity` values appended, the oldest forgotten first: the memory behind
/// `RecentChecks` and `LoadHistory`. A value; its owner guards it.
struct Ring<Element> {
    let capacity: Int
    private var storage: [Element] = []
    private var next = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Adds `element`, forgetting the oldest once `capacity` are held.
    mutating func append(_ element: Element) {
        if storage.count < capacity {
            storage.append(element)
        } else {
            storage[next] = element
        }
        next = (next + 1) % capacity
    }

    /// The values held, oldest first.
    var elements: [Element] {
        guard storage.count == capacity else { return storage }
        return Array(storage[next...] + storage[..<next])
    }

    /// The values held, in no particular order (cheaper than `elements`).
    var unordered: [Element] { storage }
}
