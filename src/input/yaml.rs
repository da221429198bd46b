//! YAML streams via `serde-saphyr`, with budgets that refuse hostile input.

use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::granit_parser::ErrorKind;
use serde_saphyr::options::DuplicateKeyPolicy;
use serde_saphyr::{DefaultMessageFormatter, ExternalMessageSource, MessageFormatter, Spanned};

use super::value::{MAX_DEPTH, RootValue};
use super::{Emit, InputError, MAX_INPUT_BYTES, Parsed, Position};
use crate::text::printable;

/// Most alias-replayed events accepted in one stream; ordinary manifests use few or no aliases.
const MAX_REPLAYED_EVENTS: usize = 100_000;
/// Most parser events accepted in one stream (a generous multiple of any real dump).
const MAX_EVENTS: usize = 20_000_000;
/// Most nodes accepted in one stream.
const MAX_NODES: usize = 10_000_000;
/// Most documents accepted in one stream.
const MAX_DOCUMENTS: usize = 1_000_000;

/// Parser settings: Kubernetes-compatible scalars (YAML 1.1 octal like `0644`, as `kubectl`
/// reads them), duplicate keys rejected, and limits on aliases, depth and size.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_events: MAX_EVENTS,
            max_nodes: MAX_NODES,
            max_documents: MAX_DOCUMENTS,
            // Text is bounded by the input size; only alias expansion could multiply it.
            max_total_scalar_bytes: MAX_INPUT_BYTES,
            max_reader_input_bytes: Some(MAX_INPUT_BYTES),
            // One more than the budget, so the budget reports over-deep flow nesting clearly.
            flow_nesting_limit: MAX_DEPTH + 1,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_REPLAYED_EVENTS,
        },
        duplicate_keys: DuplicateKeyPolicy::Error,
        legacy_octal_numbers: true,
        // Null-like keys (`~: x`) keep their spelling, like every other scalar key.
        null_as_string: true,
        emit_comments: false,
        with_snippet: false,
    }
}

/// Hands on every non-empty document of a YAML stream as soon as it is parsed. After an error the
/// parser cannot go on in place: when the sink accepts the error, parsing starts again at the next
/// `---` line, so one broken document does not hide the rest of the file.
pub(super) fn visit<E>(file: &str, text: &str, emit: &mut Emit<'_, E>) -> Result<(), E> {
    visit_at_most(file, text, MAX_DOCUMENTS, emit)
}

fn visit_at_most<E>(file: &str, text: &str, max_documents: usize, emit: &mut Emit<'_, E>) -> Result<(), E> {
    let mut count = 0;
    // Byte offset and number of lines before the part being parsed.
    let (mut start, mut lines_before) = (0, 0);
    loop {
        let mut reader = &text.as_bytes()[start..];
        let mut failed_at = None;
        // The streaming reader resets its budgets at every document; the document count stays per stream.
        for doc in serde_saphyr::read_with_options::<_, Spanned<RootValue>>(&mut reader, options()) {
            let doc = match doc {
                Ok(doc) => shifted(parsed(doc), lines_before),
                Err(e) => {
                    let err = error(file, e, lines_before);
                    failed_at = Some(err_line(&err).unwrap_or(0));
                    emit(Err(err))?;
                    break;
                }
            };
            if count == max_documents {
                return emit(Err(too_many_documents(file, doc.line, max_documents)));
            }
            count += 1;
            emit(Ok(doc))?;
        }
        // Where the next document starts, if the error left one.
        let Some(line) = failed_at.filter(|&l| l > 0) else { return Ok(()) };
        match next_document(text, start, (line - lines_before).max(2)) {
            Some((offset, skipped)) => {
                start = offset;
                lines_before += skipped;
            }
            None => return Ok(()),
        }
    }
}

fn err_line(err: &InputError) -> Option<usize> {
    match err {
        InputError::Yaml { at, .. } => at.line,
        _ => None,
    }
}

/// The byte offset of the first `---` line at or after line `from` (1-based, counted from `start`),
/// and how many lines lie before it.
fn next_document(text: &str, start: usize, from: usize) -> Option<(usize, usize)> {
    let mut offset = start;
    for (i, line) in text[start..].split_inclusive('\n').enumerate() {
        let body = line.trim_end_matches(['\n', '\r']);
        let marker = body == "---" || body.starts_with("--- ") || body.starts_with("---\t");
        if i + 1 >= from && marker {
            return Some((offset, i));
        }
        offset += line.len();
    }
    None
}

fn shifted(mut doc: Parsed, lines_before: usize) -> Parsed {
    if lines_before > 0 {
        doc.line += lines_before;
        for l in doc.item_lines.iter_mut().filter(|l| **l > 0) {
            *l += lines_before;
        }
    }
    doc
}

fn too_many_documents(file: &str, line: usize, max: usize) -> InputError {
    let message = format!("refusing input: more than {max} documents");
    let error = Box::new(<serde_saphyr::Error as serde::de::Error>::custom(&message));
    InputError::Yaml { at: Position { file: file.into(), line: Some(line), column: None }, message, error }
}

fn parsed(doc: Spanned<RootValue>) -> Parsed {
    Parsed {
        line: usize::try_from(doc.referenced.line()).unwrap_or(0),
        value: doc.value.value,
        item_lines: doc.value.item_lines,
    }
}

fn error(file: &str, err: serde_saphyr::Error, lines_before: usize) -> InputError {
    let location = err.location().filter(|l| l.line() > 0);
    let at = Position {
        file: file.into(),
        line: location.and_then(|l| usize::try_from(l.line()).ok()).map(|l| l + lines_before),
        column: location.and_then(|l| usize::try_from(l.column()).ok()),
    };
    let message = message(&err);
    InputError::Yaml { at, message, error: Box::new(err) }
}

/// The parser's message without its location (which `Position` carries), with resource
/// limits explained.
fn message(err: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error as E;
    let inner = innermost(err);
    let text = printable(&DefaultMessageFormatter.format_message(inner)).into_owned();
    match inner {
        E::DuplicateMappingKey { key: Some(key), .. } => {
            format!("duplicate mapping key `{}`", printable(key))
        }
        E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. }
        | E::AliasReplayCounterOverflow { .. } => format!("{ALIAS_BOMB} ({text})"),
        E::Budget { breach, .. } => breach_message(breach, &text),
        E::ExternalMessage { source, .. } if is_parser_recursion_limit(source) => too_deep(),
        E::Unexpected { expected: "string scalar", .. } => {
            "mapping keys must be scalars, not sequences or mappings".to_owned()
        }
        _ => text,
    }
}

fn is_parser_recursion_limit(source: &ExternalMessageSource) -> bool {
    matches!(source, ExternalMessageSource::Parser(scan) if *scan.kind() == ErrorKind::RecursionLimitExceeded)
}

fn too_deep() -> String {
    format!("refusing input: nesting is deeper than {MAX_DEPTH} levels")
}

const ALIAS_BOMB: &str = "refusing input: YAML aliases expand too much (alias bomb?)";

fn breach_message(breach: &BudgetBreach, text: &str) -> String {
    match breach {
        BudgetBreach::Aliases { .. }
        | BudgetBreach::AliasAnchorRatio { .. }
        | BudgetBreach::RecordedAnchorEvents { .. }
        | BudgetBreach::RecordedAnchorBytes { .. }
        | BudgetBreach::Anchors { .. } => ALIAS_BOMB.to_owned(),
        BudgetBreach::Depth { .. } => too_deep(),
        BudgetBreach::ScalarBytes { total_scalar_bytes } => {
            format!("refusing input: {total_scalar_bytes} bytes of text or more (after expanding aliases)")
        }
        _ => format!("refusing input: it exceeds the parser's limits ({text})"),
    }
}

fn innermost(mut err: &serde_saphyr::Error) -> &serde_saphyr::Error {
    loop {
        match err {
            serde_saphyr::Error::WithSnippet { error, .. }
            | serde_saphyr::Error::AliasError { error, .. } => {
                err = error;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_limit_holds_for_the_whole_stream() {
        let text = "a: 1\n---\nb: 2\n---\n~\n---\nc: 3\n";
        let mut seen = Vec::new();
        let err = visit_at_most("in.yaml", text, 2, &mut |doc| {
            seen.push(doc?.line);
            Ok::<_, InputError>(())
        })
        .unwrap_err();
        assert_eq!(seen, [1, 3], "documents before the limit are handed on, null ones not counted");
        assert_eq!(err.to_string(), "in.yaml:7: invalid YAML: refusing input: more than 2 documents");
    }
}
