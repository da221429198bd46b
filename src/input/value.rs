//! Format-independent construction of `serde_json::Value` from any serde deserializer,
//! with the strictness Kubernetes applies: bounded nesting, no duplicate keys, string keys.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Deepest nesting of mappings and sequences accepted: well beyond real objects (even large
/// CRD schemas), and within what the parser thread's stack holds.
pub const MAX_DEPTH: usize = 100;

/// Where the builder records the line of each element of a top-level `items` sequence.
pub type ItemLines = Vec<usize>;

/// What the builder is tracking at the current node, so `List` items keep their own lines.
enum Track<'a> {
    Nothing,
    /// The node is a document root: watch for its `items` key.
    Root(&'a mut ItemLines),
    /// The node is the root's `items` value: record each element's line.
    Items(&'a mut ItemLines),
}

/// Builds a `Value` at a given nesting depth.
pub struct ValueSeed<'a> {
    depth: usize,
    track: Track<'a>,
}

impl<'a> ValueSeed<'a> {
    /// A seed for a value nested inside `depth` open collections.
    pub fn at_depth(depth: usize) -> Self {
        Self { depth, track: Track::Nothing }
    }

    /// A seed for a document root that records the lines of its `items` elements into `lines`.
    ///
    /// Lines come from `serde_saphyr::Spanned`; deserializers without span support leave
    /// `lines` empty.
    pub fn root(lines: &'a mut ItemLines) -> Self {
        Self { depth: 0, track: Track::Root(lines) }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// A `Value` nested as an element of a root's `items`, deserializable on its own so it can
/// sit inside `serde_saphyr::Spanned`.
struct ItemValue(Value);

/// Depth of an element of the root's `items`: root mapping, then the sequence.
const ITEM_DEPTH: usize = 2;

impl<'de> de::Deserialize<'de> for ItemValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ValueSeed::at_depth(ITEM_DEPTH).deserialize(deserializer).map(ItemValue)
    }
}

/// A document root plus the lines of its `items` elements, for `serde_saphyr::Spanned`.
pub struct RootValue {
    pub value: Value,
    pub item_lines: ItemLines,
}

impl<'de> de::Deserialize<'de> for RootValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut item_lines = ItemLines::new();
        let value = ValueSeed::root(&mut item_lines).deserialize(deserializer)?;
        Ok(RootValue { value, item_lines })
    }
}

fn number_from_f64<E: de::Error>(v: f64) -> Result<Value, E> {
    Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom(format_args!("number {v} is not finite")))
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML or JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    /// Integers beyond 64 bits become the nearest `f64`, as `serde_json` does for JSON.
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        match i64::try_from(v) {
            Ok(small) => self.visit_i64(small),
            Err(_) => number_from_f64(v as f64),
        }
    }

    /// Integers beyond 64 bits become the nearest `f64`, as `serde_json` does for JSON.
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        match u64::try_from(v) {
            Ok(small) => Ok(Value::Number(small.into())),
            Err(_) => number_from_f64(v as f64),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        number_from_f64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        match std::str::from_utf8(v) {
            Ok(text) => Ok(Value::String(text.to_owned())),
            Err(_) => Err(E::custom("binary value is not valid UTF-8 text")),
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth = enter::<A::Error>(self.depth)?;
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        match self.track {
            Track::Items(lines) => {
                while let Some(item) = seq.next_element::<serde_saphyr::Spanned<ItemValue>>()? {
                    lines.push(usize::try_from(item.referenced.line()).unwrap_or(0));
                    out.push(item.value.0);
                }
            }
            Track::Nothing | Track::Root(_) => {
                while let Some(item) = seq.next_element_seed(ValueSeed::at_depth(depth))? {
                    out.push(item);
                }
            }
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let depth = enter::<A::Error>(self.depth)?;
        let mut root_lines = match self.track {
            Track::Root(lines) => Some(lines),
            Track::Nothing | Track::Items(_) => None,
        };
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate mapping key `{key}`")));
            }
            let value = match root_lines.as_deref_mut() {
                Some(lines) if key == "items" => {
                    map.next_value_seed(ValueSeed { depth, track: Track::Items(lines) })?
                }
                _ => map.next_value_seed(ValueSeed::at_depth(depth))?,
            };
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// Checks that one more level of nesting is allowed and returns the depth of the children.
fn enter<E: de::Error>(depth: usize) -> Result<usize, E> {
    if depth >= MAX_DEPTH {
        return Err(E::custom(format_args!("nesting is deeper than {MAX_DEPTH} levels")));
    }
    Ok(depth + 1)
}

/// Reads a mapping key as text: YAML scalar keys keep their source spelling (`1`, `true`,
/// `~`); collection keys are rejected.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_string(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar mapping key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}
