//! Loading what several subcommands share: the policy file and the objects of a fixed view.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kube::core::DynamicObject;
use mignet::{
    input::{self, Document, InputError, Position},
    policy::view::View,
    policy::{
        Finding, Kind, Policy,
        decision::msg,
        feed,
        object::{self, Shaped},
        place, udn,
    },
    text::printable,
};
use serde_json::Value;

/// The policy from `--policy`, or the defaults.
pub fn policy(path: Option<&Path>) -> Result<Policy> {
    policy_and_bytes(path).map(|(policy, _)| policy)
}

/// The policy and the bytes it was compiled from (empty for the defaults), so a reloader can tell a
/// changed file without reading it twice at start.
pub fn policy_and_bytes(path: Option<&Path>) -> Result<(Policy, Vec<u8>)> {
    let Some(path) = path else { return Ok((Policy::default(), Vec::new())) };
    let read = || format!("cannot read policy {}", path.display());
    let bytes = std::fs::read(path).with_context(read)?;
    let text = std::str::from_utf8(&bytes).with_context(read)?;
    let policy = Policy::from_yaml(text).with_context(|| format!("policy {}", path.display()))?;
    Ok((policy, bytes))
}

/// An object read from a file, with where it starts.
pub struct Located {
    pub source: String,
    pub object: DynamicObject,
}

/// Reads every document of `paths` and keeps the kinds mignet reads (NADs, HyperConvergeds, Nodes,
/// OpenShift network config); other kinds are skipped without being converted.
pub fn objects(paths: &[PathBuf]) -> Result<Vec<Located>> {
    let mut out = Vec::new();
    visit(paths, &mut |located| {
        out.push(located);
        Ok(())
    })?;
    Ok(out)
}

/// The fixed view of the objects in `paths`, built while they are read: each object is dropped once
/// the view has taken what it needs, so a large cluster dump costs what its entries cost.
pub fn view_from(policy: &Policy, paths: &[PathBuf]) -> Result<View> {
    let mut view = View::new();
    visit(paths, &mut |located| {
        feed::add(policy, &mut view, &located.object);
        Ok(())
    })?;
    Ok(view)
}

fn visit(paths: &[PathBuf], f: &mut (dyn FnMut(Located) -> Result<()> + Send)) -> Result<()> {
    for path in paths {
        input::visit_path(path, &mut |doc| match convert(doc)? {
            Some(located) => f(located),
            None => Ok(()),
        })?;
    }
    Ok(())
}

fn convert(doc: Document) -> Result<Option<Located>> {
    let source = format!("{}:{}", doc.source, doc.line);
    let field = |k: &str| doc.value.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if Kind::from_api_version(&api_version, &kind) == Kind::Other {
        if let Some(known) = Kind::unread_version(&api_version, &kind) {
            anyhow::bail!("{source}: {}", unread(&doc.value, &api_version, &kind, known));
        }
        return Ok(None);
    }
    let object: DynamicObject = serde_json::from_value(doc.value)
        .with_context(|| format!("{source}: not a valid Kubernetes object"))?;
    Ok(Some(Located { source, object }))
}

/// The policy and the view of a fixed set of objects, agreeing on the migration namespace: where a
/// KubeVirt CR among them decides it, the view is built again under it (which NADs are migration
/// NADs depends on it).
pub fn settled<E>(policy: Policy, view_of: impl Fn(&Policy) -> Result<View, E>) -> Result<(Policy, View), E> {
    let view = view_of(&policy)?;
    let found = policy.with_discovered_namespace(&view);
    if found.migration_namespace() == policy.migration_namespace() {
        return Ok((policy, view));
    }
    let view = view_of(&found)?;
    Ok((found, view))
}

/// The fixed view of a set of objects, as `check`, `review` and a `--cluster off` server build it.
pub fn view(policy: &Policy, objects: &[Located]) -> View {
    feed::view_of(policy, objects.iter().map(|o| &o.object))
}

/// A file or document `check` could not judge, and why.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub at: Position,
    pub message: String,
}

/// An object `check` judges, with what reading it already found.
pub struct Read {
    pub located: Located,
    pub at: Position,
    /// `object-schema` denials: fields left out because the API server would refuse their type.
    pub schema: Vec<Finding>,
    /// Warnings about how the object was placed (a NAD without a namespace).
    pub placement: Vec<Finding>,
}

/// One item of a `check` run, in input order.
pub enum Item {
    Object(Box<Read>),
    Error(Unreadable),
}

/// What `check` reads: the objects to judge and the cluster state, with kubectl's namespace
/// conventions applied (see [`place`]) and every unreadable part kept as an error, in order.
pub struct CheckInput {
    pub items: Vec<Item>,
    /// Objects of the `--cluster-state` files (view only).
    pub state: Vec<Located>,
    /// Problems in the `--cluster-state` files.
    pub state_errors: Vec<Unreadable>,
}

/// Reads the inputs and cluster state of `mignet check`, never stopping at a bad file or document.
/// `namespace` is `-n`: it fills in objects without a namespace, and an object in another namespace
/// is an error, as `kubectl apply -n` refuses it.
pub fn read_for_check(
    policy: &Policy,
    inputs: &[PathBuf],
    state: &[PathBuf],
    namespace: Option<&str>,
) -> CheckInput {
    let mut items = Vec::new();
    for path in inputs {
        read_all(policy, path, namespace, &mut items);
    }
    let mut state_items = Vec::new();
    for path in state {
        read_all(policy, path, None, &mut state_items);
    }
    let (mut state, mut state_errors) = (Vec::new(), Vec::new());
    for item in state_items {
        match item {
            Item::Object(read) => state.push(read.located),
            Item::Error(e) => state_errors.push(e),
        }
    }
    // A NAD without a namespace is placed by what it is, which may depend on the HyperConvergeds read.
    let hcs = feed::view_of(
        policy,
        items
            .iter()
            .filter_map(|i| match i {
                Item::Object(r) => Some(&r.located.object),
                Item::Error(_) => None,
            })
            .chain(state.iter().map(|l| &l.object))
            .filter(|o| matches!(Kind::of(o), Kind::HyperConverged(_))),
    );
    for item in &mut items {
        if let Item::Object(read) = item
            && let Some(warning) = place::nad(policy, &hcs, &mut read.located.object)
        {
            read.placement.push(warning);
        }
    }
    for located in &mut state {
        place::nad(policy, &hcs, &mut located.object);
    }
    CheckInput { items, state, state_errors }
}

fn read_all(policy: &Policy, path: &Path, namespace: Option<&str>, items: &mut Vec<Item>) {
    let _ = input::visit_path_all(path, &mut |item| {
        match item {
            Ok(doc) => {
                if let Some(item) = check_item(policy, doc, namespace) {
                    items.push(item);
                }
            }
            Err(e) => items.push(Item::Error(unreadable(&e))),
        }
        Ok::<_, ()>(())
    });
}

fn unreadable(e: &InputError) -> Unreadable {
    let at = e.position();
    let text = e.to_string();
    let message = text.strip_prefix(&format!("{at}: ")).unwrap_or(&text).to_owned();
    Unreadable { at, message }
}

/// A document as `check` judges it: kinds mignet does not read are skipped, unrendered templates and
/// objects `kubectl apply -n` would refuse are errors, fields of the wrong type are left out.
fn check_item(policy: &Policy, doc: Document, namespace: Option<&str>) -> Option<Item> {
    let at = Position { file: doc.source.clone(), line: Some(doc.line), column: None };
    let source = format!("{}:{}", doc.source, doc.line);
    let field = |k: &str| doc.value.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let kind = Kind::from_api_version(&field("apiVersion"), &field("kind"));
    if kind == Kind::Other {
        let known = Kind::unread_version(&field("apiVersion"), &field("kind"))?;
        let message = unread(&doc.value, &field("apiVersion"), &field("kind"), known);
        return Some(Item::Error(Unreadable { at, message }));
    }
    let name = doc.value.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or("<unnamed>");
    let who = format!("{} {}", field("kind"), printable(name));
    if let Some((path, text)) = templated(&doc.value, String::new(), kind == Kind::Nncp) {
        let message = format!(
            "{}: {path} holds an unrendered template {}: {}",
            who,
            msg::quote(&text),
            input::RENDER_FIRST
        );
        return Some(Item::Error(Unreadable { at, message }));
    }
    let Shaped { mut object, problems } = object::shaped(doc.value);
    let namespaced = matches!(
        kind,
        Kind::Nad
            | Kind::HyperConverged(_)
            | Kind::KubeVirt
            | Kind::Vmim
            | Kind::UserDefinedNetwork(udn::NetKind::Udn)
    );
    if let (Some(given), true) = (namespace, namespaced) {
        match object::namespace(&object) {
            "" => object.metadata.namespace = Some(given.to_owned()),
            ns if ns != given => {
                let message = format!(
                    "{}: the namespace from the provided object {} does not match the namespace {} given \
                     with -n: kubectl refuses to apply it (pass -n {ns}, or drop metadata.namespace)",
                    who,
                    msg::quote(ns),
                    msg::quote(given),
                );
                return Some(Item::Error(Unreadable { at, message }));
            }
            _ => {}
        }
    }
    place::hyperconverged(policy, &mut object);
    Some(Item::Object(Box::new(Read {
        located: Located { source, object },
        at,
        schema: problems,
        placement: Vec::new(),
    })))
}

/// Why a known kind in a version mignet does not read is not judged, and what would be.
fn unread(value: &Value, api_version: &str, kind: &str, known: &str) -> String {
    let name = value.pointer("/metadata/name").and_then(|v| v.as_str()).unwrap_or("<unnamed>");
    format!(
        "{kind} {}: apiVersion {} is not one mignet reads ({known} of {kind}), so it is not judged: \
         write it (or dump it with oc get) through one of those versions",
        printable(name),
        msg::quote(api_version),
    )
}

/// The first string holding a Go template action, with its field path; annotations (a
/// last-applied-configuration), managed fields and status are what a cluster wrote, not a template.
/// In an NNCP (`nncp`), nmstate's own `{{ capture.name.path }}` references are meant to be applied
/// as written, and only other actions count.
fn templated(v: &Value, path: String, nncp: bool) -> Option<(String, String)> {
    if ["metadata.annotations", "metadata.managedFields", "status"].contains(&path.as_str()) {
        return None;
    }
    match v {
        Value::String(s) if input::looks_templated(s) && !(nncp && input::only_captures(s)) => {
            Some((if path.is_empty() { "the document".into() } else { path }, s.clone()))
        }
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            templated(v, if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, nncp)
        }),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, v)| templated(v, format!("{path}[{i}]"), nncp))
        }
        _ => None,
    }
}
