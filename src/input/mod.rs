//! Reading the YAML/JSON files given to `mignet check` into Kubernetes objects that remember
//! where they start, so findings can be reported as `path:line: error: ...`.
//!
//! Value conventions (identical for YAML and JSON):
//! - integers that fit `i64`/`u64` stay integers; larger ones become the nearest `f64`
//!   (what `serde_json` does for JSON); NaN and infinities are rejected;
//! - YAML scalars follow YAML 1.1 as `kubectl` reads them (`0644` is octal, `yes` is true);
//! - scalar mapping keys become strings with their source spelling (`1: x` has key `"1"`,
//!   `~: x` has key `"~"`); sequence or mapping keys are an error;
//! - duplicate mapping keys are an error, as in Kubernetes strict decoding.

mod json;
mod value;
mod walk;
mod yaml;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

pub use value::MAX_DEPTH;

/// Largest input read, so a huge or endless file cannot exhaust memory.
pub const MAX_INPUT_BYTES: usize = 128 * 1024 * 1024;

/// Display name used for standard input.
pub const STDIN_NAME: &str = "<stdin>";

/// One Kubernetes object found in an input, with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Display name of the input (a path, or `<stdin>`), shared by its documents.
    pub source: Arc<str>,
    /// 1-based line of the object's first key.
    pub line: usize,
    /// The object itself (always a JSON object).
    pub value: Value,
}

/// How to parse an input, since a name does not always tell (stdin has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A YAML stream (`---`-separated documents).
    Yaml,
    /// One JSON value or several concatenated.
    Json,
    /// JSON if the content starts with `{` or `[` and parses as JSON, otherwise YAML.
    Auto,
}

/// A place in an input, displayed compiler-style as `file:line:column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Display name of the input.
    pub file: Arc<str>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// Why an input could not be turned into documents; each names the file (and line when known).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The path is missing or unreadable.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The input exceeds [`MAX_INPUT_BYTES`].
    #[error("{}: input is larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: usize },
    /// The input is not UTF-8 text.
    #[error("{at}: invalid UTF-8 ({error})")]
    Utf8 {
        at: Position,
        #[source]
        error: std::str::Utf8Error,
    },
    /// YAML syntax error, duplicate key, or a refused resource limit (alias bomb, nesting).
    #[error("{at}: invalid YAML: {message}")]
    Yaml {
        at: Position,
        message: String,
        #[source]
        error: Box<serde_saphyr::Error>,
    },
    /// JSON syntax error, duplicate key, or excessive nesting.
    #[error("{at}: invalid JSON: {message}")]
    Json {
        at: Position,
        message: String,
        #[source]
        error: serde_json::Error,
    },
    /// The operating system refused the thread that parsing runs on.
    #[error("{file}: cannot start the parser thread: {source}")]
    ParserThread {
        file: Arc<str>,
        #[source]
        source: std::io::Error,
    },
    /// A document is a scalar or sequence where a Kubernetes object must be.
    #[error("{at}: document is {found}, expected a Kubernetes object (a mapping)")]
    NotAnObject { at: Position, found: &'static str },
    /// An element of a `List`'s `items` is not an object.
    #[error("{at}: items[{index}] of {kind} is {found}, expected a Kubernetes object (a mapping)")]
    ItemNotAnObject { at: Position, kind: String, index: usize, found: &'static str },
}

impl InputError {
    /// Where the problem is: the file, and the line and column when known.
    pub fn position(&self) -> Position {
        let whole =
            |path: &Path| Position { file: path.display().to_string().into(), line: None, column: None };
        match self {
            InputError::Io { path, .. } | InputError::TooLarge { path, .. } => whole(path),
            InputError::ParserThread { file, .. } => {
                Position { file: file.clone(), line: None, column: None }
            }
            InputError::Utf8 { at, .. }
            | InputError::Yaml { at, .. }
            | InputError::Json { at, .. }
            | InputError::NotAnObject { at, .. }
            | InputError::ItemNotAnObject { at, .. } => at.clone(),
        }
    }
}

/// Reads a file, or a directory recursively (*.yaml, *.yml, *.json; sorted by path for
/// deterministic output), or "-" = stdin.
///
/// Explicit files with other extensions are read with [`Format::Auto`]. Symlinks are
/// followed; each real directory and file is read once, so symlink cycles end.
pub fn read_path(path: &Path) -> Result<Vec<Document>, InputError> {
    collect(|sink| visit_path(path, sink))
}

/// What [`visit_path`] hands each document to; an error from it stops the reading.
pub type Sink<'a, E> = dyn FnMut(Document) -> Result<(), E> + Send + 'a;

/// What [`visit_path_all`] hands on: each document, or why a file or part of one could not be read.
pub type ItemSink<'a, E> = dyn FnMut(Result<Document, InputError>) -> Result<(), E> + Send + 'a;

/// Reads what [`read_path`] reads, handing each document to `sink` as soon as it is parsed, so a
/// dump of a large cluster never sits in memory whole: only one file's text and one document do
/// (a `List` is parsed whole, then handed over item by item). The first input error stops it.
pub fn visit_path<E>(path: &Path, sink: &mut Sink<'_, E>) -> Result<(), E>
where
    E: From<InputError> + Send,
{
    visit_path_all(path, &mut |item| sink(item?))
}

/// Like [`visit_path`], but an unreadable file or document does not end the reading: it is handed
/// on as an error and the reading goes on with the next file, the next YAML document (after the
/// next `---` line) or the next `List` item. Only an error returned by `sink` stops it.
pub fn visit_path_all<E: Send>(path: &Path, sink: &mut ItemSink<'_, E>) -> Result<(), E> {
    if path == Path::new("-") {
        return match read_limited(std::io::stdin().lock(), Path::new(STDIN_NAME), MAX_INPUT_BYTES) {
            Ok(bytes) => visit_bytes_all(STDIN_NAME, &bytes, Format::Auto, sink),
            Err(e) => sink(Err(e)),
        };
    }
    let io = |source| InputError::Io { path: path.to_owned(), source };
    let files = match std::fs::metadata(path).map_err(io) {
        Ok(meta) if meta.is_dir() => match walk::manifest_files(path) {
            Ok(files) => files,
            Err(e) => return sink(Err(e)),
        },
        Ok(_) => vec![path.to_owned()],
        Err(e) => return sink(Err(e)),
    };
    for file in files {
        let io = |source| InputError::Io { path: file.clone(), source };
        let bytes =
            std::fs::File::open(&file).map_err(io).and_then(|f| read_limited(f, &file, MAX_INPUT_BYTES));
        match bytes {
            Ok(bytes) => visit_bytes_all(&file.display().to_string(), &bytes, format_for(&file), sink)?,
            Err(e) => sink(Err(e))?,
        }
    }
    Ok(())
}

fn format_for(path: &Path) -> Format {
    match walk::extension(path).as_deref() {
        Some("json") => Format::Json,
        Some("yaml" | "yml") => Format::Yaml,
        _ => Format::Auto,
    }
}

fn read_limited(reader: impl Read, path: &Path, limit: usize) -> Result<Vec<u8>, InputError> {
    let mut bytes = Vec::new();
    reader
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| InputError::Io { path: path.to_owned(), source })?;
    if bytes.len() > limit {
        return Err(InputError::TooLarge { path: path.to_owned(), limit });
    }
    Ok(bytes)
}

/// Parses bytes already read (the server-independent core of [`read_path`]); `source` is the
/// display name.
pub fn read_bytes(source: &str, bytes: &[u8], format: Format) -> Result<Vec<Document>, InputError> {
    collect(|sink| visit_bytes(source, bytes, format, sink))
}

/// What a visitor hands on, collected.
fn collect<T>(
    visit: impl FnOnce(&mut (dyn FnMut(T) -> Result<(), InputError> + Send)) -> Result<(), InputError>,
) -> Result<Vec<T>, InputError>
where
    T: Send,
{
    let mut items = Vec::new();
    visit(&mut |item| {
        items.push(item);
        Ok(())
    })?;
    Ok(items)
}

/// [`read_bytes`], handing each document to `sink` as it is parsed; the first input error stops it.
pub fn visit_bytes<E>(source: &str, bytes: &[u8], format: Format, sink: &mut Sink<'_, E>) -> Result<(), E>
where
    E: From<InputError> + Send,
{
    visit_bytes_all(source, bytes, format, &mut |item| sink(item?))
}

/// [`read_bytes`] going on past unreadable documents, as [`visit_path_all`] does.
pub fn visit_bytes_all<E: Send>(
    source: &str,
    bytes: &[u8],
    format: Format,
    sink: &mut ItemSink<'_, E>,
) -> Result<(), E> {
    let file: Arc<str> = source.into();
    let text = match decode(&file, bytes) {
        Ok(text) => text,
        Err(e) => return sink(Err(e)),
    };
    let templated = looks_templated(text);
    let mut emit = |parsed: Result<Parsed, InputError>| match parsed {
        Ok(parsed) => expand(&file, parsed, sink),
        Err(e) if templated => sink(Err(with_template_hint(e))),
        Err(e) => sink(Err(e)),
    };
    match with_parser_stack(|| parse(&file, text, format, &mut emit)) {
        Ok(done) => done,
        Err(source) => sink(Err(InputError::ParserThread { file: file.clone(), source })),
    }
}

/// What to do with a Helm chart, kustomization or OpenShift template before judging it.
pub const RENDER_FIRST: &str =
    "render it first (helm template, kustomize build, oc process) and check what it prints";

/// What a parse error in a Helm chart or other Go template usually means.
pub const TEMPLATE_HINT: &str = "this looks like an unrendered template ({{ ... }}): render it first \
     (helm template, kustomize build, oc process) and check what it prints";

/// Whether a text holds Go template actions (`{{ ... }}`), as Helm charts do.
pub fn looks_templated(text: &str) -> bool {
    text.find("{{").is_some_and(|at| text[at..].contains("}}"))
}

/// Whether every `{{ ... }}` action of a text is an nmstate capture reference
/// (`{{ capture.default-gw.routes.running.0.next-hop-interface }}`): nmstate's own syntax in an NNCP,
/// resolved per node by the handler, not a Helm template to render first.
pub fn only_captures(text: &str) -> bool {
    let mut rest = text;
    let mut any = false;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else { break };
        let action = rest[open + 2..open + close].trim();
        let reference = action.strip_prefix("capture.").is_some_and(|path| {
            !path.is_empty()
                && path.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        });
        if !reference {
            return false;
        }
        any = true;
        rest = &rest[open + close + 2..];
    }
    any
}

fn with_template_hint(mut err: InputError) -> InputError {
    if let InputError::Yaml { message, .. } | InputError::Json { message, .. } = &mut err {
        message.push_str("; ");
        message.push_str(TEMPLATE_HINT);
    }
    err
}

/// Receives each top-level document as its parser finishes it, or the error that ended one;
/// returning `Ok` after an error lets the parser go on where it can.
type Emit<'a, E> = dyn FnMut(Result<Parsed, InputError>) -> Result<(), E> + Send + 'a;

/// Stack for parsing: the deserializers recurse once per nesting level, and in unoptimized
/// builds [`MAX_DEPTH`] levels need more than the 2 MiB of a test or Tokio worker thread.
const PARSER_STACK_BYTES: usize = 64 * 1024 * 1024;

/// Runs `f` on a thread with [`PARSER_STACK_BYTES`] of stack, so nesting up to the limit
/// cannot overflow whatever thread the caller is on. Only address space is reserved; memory
/// is committed as the stack is used.
fn with_parser_stack<T: Send>(f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    std::thread::scope(|scope| {
        let builder = std::thread::Builder::new().name("mignet-parse".into()).stack_size(PARSER_STACK_BYTES);
        let handle = builder.spawn_scoped(scope, f)?;
        Ok(handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

fn parse<E>(file: &str, text: &str, format: Format, emit: &mut Emit<'_, E>) -> Result<(), E> {
    match format {
        Format::Yaml => yaml::visit(file, text, emit),
        Format::Json => json::visit(file, text, emit),
        // Parsed whole before anything is handed on: a JSON error falls back to YAML.
        Format::Auto if looks_like_json(text) => {
            let all = |visit: &dyn Fn(&mut Emit<'_, ()>) -> Result<(), ()>| {
                let mut items = Vec::new();
                let _ = visit(&mut |item| {
                    items.push(item);
                    Ok(())
                });
                items
            };
            let json = all(&|emit| json::visit(file, text, emit));
            let items = if json.iter().any(Result::is_err) {
                let yaml = all(&|emit| yaml::visit(file, text, emit));
                if yaml.iter().all(Result::is_ok) { yaml } else { json }
            } else {
                json
            };
            items.into_iter().try_for_each(emit)
        }
        Format::Auto => yaml::visit(file, text, emit),
    }
}

/// Strips a UTF-8 byte-order mark and checks the encoding.
fn decode<'a>(file: &Arc<str>, bytes: &'a [u8]) -> Result<&'a str, InputError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|error| {
        let valid = bytes.get(..error.valid_up_to()).and_then(|v| std::str::from_utf8(v).ok()).unwrap_or("");
        let line = 1 + valid.matches('\n').count();
        let column = 1 + valid.rsplit('\n').next().map_or(0, |last| last.chars().count());
        InputError::Utf8 {
            at: Position { file: file.clone(), line: Some(line), column: Some(column) },
            error,
        }
    })
}

fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with(['{', '['])
}

/// A parsed top-level document before `List` expansion.
struct Parsed {
    line: usize,
    value: Value,
    /// Lines of the elements of the root's `items` sequence, when the parser knows them.
    item_lines: Vec<usize>,
}

/// Hands on the document, or the items of a `List`, each with its own line; a document or item
/// that is not an object is handed on as an error and the others still are.
fn expand<E>(file: &Arc<str>, doc: Parsed, sink: &mut ItemSink<'_, E>) -> Result<(), E> {
    let at = |line| Position { file: file.clone(), line: Some(line), column: None };
    let mut object = match doc.value {
        Value::Object(object) => object,
        Value::Null => return Ok(()),
        other => return sink(Err(InputError::NotAnObject { at: at(doc.line), found: describe(&other) })),
    };
    let Some((kind, items)) = take_list_items(&mut object) else {
        return sink(Ok(Document { source: file.clone(), line: doc.line, value: Value::Object(object) }));
    };
    for (index, item) in items.into_iter().enumerate() {
        let line = doc.item_lines.get(index).copied().filter(|&l| l > 0).unwrap_or(doc.line);
        if !item.is_object() {
            let found = describe(&item);
            sink(Err(InputError::ItemNotAnObject { at: at(line), kind: kind.clone(), index, found }))?;
            continue;
        }
        sink(Ok(Document { source: file.clone(), line, value: item }))?;
    }
    Ok(())
}

/// The kind and items of an object that wraps others (`List`, `VirtualMachineList`, ...).
fn take_list_items(object: &mut serde_json::Map<String, Value>) -> Option<(String, Vec<Value>)> {
    let kind = object.get("kind")?.as_str()?.to_owned();
    match object.get_mut("items")? {
        Value::Array(items) if kind.ends_with("List") => Some((kind, std::mem::take(items))),
        _ => None,
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(text: &str) -> Result<Vec<Document>, InputError> {
        read_bytes("in.yaml", text.as_bytes(), Format::Yaml)
    }

    fn json(text: &str) -> Result<Vec<Document>, InputError> {
        read_bytes("in.json", text.as_bytes(), Format::Json)
    }

    fn lines(docs: &[Document]) -> Vec<usize> {
        docs.iter().map(|d| d.line).collect()
    }

    fn names(docs: &[Document]) -> Vec<&str> {
        docs.iter().map(|d| d.value["metadata"]["name"].as_str().unwrap_or("?")).collect()
    }

    #[test]
    fn yaml_documents_start_at_their_first_key_and_empty_ones_are_skipped() {
        let text = "# leading comment\n---\n\nkind: A\nmetadata: {name: a}\n---\n---\nnull\n---\n~\n---\n# only a comment\n---\nkind: B\nmetadata:\n  name: b\n";
        let docs = yaml(text).unwrap();
        assert_eq!(lines(&docs), [4, 14]);
        assert_eq!(names(&docs), ["a", "b"]);
        assert!(docs.iter().all(|d| &*d.source == "in.yaml"));
    }

    #[test]
    fn yaml_list_items_keep_their_own_lines() {
        let text = "apiVersion: v1\nkind: List\nmetadata: {}\nitems:\n- kind: NetworkAttachmentDefinition\n  metadata:\n    name: one\n-\n  kind: NetworkAttachmentDefinition\n  metadata: {name: two}\n- {kind: X, metadata: {name: three}}\n---\nkind: VirtualMachineList\nitems:\n  - metadata: {name: four}\n";
        let docs = yaml(text).unwrap();
        assert_eq!(names(&docs), ["one", "two", "three", "four"]);
        assert_eq!(lines(&docs), [5, 9, 11, 15]);
    }

    #[test]
    fn json_list_items_keep_their_own_lines() {
        let text = "{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"List\",\n    \"metadata\": {\"note\": \"items: [ {\\\"\"},\n    \"items\": [\n        {\n            \"metadata\": {\"name\": \"one\"}\n        },\n        {\"metadata\": {\"name\": \"two\"}}\n    ]\n}\n";
        let docs = json(text).unwrap();
        assert_eq!(names(&docs), ["one", "two"]);
        assert_eq!(lines(&docs), [7, 9]);
    }

    #[test]
    fn json_item_lines_survive_escaped_keys_and_tricky_strings() {
        let text = "{\"kind\": \"FooList\", \"x\": [\"]\", {\"}\": \"\\\\\"}],\n \"it\\u0065ms\": [\n\n{\"metadata\": {\"name\": \"a\"}}]}";
        let docs = json(text).unwrap();
        assert_eq!(names(&docs), ["a"]);
        assert_eq!(lines(&docs), [4]);
    }

    #[test]
    fn json_stream_of_concatenated_values_skips_nulls() {
        let text = "{\"metadata\": {\"name\": \"a\"}}\n\nnull\n{\n  \"metadata\": {\"name\": \"b\"}\n}{\"metadata\":{\"name\":\"c\"}}";
        let docs = json(text).unwrap();
        assert_eq!(names(&docs), ["a", "b", "c"]);
        assert_eq!(lines(&docs), [1, 5, 6]);
    }

    #[test]
    fn empty_list_yields_nothing_and_list_without_items_array_is_a_document() {
        assert!(yaml("kind: List\nitems: []\n").unwrap().is_empty());
        let docs = yaml("kind: List\nitems: none\n").unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].value["items"], "none");
    }

    #[test]
    fn bom_and_crlf_are_accepted() {
        let docs = yaml(
            "\u{feff}kind: A\r\nmetadata:\r\n  name: a\r\n---\r\n\r\nkind: B\r\nmetadata: {name: b}\r\n",
        )
        .unwrap();
        assert_eq!(names(&docs), ["a", "b"]);
        assert_eq!(lines(&docs), [1, 6]);
        assert_eq!(docs[0].value["kind"], "A");
        let docs =
            json("\u{feff}{\r\n\"kind\": \"List\",\r\n\"items\": [\r\n{\"metadata\": {\"name\": \"c\"}}]}")
                .unwrap();
        assert_eq!(names(&docs), ["c"]);
        assert_eq!(lines(&docs), [4]);
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for (name, prev) in
            ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            let refs = vec![format!("*{prev}"); 9].join(", ");
            text.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let err = yaml(&text).unwrap_err();
        assert!(matches!(err, InputError::Yaml { .. }), "{err}");
        assert!(err.to_string().starts_with("in.yaml:"), "{err}");
        assert!(err.to_string().contains("alias bomb"), "{err}");
    }

    #[test]
    fn large_text_multiplied_by_aliases_is_refused() {
        let mut text = format!("a: &a \"{}\"\n", "x".repeat(1 << 20));
        for (name, prev) in ["b", "c", "d", "e"].iter().zip(["a", "b", "c", "d"]) {
            let refs = vec![format!("*{prev}"); 9].join(", ");
            text.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let err = yaml(&text).unwrap_err();
        assert!(err.to_string().contains("refusing input"), "{err}");
    }

    #[test]
    fn ordinary_aliases_and_merge_keys_still_work() {
        let docs = yaml("base: &b {x: 1}\nother: *b\nmerged:\n  <<: *b\n  y: 2\n").unwrap();
        assert_eq!(docs[0].value["other"], json!({"x": 1}));
        assert_eq!(docs[0].value["merged"], json!({"x": 1, "y": 2}));
    }

    fn nested(depth: usize) -> (String, String) {
        ("[".repeat(depth) + &"]".repeat(depth), "{\"a\":".repeat(depth) + "1" + &"}".repeat(depth))
    }

    #[test]
    fn very_deep_nesting_is_an_error_not_a_stack_overflow() {
        let (seqs, maps) = nested(100_000);
        let block = "- ".repeat(100_000) + "x\n";
        for (name, text, format) in [
            ("block", &block, Format::Yaml),
            ("flow", &seqs, Format::Yaml),
            ("flow-map", &maps, Format::Yaml),
            ("json", &seqs, Format::Json),
            ("json-map", &maps, Format::Json),
            ("auto", &maps, Format::Auto),
        ] {
            let err = read_bytes(name, text.as_bytes(), format).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{name}:1:")), "{err}");
            assert!(err.contains(&format!("nesting is deeper than {MAX_DEPTH} levels")), "{err}");
        }
    }

    /// Texts nesting `depth` collections: a JSON/flow object inside a `List`, and a YAML block.
    fn at_depth(depth: usize) -> (String, String) {
        let (_, maps) = nested(depth - 2);
        let wrapped = format!("{{\"kind\": \"List\", \"items\": [{maps}]}}");
        let block = (0..depth).map(|i| format!("{}k:\n", "  ".repeat(i))).collect();
        (wrapped, block)
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let (wrapped, block) = at_depth(MAX_DEPTH);
        assert_eq!(json(&wrapped).unwrap().len(), 1);
        assert_eq!(yaml(&wrapped).unwrap().len(), 1);
        assert_eq!(yaml(&block).unwrap().len(), 1);
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused() {
        let (wrapped, block) = at_depth(MAX_DEPTH + 1);
        for err in [json(&wrapped), yaml(&wrapped), yaml(&block)].map(Result::unwrap_err) {
            assert!(err.to_string().contains(&format!("deeper than {MAX_DEPTH} levels")), "{err}");
        }
    }

    #[test]
    fn nesting_beyond_the_limit_through_aliases_is_refused() {
        let half = MAX_DEPTH / 2 + 1;
        let (seqs, _) = nested(half);
        let err =
            yaml(&format!("a: &a {seqs}\nb: {}*a{}\n", "[".repeat(half), "]".repeat(half))).unwrap_err();
        assert!(err.to_string().contains(&format!("deeper than {MAX_DEPTH} levels")), "{err}");
    }

    #[test]
    fn duplicate_keys_are_errors_with_their_line() {
        let err = yaml("kind: A\nmetadata:\n  name: a\n  labels: {}\n  name: b\n").unwrap_err();
        assert!(err.to_string().starts_with("in.yaml:5:"), "{err}");
        assert!(err.to_string().contains("duplicate mapping key `name`"), "{err}");
        let err = json("{\"kind\": \"A\",\n \"kind\": \"B\"}").unwrap_err();
        assert!(err.to_string().starts_with("in.json:2:"), "{err}");
        assert!(err.to_string().contains("duplicate mapping key `kind`"), "{err}");
        assert!(yaml("1: a\n0x1: b\n").is_err());
    }

    #[test]
    fn invalid_syntax_reports_line_column_and_parser_message() {
        let err = yaml("kind: A\nspec: [1, 2\nother: 3\n").unwrap_err();
        let InputError::Yaml { at, message, .. } = &err else { panic!("{err}") };
        assert_eq!((at.line, at.column), (Some(3), Some(6)));
        assert_eq!(err.to_string(), format!("in.yaml:3:6: invalid YAML: {message}"));
        let err = json("{\"kind\": \"A\",\n  \"spec\" 1}").unwrap_err();
        assert_eq!(err.to_string(), "in.json:2:10: invalid JSON: expected `:`");
        let err = yaml("a:\n\tb: 1\n").unwrap_err();
        assert!(err.to_string().starts_with("in.yaml:2:"), "{err}");
    }

    #[test]
    fn documents_are_handed_on_as_parsed_and_a_sink_error_stops_the_reading() {
        // the second document is broken: the first must already be out when the parser reaches it
        for (format, text) in [
            (Format::Yaml, "kind: A\nmetadata: {name: a}\n---\nkind: [\n"),
            (Format::Json, "{\"kind\": \"A\", \"metadata\": {\"name\": \"a\"}}\n{\"kind\": \n"),
        ] {
            let mut seen = Vec::new();
            let err = visit_bytes("in", text.as_bytes(), format, &mut |doc| {
                seen.push(doc.value["metadata"]["name"].clone());
                Ok::<_, InputError>(())
            })
            .unwrap_err();
            assert_eq!(seen, [json!("a")], "{format:?}");
            assert!(matches!(err, InputError::Yaml { .. } | InputError::Json { .. }), "{err}");
        }
        #[derive(Debug)]
        enum Stop {
            Input,
            Enough,
        }
        impl From<InputError> for Stop {
            fn from(_: InputError) -> Self {
                Stop::Input
            }
        }
        let mut count = 0;
        let text = "kind: List\nitems:\n- {kind: A}\n- {kind: B}\n- {kind: C}\n---\nkind: D\n";
        let stopped = visit_bytes("in", text.as_bytes(), Format::Yaml, &mut |_| {
            count += 1;
            if count == 2 { Err(Stop::Enough) } else { Ok(()) }
        });
        assert!(matches!(stopped, Err(Stop::Enough)));
        assert_eq!(count, 2);
    }

    #[test]
    fn ten_thousand_documents_are_read() {
        let text: String =
            (0..10_000).map(|i| format!("---\nkind: ConfigMap\nmetadata:\n  name: cm{i}\n")).collect();
        let docs = yaml(&text).unwrap();
        assert_eq!(docs.len(), 10_000);
        assert_eq!(docs[9_999].line, 4 * 9_999 + 2);
        assert_eq!(docs[9_999].value["metadata"]["name"], "cm9999");
    }

    #[test]
    fn non_object_documents_are_errors_naming_file_and_line() {
        let err = yaml("kind: A\n---\n- a\n- b\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.yaml:3: document is a sequence, expected a Kubernetes object (a mapping)"
        );
        let err = yaml("kind: A\n---\n\njust text\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.yaml:4: document is a string, expected a Kubernetes object (a mapping)"
        );
        let err = json("{}\n[{\"kind\": \"A\"}]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.json:2: document is a sequence, expected a Kubernetes object (a mapping)"
        );
        let err = yaml("kind: PodList\nitems:\n- kind: Pod\n- 42\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.yaml:4: items[1] of PodList is a number, expected a Kubernetes object (a mapping)"
        );
    }

    /// Everything `visit_bytes_all` hands on: names of documents, and errors as `!file:line`.
    fn all(text: &str, format: Format) -> Vec<String> {
        let mut out = Vec::new();
        visit_bytes_all("in", text.as_bytes(), format, &mut |item| {
            out.push(match item {
                Ok(doc) => format!("{}@{}", doc.value["metadata"]["name"].as_str().unwrap_or("?"), doc.line),
                Err(e) => format!("!{}", e.to_string().split(": ").next().unwrap_or_default()),
            });
            Ok::<_, ()>(())
        })
        .unwrap();
        out
    }

    #[test]
    fn reading_goes_on_after_a_broken_yaml_document() {
        let text = "metadata: {name: a}\n---\nmetadata:\n  name: b\n  name: again\n---\nmetadata: {name: c}\n---\nkind: [\n---\nmetadata: {name: d}\n";
        assert_eq!(all(text, Format::Yaml), ["a@1", "!in:5:3", "c@7", "!in:9:7", "d@11"]);
        // a document that is not an object, and a List item that is not, are errors of their own
        let text = "- x\n---\nkind: List\nitems:\n- 7\n- metadata: {name: e}\n";
        assert_eq!(all(text, Format::Yaml), ["!in:1", "!in:5", "e@6"]);
        // JSON has no document marker: the rest of the file is lost, the documents before it are not
        assert_eq!(all("{\"metadata\": {\"name\": \"a\"}}\n{\"x\" 1}\n{}", Format::Json), ["a@1", "!in:2:6"]);
    }

    #[test]
    fn capture_references_are_told_from_templates() {
        for s in [
            "{{ capture.default-gw.routes.running.0.next-hop-interface }}",
            "{{capture.base_iface.interfaces.0.name}}.100",
            "{{ capture.a.b }} and {{ capture.c.d }}",
        ] {
            assert!(looks_templated(s) && only_captures(s), "{s}");
        }
        for s in [
            "{{ .Values.master }}",
            "{{ capture.x }} {{ .Release.Name }}",
            "{{ capture. }}",
            "{{ capture.x | quote }}",
            "{{ include \"capture.x\" . }}",
            "no template",
            "{{ capture.x",
        ] {
            assert!(!only_captures(s), "{s}");
        }
    }

    #[test]
    fn template_errors_say_to_render_first() {
        let err = yaml("metadata:\n  name: {{ .Release.Name }}\n").unwrap_err().to_string();
        assert!(err.contains("helm template, kustomize build, oc process"), "{err}");
        let err = yaml("metadata: [\n").unwrap_err().to_string();
        assert!(!err.contains("helm template"), "{err}");
    }

    #[test]
    fn auto_detects_json_and_yaml_by_content() {
        let auto = |text: &str| read_bytes(STDIN_NAME, text.as_bytes(), Format::Auto);
        let docs = auto("\u{feff}  \n{\"kind\": \"List\", \"items\": [\n{\"kind\": \"A\"}]}").unwrap();
        assert_eq!((docs[0].value["kind"].as_str(), docs[0].line), (Some("A"), 3));
        assert_eq!(auto("kind: A\n---\nkind: B\n").unwrap().len(), 2);
        assert_eq!(auto("{kind: A, n: 1}").unwrap()[0].value, json!({"kind": "A", "n": 1}));
        let err = auto("{\"kind\": \"A\",, ]").unwrap_err();
        assert!(matches!(err, InputError::Json { .. }), "{err}");
        assert!(err.to_string().starts_with("<stdin>:1:"), "{err}");
        assert!(matches!(read_bytes("x", b"{a: 1}", Format::Json), Err(InputError::Json { .. })));
    }

    #[test]
    fn numbers_and_keys_follow_the_documented_conventions() {
        let docs = yaml(
            "i: -5\nu: 18446744073709551615\nbig: 123456789012345678901234567890\nneg: -99999999999999999999\nmode: 0644\nf: 1.5\n1: one\ntrue: t\n~: nil\n",
        )
        .unwrap();
        let v = &docs[0].value;
        assert_eq!(v["i"].as_i64(), Some(-5));
        assert_eq!(v["u"].as_u64(), Some(u64::MAX));
        assert_eq!(v["big"].as_f64(), Some(1.2345678901234568e29));
        assert_eq!(v["neg"].as_f64(), Some(-1e20));
        assert_eq!(v["mode"].as_u64(), Some(0o644));
        assert_eq!(v["f"].as_f64(), Some(1.5));
        assert_eq!((&v["1"], &v["true"], &v["~"]), (&json!("one"), &json!("t"), &json!("nil")));
        let docs = json("{\"big\": 123456789012345678901234567890, \"i\": -7}").unwrap();
        assert_eq!(docs[0].value["big"].as_f64(), Some(1.2345678901234568e29));
        assert_eq!(docs[0].value["i"].as_i64(), Some(-7));
        let err = yaml("kind: A\n? [a, b]\n: c\n").unwrap_err().to_string();
        assert!(err.starts_with("in.yaml:2:") && err.contains("mapping keys must be scalars"), "{err}");
        assert!(yaml("a: .nan\n").is_err());
    }

    #[test]
    fn invalid_utf8_is_an_error_with_its_position() {
        let err = read_bytes(
            "bin",
            "kind: A\nnäme: \u{e9}".bytes().chain([0xff]).collect::<Vec<_>>().as_slice(),
            Format::Yaml,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("bin:2:8: invalid UTF-8"), "{err}");
    }

    #[test]
    fn errors_without_a_line_read_path_colon_message() {
        let err = read_path(Path::new("/nonexistent/dir/x.yaml")).unwrap_err();
        assert!(matches!(&err, InputError::Io { path, .. } if path == Path::new("/nonexistent/dir/x.yaml")));
        assert!(err.to_string().starts_with("/nonexistent/dir/x.yaml: "), "{err}");
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let endless = std::io::repeat(b'a');
        let err = read_limited(endless, Path::new(STDIN_NAME), 1000).unwrap_err();
        assert_eq!(err.to_string(), "<stdin>: input is larger than 1000 bytes");
        assert_eq!(read_limited(&b"kind: A\n"[..], Path::new("x"), 8).unwrap(), b"kind: A\n");
    }

    fn write(path: &Path, text: &str) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn directories_are_read_recursively_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("b.yml"), "metadata: {name: b}\n");
        write(&root.join("a/z.json"), "{\"metadata\": {\"name\": \"az\"}}");
        write(&root.join("a/y.YAML"), "metadata: {name: ay}\n");
        write(&root.join("c.yaml"), "kind: List\nitems:\n- metadata: {name: c1}\n- metadata: {name: c2}\n");
        write(&root.join("notes.txt"), "not: read\n");
        write(&root.join("README.md"), "# nothing\n");
        let docs = read_path(root).unwrap();
        assert_eq!(names(&docs), ["ay", "az", "b", "c1", "c2"]);
        assert_eq!(&*docs[0].source, root.join("a/y.YAML").display().to_string());
        assert_eq!(lines(&docs), [1, 1, 1, 3, 4]);
    }

    #[test]
    fn files_are_parsed_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let json_file = dir.path().join("x.json");
        write(&json_file, "metadata: {name: x}\n");
        assert!(matches!(read_path(&json_file), Err(InputError::Json { .. })));
        let other = dir.path().join("x.txt");
        write(&other, "metadata: {name: x}\n");
        assert_eq!(names(&read_path(&other).unwrap()), ["x"]);
    }

    #[test]
    fn directory_without_manifests_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("sub/readme.txt"), "hello");
        assert!(read_path(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn errors_inside_a_directory_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("ok.yaml"), "kind: A\n");
        write(&dir.path().join("sub/bad.yaml"), "kind: A\nkind: B\n");
        let err = read_path(dir.path()).unwrap_err();
        let expected = format!("{}:2:", dir.path().join("sub/bad.yaml").display());
        assert!(err.to_string().starts_with(&expected), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_without_looping_or_duplicating() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        write(&root.join("real/a.yaml"), "metadata: {name: a}\n");
        write(&dir.path().join("outside/o.yaml"), "metadata: {name: o}\n");
        symlink(&root, root.join("real/loop")).unwrap();
        symlink(root.join("real/a.yaml"), root.join("alias.yaml")).unwrap();
        symlink(dir.path().join("outside"), root.join("linked")).unwrap();
        symlink(dir.path().join("missing"), root.join(".#lock")).unwrap();
        let docs = read_path(&root).unwrap();
        assert_eq!(names(&docs), ["a", "o"]);
        assert_eq!(&*docs[0].source, root.join("alias.yaml").display().to_string());
    }
}
