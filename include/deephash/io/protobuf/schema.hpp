#pragma once
// A minimal protobuf schema (field number -> name and type, per message) and the two conversions
// it enables between the binary wire format and the generic text-format tree of
// protobuf/text_format.hpp. Decoding binary into the same tree the text parser builds lets a single
// interpreter serve .prototxt and .caffemodel files alike; encoding the tree lets a single builder
// serve both writers.
//
// Decoding keeps only the fields the schema lists (binary files carry many we do not need, and
// they are skipped without being copied), checks each known field's wire type, and accepts
// repeated scalars packed or not. Enum values become their names where the schema knows them,
// as in text.

#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "deephash/core/error.hpp"
#include "deephash/io/protobuf/text_format.hpp"
#include "deephash/io/protobuf/wire.hpp"

namespace deephash {

enum class FieldKind { Int32, Int64, UInt32, UInt64, Bool, Enum, Float, Double, String, Message };

struct EnumValue {
  std::string_view name;
  int number;
};
using EnumTable = std::vector<EnumValue>;

struct MessageSchema;

struct FieldSchema {
  std::uint32_t number = 0;
  std::string name;
  FieldKind kind = FieldKind::Int32;
  const MessageSchema* message = nullptr;  // kind Message
  const EnumTable* enumeration = nullptr;  // kind Enum
  bool packed = false;                     // how the encoder writes a repeated scalar
};

struct MessageSchema {
  std::string name;  // the full protobuf name, for errors ("caffe.ConvolutionParameter")
  std::vector<FieldSchema> fields;

  const FieldSchema* find(std::uint32_t number) const {
    for (const FieldSchema& f : fields)
      if (f.number == number) return &f;
    return nullptr;
  }
  const FieldSchema* find(std::string_view field_name) const {
    for (const FieldSchema& f : fields)
      if (f.name == field_name) return &f;
    return nullptr;
  }
};

inline const EnumValue* find_enum_value(const EnumTable& table, std::string_view name) {
  for (const EnumValue& v : table)
    if (v.name == name) return &v;
  return nullptr;
}
inline const EnumValue* find_enum_value(const EnumTable& table, int number) {
  for (const EnumValue& v : table)
    if (v.number == number) return &v;
  return nullptr;
}

// The value of an enum field, written as a name (as text does) or as a number (as protobuf's
// text format also allows, and as our binary decoder leaves values it has no name for).
inline const EnumValue& text_to_enum(const TextField& f, const EnumTable& table,
                                     const std::string& source) {
  const EnumValue* v = nullptr;
  if (f.kind == TextValueKind::Identifier) {
    v = find_enum_value(table, f.scalar);
  } else if (f.kind == TextValueKind::Number) {
    const auto n = text_to_integer(f, source, std::numeric_limits<std::int32_t>::min(),
                                   std::numeric_limits<std::int32_t>::max());
    v = find_enum_value(table, int(n));
  }
  if (!v) {
    std::string names;
    for (const EnumValue& e : table) names += (names.empty() ? "" : ", ") + std::string(e.name);
    fail_at_field(f, source, "unknown value " + text_detail::describe_value(f) +
                                 "; expected one of " + names);
  }
  return *v;
}

// ---------------------------------------------------------------------------------------------
// Wire -> tree.

namespace schema_detail {

inline bool wire_type_fits(FieldKind kind, WireType type) {
  if (type == WireType::LengthDelimited) return true;  // strings, messages, packed scalars
  switch (kind) {
    case FieldKind::Float: return type == WireType::Fixed32;
    case FieldKind::Double: return type == WireType::Fixed64;
    case FieldKind::String:
    case FieldKind::Message: return false;
    default: return type == WireType::Varint;
  }
}

inline const char* expected_wire_type(FieldKind kind) {
  switch (kind) {
    case FieldKind::Float: return "fixed32 (or packed)";
    case FieldKind::Double: return "fixed64 (or packed)";
    case FieldKind::String:
    case FieldKind::Message: return "length-delimited";
    default: return "varint (or packed)";
  }
}

inline std::string varint_token(FieldKind kind, std::uint64_t v) {
  switch (kind) {
    case FieldKind::Int32: return std::to_string(std::int32_t(v));
    case FieldKind::Int64: return std::to_string(std::int64_t(v));
    case FieldKind::UInt32: return std::to_string(std::uint32_t(v));
    default: return std::to_string(v);
  }
}

}  // namespace schema_detail

// Decodes the rest of `reader` as a message of `schema`. Fields the schema does not list are
// skipped; a listed field with the wrong wire type is an error naming the file and offset.
inline TextMessage decode_message(WireReader& reader, const MessageSchema& schema) {
  TextMessage out;
  WireField wire;
  while (reader.next(wire)) {
    const FieldSchema* field = schema.find(wire.number);
    if (!field) continue;
    if (!schema_detail::wire_type_fits(field->kind, wire.type))
      reader.fail_at(wire.offset, schema.name + "." + field->name + " (field " +
                                      std::to_string(wire.number) + ") has wire type " +
                                      wire_type_name(wire.type) + ", expected " +
                                      schema_detail::expected_wire_type(field->kind));
    SourcePosition position;
    position.offset = wire.offset;
    const std::string what = schema.name + "." + field->name;
    const auto add = [&](TextValueKind kind, std::string token) {
      out.fields.push_back(TextField{field->name, kind, std::move(token), {}, position});
    };
    switch (field->kind) {
      case FieldKind::Message: {
        WireReader nested = reader.message(wire);
        out.fields.push_back(TextField{field->name, TextValueKind::Message, {},
                                       decode_message(nested, *field->message), position});
        break;
      }
      case FieldKind::String:
        add(TextValueKind::String,
            std::string(reinterpret_cast<const char*>(wire.data), wire.size));
        break;
      case FieldKind::Float: {
        std::vector<float> values;
        reader.append_floats(wire, values, what);
        for (float v : values) add(TextValueKind::Number, format_float(v));
        break;
      }
      case FieldKind::Double: {
        std::vector<double> values;
        reader.append_doubles(wire, values, what);
        for (double v : values) add(TextValueKind::Number, format_double(v));
        break;
      }
      case FieldKind::Bool:
        reader.for_each_varint(wire, what, [&](std::uint64_t v) {
          add(TextValueKind::Identifier, v ? "true" : "false");
        });
        break;
      case FieldKind::Enum:
        reader.for_each_varint(wire, what, [&](std::uint64_t v) {
          const int number = int(std::int32_t(v));
          const EnumValue* e =
              field->enumeration ? find_enum_value(*field->enumeration, number) : nullptr;
          if (e)
            add(TextValueKind::Identifier, std::string(e->name));
          else
            add(TextValueKind::Number, std::to_string(number));
        });
        break;
      default:
        reader.for_each_varint(wire, what, [&](std::uint64_t v) {
          add(TextValueKind::Number, schema_detail::varint_token(field->kind, v));
        });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tree -> wire.

namespace schema_detail {

inline std::uint64_t varint_value(const TextField& f, const FieldSchema& field,
                                  const std::string& source) {
  switch (field.kind) {
    case FieldKind::Int32:
      return std::uint64_t(text_to_integer(f, source, std::numeric_limits<std::int32_t>::min(),
                                           std::numeric_limits<std::int32_t>::max()));
    case FieldKind::Int64:
      return std::uint64_t(text_to_integer(f, source, std::numeric_limits<std::int64_t>::min(),
                                           std::numeric_limits<std::int64_t>::max()));
    case FieldKind::UInt32:
      return std::uint64_t(
          text_to_integer(f, source, 0, std::numeric_limits<std::uint32_t>::max()));
    case FieldKind::UInt64:
      return std::uint64_t(text_to_integer(f, source, 0, std::numeric_limits<std::int64_t>::max()));
    case FieldKind::Bool: return text_to_bool(f, source) ? 1 : 0;
    case FieldKind::Enum:
      return std::uint64_t(std::int64_t(text_to_enum(f, *field.enumeration, source).number));
    default: return 0;
  }
}

}  // namespace schema_detail

// Appends `message` to `out` as a message of `schema`. A field the schema does not know is an
// error: the tree was built to be encoded, so that is a bug worth hearing about.
inline void encode_message(WireWriter& out, const TextMessage& message, const MessageSchema& schema,
                           const std::string& source) {
  std::set<std::string> packed_done;
  for (const TextField& f : message.fields) {
    const FieldSchema* field = schema.find(f.name);
    if (!field)
      throw Error(f.position.describe(source), "'" + f.name + "' is not a field of " + schema.name);
    if (field->packed && f.kind != TextValueKind::Message) {
      if (!packed_done.insert(f.name).second) continue;
      // All occurrences of a packed field go into one record.
      if (field->kind == FieldKind::Float || field->kind == FieldKind::Double) {
        WireWriter values;
        for (const TextField& g : message.fields) {
          if (g.name != f.name) continue;
          if (field->kind == FieldKind::Float) {
            const float v = text_to_float(g, source);
            values.append(&v, 4);
          } else {
            const double v = text_to_double(g, source);
            values.append(&v, 8);
          }
        }
        out.write_bytes_field(field->number, values.bytes().data(), values.size());
      } else {
        std::vector<std::uint64_t> values;
        for (const TextField& g : message.fields)
          if (g.name == f.name) values.push_back(schema_detail::varint_value(g, *field, source));
        out.write_packed_varints(field->number, values);
      }
      continue;
    }
    switch (field->kind) {
      case FieldKind::Message: {
        WireWriter nested;
        encode_message(nested, text_to_message(f, source), *field->message, source);
        out.write_message(field->number, nested);
        break;
      }
      case FieldKind::String: out.write_string_field(field->number, text_to_string(f, source)); break;
      case FieldKind::Float: out.write_float_field(field->number, text_to_float(f, source)); break;
      case FieldKind::Double: out.write_double_field(field->number, text_to_double(f, source)); break;
      default: out.write_varint_field(field->number, schema_detail::varint_value(f, *field, source));
    }
  }
}

}  // namespace deephash
