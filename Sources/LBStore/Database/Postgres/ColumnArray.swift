import NIOCore
import PostgresNIO

/// One column of a batch of rows, sent to PostgreSQL as a single array parameter in the binary
/// array format, so that `INSERT … SELECT * FROM unnest($1::bigint[], $2::text[], …)` writes
/// thousands of rows with one statement of a few typed parameters. A multi-row `VALUES` list
/// of untyped text parameters costs the server a parse, a type inference and a text conversion
/// per value; an array is read in one pass.
///
/// postgres-nio encodes arrays of non-optional elements only; a column here may hold NULLs,
/// which the binary format marks per element (length -1) and in the header's flag.
struct ColumnArray: PostgresDynamicTypeEncodable {
    enum ElementType: Sendable {
        case bigint, double, text, jsonb

        var arrayType: PostgresDataType {
            switch self {
            case .bigint: .int8Array
            case .double: .float8Array
            case .text: .textArray
            case .jsonb: .jsonbArray
            }
        }

        /// The element type's name in SQL, as `$1::bigint[]` casts to its array.
        var sqlName: String {
            switch self {
            case .bigint: "bigint"
            case .double: "float8"
            case .text: "text"
            case .jsonb: "jsonb"
            }
        }

        /// The element type that carries a column of `dataType` (information_schema's name), or
        /// nil for a type no column of ours has.
        init?(columnType dataType: String) {
            switch dataType {
            case "bigint", "integer", "smallint": self = .bigint
            case "double precision", "real": self = .double
            case "text", "character varying": self = .text
            case "jsonb": self = .jsonb
            default: return nil
            }
        }

        var elementType: PostgresDataType {
            switch self {
            case .bigint: .int8
            case .double: .float8
            case .text: .text
            case .jsonb: .jsonb
            }
        }
    }

    let type: ElementType
    /// The column's name, for the error that refuses a value of the wrong kind.
    let name: String
    private(set) var count = 0
    private var hasNulls = false
    /// The elements as the binary format lays them out: each a 32-bit length (-1 for NULL) and
    /// its bytes.
    private var elements: ByteBuffer

    init(_ type: ElementType, name: String, capacity: Int = 0) {
        self.type = type
        self.name = name
        elements = ByteBufferAllocator().buffer(capacity: capacity * 12)
    }

    /// Appends one row's value; integers are accepted where text is expected (SQLite's columns
    /// keep what they were given), anything else of the wrong kind is refused.
    mutating func append(_ value: SQLValue) throws {
        count += 1
        switch (type, value) {
        case (_, .null):
            hasNulls = true
            elements.writeInteger(Int32(-1))
        case (.bigint, .integer(let integer)):
            elements.writeInteger(Int32(8))
            elements.writeInteger(integer)
        case (.double, .real(let real)):
            elements.writeInteger(Int32(8))
            elements.writeInteger(real.bitPattern)
        case (.double, .integer(let integer)):
            elements.writeInteger(Int32(8))
            elements.writeInteger(Double(integer).bitPattern)
        case (.text, .text(let text)):
            writeText(text, prefix: nil)
        case (.text, .integer(let integer)):
            writeText(String(integer), prefix: nil)
        case (.jsonb, .text(let text)):
            // jsonb's binary form: a version byte (1), then the JSON text.
            writeText(text, prefix: 1)
        default:
            count -= 1
            throw StoreError(.invalidValue, "column \(name) cannot take \(value) as \(type)")
        }
    }

    private mutating func writeText(_ text: String, prefix: UInt8?) {
        let lengthAt = elements.writerIndex
        elements.writeInteger(Int32(0))
        if let prefix { elements.writeInteger(prefix) }
        let written = elements.writeString(text) + (prefix == nil ? 0 : 1)
        elements.setInteger(Int32(written), at: lengthAt)
    }

    var psqlType: PostgresDataType { type.arrayType }
    var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer,
                                                  context: PostgresEncodingContext<JSONEncoder>) {
        // Dimensions (an empty array has none), the has-NULLs flag, the element type, then the
        // one dimension's length and lower bound, then the elements.
        buffer.writeInteger(Int32(count == 0 ? 0 : 1))
        buffer.writeInteger(Int32(hasNulls ? 1 : 0))
        buffer.writeInteger(type.elementType.rawValue)
        guard count > 0 else { return }
        buffer.writeInteger(Int32(count))
        buffer.writeInteger(Int32(1))
        buffer.writeImmutableBuffer(elements)
    }
}

extension ColumnArray {
    /// `unnest($1::bigint[], $2::text[], …)` over `columns` as parameters: their rows, in order.
    static func unnest(_ columns: [ColumnArray]) -> String {
        "unnest(" + columns.enumerated().map { "$\($0.offset + 1)::\($0.element.type.sqlName)[]" }
            .joined(separator: ", ") + ")"
    }
}

extension ColumnArray {
    /// `sql` with `columns` as its parameters `$1`, `$2`, … (typed arrays).
    static func query(_ sql: String, columns: [ColumnArray]) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: columns.count)
        for column in columns { bindings.append(column) }
        return PostgresQuery(unsafeSQL: sql, binds: bindings)
    }
}

extension PostgresStoreConnection {
    /// Runs `sql` with `columns` as its parameters `$1`, `$2`, … (typed arrays); returns the
    /// number of rows it changed.
    @discardableResult
    func run(_ sql: String, columns: [ColumnArray]) throws -> Int {
        try run(ColumnArray.query(sql, columns: columns))
    }
}
