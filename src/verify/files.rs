//! Objects dumped to files (`oc get … -o yaml`, a must-gather) as verification inputs, for support
//! cases and tests.

use std::{collections::BTreeMap, path::PathBuf};

use kube::core::{DynamicObject, ObjectMeta, TypeMeta};
use serde_json::Value;

use super::{Inputs, Resource};
use crate::input::{self, Document, InputError};

/// Why dumped objects cannot be read; each names the file, and the line when known.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{source_at}: not a valid Kubernetes object: {source}")]
    Object {
        source_at: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{}: no object mignet verify reads (HyperConverged, NetworkAttachmentDefinition, KubeVirt, \
         virt-handler Pod, VirtualMachineInstance, Node, NodeNetworkState)",
        path.display()
    )]
    Nothing { path: PathBuf },
}

/// Reads every file (YAML or JSON, recursively for directories) and keeps the objects verification reads.
pub fn read(paths: &[PathBuf]) -> Result<Inputs, FilesError> {
    let mut inputs = Inputs::new();
    for path in paths {
        let mut found = false;
        for doc in input::read_path(path)? {
            if let Some(obj) = convert(doc)? {
                found = true;
                inputs.add(obj);
            }
        }
        if !found {
            return Err(FilesError::Nothing { path: path.clone() });
        }
    }
    Ok(inputs)
}

/// Converts a document of a kind verification reads; other kinds are skipped without being converted,
/// so an odd object elsewhere in a must-gather cannot stop the run.
fn convert(doc: Document) -> Result<Option<DynamicObject>, FilesError> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let labels: Option<BTreeMap<String, String>> =
        doc.value.pointer("/metadata/labels").and_then(|l| serde_json::from_value(l.clone()).ok());
    let shell = DynamicObject {
        types: Some(TypeMeta {
            api_version: text(doc.value.get("apiVersion")),
            kind: text(doc.value.get("kind")),
        }),
        metadata: ObjectMeta { labels, ..ObjectMeta::default() },
        data: Value::Null,
    };
    if Resource::of(&shell).is_none() {
        return Ok(None);
    }
    let source_at = format!("{}:{}", doc.source, doc.line);
    let obj = serde_json::from_value(doc.value).map_err(|source| FilesError::Object { source_at, source })?;
    Ok(Some(obj))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    const DUMP: &str = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: kubevirt.io/v1\n  kind: KubeVirt\n  \
                        metadata: {name: kv, namespace: openshift-cnv}\n- apiVersion: v1\n  kind: ConfigMap\n  \
                        metadata: {name: c}\n";

    #[test]
    fn reads_lists_and_skips_other_kinds() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("kv.yaml"), DUMP).unwrap();
        let inputs = read(&[dir.path().to_owned()]).unwrap();
        assert_eq!(inputs.of(Resource::KubeVirt).len(), 1);
        assert_eq!(inputs.len(), 1);
    }

    #[test]
    fn nothing_to_verify_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
            .unwrap();
        let err = read(&[dir.path().to_owned()]).unwrap_err();
        assert!(matches!(err, FilesError::Nothing { .. }), "{err}");
    }

    #[test]
    fn a_broken_object_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.yaml");
        fs::write(&path, "# dump\napiVersion: kubevirt.io/v1\nkind: KubeVirt\nmetadata: {name: 7}\n")
            .unwrap();
        let err = read(std::slice::from_ref(&path)).unwrap_err();
        assert!(matches!(err, FilesError::Object { .. }), "{err}");
    }

    #[test]
    fn invalid_yaml_is_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("bad.yaml"), "a: [\n").unwrap();
        assert!(matches!(read(&[dir.path().to_owned()]).unwrap_err(), FilesError::Input(_)));
    }
}
