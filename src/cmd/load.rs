//! Loading what several subcommands share: the policy file and the objects of a fixed view.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kube::core::DynamicObject;
use mignet::{
    input::{self, Document},
    policy::{Kind, Policy, feed},
    view::View,
};

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
    if Kind::from_api_version(&field("apiVersion"), &field("kind")) == Kind::Other {
        return Ok(None);
    }
    let object: DynamicObject = serde_json::from_value(doc.value)
        .with_context(|| format!("{source}: not a valid Kubernetes object"))?;
    Ok(Some(Located { source, object }))
}

/// The fixed view of a set of objects, as `check`, `review` and a `--cluster off` server build it.
pub fn view(policy: &Policy, objects: &[Located]) -> View {
    feed::view_of(policy, objects.iter().map(|o| &o.object))
}
