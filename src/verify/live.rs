//! The objects verification reads, listed from the API server: one LIST per kind, no watch, so a run
//! sees one moment of the cluster and ends.
//!
//! A kind whose API the cluster does not serve (the CRD is not installed) becomes a failed check, not
//! an error; every other failure to read means the cluster cannot be verified.

use std::{collections::BTreeMap, path::Path, time::Duration};

use kube::{
    Api,
    api::ListParams,
    core::{ApiResource, DynamicObject, GroupVersionKind, ObjectList, TypeMeta},
    discovery,
    error::DiscoveryError,
};

use super::{Inputs, Resource, VIRT_HANDLER_LABEL, VmiRef};
use crate::{
    cluster::connect::{self, ConnectError, Connection},
    policy::view::HcRead,
    policy::{HcVersion, feed},
};

/// Objects per LIST page: bounded responses even with thousands of VMIs.
const PAGE: u32 = 500;
/// How long connecting, and then each response, may take before the cluster counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the cluster cannot be read (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("cannot read {what} from the API server {url}: {source}")]
    Read {
        what: String,
        url: String,
        #[source]
        source: kube::Error,
    },
    #[error("listing {what} from {url}: the API server sent the same continue token twice")]
    Paging { what: String, url: String },
}

/// Connects with `--kubeconfig`, or as kubectl would, with timeouts that make an unreachable cluster
/// an error instead of a hang.
pub async fn connect(kubeconfig: Option<&Path>) -> Result<Connection, LiveError> {
    Ok(connect::connect(kubeconfig, |config| {
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(READ_TIMEOUT);
    })
    .await?)
}

/// One kind to list, and where.
struct Listing {
    resource: Resource,
    api: ApiResource,
    namespace: Option<String>,
    labels: Option<String>,
}

/// Lists everything the checks read: the namespace's KubeVirt CR and virt-handler pods; HyperConvergeds,
/// NADs, Nodes and VMIs cluster-wide (the NAD rules judge overlaps and capacity across the cluster); the
/// OpenShift network config when there is one.
pub async fn collect(conn: &Connection, namespace: &str, vmi: Option<&VmiRef>) -> Result<Inputs, LiveError> {
    let mut inputs = Inputs::new();
    let ns = Some(namespace.to_owned());
    let (key, value) = VIRT_HANDLER_LABEL;
    let listings = vec![
        Listing { resource: Resource::Nad, api: nad_api(), namespace: None, labels: None },
        Listing {
            resource: Resource::KubeVirt,
            api: kubevirt_api("KubeVirt", "kubevirts"),
            namespace: ns.clone(),
            labels: None,
        },
        Listing {
            resource: Resource::VirtHandler,
            api: ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Pod"), "pods"),
            namespace: ns,
            labels: Some(format!("{key}={value}")),
        },
        Listing {
            resource: Resource::NodeNetworkState,
            api: ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("nmstate.io", "v1beta1", "NodeNetworkState"),
                "nodenetworkstates",
            ),
            namespace: None,
            labels: None,
        },
        Listing {
            resource: Resource::Vmi,
            api: kubevirt_api("VirtualMachineInstance", "virtualmachineinstances"),
            namespace: vmi.and_then(|v| v.namespace.clone()),
            labels: None,
        },
    ];
    let hco = hyperconverged(conn).await?;
    if hco.is_empty() {
        inputs.set_unavailable(Resource::HyperConverged, "API group hco.kubevirt.io is not served");
    }
    for listing in listings {
        list_into(&mut inputs, conn, listing).await?;
    }
    for obj in hyperconverged_reads(conn, hco).await? {
        inputs.add(obj);
    }
    for node in nodes(conn).await? {
        inputs.add(node);
    }
    for (group, plural) in [("config.openshift.io", "networks"), ("operator.openshift.io", "networks")] {
        let api = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1", "Network"), plural);
        if let Some(obj) = get_cluster_object(conn, &api, "cluster").await? {
            inputs.add(obj);
        }
    }
    Ok(inputs)
}

fn nad_api() -> ApiResource {
    let gvk = GroupVersionKind::gvk("k8s.cni.cncf.io", "v1", "NetworkAttachmentDefinition");
    ApiResource::from_gvk_with_plural(&gvk, "network-attachment-definitions")
}

fn kubevirt_api(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("kubevirt.io", "v1", kind), plural)
}

/// The HyperConverged resource at every served version mignet reads; empty when HCO is not installed.
/// This is the first request, so it is also where an unreachable API server shows.
async fn hyperconverged(conn: &Connection) -> Result<Vec<(HcVersion, ApiResource)>, LiveError> {
    let group = match discovery::group(&conn.client, "hco.kubevirt.io").await {
        Ok(group) => group,
        Err(kube::Error::Discovery(DiscoveryError::MissingApiGroup(_))) => return Ok(Vec::new()),
        Err(source) => return Err(read_error(conn, "the API groups (discovery)", source)),
    };
    let mut apis = Vec::new();
    for (name, version) in [("v1beta1", HcVersion::V1Beta1), ("v1", HcVersion::V1)] {
        let found = group.versioned_resources(name).into_iter().find(|(api, _)| api.kind == "HyperConverged");
        if let Some((api, _)) = found {
            apis.push((version, api));
        }
    }
    Ok(apis)
}

/// Every HyperConverged, read through each served version and, per object, the read that carries its
/// settings: a real API server prunes each read to its version's schema (see `cluster::discovery`).
async fn hyperconverged_reads(
    conn: &Connection,
    apis: Vec<(HcVersion, ApiResource)>,
) -> Result<Vec<DynamicObject>, LiveError> {
    let mut by_uid: BTreeMap<String, Vec<(HcRead, DynamicObject)>> = BTreeMap::new();
    for (version, api) in apis {
        // cluster-wide, so a HyperConverged in another namespace can be pointed at
        let listing = Listing { resource: Resource::HyperConverged, api, namespace: None, labels: None };
        let what = format!("{}s ({})", listing.resource.describe(), version.api_version());
        match list(conn, &listing, &what).await {
            Ok(objects) => {
                for obj in objects {
                    let read = feed::hc_read(&obj, version);
                    let uid = if read.uid.is_empty() {
                        format!("{}/{}", read.entry.namespace, read.entry.name)
                    } else {
                        read.uid.clone()
                    };
                    by_uid.entry(uid).or_default().push((read, obj));
                }
            }
            // the version went away between discovery and the list (an HCO upgrade)
            Err(LiveError::Read { source, .. }) if not_found(&source) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(by_uid
        .into_values()
        .filter_map(|mut reads| {
            let facts: Vec<HcRead> = reads.iter().map(|(r, _)| r.clone()).collect();
            let i = HcRead::pick(&facts)?;
            Some(reads.swap_remove(i).1)
        })
        .collect())
}

fn read_error(conn: &Connection, what: &str, source: kube::Error) -> LiveError {
    LiveError::Read { what: what.to_owned(), url: conn.url.clone(), source }
}

fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 404)
}

/// Lists one kind into the inputs, or records that the cluster does not serve it.
async fn list_into(inputs: &mut Inputs, conn: &Connection, listing: Listing) -> Result<(), LiveError> {
    let what = match &listing.namespace {
        Some(ns) => format!("{}s in {ns}", listing.resource.describe()),
        None => format!("{}s", listing.resource.describe()),
    };
    match list(conn, &listing, &what).await {
        Ok(objects) => {
            for obj in objects {
                inputs.add(obj);
            }
            Ok(())
        }
        Err(LiveError::Read { source, .. }) if not_found(&source) => {
            inputs.set_unavailable(listing.resource, format!("{} is not served", listing.api.api_version));
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Every object of one LIST, each labelled with its kind (list items may omit it).
async fn list(conn: &Connection, listing: &Listing, what: &str) -> Result<Vec<DynamicObject>, LiveError> {
    let api: Api<DynamicObject> = match &listing.namespace {
        Some(ns) => Api::namespaced_with(conn.client.clone(), ns, &listing.api),
        None => Api::all_with(conn.client.clone(), &listing.api),
    };
    let mut params = ListParams::default();
    if let Some(labels) = &listing.labels {
        params = params.labels(labels);
    }
    let types = TypeMeta { api_version: listing.api.api_version.clone(), kind: listing.api.kind.clone() };
    let items = paged(conn, what, params, |p| {
        let api = api.clone();
        async move { api.list(&p).await }
    })
    .await?;
    Ok(items
        .into_iter()
        .map(|mut obj| {
            obj.types = Some(types.clone());
            obj
        })
        .collect())
}

/// Nodes, metadata only: their labels pick the virt-handler nodes.
async fn nodes(conn: &Connection) -> Result<Vec<DynamicObject>, LiveError> {
    let api_resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Node"), "nodes");
    let api: Api<DynamicObject> = Api::all_with(conn.client.clone(), &api_resource);
    let items = paged(conn, "Nodes", ListParams::default(), |p| {
        let api = api.clone();
        async move { api.list_metadata(&p).await }
    })
    .await?;
    let types = TypeMeta { api_version: "v1".into(), kind: "Node".into() };
    Ok(items
        .into_iter()
        .map(|meta| DynamicObject {
            types: Some(types.clone()),
            metadata: meta.metadata,
            data: serde_json::Value::Object(Default::default()),
        })
        .collect())
}

/// Follows `continue` tokens until the LIST is complete, [`PAGE`] objects at a time.
async fn paged<T, F, Fut>(
    conn: &Connection,
    what: &str,
    params: ListParams,
    fetch: F,
) -> Result<Vec<T>, LiveError>
where
    T: Clone,
    F: Fn(ListParams) -> Fut,
    Fut: Future<Output = Result<ObjectList<T>, kube::Error>>,
{
    let mut params = params.limit(PAGE);
    let mut out = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let page = fetch(params.clone()).await.map_err(|source| read_error(conn, what, source))?;
        out.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            None => return Ok(out),
            Some(token) if last.as_ref() == Some(&token) => {
                return Err(LiveError::Paging { what: what.to_owned(), url: conn.url.clone() });
            }
            Some(token) => {
                params = params.continue_token(&token);
                last = Some(token);
            }
        }
    }
}

/// A cluster-scoped object by name; `None` when it, or its API, does not exist (not OpenShift).
async fn get_cluster_object(
    conn: &Connection,
    api_resource: &ApiResource,
    name: &str,
) -> Result<Option<DynamicObject>, LiveError> {
    let api: Api<DynamicObject> = Api::all_with(conn.client.clone(), api_resource);
    match api.get_opt(name).await {
        Ok(obj) => Ok(obj.map(|mut o| {
            o.types = Some(TypeMeta {
                api_version: api_resource.api_version.clone(),
                kind: api_resource.kind.clone(),
            });
            o
        })),
        Err(e) if not_found(&e) => Ok(None),
        Err(source) => Err(read_error(conn, &format!("{} {name}", api_resource.api_version), source)),
    }
}
