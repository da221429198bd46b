//! JSON values and streams of concatenated values, with lines recovered from byte offsets.

use serde::de::{Deserialize, DeserializeSeed, Deserializer};
use serde_json::Value;

use super::value::ValueSeed;
use super::{Emit, InputError, Parsed, Position};

/// A document root built with the strict value builder.
struct Root(Value);

impl<'de> Deserialize<'de> for Root {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ValueSeed::at_depth(0).deserialize(deserializer).map(Root)
    }
}

/// Hands on every value of a JSON text as soon as it is parsed.
/// A syntax error ends the text: JSON has no document marker to start again from.
pub(super) fn visit<E>(file: &str, text: &str, emit: &mut Emit<'_, E>) -> Result<(), E> {
    let lines = LineIndex::new(text);
    let bytes = text.as_bytes();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Root>();
    let mut end = 0;
    while let Some(next) = stream.next() {
        let Root(value) = match next {
            Ok(root) => root,
            Err(e) => return emit(Err(error(file, e))),
        };
        let start = skip_ws(bytes, end);
        end = stream.byte_offset();
        let item_lines = item_offsets(bytes, start)
            .unwrap_or_default()
            .into_iter()
            .map(|offset| lines.line_of(offset))
            .collect();
        emit(Ok(Parsed { line: lines.line_of(first_key(bytes, start)), value, item_lines }))?;
    }
    Ok(())
}

fn error(file: &str, err: serde_json::Error) -> InputError {
    let (line, column) = match err.line() {
        0 => (None, None),
        line => (Some(line), Some(err.column())),
    };
    let full = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    InputError::Json { at: Position { file: file.into(), line, column }, message, error: err }
}

/// Maps byte offsets to 1-based line numbers.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let newlines = text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i + 1);
        Self { starts: std::iter::once(0).chain(newlines).collect() }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset)
    }
}

fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The offset of an object's first key (or of the value itself if it is not a non-empty object).
fn first_key(bytes: &[u8], start: usize) -> usize {
    if bytes.get(start) != Some(&b'{') {
        return start;
    }
    let key = skip_ws(bytes, start + 1);
    if bytes.get(key) == Some(&b'"') { key } else { start }
}

/// Offsets of the first keys of the elements of the top-level `items` array of the object
/// starting at `start`. The text is already known to be valid JSON without duplicate keys.
fn item_offsets(bytes: &[u8], start: usize) -> Option<Vec<usize>> {
    if bytes.get(start) != Some(&b'{') {
        return None;
    }
    let mut i = skip_ws(bytes, start + 1);
    while bytes.get(i) == Some(&b'"') {
        let key_end = skip_string(bytes, i)?;
        let key: String = serde_json::from_slice(bytes.get(i..key_end)?).ok()?;
        i = skip_ws(bytes, key_end);
        if bytes.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(bytes, i + 1);
        if key == "items" {
            return array_elements(bytes, i);
        }
        i = skip_ws(bytes, skip_value(bytes, i)?);
        if bytes.get(i) != Some(&b',') {
            return None;
        }
        i = skip_ws(bytes, i + 1);
    }
    None
}

fn array_elements(bytes: &[u8], start: usize) -> Option<Vec<usize>> {
    if bytes.get(start) != Some(&b'[') {
        return None;
    }
    let mut offsets = Vec::new();
    let mut i = skip_ws(bytes, start + 1);
    if bytes.get(i) == Some(&b']') {
        return Some(offsets);
    }
    loop {
        offsets.push(first_key(bytes, i));
        i = skip_ws(bytes, skip_value(bytes, i)?);
        match bytes.get(i)? {
            b',' => i = skip_ws(bytes, i + 1),
            b']' => return Some(offsets),
            _ => return None,
        }
    }
}

/// Returns the offset just past the string starting at `start` (a `"`).
fn skip_string(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match bytes.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// Returns the offset just past the value starting at `start`, without recursion.
fn skip_value(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    loop {
        match bytes.get(i) {
            Some(b'"') => i = skip_string(bytes, i)?,
            Some(b'{' | b'[') => {
                depth += 1;
                i += 1;
            }
            Some(b'}' | b']') if depth > 0 => {
                depth -= 1;
                i += 1;
            }
            Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') | None if depth == 0 => return Some(i),
            Some(_) => i += 1,
            None => return None,
        }
        if depth == 0 && i > start && matches!(bytes.get(i - 1), Some(b'"' | b'}' | b']')) {
            return Some(i);
        }
    }
}
